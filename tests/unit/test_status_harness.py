"""`appliance status` through the real kubectl against the stand-in (tests/status_harness.py):
the product's own read command, parse_read and status_components, on cluster state that the
stand-in's controllers made from the apps layer's own manifests and the recorded renders."""

import pytest

from k3s_controllers import helm_controller, k3s_api
from operations.settings import load
from status_harness import converged_appliance, status_through_kubectl


@pytest.fixture(scope="module")
def appliance(base_data, tmp_path_factory):
    api = k3s_api().start()
    settings = load(base_data)
    converged_appliance(api, settings, tmp_path_factory.mktemp("manifests"))
    yield api, settings
    api.stop()


def test_a_converged_appliance_is_ready(appliance):
    api, settings = appliance
    components, code = status_through_kubectl(api, settings)
    assert [(c.name, c.state) for c in components if c.state != "ready"] == [
        ("last backup", "warning")
    ]
    assert {
        "chart ollama",
        "chart open-webui",
        "deployment llm/open-webui",
        "postgres",
        "models",
    } <= {c.name for c in components}
    assert code == 0


def test_a_chart_without_its_install_job_is_waiting(appliance):
    api, settings = appliance
    api.controllers.remove(helm_controller)  # helm-controller has not acted yet
    try:
        run = api.kubectl("--namespace", "kube-system", "delete", "job", "helm-install-ollama")
        assert run.returncode == 0
        components, code = status_through_kubectl(api, settings)
        assert [(c.name, c.state, c.detail) for c in components if c.state == "waiting"] == [
            ("chart ollama", "waiting", "no install Job yet (helm-controller)")
        ]
        assert code == 1
    finally:
        api.controllers.append(helm_controller)
        api.reconcile()
    assert api.get("Job", "kube-system", "helm-install-ollama") is not None
