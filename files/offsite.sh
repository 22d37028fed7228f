#!/bin/sh
# Copy the appliance off the server, into a restic repository (encrypted, deduplicated): Open
# WebUI's newest archive from backup.sh (database dump and uploads), the k3s datastore (SQLite's
# online backup of state.db, or an etcd snapshot), the server token (the key to the datastore's
# encrypted data) and the Secrets the appliance generated. Then the snapshots beyond the
# retention policy go.
#
#   offsite.sh [backup]            snapshot now
#   offsite.sh init                make the repository, unless it exists
#   offsite.sh check               verify the repository
#   offsite.sh snapshots           list the snapshots (restic's JSON)
#   offsite.sh restore [SNAPSHOT]  on a server whose k3s is stopped (a new one): the datastore
#                                  and the token back in place (k3s's documented restore), Open
#                                  WebUI's archive back in the backup folder for restore.sh
#   offsite.sh help                this text
#
# Reads RESTIC_REPOSITORY, RESTIC_PASSWORD_FILE, KEEP_DAILY, KEEP_WEEKLY, KEEP_MONTHLY,
# BACKUP_SSH_KEY (the key an sftp: repository logs in with), SFTP_USER, SFTP_HOST and SFTP_PORT
# (its login, read from the repository's URL by the deploy), LAST, RESTORING and RESTORED from
# $OFFSITE_CONFIG (/etc/llm-appliance/backup/restic.env), restic's credentials from $CREDENTIALS_FILE
# (KEY='VALUE' lines).
# A snapshot is made only of an archive newer than the last one sent. Any failure is one line
# on standard error.
# Installed by llm-appliance (a systemd timer runs `offsite.sh` and `offsite.sh check`).
set -eu
umask 077
ACTION=${1:-backup}
case $ACTION in
    help|-h|--help) sed -n '2,/^set -eu/{/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
esac
set -a; . "${OFFSITE_CONFIG:-/etc/llm-appliance/backup/restic.env}"; set +a
if [ -f "${CREDENTIALS_FILE:-}" ]; then
    set -a; . "$CREDENTIALS_FILE"; set +a
fi
K3S_DATA=${K3S_DATA:-/var/lib/rancher/k3s}
BACKUP_DIR=${BACKUP_DIR:-/var/backups/llm-appliance}
STAGE=${STAGE:-/var/lib/llm-appliance/offsite}
# The marker files, from restic.env (operations/markers.py says what each means): LAST, the
# name of the archive last sent (its time is the last snapshot's); RESTORED, left by a restore
# for the k3s layer's repair; RESTORING, while `appliance restore --from-repository` runs (no
# repository is ever made meanwhile: a mistyped backup_repository must fail, not start an empty
# one).
: "${LAST:?}" "${RESTORED:?}" "${RESTORING:?}"
TAG=llm-appliance
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

fail() { echo "off-site $ACTION failed: $*" >&2; exit 1; }

# restic, logged in to the repository; what it says on standard error goes to $errors.
# Given sftp.command, restic runs it as it is and drops the user and port of its URL (restic
# v0.14.0 to v0.18.0 internal/backend/sftp/sftp.go buildSSHCommand): they go to ssh here.
repository() {
    if [ "${RESTIC_REPOSITORY#sftp:}" != "$RESTIC_REPOSITORY" ]; then
        restic --quiet --no-cache -o "sftp.command=ssh -i $BACKUP_SSH_KEY -o BatchMode=yes \
-o ConnectTimeout=10 -o StrictHostKeyChecking=accept-new \
-o UserKnownHostsFile=$BACKUP_SSH_KEY.known_hosts ${SFTP_PORT:+-p $SFTP_PORT} \
${SFTP_USER:+-l $SFTP_USER} $SFTP_HOST -s sftp" "$@" 2>"$errors"
    else
        restic --quiet --no-cache "$@" 2>"$errors"
    fi
}
# The first fatal or error line restic printed.
first_error() { grep -m1 -i -E 'fatal|error' "$errors" || tail -n1 "$errors"; }
run_restic() { repository "$@" || fail "$(first_error)"; }

# One run at a time on this server (the weekly check takes restic's exclusive lock, which an
# hourly backup beside it would find taken); the kernel drops this lock with a killed run.
exec 9>/run/lock/llm-appliance-offsite
flock 9
# A run killed mid-way (power loss, OOM, a reboot) leaves its lock in the repository, and
# every later forget --prune and check fails on it (restic#2736). `restic unlock` without
# --remove-all removes only stale locks: made on this host by a process that no longer runs,
# or not refreshed for 30 minutes, where a live restic refreshes its own every 5 (restic
# v0.14.0, v0.16.4, v0.18.0: internal/restic/lock.go Lock.Stale, RemoveStaleLocks (in
# internal/repository/lock.go in 0.18), cmd/restic/lock.go refreshInterval (0.18:
# internal/repository/lock.go defaultRefreshInterval),
# cmd/restic/cmd_unlock.go). --retry-lock would only wait: it came in restic 0.16.0
# (cmd/restic/global.go), which Debian 12's 0.14 lacks, and a dead run's lock never goes.
[ "$ACTION" = init ] || run_restic unlock

