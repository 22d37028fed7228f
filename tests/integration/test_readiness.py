"""Readiness against a real rehearsal host: the deploy's gates and `appliance status` read the
cluster through the real kubectl, which talks to the stand-in API server running as k3s on the
host (k3s_standins.install_k3s, guest_k3s.py). Its datastore starts as a converged appliance that
the stand-in's controllers made from the apps layer's manifests for the inventory's settings
(status_harness.converged_appliance: k3s's deploy controller, helm-controller, klipper-helm,
Kubernetes' controllers), with the host's own Node; failures are injected into that server as
upstream meets them (guest_k3s.py faults.json: helm's error in klipper-helm's run). Everything
else is real: SSH, pyinfra, the layers, files, ensure-secret.sh, the Traefik stand-in's answers
on ports 80 and 443.

A converged appliance re-runs with zero changes, four kubectl invocations and nine remote
commands in all; a chart whose helm upgrade failed (its newest release Secret says failed)
stops the deploy with helm's own error, and `appliance status` names it."""

import json
import re

import pytest
from click.testing import CliRunner
from k3s_standins import GUEST_PACKAGES, STATE, WAIT_FOR_API, start_converged

from appliance.cli import main
from appliance.rehearsal import RehearsalHost
from appliance.runner import run_pyinfra
from pyinfra_trace import run_traced

# helm's message for an upgrade that changes an immutable field (helm v3 pkg/kube/client.go
# wraps the API server's 422).
HELM_ERROR = (
    'Error: UPGRADE FAILED: cannot patch "ollama" with kind Deployment: '
    'Deployment.apps "ollama" is invalid: spec.selector: Invalid value: '
    "v1.LabelSelector{...}: field is immutable"
)
# A larger model raises Ollama's memory limit (operations/ollama.py ollama_resources): the
# ollama HelmChart's values change, and helm-controller upgrades the release.
LARGER_MODEL = ["qwen2.5:7b"]
MANIFESTS = "/var/lib/rancher/k3s/server/manifests"


@pytest.fixture(scope="module")
def rehearsal():
    """A rehearsal host with what the stand-in API server needs (python3-yaml)."""
    with RehearsalHost.boot(extra_packages=GUEST_PACKAGES) as host:
        yield host


def restart_k3s(host, faults: dict | None = None) -> None:
    """Restart k3s (its objects kept in its datastore), with ``faults`` (guest_k3s.FAULTS)
    injected from its start on, or none."""
    host.ssh("systemctl stop k3s")
    if faults:
        host.ssh(f"umask 077 && cat > {STATE}/faults.json", input=json.dumps(faults))
    else:
        host.ssh(f"rm -f {STATE}/faults.json")
    host.ssh("systemctl start k3s && " + WAIT_FOR_API)


@pytest.fixture(scope="module")
def standins(rehearsal, inventory):
    """k3s on the stand-in API server, serving a converged appliance for whole.py's settings."""
    start_converged(rehearsal, inventory("whole.py"))
    return rehearsal


def kubectl_calls(rehearsal) -> list[list[str]]:
    """The arguments of each `k3s kubectl` run on the host so far (guest_k3s.py KUBECTL_LOG)."""
    return [
        json.loads(line)
        for line in rehearsal.ssh(
            f"cat {STATE}/kubectl.log 2>/dev/null || true"
        ).stdout.splitlines()
    ]


def remote_commands_per_layer(trace: dict) -> dict[str, int]:
    """Remote commands and file transfers of a traced run (bench/pyinfra_trace.py), per layer."""
    counts: dict[str, int] = {}
    for event in trace["events"]:
        if event["kind"] != "connect" and event["operation"]:
            layer = event["operation"].split(" | ")[0]
            counts[layer] = counts.get(layer, 0) + 1
    return counts


