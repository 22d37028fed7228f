"""Backup and restore, for real: files/backup.sh and files/restore.sh (the scripts the backup
CronJob and the restore Job run) against a real PostgreSQL 17 with pgvector, on a Debian 13
rehearsal host. Rows and vectors, and the uploads, come back identical. The backup CronJob's
Job (as `appliance backup` makes it) and `appliance restore INVENTORY ARCHIVE` run their
commands through the real kubectl against the stand-in API server running as k3s on that host
(k3s_standins.install_k3s), whose kubelet runs their pods here (guest_k3s.run_pod), Open WebUI
as its chart renders it."""

import base64
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from k3s_standins import STATE, install_k3s

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost
from appliance.runner import project_environment
from operations.backup import KUBECTL, backup_manifests, run_job
from operations.names import BACKUP_CRONJOB, BACKUP_DIR
from operations.settings import load
from pgvector_database import (
    PG,
    SELECT,
    SERVER_PACKAGES,
    WEBUI_DATA,
    data_checksums,
    psql,
    start_database,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENV = f"{PG} WEBUI_DATA={WEBUI_DATA} BACKUP_DIR=/srv/backups RETENTION_DAYS=7"


@pytest.fixture(scope="module")
def database_host():
    with RehearsalHost.boot(suite="trixie", extra_packages=SERVER_PACKAGES) as host:
        for script in ("backup.sh", "restore.sh"):
            subprocess.run(
                [
                    "scp",
                    *host.ssh_options(),
                    str(PROJECT_ROOT / "files" / script),
                    f"root@{host.address}:/usr/local/bin/{script}",
                ],
                check=True,
                capture_output=True,
            )
        start_database(host)
        yield host


def test_backup_then_restore_gives_back_rows_vectors_and_uploads(database_host):
    rows, files = psql(database_host, SELECT), data_checksums(database_host)
    assert "[1,-2.5,3e-07]" in rows and "report.txt" in files

    archive = database_host.ssh(f"{ENV} backup.sh").stdout.strip()
    assert archive.startswith("/srv/backups/llm-appliance-") and archive.endswith(".tar")
    assert database_host.ssh(f"stat -c %a {archive}").stdout.strip() == "600"

    # Lose everything: rows, the table, the uploads.
    psql(
        database_host,
        "DELETE FROM document_chunk WHERE content = 'beta'; "
        "DROP TABLE document_chunk; CREATE TABLE stray (x int);",
    )
    database_host.ssh("rm -rf /srv/webui-data/* && echo junk > /srv/webui-data/junk")

    database_host.ssh(f"{ENV} restore.sh {archive}")
    assert psql(database_host, SELECT) == rows
    assert data_checksums(database_host) == files
    # The extension stayed the superuser's; the application user restored without it.
    assert (
        psql(database_host, "SELECT extname FROM pg_extension WHERE extname = 'vector'").strip()
        == "vector"
    )


# The CloudNativePG Secret `postgres-app` as the rehearsal database answers to it.
APP_SECRET = {
    "host": "127.0.0.1",
    "port": "5432",
    "username": "openwebui",
    "password": "app-password",
    "dbname": "openwebui",
}
DAY = 86400


def served_open_webui(settings) -> list[dict]:
    """What a converged appliance's API server holds for a restore of Open WebUI's data: the
    objects chart open-webui 16.0.0 renders (tests/data/charts/open-webui.json; the kinds the
    stand-in serves), its claim bound to a volume at the host's data folder (local-path's
    hostPath volume, as the PersistentVolume controller binds it), CloudNativePG's Secret
    `postgres-app` and the backup scripts' ConfigMap the apps layer applies."""
    render = json.loads((PROJECT_ROOT / "tests/data/charts/open-webui.json").read_text())
    items = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm"}}]
    for item in render["objects"]:
        if item["kind"] in ("Deployment", "PersistentVolumeClaim", "Service", "Ingress"):
            item["metadata"].setdefault("namespace", render["namespace"])
            if item["kind"] == "PersistentVolumeClaim":
                item["spec"]["volumeName"] = "pvc-open-webui"
            items.append(item)
    items.append(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": "pvc-open-webui"},
            "spec": {
                "capacity": {"storage": "2Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "local-path",
                "hostPath": {"path": WEBUI_DATA},
                "claimRef": {"namespace": "llm", "name": "open-webui"},
            },
        }
    )
    items.append(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/basic-auth",
            "metadata": {"name": "postgres-app", "namespace": "llm"},
            "data": {
                key: base64.b64encode(value.encode()).decode() for key, value in APP_SECRET.items()
            },
        }
    )
    items += [m for m in backup_manifests(settings) if m["kind"] == "ConfigMap"]
    return items