case $ACTION in
    check)
        run_restic check
        echo "off-site repository checked: no errors"
        exit 0 ;;
    snapshots)
        run_restic snapshots --tag "$TAG" --json
        exit 0 ;;
    init)
        # An existing repository (a restore onto a new server, a second deploy) stays as it is.
        repository cat config >/dev/null && exit 0
        grep -q -i -E 'Is there a repository|does not exist|no such file' "$errors" ||
            fail "$(first_error)"
        [ ! -f "$RESTORING" ] || fail "no repository found at backup_repository, and a restore \
never makes one: check backup_repository, its credentials, and that this server reaches it \
($(first_error))"
        repository init >/dev/null ||
            fail "$(first_error) (check backup_repository, its credentials, and that this server reaches it)"
        echo "off-site repository initialised"
        exit 0 ;;
    restore)
        ! systemctl is-active --quiet k3s 2>/dev/null || fail "k3s runs: stop it first"
        work=$(mktemp -d)
        run_restic restore "${2:-latest}" --tag "$TAG" --target "$work" >/dev/null
        stage=$(dirname "$(find "$work" -type f -name token | head -n1)")
        [ -f "$stage/token" ] || fail "the snapshot holds no server token"
        install -D -m 600 "$stage/token" "$K3S_DATA/server/token"
        install -d -m 700 "$K3S_DATA/server/db"
        if [ -f "$stage/state.db" ]; then
            rm -f "$K3S_DATA/server/db/state.db-wal" "$K3S_DATA/server/db/state.db-shm"
            install -m 600 "$stage/state.db" "$K3S_DATA/server/db/state.db"
        else
            install -D -m 600 "$stage"/etcd* "$K3S_DATA/server/db/snapshots/restored-etcd"
            k3s server --cluster-reset --token-file "$K3S_DATA/server/token" \
                --cluster-reset-restore-path="$K3S_DATA/server/db/snapshots/restored-etcd" \
                >/dev/null 2>"$errors" || fail "etcd restore: $(tail -n1 "$errors")"
        fi
        install -d "$(dirname "$RESTORED")"
        echo "${2:-latest}" > "$RESTORED"
        install -d -m 700 "$BACKUP_DIR"
        archive=$(basename "$(ls -1 "$stage"/llm-appliance-*.tar)")
        install -p -m 600 "$stage/$archive" "$BACKUP_DIR/$archive"
        # That archive is off-site already, as of its own time: not sent again, and the last
        # snapshot's age counts from it (appliance status).
        echo "$archive" > "$LAST"
        touch -r "$BACKUP_DIR/$archive" "$LAST"
        rm -rf "$work" "$RESTORING"
        echo "$BACKUP_DIR/$archive"
        exit 0 ;;
esac

archive=$(ls -1 "$BACKUP_DIR"/llm-appliance-*.tar 2>/dev/null | sort | tail -n1)
[ -n "$archive" ] || fail "no archive in $BACKUP_DIR yet (backup.sh makes it)"
if [ "$(cat "$LAST" 2>/dev/null)" = "$(basename "$archive")" ]; then
    echo "off-site copy of $(basename "$archive") already made"
    exit 0
fi
rm -rf "$STAGE"
mkdir -p "$STAGE"
cp "$archive" "$STAGE/"
if [ -f "$K3S_DATA/server/db/state.db" ]; then
    sqlite3 "$K3S_DATA/server/db/state.db" ".backup '$STAGE/state.db'" 2>"$errors" ||
        fail "copying the k3s datastore: $(head -n1 "$errors")"
elif [ -d "$K3S_DATA/server/db/etcd" ]; then
    k3s etcd-snapshot save --dir "$STAGE" --name etcd >/dev/null 2>"$errors" ||
        fail "snapshotting etcd: $(tail -n1 "$errors")"
else
    fail "no k3s datastore under $K3S_DATA/server/db"
fi
cp "$K3S_DATA/server/token" "$STAGE/token"
if [ -x /usr/local/bin/k3s ]; then
    /usr/local/bin/k3s kubectl get secrets --all-namespaces --output yaml \
        --selector app.kubernetes.io/managed-by=llm-appliance > "$STAGE/secrets.yaml"
fi
run_restic backup --tag "$TAG" "$STAGE"
# Its prune prints a warning on standard output, --quiet or not (restic v0.14.0, v0.16.4
# cmd/restic/cmd_prune.go: Print("warning: running prune without a cache...")).
run_restic forget --tag "$TAG" --prune --keep-daily "$KEEP_DAILY" \
    --keep-weekly "$KEEP_WEEKLY" --keep-monthly "$KEEP_MONTHLY" >/dev/null
rm -rf "$STAGE"
basename "$archive" > "$LAST"
echo "off-site snapshot of $(basename "$archive") and the k3s datastore saved"