def test_a_converged_appliance_reruns_with_no_change_and_four_kubectl_calls(
    standins, inventory, tmp_path
):
    path = inventory("whole.py")
    first = run_pyinfra(path, "deploy.py")
    assert first.returncode == 0, first.stderr[-3000:]
    before = len(kubectl_calls(standins))
    standins.ssh(f"rm -rf /root/manifests && cp -a {MANIFESTS} /root/manifests")
    again, trace = run_traced(path, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.changed == [], standins.ssh(
        f"diff -r /root/manifests {MANIFESTS}", check=False
    ).stdout
    # Each layer reads its host in one round trip (operations/fact_batch.py, batch_reads); the
    # k3s and apps layers' readiness gates read the cluster once (the kubectl calls below),
    # while the k3s layer plans, since its gate weighs the Traefik HelmChartConfig's write
    # (851b5a5): the summary reuses that read. 9 in all, as before (k3s layer 3, Summary 1).
    assert remote_commands_per_layer(trace) == {
        "Host layer": 2,
        "Off-site backups": 1,
        "k3s layer": 4,
        "Apps layer": 2,
    }
    # `k3s --version` (the binary's version, plan and run) is not kubectl.
    assert [call[:2] for call in kubectl_calls(standins)[before:]] == [
        [
            "get",
            "nodes,deployments,statefulsets,daemonsets,jobs,helmcharts,helmchartconfigs,"
            "addons.k3s.cattle.io,events,secrets,clusters.postgresql.cnpg.io",
        ],
        ["get", "pods"],  # helm-controller's install Jobs' pods
        ["--namespace", "kube-system"],  # logs --selector of those pods (helm's error)
        ["--namespace", "llm"],  # exec deployment/ollama -- ollama list
    ]
    assert "Wait until" not in again.stdout + again.stderr
    assert "Models:      llama3.2:3b, nomic-embed-text:latest (all present)" in again.stderr


def test_status_of_a_healthy_appliance(standins, inventory):
    result = CliRunner().invoke(main, ["status", str(inventory("whole.py"))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["component", "state", "running", "pinned", "detail"]
    hostname = standins.ssh("hostname").stdout.strip()
    node = next(line for line in lines if line.startswith(f"  node {hostname}"))
    assert node.split()[2:5] == ["ready", "v1.36.5+k3s1", "v1.36.5+k3s1"]
    assert any(line.split()[:3] == ["traefik", "http", "->"] and "ready" in line for line in lines)
    assert any(line.split()[:2] == ["models", "ready"] for line in lines)
    assert any(line.split()[:4] == ["last", "backup", "warning", "-"] for line in lines)


def test_status_names_an_unreachable_host(standins, inventory, tmp_path):
    path = inventory("whole.py")
    unreachable = tmp_path / "unreachable.py"
    unreachable.write_text(path.read_text().replace(standins.address, "10.213.255.254"))
    result = CliRunner().invoke(main, ["status", str(unreachable)])
    assert result.exit_code == 1
    assert result.output.startswith("10.213.255.254: unreachable")
    assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output


def traefik_chart(host, version: str) -> None:
    """k3s's packaged Traefik HelmChart naming chart ``version`` (as another k3s release's
    manifests/traefik.yaml would), changed through the real kubectl."""
    patch = json.dumps(
        {"spec": {"chart": f"https://%{{KUBERNETES_API}}%/static/charts/traefik-{version}.tgz"}}
    )
    host.ssh(
        f"k3s kubectl --namespace kube-system patch helmchart traefik --type merge --patch '{patch}'"
    )


def test_shipped_traefik_check_keys_on_the_upstream_chart(standins, inventory, shipped_suite):
    path = inventory("whole.py")
    check = ["-m", "k3s", "-k", "test_traefik_is_the_chart_layout_the_appliance_writes"]
    assert shipped_suite(path, *check).returncode == 0  # k3s v1.36.5's 40.1.5+up40.1.0
    traefik_chart(standins, "41.4.2+up41.4.0")
    try:
        failed = shipped_suite(path, *check)
    finally:
        traefik_chart(standins, "40.1.5+up40.1.0")
    assert failed.returncode == 1
    assert (
        "k3s runs the Traefik chart 41.4.2+up41.4.0; the appliance writes values in the "
        "layout of upstream chart 40.1.0 (k3s_version v1.36.5+k3s1)"
    ) in failed.stdout


@pytest.fixture(scope="module")
def failed_upgrade(standins, inventory):
    """The apps layer deployed with a larger model while helm refuses every ollama upgrade
    (HELM_ERROR, a failed revision recorded each time; failurePolicy retry)."""
    restart_k3s(standins, {"helm": [["kube-system", "ollama", HELM_ERROR, True, 1000]]})
    path = inventory("apps.py", layers="apps", ollama_models=LARGER_MODEL)
    return path, run_pyinfra(path, "deploy.py")


def test_a_failed_chart_upgrade_stops_the_deploy_with_helms_error(failed_upgrade):
    _, run = failed_upgrade
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "apps: failed" in output
    # The revision: the first failed upgrade, then one more each time helm-controller replaced
    # the Complete Job (failurePolicy retry) before the gate read.
    assert re.search(
        r"chart ollama: failed, helm failed: release revision \d+ is failed", output
    ), output[-3000:]
    assert f"  log: {HELM_ERROR}" in output
    assert (
        "  look further: k3s kubectl --namespace kube-system logs job/helm-install-ollama" in output
    )
    assert "Traceback" not in output


def test_status_reports_the_failed_chart(failed_upgrade):
    path, _ = failed_upgrade
    result = CliRunner().invoke(main, ["status", str(path)])
    assert result.exit_code == 1, result.output
    rows = {
        line.split()[1]: line.split()[2]
        for line in result.output.splitlines()
        if line.startswith("  chart ")
    }
    assert rows == {
        "cloudnative-pg": "ready",
        "ollama": "failed",
        "open-webui": "ready",
        "netdata": "ready",
    }
