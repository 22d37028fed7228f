"""The k3s layer's promises, on a deployed host (see operations/k3s.py).

Run after the k3s layer: `pytest tests/host --inventory inventories/prod.py -m "host or k3s"`.
"""

import json
import re

import pytest

from appliance import status_table
from host.expected import API_SERVER_PORT, K3S_BINARY, K3S_CONFIG_FILE, KUBECONFIG_FILE
from host.readings import ufw_address, ufw_state
from operations import component_state, health, read_parser, readiness, traefik

pytestmark = pytest.mark.k3s


def test_binary_is_the_pinned_version(host, settings):
    # k3s --version's first line: "k3s version v1.36.5+k3s1 (COMMIT)".
    assert host.check_output(f"{K3S_BINARY} --version").split()[:3] == [
        "k3s",
        "version",
        settings.k3s_version,
    ]


def test_service_running_and_enabled(host, k3s_role):
    service = host.service("k3s" if k3s_role == "server" else "k3s-agent")
    assert service.is_running and service.is_enabled


def test_config_is_private(host):
    config = host.file(K3S_CONFIG_FILE)
    assert (config.user, config.mode) == ("root", 0o600)


def test_kubeconfig_is_not_world_readable(host, k3s_role):
    if k3s_role != "server":
        pytest.skip("agents have no kubeconfig")
    kubeconfig = host.file(KUBECONFIG_FILE)
    assert kubeconfig.exists and kubeconfig.mode & 0o077 == 0


def test_secrets_are_encrypted_at_rest(host, k3s_role):
    if k3s_role != "server":
        pytest.skip("servers encrypt secrets")
    assert "Encryption Status: Enabled" in host.check_output("k3s secrets-encrypt status")


def test_nodes_ready(kubectl, settings):
    # The readiness gate's rule (readiness.node_components): each node's Ready condition.
    nodes = json.loads(kubectl("get nodes -o json"))["items"]
    assert nodes
    components = readiness.node_components(
        read_parser.Cluster({"k3s": True, "objects": nodes}), settings
    )
    assert [(c.name, c.state) for c in components if c.state != component_state.READY] == []


def test_k3s_is_ready_as_the_deploy_gate_judges_it(fact, settings, k3s_role):
    # The k3s layer's readiness gate's own read and rules (operations/readiness.py), as
    # `appliance status` judges a server: every kind listed, no manifest of the appliance
    # refused by k3s, the node Ready, k3s's charts released for their current spec,
    # kube-system's workloads rolled out, Traefik redirecting to HTTPS.
    if k3s_role != "server":
        pytest.skip("the gate reads the cluster on servers")
    read = fact(health.ApplianceRead, domain=settings.webui_domain)
    components = status_table.server_components(read) + readiness.k3s_components(read, settings)
    assert [
        f"{c.name}: {c.state}, {c.detail}"
        for c in components
        if c.state not in (component_state.READY, component_state.WARNING)
    ] == []


def test_traefik_is_the_chart_layout_the_appliance_writes(kubectl, settings):
    # k3s names its chart PATCH+upUPSTREAM: any patch of the same upstream chart has the layout.
    chart = kubectl("-n kube-system get helmchart traefik -o jsonpath={.spec.chart}")
    version = chart.rsplit("/", 1)[-1].removeprefix("traefik-").removesuffix(".tgz")
    assert version.endswith(f"+up{settings.traefik_upstream_chart}"), (
        f"k3s runs the Traefik chart {version}; the appliance writes values in the layout of "
        f"upstream chart {settings.traefik_upstream_chart} (k3s_version {settings.k3s_version})"
    )


def test_traefik_runs_with_the_appliance_arguments(kubectl, settings):
    arguments = json.loads(
        kubectl(
            "-n kube-system get deployment traefik -o jsonpath={.spec.template.spec.containers[0].args}"
        )
    )
    missing = set(traefik.traefik_arguments(settings)) - set(arguments)
    assert not missing, f"Traefik runs without {sorted(missing)}: its values were ignored"


def test_traefik_serves_http_and_https(host, k3s_role):
    if k3s_role != "server":
        pytest.skip("Traefik answers on servers")
    redirect = host.check_output(
        "curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/"
    )
    assert redirect.split()[0] in ("301", "308") and redirect.split()[1].startswith("https://")
    assert host.check_output("curl -sk -o /dev/null -w '%{http_code}' https://127.0.0.1/") != "000"


def test_acme_storage_is_private(host, settings, k3s_role):
    if settings.acme_ca == "none" or k3s_role != "server":
        pytest.skip("no ACME storage without a CA")
    paths = host.check_output(
        "find /var/lib/rancher/k3s/storage -path '*kube-system_traefik*' -name acme.json"
    ).split()
    assert paths, "acme.json is not on Traefik's persistent volume"
    assert host.file(paths[0]).mode == 0o600


def test_api_server_closed_to_all_but_admins(host, settings):
    # As `ufw show added` prints them (readings.ufw_address); it lists IPv4 rules before IPv6.
    wanted = [
        f"allow from {ufw_address(cidr)} to any port {API_SERVER_PORT} proto tcp"
        for cidr in settings.admin_cidrs
    ]
    rules = [
        rule for rule in ufw_state(host)["rules"] if re.search(rf"\b{API_SERVER_PORT}\b", rule)
    ]
    assert sorted(rules) == sorted(wanted)
