"""Issue 19's broken states, each made by the stand-in's controllers as upstream makes it
(tests/kube_controllers.py, tests/k3s_controllers.py: helm-controller v0.17.7, klipper-helm's
entry, Kubernetes 1.36's Deployment and Job controllers, k3s's deploy controller), and judged
through the real kubectl: `appliance status` (status_harness.status_through_kubectl: the
product's own read command, parse_read and status_components, exit code as appliance/cli.py
status gives it) and, where a gate is the question, the layer's gate (layer_components with the
manifests the layer wrote).

Before and after: the same tests run with operations/health.py of commit 23283ea (before issue
19's readiness work) in place of today's, by pointing HEALTH_MODULE at it:

    git show 23283ea:operations/health.py > /tmp/health_old.py
    printf '%s\\n' 'def layer_components(layer, read, settings, manifests=(), since=""):' \\
        '    return LAYER_COMPONENTS[layer](read, settings)' \\
        'def written_manifests(host_files):' '    return ()' >> /tmp/health_old.py
    HEALTH_MODULE=/tmp/health_old.py pytest tests/unit/test_status_scenarios.py

(the appended functions are the old gate's own judgment under today's names: LAYER_COMPONENTS
alone, as the old gate took no manifests). Result (finding: issue 19's numbering):

    scenario                                   finding  before (23283ea)        after
    a healthy converged appliance              -        passes                  passes
    b failed upgrade, failurePolicy retry      2        FAILS (exit 0, ready)   passes
    c values error on install                  3        FAILS (waiting)         passes
    d crash-looping surge rollout              6        FAILS (exit 0, ready)   passes
    e rollout not started                      4        passes                  passes
    f certificate expired / within 14 days     8        FAILS (ready, exit 0)   passes
    g HelmChart refused by the CRD's enum      5        FAILS (no reason named) passes
    h one kind's list failing                  8        FAILS (exit 0, ready)   passes
    i gate before k3s applied the new file     4        FAILS (gate passes)     passes
    j every printed look command runs          8        FAILS (usage error)     passes
    k model written namespace/model:tag        8        FAILS (missing)         passes
    m pending reboot, failed off-site runs     22/5     FAILS (not named)       passes

l: the shipped testinfra checks (tests/host) on the same states judge as status does (they
import operations/health.py: not part of the before column).
"""

