"""Backups of Open WebUI (its database and its uploads), and their restore.

A CronJob runs files/backup.sh on the schedule `backup_schedule`: pg_dump of the database and
a tar of Open WebUI's data folder, as one archive (mode 0600) in /var/backups/llm-appliance on
the first server, keeping `backup_retention_days` days. `appliance backup` runs one now (and
can fetch it); `appliance restore` stops Open WebUI, runs files/restore.sh in a Job, and starts
Open WebUI again.

    pyinfra inventories/prod.py operations.backup.backup_now
    pyinfra inventories/prod.py operations.backup.restore archive=llm-appliance-20261124.tar
    pyinfra inventories/prod.py operations.backup.restore_archive archive_name=llm-appliance-20261124.tar
"""

from __future__ import annotations

import io
import shlex
import tarfile
import time
from pathlib import Path

from pyinfra.api import deploy
from pyinfra.operations import files, server

from operations.components import OPEN_WEBUI
from operations.names import (
    BACKUP_CRONJOB,
    BACKUP_DIR,
    BACKUP_LABEL,
    K3S_BINARY,
    NAMESPACE,
    POSTGRES_APP_SECRET,
)
from operations.pins import PINNED_VERSIONS
from operations.rendering import PROJECT_ROOT, to_yaml
from operations.settings import Settings

SCRIPTS_CONFIGMAP = "llm-appliance-backup-scripts"
RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
KUBECTL = f"{K3S_BINARY} kubectl --namespace {NAMESPACE}"
# What files/backup.sh puts in an archive, and how pg_dump's custom format begins.
ARCHIVE_MEMBERS = ("database.dump", "webui-data.tar")
PG_DUMP_MAGIC = b"PGDMP"


def _pod(command: list[str], retention_days: int = 0) -> dict:
    """The pod of a backup or restore: PostgreSQL's tools, the database's credentials, Open
    WebUI's data folder and the backup folder on the host."""
    secret_env = [
        {"name": variable, "valueFrom": {"secretKeyRef": {"name": POSTGRES_APP_SECRET, "key": key}}}
        for variable, key in (
            ("PGHOST", "host"),
            ("PGPORT", "port"),
            ("PGUSER", "username"),
            ("PGPASSWORD", "password"),
            ("PGDATABASE", "dbname"),
        )
    ]
    return {
        "metadata": {"labels": {"app.kubernetes.io/name": BACKUP_LABEL}},
        "spec": {
            "restartPolicy": "OnFailure",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "backup",
                    "image": PINNED_VERSIONS["postgresql image"],
                    "command": command,
                    # Root in the pod: the archives belong to root on the host (mode 0600).
                    "securityContext": {"runAsUser": 0},
                    "env": secret_env
                    + [
                        {"name": "WEBUI_DATA", "value": "/webui-data"},
                        {"name": "BACKUP_DIR", "value": "/backups"},
                        {"name": "RETENTION_DAYS", "value": str(retention_days)},
                    ],
                    "resources": RESOURCES,
                    "volumeMounts": [
                        {"name": "scripts", "mountPath": "/scripts", "readOnly": True},
                        {"name": "webui-data", "mountPath": "/webui-data"},
                        {"name": "backups", "mountPath": "/backups"},
                    ],
                }
            ],
            "volumes": [
                {"name": "scripts", "configMap": {"name": SCRIPTS_CONFIGMAP, "defaultMode": 0o555}},
                {
                    "name": "webui-data",
                    "persistentVolumeClaim": {"claimName": OPEN_WEBUI.claims[0]},
                },
                {"name": "backups", "hostPath": {"path": BACKUP_DIR, "type": "DirectoryOrCreate"}},
            ],
        },
    }


def backup_manifests(settings: Settings) -> list[dict]:
    scripts = {
        name: (PROJECT_ROOT / "files" / name).read_text() for name in ("backup.sh", "restore.sh")
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": SCRIPTS_CONFIGMAP, "namespace": NAMESPACE},
            "data": scripts,
        },
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": BACKUP_CRONJOB, "namespace": NAMESPACE},
            "spec": {
                "schedule": settings.backup_schedule,
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 2,
                "failedJobsHistoryLimit": 2,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 2,
                        "template": _pod(["/scripts/backup.sh"], settings.backup_retention_days),
                    }
                },
            },
        },
    ]


def restore_job(archive_name: str, job_name: str) -> dict:
    """The Job that restores ``archive_name``: one try (backoffLimit 0), its pod never
    restarted, so that a failed restore's pod stays, Failed, with its log: with OnFailure the
    failing container restarts in a pod that is still active, and the Job controller deletes
    a failed Job's active pods (tests/kube_controllers.py jobs, after kubernetes 1.36
    pkg/controller/job/job_controller.go): no pod would be left to show its log."""
    template = _pod(["/scripts/restore.sh", f"/backups/{archive_name}"])
    template["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name, "namespace": NAMESPACE},
        "spec": {"backoffLimit": 0, "template": template},
    }