@pytest.fixture(scope="module")
def k3s_host(database_host):
    """The database host with k3s on the stand-in API server, running."""
    install_k3s(database_host)
    return database_host


def kubectl(host, *arguments: str) -> str:
    return host.ssh(shlex.join(["k3s", "kubectl", *arguments])).stdout


def writes(host) -> list[tuple[str, str]]:
    """The API server's writes so far (method, path without the query), from its request log."""
    logged = [
        json.loads(line) for line in host.ssh(f"cat {STATE}/requests.log").stdout.splitlines()
    ]
    return [
        (method, path.split("?")[0])
        for method, path, _ in logged
        if method in ("POST", "PUT", "PATCH", "DELETE")
    ]


def job_from_cronjob(name: str, cronjob: dict) -> dict:
    """The Job `kubectl create job NAME --from=cronjob/CRONJOB` makes of a served CronJob
    (kubectl 1.37 pkg/cmd/create/create_job.go createJobFromCronJob: the jobTemplate's spec and
    labels, its annotations with cronjob.kubernetes.io/instantiate: manual, owned by the
    CronJob). Sent here as JSON with `kubectl create --filename -`: `create job` sends it as
    protobuf, which the stand-in API server reads for Namespaces only."""
    template = cronjob["spec"]["jobTemplate"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": cronjob["metadata"]["namespace"],
            "annotations": {
                "cronjob.kubernetes.io/instantiate": "manual",
                **template.get("metadata", {}).get("annotations", {}),
            },
            "labels": template.get("metadata", {}).get("labels", {}),
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": cronjob["metadata"]["name"],
                    "uid": cronjob["metadata"]["uid"],
                }
            ],
        },
        "spec": template["spec"],
    }


@pytest.mark.parametrize("retention_days", [3])
def test_the_rendered_cronjob_backs_up_and_keeps_exactly_retention_days(k3s_host, retention_days):
    """The CronJob as the deploy renders it (command, environment, volumes), run as `appliance
    backup` runs it (operations/backup.py backup_now: a Job made from it, job_from_cronjob, and
    waited for by run_job), its pod run by the stand-in k3s's kubelet (guest_k3s.run_pod):
    archives older than backup_retention_days go, the others stay (README: "archives older than
    backup_retention_days are removed")."""
    database_host = k3s_host
    settings = load({**REHEARSAL_SETTINGS, "backup_retention_days": retention_days})
    (cronjob,) = [m for m in backup_manifests(settings) if m["kind"] == "CronJob"]
    database_host.ssh(
        "k3s kubectl apply --filename -",
        input="\n---\n".join(map(json.dumps, [*served_open_webui(settings), cronjob])),
    )
    ages = {  # archive name: its age in seconds when written, a second or so before the backup
        "llm-appliance-20200101-000001.tar": 2 * DAY,
        "llm-appliance-20200101-000002.tar": 3 * DAY - 60,  # not older than N days: kept
        "llm-appliance-20200101-000003.tar": 3 * DAY,  # N days when written: older by now
        "llm-appliance-20200101-000004.tar": 3 * DAY + 3600,  # find -mtime +3 kept this one
        "llm-appliance-20200101-000005.tar": 4 * DAY - 3600,  # and this one
        "llm-appliance-20200101-000006.tar": 4 * DAY,
        "llm-appliance-20200101-000007.tar": 30 * DAY,
    }
    host_folder = "/var/backups/llm-appliance"
    database_host.ssh(
        f"mkdir -p {host_folder} && rm -f {host_folder}/*.tar && now=$(date +%s) && "
        + " && ".join(
            f"touch -d @$((now - {age})) {host_folder}/{name}" for name, age in ages.items()
        )
    )

    job = "backup-retention"
    served = json.loads(
        kubectl(
            database_host,
            "get",
            "cronjob",
            BACKUP_CRONJOB,
            "--namespace",
            "llm",
            "--output",
            "json",
        )
    )
    database_host.ssh(
        "k3s kubectl create --filename -", input=json.dumps(job_from_cronjob(job, served))
    )
    database_host.ssh(run_job(job, 120))
    archive = kubectl(database_host, "logs", "--namespace", "llm", f"job/{job}").strip()
    # Gone again: the restore's test below counts the Jobs.
    database_host.ssh(f"{KUBECTL} delete job/{job} cronjob/{BACKUP_CRONJOB}")

    assert archive.startswith("/backups/llm-appliance-") and archive.endswith(".tar")
    kept = database_host.ssh(f"ls {host_folder}").stdout.split()
    assert kept == sorted(
        [
            "llm-appliance-20200101-000001.tar",
            "llm-appliance-20200101-000002.tar",
            archive.removeprefix("/backups/"),
        ]
    )
    listing = database_host.ssh(f"tar -tf {host_folder}/{archive.removeprefix('/backups/')}").stdout
    assert listing.split() == ["database.dump", "webui-data.tar"]
    assert (
        database_host.ssh(
            f"stat -c %a {host_folder}/{archive.removeprefix('/backups/')}"
        ).stdout.strip()
        == "600"
    )


