"""Backup and restore, for real: files/backup.sh and files/restore.sh (the scripts the backup
CronJob and the restore Job run) against a real PostgreSQL 17 with pgvector, on a Debian 13
rehearsal host. Rows and vectors, and the uploads, come back identical."""

import shlex
import subprocess
from pathlib import Path

import pytest

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost
from operations.backup import backup_manifests
from operations.settings import load
from pgvector_database import PACKAGES, PG, SELECT, WEBUI_DATA, data_checksums, psql, start_database

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV = f"{PG} WEBUI_DATA={WEBUI_DATA} BACKUP_DIR=/srv/backups RETENTION_DAYS=7"


@pytest.fixture(scope="module")
def database_host():
    with RehearsalHost.boot(suite="trixie", extra_packages=PACKAGES) as host:
        for script in ("backup.sh", "restore.sh"):
            subprocess.run(["scp", *host.ssh_options(), str(PROJECT_ROOT / "files" / script),
                            f"root@{host.address}:/usr/local/bin/{script}"],
                           check=True, capture_output=True)
        start_database(host)
        yield host


def test_backup_then_restore_gives_back_rows_vectors_and_uploads(database_host):
    rows, files = psql(database_host, SELECT), data_checksums(database_host)
    assert "[1,-2.5,3e-07]" in rows and "report.txt" in files

    archive = database_host.ssh(f"{ENV} backup.sh").stdout.strip()
    assert archive.startswith("/srv/backups/llm-appliance-") and archive.endswith(".tar")
    assert database_host.ssh(f"stat -c %a {archive}").stdout.strip() == "600"

    # Lose everything: rows, the table, the uploads.
    psql(database_host, "DELETE FROM document_chunk WHERE content = 'beta'; "
                        "DROP TABLE document_chunk; CREATE TABLE stray (x int);")
    database_host.ssh("rm -rf /srv/webui-data/* && echo junk > /srv/webui-data/junk")

    database_host.ssh(f"{ENV} restore.sh {archive}")
    assert psql(database_host, SELECT) == rows
    assert data_checksums(database_host) == files
    # The extension stayed the superuser's; the application user restored without it.
    assert psql(database_host, "SELECT extname FROM pg_extension WHERE extname = 'vector'").strip() == "vector"


# The CloudNativePG Secret `postgres-app` as the rehearsal database answers to it.
APP_SECRET = {"host": "127.0.0.1", "port": "5432", "username": "openwebui",
              "password": "app-password", "dbname": "openwebui"}
DAY = 86400


def run_rendered_pod(host, manifests, pod):
    """Run a pod of the rendered manifests on the host as its kubelet would: the ConfigMap's
    files, the Open WebUI volume and the host folder bind-mounted at their mount paths, the
    container's environment (Secret keys from APP_SECRET), its user and its command."""
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"] == {"runAsUser": 0}  # root: run as root here
    sources = {}
    for volume in pod["spec"]["volumes"]:
        if "configMap" in volume:
            (config_map,) = [m for m in manifests if m["kind"] == "ConfigMap"
                             and m["metadata"]["name"] == volume["configMap"]["name"]]
            folder = f"/srv/configmap-{volume['name']}"
            host.ssh(f"rm -rf {folder} && mkdir -p {folder}")
            for name, text in config_map["data"].items():
                host.ssh(f"cat > {folder}/{name} && chmod {volume['configMap']['defaultMode']:o} {folder}/{name}",
                         input=text)
            sources[volume["name"]] = folder
        elif "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] == "open-webui"
            sources[volume["name"]] = "/srv/webui-data"
        else:
            assert volume["hostPath"]["type"] == "DirectoryOrCreate"
            host.ssh(f"mkdir -p {volume['hostPath']['path']}")
            sources[volume["name"]] = volume["hostPath"]["path"]
    for mount in container["volumeMounts"]:
        host.ssh(f"mkdir -p {mount['mountPath']} && mountpoint -q {mount['mountPath']} || "
                 f"mount --bind {sources[mount['name']]} {mount['mountPath']}")
    environment = {}
    for variable in container["env"]:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        else:
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == "postgres-app"
            environment[variable["name"]] = APP_SECRET[reference["key"]]
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in environment.items())
    return host.ssh(f"env -i PATH=/usr/lib/postgresql/17/bin:/usr/bin:/bin {assignments} "
                    f"{shlex.join(container['command'])}")


@pytest.mark.parametrize("retention_days", [3])
def test_the_rendered_cronjob_backs_up_and_keeps_exactly_retention_days(database_host, retention_days):
    """The CronJob as the deploy renders it (command, environment, volumes): archives older
    than backup_retention_days go, the others stay (README: "archives older than
    backup_retention_days are removed")."""
    manifests = backup_manifests(load({**REHEARSAL_SETTINGS, "backup_retention_days": retention_days}))
    (cronjob,) = [m for m in manifests if m["kind"] == "CronJob"]
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]
    ages = {  # archive name: its age in seconds when written, a second or so before the backup
        "llm-appliance-20200101-000001.tar": 2 * DAY,
        "llm-appliance-20200101-000002.tar": 3 * DAY - 60,     # not older than N days: kept
        "llm-appliance-20200101-000003.tar": 3 * DAY,          # N days when written: older by now
        "llm-appliance-20200101-000004.tar": 3 * DAY + 3600,   # find -mtime +3 kept this one
        "llm-appliance-20200101-000005.tar": 4 * DAY - 3600,   # and this one
        "llm-appliance-20200101-000006.tar": 4 * DAY,
        "llm-appliance-20200101-000007.tar": 30 * DAY,
    }
    host_folder = "/var/backups/llm-appliance"
    database_host.ssh(f"mkdir -p {host_folder} && rm -f {host_folder}/*.tar && now=$(date +%s) && " + " && ".join(
        f"touch -d @$((now - {age})) {host_folder}/{name}" for name, age in ages.items()))

    archive = run_rendered_pod(database_host, manifests, pod).stdout.strip()

    assert archive.startswith("/backups/llm-appliance-") and archive.endswith(".tar")
    kept = database_host.ssh(f"ls {host_folder}").stdout.split()
    assert kept == sorted(["llm-appliance-20200101-000001.tar", "llm-appliance-20200101-000002.tar",
                           archive.removeprefix("/backups/")])
    listing = database_host.ssh(f"tar -tf {host_folder}/{archive.removeprefix('/backups/')}").stdout
    assert listing.split() == ["database.dump", "webui-data.tar"]
    assert database_host.ssh(f"stat -c %a {host_folder}/{archive.removeprefix('/backups/')}").stdout.strip() == "600"