# How long each wait for the Job's Complete condition lasts before its Failed condition is looked
# at (seconds).
JOB_POLL_SECONDS = 5


def run_job(job_name: str, timeout_seconds: int) -> str:
    """A shell command that waits until Job ``job_name`` has ended: exit 0 once it is Complete;
    exit 1 as soon as it is Failed, or after ``timeout_seconds``, with the cause and its pod's
    log tail on stderr. `kubectl wait --for` ANDs several conditions (kubectl 1.37
    pkg/cmd/wait/wait.go), so a Complete-or-Failed wait is its own example's loop: a short wait
    for Complete, then a look (``--timeout=0``: "check once and don't wait") for Failed. A Job
    whose pod fails ends Failed once its restarts reach backoffLimit (0 for the restore)."""
    log = f"{KUBECTL} logs job/{job_name} --tail 20 >&2"
    return (
        f"deadline=$(( $(date +%s) + {timeout_seconds} )); "
        f"until {KUBECTL} wait --for=condition=complete --timeout={JOB_POLL_SECONDS}s "
        f"job/{job_name} >/dev/null 2>&1; do "
        f"{KUBECTL} get job/{job_name} >/dev/null || exit 1; "  # gone: kubectl says so
        f"if {KUBECTL} wait --for=condition=failed --timeout=0 job/{job_name} >/dev/null 2>&1; "
        f'then echo "job/{job_name} failed; its log:" >&2; {log}; exit 1; fi; '
        f'if [ $(date +%s) -ge $deadline ]; then echo "job/{job_name} not complete after '
        f'{timeout_seconds} s; its log:" >&2; {log}; exit 1; fi; '
        f"done"
    )


@deploy("Back up now")
def backup_now():
    job = f"backup-now-{time.strftime('%Y%m%d%H%M%S')}"
    server.shell(
        name="Run the backup CronJob now and wait for it",
        commands=[
            f"{KUBECTL} create job {job} --from=cronjob/{BACKUP_CRONJOB}",
            run_job(job, 1800),
        ],
    )


def archive_problem(path: str | Path) -> str | None:
    """Why a file is not an archive that files/backup.sh makes (a tar of `database.dump`, a
    pg_dump in custom format, and `webui-data.tar`); None when it is one. Read locally, before
    anything is uploaded: ``archive_problem("notes.txt")`` gives 'it is not a tar archive'."""
    try:
        with tarfile.open(path) as archive:
            names = sorted(archive.getnames())
            if names != sorted(ARCHIVE_MEMBERS):
                return f"it holds {names}, not {list(ARCHIVE_MEMBERS)}"
            dump = archive.extractfile("database.dump")
            if dump is None or dump.read(len(PG_DUMP_MAGIC)) != PG_DUMP_MAGIC:
                return "its database.dump is not a pg_dump archive (custom format)"
    except tarfile.TarError:
        return "it is not a tar archive"
    return None


@deploy("Restore a backup")
def restore(archive: str):
    """Upload an archive from this machine, then restore it (restore_archive)."""
    name = Path(archive).name
    files.put(name="Upload the archive", src=archive, dest=f"{BACKUP_DIR}/{name}", mode="600")
    restore_archive(archive_name=name)


@deploy("Restore an archive of the backup folder")
def restore_archive(archive_name: str):
    """Restore the archive `archive_name` of the server's backup folder: Open WebUI stops, a
    Job runs files/restore.sh, Open WebUI starts again."""
    job = f"restore-{time.strftime('%Y%m%d%H%M%S')}"
    manifest = f"/var/lib/llm-appliance/{job}.yaml"
    files.put(
        name="Write the restore Job",
        src=io.StringIO(to_yaml(restore_job(archive_name, job))),
        dest=manifest,
        mode="600",
    )
    # One script, so that whatever fails, the Job's manifest goes; on a failure the failed Job
    # goes too, and Open WebUI starts again on the data it had (pg_restore is one transaction).
    on_exit = (
        f"status=$?; rm -f {shlex.quote(manifest)}; if [ $status -ne 0 ]; then "
        f"{KUBECTL} delete job {job} --ignore-not-found; "
        f"{KUBECTL} scale {OPEN_WEBUI.workload.ref} --replicas=1; fi >/dev/null 2>&1"
    )
    server.shell(
        name="Stop Open WebUI, restore, start Open WebUI",
        commands=[
            "; ".join(
                [
                    "set -e",
                    f"trap {shlex.quote(on_exit)} EXIT",
                    f"{KUBECTL} scale {OPEN_WEBUI.workload.ref} --replicas=0",
                    f"{KUBECTL} wait --for=delete pod -l {OPEN_WEBUI.workload.selector} --timeout=300s",
                    f"{KUBECTL} apply --filename {shlex.quote(manifest)}",
                    run_job(job, 1800),
                    f"{KUBECTL} scale {OPEN_WEBUI.workload.ref} --replicas=1",
                ]
            )
        ],
    )