import importlib.util
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from k3s_controllers import HelmResult, k3s_api
from operations.apps import app_files
from operations.settings import load
from status_harness import CURRENT as current_health
from status_harness import (
    converged_appliance,
    host_commands,
    ollama_list,
    read_through_kubectl,
    status_through_kubectl,
    write_manifests,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# helm's message for an upgrade that changes an immutable field (helm v3 pkg/kube/client.go
# wraps the API server's 422).
UPGRADE_ERROR = (
    'Error: UPGRADE FAILED: cannot patch "open-webui" with kind Deployment: '
    'Deployment.apps "open-webui" is invalid: spec.selector: Invalid value: '
    "v1.LabelSelector{...}: field is immutable"
)
# helm's message when values fail the chart's values.schema.json (helm v3 pkg/chartutil).
VALUES_ERROR = (
    "Error: INSTALLATION FAILED: values don't meet the specifications of the "
    "schema(s) in the following chart(s):\nopen-webui:\n- replicaCount: Invalid type. "
    "Expected: integer, given: string"
)


@pytest.fixture(scope="module")
def health():
    """The readiness code under test: today's (status_harness.CURRENT), or the file HEALTH_MODULE names
    (the before column of the module's docstring)."""
    path = os.environ.get("HEALTH_MODULE")
    if not path:
        return current_health
    spec = importlib.util.spec_from_file_location("health_under_test", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def appliance(base_data, tmp_path):
    """make(helm_controller=..., helm_results=..., settings=...) -> (api, settings, deploy,
    manifests): a converged single-server appliance (status_harness.converged_appliance) on a
    stand-in started for this test; ``helm_results`` are scripted before k3s applies anything."""
    servers = []

    def make(helm_controller="v0.17.7", helm_results=None, settings=None):
        api = k3s_api(helm_controller).start()
        servers.append(api)
        api.helm_results.update(helm_results or {})
        loaded = load({**base_data, **(settings or {})})
        deploy = converged_appliance(api, loaded, tmp_path / "manifests")
        return api, loaded, deploy, tmp_path / "manifests"

    yield make
    for api in servers:
        api.stop()


def states(components) -> dict:
    return {c.name: c.state for c in components}


def component(components, name):
    return next(c for c in components if c.name == name)


# helm-controller v0.17.1's CRD (k3s v1.36.0-v1.36.2) has no failurePolicy retry.
REFUSING_RETRY = "v0.17.1"


def scans(api, deploy, count: int) -> None:
    """``count`` passes of k3s's deploy controller, 15 s apart."""
    for _ in range(count):
        api.advance(15)
        deploy.scan()


def failed_upgrade(appliance, base_data):
    """A converged appliance whose open-webui upgrade (a changed webui_signup) helm refuses
    (UPGRADE_ERROR, a failed revision recorded each time), with failurePolicy retry."""
    api, _, deploy, manifests = appliance()
    api.helm_results[("kube-system", "open-webui")] = [HelmResult(UPGRADE_ERROR, recorded=True)] * 4
    write_manifests(load({**base_data, "webui_signup": True}), manifests)
    deploy.scan()
    api.tick()  # the entry exits 0 on the revision mismatch; retry upgrades again and exits 0
    return api, load({**base_data, "webui_signup": True})


def test_a_a_converged_appliance_is_ready_and_status_exits_0(appliance, health):
    api, settings, _, _ = appliance()
    components, code = status_through_kubectl(api, settings, module=health)
    assert [(c.name, c.state) for c in components if c.state != "ready"] == [
        ("last backup", "warning")
    ]
    assert code == 0


def test_b_a_failed_upgrade_with_retry_is_failed_with_helms_error(base_data, appliance, health):
    api, settings = failed_upgrade(appliance, base_data)
    job = api.get("Job", "kube-system", "helm-install-open-webui")
    assert [c["type"] for c in job["status"]["conditions"] if c["status"] == "True"] == [
        "SuccessCriteriaMet",
        "Complete",
    ]
    statuses = {
        s["metadata"]["name"]: s["metadata"]["labels"]["status"]
        for s in api.list("Secret", "llm", "owner=helm,name=open-webui")
    }
    assert statuses == {
        "sh.helm.release.v1.open-webui.v1": "deployed",
        "sh.helm.release.v1.open-webui.v2": "failed",
        "sh.helm.release.v1.open-webui.v3": "failed",
    }
    components, code = status_through_kubectl(api, settings, module=health)
    chart = component(components, "chart open-webui")
    assert (chart.state, chart.detail) == (
        "failed",
        ("helm failed: release revision 3 is failed: " + UPGRADE_ERROR),
    )
    assert states(components)["deployment llm/open-webui"] == "ready"  # the old pod serves
    assert code == 1


def test_c_a_values_error_on_install_fails_with_helms_message_at_the_third_restart(
    appliance, health
):
    api, settings, _, _ = appliance(
        helm_results={("kube-system", "open-webui"): [HelmResult(VALUES_ERROR)] * 10}
    )
    api.tick()
    api.tick()
    job = api.get("Job", "kube-system", "helm-install-open-webui")
    assert (job["status"].get("active"), job["status"].get("failed")) == (1, None)
    components, code = status_through_kubectl(api, settings, module=health)
    chart = component(components, "chart open-webui")
    assert (chart.state, chart.detail) == (
        "failed",
        (
            "helm failed 3 times (CrashLoopBackOff): Error: INSTALLATION FAILED: values don't meet "
            "the specifications of the schema(s) in the following chart(s): open-webui: - "
            "replicaCount: Invalid type. Expected: integer, given: string"
        ),
    )
    assert code == 1


def test_d_a_surge_rollout_whose_new_pod_crash_loops_is_not_ready(appliance, health):
    api, settings, _, _ = appliance()
    api.crash_loop(
        "cnpg-system", "cloudnative-pg", '{"level":"error","msg":"unable to start manager"}\n'
    )
    run = api.kubectl(
        "--namespace", "cnpg-system", "rollout", "restart", "deployment/cloudnative-pg"
    )
    assert run.returncode == 0
    components, code = status_through_kubectl(api, settings, module=health)
    operator = component(components, "deployment cnpg-system/cloudnative-pg")
    assert (operator.state, operator.detail) == ("waiting", "1 old replicas pending termination")
    assert code == 1
    api.advance(601)  # past progressDeadlineSeconds (600, the API server's default)
    api.tick()
    components, code = status_through_kubectl(api, settings, module=health)
    operator = component(components, "deployment cnpg-system/cloudnative-pg")
    # The new ReplicaSet's name ends with a hash of its pod template (restartedAt: now).
    assert operator.state == "failed"
    assert operator.detail.startswith('exceeded its progress deadline: ReplicaSet "cloudnative-pg-')
    assert operator.detail.endswith('" has timed out progressing.')
    assert code == 1


def test_e_a_rollout_the_controller_has_not_started_is_waiting(appliance, health):
    from kube_controllers import deployments

    api, settings, _, _ = appliance()
    api.controllers.remove(deployments)  # the Deployment controller has not acted yet
    run = api.kubectl("--namespace", "llm", "rollout", "restart", "deployment/open-webui")
    assert run.returncode == 0
    deployment = api.get("Deployment", "llm", "open-webui")
    assert (deployment["metadata"]["generation"], deployment["status"]["observedGeneration"]) == (
        2,
        1,
    )
    components, code = status_through_kubectl(api, settings, module=health)
    webui = component(components, "deployment llm/open-webui")
    assert webui.state == "waiting"
    assert "spec not yet seen" in webui.detail
    assert code == 1


def certificate(days: float) -> str:
    """What openssl prints of a Let's Encrypt certificate ending ``days`` from now."""
    end = datetime.fromtimestamp(time.time() + days * 86400, timezone.utc)
    return (
        "issuer=C=US, O=Let's Encrypt, CN=R11\n"
        f"notAfter={end.strftime('%b')} {end.day:2d} {end.strftime('%H:%M:%S %Y')} GMT\n"
        "X509v3 Subject Alternative Name: \n    DNS:{domain}\n"
    )


def test_f_an_expired_certificate_fails_and_one_within_14_days_warns(appliance, health):
    api, settings, _, _ = appliance()
    components, code = status_through_kubectl(
        api, settings, {"certificate": certificate(-2)}, module=health
    )
    found = component(components, "certificate")
    assert found.state == "failed"
    assert found.detail.startswith("expired: C=US, O=Let's Encrypt, CN=R11, valid until ")
    assert code == 1
    components, code = status_through_kubectl(
        api, settings, {"certificate": certificate(7.1)}, module=health
    )
    found = component(components, "certificate")
    assert found.state == "warning"
    assert found.detail.startswith("expires in 7 days: C=US, O=Let's Encrypt, CN=R11")
    assert code == 0


def test_g_a_helm_chart_the_crd_refuses_names_the_addons_apply_manifest_failed(appliance, health):
    api, settings, deploy, manifests = appliance(helm_controller=REFUSING_RETRY)
    refused = (
        'HelmChart.helm.cattle.io "open-webui" is invalid: spec.failurePolicy: '
        'Unsupported value: "retry": supported values: "abort", "reinstall"'
    )
    detail = (
        f"ApplyManifestFailed: Applying manifest at "
        f'"{manifests}/llm-appliance-open-webui.yaml" failed: {refused}'
    )
    components, code = status_through_kubectl(api, settings, module=health)
    addon = component(components, "manifest llm-appliance-open-webui")
    assert (addon.state, addon.detail, code) == ("waiting", detail, 1)  # k3s tried twice
    scans(api, deploy, 3)  # k3s meets the same refusal at each scan
    components, code = status_through_kubectl(api, settings, module=health)
    addon = component(components, "manifest llm-appliance-open-webui")
    assert (addon.state, addon.detail, code) == ("failed", detail, 1)
    read = read_through_kubectl(api, settings, module=health)
    written = health.written_manifests(app_files(settings))
    gate = health.layer_components("apps", read, settings, written)
    addon = component(gate, "manifest llm-appliance-open-webui")
    assert (addon.state, addon.detail) == ("failed", detail)


def test_h_one_kind_failing_to_list_is_read_once_and_named(appliance, health):
    api, settings, _, _ = appliance()
    api.fail_list("secrets")
    read = read_through_kubectl(api, settings, module=health)
    names = [
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in read["objects"]
    ]
    assert len(names) == len(set(names))
    assert ("Deployment", "llm", "open-webui") in names
    components, code = status_through_kubectl(api, settings, module=health)
    found = component(components, "cluster read")
    assert (found.state, found.detail) == (
        "waiting",
        (
            'Error from server (InternalError): an error on the server ("etcdserver: request '
            'timed out") has prevented the request from succeeding (get secrets)'
        ),
    )
    assert code == 1


def test_i_the_gate_waits_until_k3s_applied_the_newly_written_manifest(
    base_data, appliance, health
):
    api, _, deploy, manifests = appliance()
    changed = load({**base_data, "webui_signup": True})
    write_manifests(changed, manifests)  # written; k3s scans every 15 s
    written = health.written_manifests(app_files(changed))
    read = read_through_kubectl(api, changed, module=health)
    gate = health.layer_components("apps", read, changed, written)
    addon = component(gate, "manifest llm-appliance-open-webui")
    assert (addon.state, addon.detail) == (
        "waiting",
        "not applied by k3s yet (it scans its manifests every 15 s)",
    )
    deploy.scan()
    read = read_through_kubectl(api, changed, module=health)
    gate = health.layer_components("apps", read, changed, written)
    assert [(c.name, c.state) for c in gate if c.state != "ready"] == []


def run_look(api, look: str) -> subprocess.CompletedProcess:
    with host_commands(api) as environment:
        return subprocess.run(
            ["bash", "-c", look], capture_output=True, text=True, env=environment, timeout=60
        )


def test_j_every_printed_look_command_of_a_broken_appliance_runs(appliance, health):
    api, settings, _, _ = appliance(
        helm_results={("kube-system", "open-webui"): [HelmResult(VALUES_ERROR)] * 10}
    )
    api.tick()
    api.tick()
    api.crash_loop("cnpg-system", "cloudnative-pg", "unable to start manager\n")
    assert (
        api.kubectl(
            "--namespace", "cnpg-system", "rollout", "restart", "deployment/cloudnative-pg"
        ).returncode
        == 0
    )
    api.execs[("llm", "ollama-", ("ollama", "list"))] = (0, ollama_list([]))
    components, code = status_through_kubectl(
        api, settings, {"certificate": certificate(-1)}, module=health
    )
    looks = {
        c.name: c.look
        for c in components
        if c.state not in ("ready",) and c.look.startswith("k3s kubectl")
    }
    for name, look in looks.items():
        run = run_look(api, look)
        assert "See 'kubectl" not in run.stderr and "error:" not in run.stderr, (name, run.stderr)
        # A grep that finds nothing (no ACME line in the stand-in's Traefik log) is an answer.
        assert run.returncode == 0 or (" | grep " in look and run.returncode == 1), (name, run)
    assert set(looks) == {
        "chart open-webui",
        "deployment cnpg-system/cloudnative-pg",
        "models",
        "certificate",
    }
    assert "Error: INSTALLATION FAILED" in run_look(api, looks["chart open-webui"]).stdout
    assert code == 1


def test_k_a_model_written_namespace_model_tag_is_ready_as_ollama_lists_it(appliance, health):
    models = ["library/llama3.2:3b", "huihui_ai/deepseek-r1-abliterated:8b"]  # + the embedder
    api, settings, _, _ = appliance(settings={"ollama_models": models})
    # Ollama v0.32.15 lists them DisplayShortest: the default namespace left out.
    api.execs[("llm", "ollama-", ("ollama", "list"))] = (
        0,
        ollama_list(
            ["llama3.2:3b", "huihui_ai/deepseek-r1-abliterated:8b", "nomic-embed-text:latest"]
        ),
    )
    components, code = status_through_kubectl(api, settings, module=health)
    models_component = component(components, "models")
    assert (models_component.state, models_component.detail) == (
        "ready",
        "library/llama3.2:3b, huihui_ai/deepseek-r1-abliterated:8b, nomic-embed-text:latest",
    )
    assert code == 0


def shipped_check(module: str, name: str):
    """A check of the shipped testinfra suite (tests/host/MODULE.py), as a function."""
    path = PROJECT_ROOT / "tests" / "host" / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"shipped_{module}", path)
    assert spec is not None and spec.loader is not None, path  # a .py file has both
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return getattr(loaded, name)


def test_m_a_pending_reboot_and_the_off_site_units_last_errors_are_named(appliance, health):
    """What needs a person (issue 22, item 4): the packages that asked for a reboot, and each
    off-site unit's failed last run, with files/offsite.sh's error line (the check), or
    systemd's result where the run was killed before it printed one (the backup). Without
    them, neither row."""
    api, settings, _, _ = appliance(settings={"backup_repository": "/mnt/nas/restic"})
    host = {
        "reboot": "linux-image-6.8.0-51-generic\nlibc6\n",
        "units": {
            "llm-appliance-offsite": ("signal", "Stopping llm-appliance off-site backup: backup\n"),
            "llm-appliance-offsite-check": (
                "exit-code",
                "off-site check failed: Fatal: unable to "
                "open config file: stat /mnt/nas/restic/config: no such "
                "file or directory\n",
            ),
        },
    }
    components, code = status_through_kubectl(api, settings, module=health, host=host)
    assert [
        (c.name, c.state, c.detail) for c in components if c.name in ("reboot", "off-site snapshot")
    ] == [
        (
            "reboot",
            "warning",
            "needed for linux-image-6.8.0-51-generic, libc6: reboot when "
            "convenient (unattended_reboot is off)",
        ),
        (
            "off-site snapshot",
            "failed",
            "llm-appliance-offsite.service: its last run failed "
            "(systemd result: signal); llm-appliance-offsite-check.service: off-site check failed: "
            "Fatal: unable to open config file: stat /mnt/nas/restic/config: no such file or "
            "directory",
        ),
    ]
    assert code == 1
    components, _ = status_through_kubectl(api, settings, module=health)
    assert [
        (c.name, c.detail) for c in components if c.name in ("reboot", "off-site snapshot")
    ] == [("off-site snapshot", "none yet in /mnt/nas/restic")]


def test_l_the_shipped_checks_judge_as_status_does(base_data, appliance):
    """tests/host's k3s and apps readiness checks, given the deploy's read through the real
    kubectl (their `fact` fixture runs ApplianceRead on the host), pass on a converged
    appliance and fail on a failed upgrade and on a manifest k3s refuses. They import
    operations/health.py itself: HEALTH_MODULE does not change them."""
    k3s_check = shipped_check("test_k3s", "test_k3s_is_ready_as_the_deploy_gate_judges_it")
    apps_check = shipped_check("test_apps", "test_apps_are_ready_as_the_deploy_gate_judges_them")

    def run(check, api, settings) -> str:
        def fact(fact_class, **arguments):
            assert (fact_class, arguments) == (
                current_health.ApplianceRead,
                {"domain": settings.webui_domain},
            )
            return read_through_kubectl(api, settings)

        try:
            if check is k3s_check:
                check(fact=fact, settings=settings, k3s_role="server")
            else:
                check(fact=fact, settings=settings, kubectl=None)
        except AssertionError:  # its message is pytest's (assertion rewriting), not here
            return "failed"
        return "passed"

    api, settings, _, _ = appliance()
    assert (run(k3s_check, api, settings), run(apps_check, api, settings)) == ("passed", "passed")
    api, settings = failed_upgrade(appliance, base_data)  # status: chart open-webui failed (b)
    assert (run(k3s_check, api, settings), run(apps_check, api, settings)) == ("passed", "failed")
    api, settings, deploy, _ = appliance(helm_controller=REFUSING_RETRY)
    scans(api, deploy, 3)  # status: manifest llm-appliance-open-webui failed (g)
    assert run(k3s_check, api, settings) == "failed"