def test_appliance_restore_runs_through_kubectl_with_open_webui_as_its_chart_renders_it(
    k3s_host, tmp_path
):
    """`appliance restore INVENTORY ARCHIVE`: the archive uploaded, Open WebUI's Deployment
    scaled to 0 and its pods gone, the restore Job applied and run by the kubelet on this host
    (files/restore.sh against the real database, the Secret's keys in its environment, the
    claim's volume mounted), Open WebUI scaled to 1 again: the rows and uploads come back."""
    database_host = k3s_host
    settings = load(REHEARSAL_SETTINGS)
    # Documents, not a List: kubectl validates a List's items against /openapi/v2, which the
    # stand-in does not serve.
    database_host.ssh(
        "k3s kubectl apply --filename -",
        input="\n---\n".join(map(json.dumps, served_open_webui(settings))),
    )
    assert kubectl(
        database_host,
        "get",
        "pods",
        "--namespace",
        "llm",
        "--output",
        "name",
        "--selector",
        "app.kubernetes.io/component=open-webui",
    ).startswith("pod/open-webui-")
    rows, files = psql(database_host, SELECT), data_checksums(database_host)
    made = database_host.ssh(f"{ENV} backup.sh").stdout.strip()
    archive = tmp_path / Path(made).name
    subprocess.run(
        [
            "scp",
            "-q",
            *database_host.ssh_options(),
            f"root@{database_host.address}:{made}",
            str(archive),
        ],
        check=True,
        capture_output=True,
    )
    psql(database_host, "DROP TABLE document_chunk;")
    database_host.ssh(f"rm -rf {WEBUI_DATA}/* && echo junk > {WEBUI_DATA}/junk")
    database_host.ssh(f"truncate -s 0 {STATE}/requests.log")
    inventory = database_host.write_inventory(tmp_path / "inventory.py", REHEARSAL_SETTINGS)

    restore = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "restore", str(inventory), str(archive), "--yes"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=600,
    )

    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert restore.stdout == f"restored {archive} on {database_host.address}\n"
    assert psql(database_host, SELECT) == rows and "[1,-2.5,3e-07]" in rows
    assert data_checksums(database_host) == files and "report.txt" in files
    (job,) = json.loads(
        kubectl(database_host, "get", "jobs", "--namespace", "llm", "--output", "json")
    )["items"]
    assert job["metadata"]["name"].startswith("restore-")
    assert {c["type"]: c["status"] for c in job["status"]["conditions"]}["Complete"] == "True"
    assert kubectl(
        database_host, "logs", "--namespace", "llm", f"job/{job['metadata']['name']}"
    ) == (f"restored /backups/{archive.name}\n")
    assert (
        kubectl(
            database_host,
            "get",
            "deployment",
            "open-webui",
            "--namespace",
            "llm",
            "--output",
            "jsonpath={.spec.replicas} {.status.readyReplicas}",
        )
        == "1 1"
    )
    assert database_host.ssh(f"stat -c %a {BACKUP_DIR}/{archive.name}").stdout == "600\n"
    # What `appliance restore` changed in the API server: the Deployment's scale (kubectl 1.37
    # patches the scale subresource), the Job made, the scale again; the kubelet and the
    # controllers did the rest.
    scale = ("PATCH", "/apis/apps/v1/namespaces/llm/deployments/open-webui/scale")
    assert writes(database_host) == [scale, ("POST", "/apis/batch/v1/namespaces/llm/jobs"), scale]
    assert "app-password" not in restore.stdout + restore.stderr


def test_a_restore_scaling_a_statefulset_stops_at_the_api_servers_not_found(k3s_host):
    """What the hand-written `k3s kubectl` stand-in answered 'scaled' to (it served a
    StatefulSet open-webui that chart open-webui 16.0.0 never renders): the real kubectl and
    API server refuse it, as a real k3s does."""
    scaled = k3s_host.ssh(
        "k3s kubectl scale statefulset open-webui --namespace llm --replicas=0", check=False
    )
    assert (scaled.returncode, scaled.stdout) == (1, "")
    assert (
        scaled.stderr == 'Error from server (NotFound): statefulsets.apps "open-webui" not found\n'
    )
