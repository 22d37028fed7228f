"""Readiness against a real rehearsal host: the deploy's gates and `appliance status` read the
cluster through the `k3s kubectl` stand-in (tests/integration/standin_k3s.py), which serves a
recorded cluster (tests/cluster_state.py) and logs every invocation; a Traefik stand-in answers
on ports 80 and 443 as the appliance's Traefik does. Everything else is real: SSH, pyinfra, the
host layer, files, ensure-secret.sh.

A chart whose helm upgrade failed (its newest release Secret says failed) stops the deploy with
helm's own error; a converged appliance re-runs with zero changes, four kubectl invocations and
nine remote commands in all."""

import json

import pytest
from click.testing import CliRunner
from cluster_state import HELM_ERROR, converged
from k3s_standins import STATE, install_k3s_standins
from pyinfra_trace import run_traced

from appliance.cli import main
from appliance.rehearsal import run_pyinfra

@pytest.fixture(scope="module")
def standins(rehearsal):
    install_k3s_standins(rehearsal)
    return rehearsal


def serve(rehearsal, objects: list[dict], traefik_chart: str = "40.1.5+up40.1.0") -> None:
    """Make the stand-in answer with these objects (Traefik's HelmChart names traefik_chart)."""
    for item in objects:
        if item["kind"] == "HelmChart" and item["metadata"]["name"] == "traefik":
            item["spec"]["chart"] = f"https://%{{KUBERNETES_API}}%/static/charts/traefik-{traefik_chart}.tgz"
    listing = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
    rehearsal.ssh(f"cat > {STATE}/objects.json <<'EOF'\n{listing}\nEOF\n"
                  f"install -d {STATE}/logs/kube-system/job && cat > "
                  f"{STATE}/logs/kube-system/job/helm-install-ollama <<'EOF'\n{HELM_ERROR}\nEOF")


def kubectl_calls(rehearsal) -> int:
    return len(rehearsal.ssh(f"cat {STATE}/argv.log 2>/dev/null || true").stdout.splitlines())


def test_a_failed_chart_upgrade_stops_the_deploy_with_helms_error(standins, inventory):
    serve(standins, converged(failed_chart="ollama"))
    run = run_pyinfra(inventory("apps.py", layers="apps"), "deploy.py")
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "apps: failed" in output
    assert "chart ollama: failed, helm failed: release revision 2 is failed" in output
    assert "  event: Completed: Job completed" in output
    assert ('  log: Error: UPGRADE FAILED: cannot patch "ollama" with kind Deployment: '
            'Deployment.apps "ollama" is invalid: spec.selector: Invalid value: '
            'v1.LabelSelector{...}: field is immutable') in output
    assert "  look further: k3s kubectl --namespace kube-system logs job/helm-install-ollama" in output
    assert "Traceback" not in output


def test_status_reports_the_failed_chart(standins, inventory):
    serve(standins, converged(failed_chart="ollama"))
    result = CliRunner().invoke(main, ["status", str(inventory("apps.py", layers="apps"))])
    assert result.exit_code == 1, result.output
    rows = {line.split()[1]: line.split()[2] for line in result.output.splitlines()
            if line.startswith("  chart ")}
    assert rows == {"cloudnative-pg": "ready", "ollama": "failed", "open-webui": "ready",
                    "netdata": "ready"}


def remote_commands_per_layer(trace: dict) -> dict[str, int]:
    """Remote commands and file transfers of a traced run (bench/pyinfra_trace.py), per layer."""
    counts: dict[str, int] = {}
    for event in trace["events"]:
        if event["kind"] != "connect" and event["operation"]:
            layer = event["operation"].split(" | ")[0]
            counts[layer] = counts.get(layer, 0) + 1
    return counts


def test_a_converged_appliance_reruns_with_no_change_and_four_kubectl_calls(
        standins, inventory, tmp_path):
    serve(standins, converged())
    path = inventory("whole.py")
    first = run_pyinfra(path, "deploy.py")
    assert first.returncode == 0, first.stderr[-3000:]
    before = kubectl_calls(standins)
    again, trace = run_traced(path, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.changed == []
    # Each layer reads its host in one round trip (operations/facts.py, batch_reads); the
    # k3s and apps layers' readiness gates read the cluster once (the kubectl calls below),
    # while the k3s layer plans, since its gate weighs the Traefik HelmChartConfig's write
    # (851b5a5): the summary reuses that read. 9 in all, as before (k3s layer 3, Summary 1).
    assert remote_commands_per_layer(trace) == {
        "Host layer": 2, "Off-site backups": 1, "k3s layer": 4, "Apps layer": 2}
    calls = [json.loads(line) for line in
             standins.ssh(f"tail -n +{before + 1} {STATE}/argv.log").stdout.splitlines()]
    # `k3s --version` (the binary's version, plan and run) is not kubectl.
    assert [call[1:3] for call in calls if call[0] == "kubectl"] == [
        ["get", "nodes,deployments,statefulsets,daemonsets,jobs,helmcharts,helmchartconfigs,"
                "addons.k3s.cattle.io,events,secrets,clusters.postgresql.cnpg.io"],
        ["get", "pods"],  # helm-controller's install Jobs' pods
        ["--namespace", "kube-system"],  # logs --selector of those pods (helm's error)
        ["--namespace", "llm"],  # exec deployment/ollama -- ollama list
    ]
    assert "Wait until" not in again.stdout + again.stderr
    assert "Models:      llama3.2:3b, nomic-embed-text:latest (all present)" in again.stderr


def test_status_of_a_healthy_appliance(standins, inventory):
    serve(standins, converged())
    result = CliRunner().invoke(main, ["status", str(inventory("whole.py"))])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == ["component", "state", "running", "pinned", "detail"]
    node = next(line for line in lines if line.startswith("  node s1"))
    assert node.split()[2:5] == ["ready", "v1.36.4+k3s1", "v1.36.5+k3s1"]
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


def test_shipped_traefik_check_keys_on_the_upstream_chart(standins, inventory, shipped_suite):
    path = inventory("whole.py")
    check = ["-m", "k3s", "-k", "test_traefik_is_the_chart_layout_the_appliance_writes"]
    serve(standins, converged(), traefik_chart="40.1.5+up40.1.0")
    assert shipped_suite(path, *check).returncode == 0
    serve(standins, converged(), traefik_chart="41.4.2+up41.4.0")
    failed = shipped_suite(path, *check)
    assert failed.returncode == 1
    assert ("k3s runs the Traefik chart 41.4.2+up41.4.0; the appliance writes values in the "
            "layout of upstream chart 40.1.0 (k3s_version v1.36.5+k3s1)") in failed.stdout
