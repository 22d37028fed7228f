"""The apps layer's promises, on a deployed appliance (see operations/apps.py).

Run after the apps layer: `pytest tests/host --inventory inventories/prod.py -m "host or k3s or apps"`.
"""

import json

import pytest

from host.expected import (
    BACKUP_CRONJOB,
    NAMESPACE,
    POSTGRES_APP_SECRET,
    POSTGRES_CLUSTER,
    WEBUI_SECRETS,
)
from host.readings import primary_address
from operations import component_state, health, read_parser, readiness
from operations.components import NETDATA, OLLAMA, OPEN_WEBUI
from operations.ollama_facts import OllamaModels

pytestmark = pytest.mark.apps


@pytest.mark.parametrize("component", (OLLAMA, OPEN_WEBUI, NETDATA), ids=lambda c: c.name)
def test_workloads_rolled_out(kubectl, component):
    # The readiness gate's rule (readiness.workload_component: `kubectl rollout status`'s), for
    # every workload the component's record names: each must exist (the gate judges those it
    # finds) and be rolled out; a pod that is not Ready keeps its rollout from being done.
    for workload in component.workloads:
        item = json.loads(kubectl(f"--namespace {workload.namespace} get {workload.ref} -o json"))
        judged = readiness.workload_component(read_parser.Cluster({}), item)
        assert judged.state == component_state.READY, f"{judged.name}: {judged.detail}"


def test_apps_are_ready_as_the_deploy_gate_judges_them(fact, settings, kubectl):
    # The apps layer's readiness gate's own read and rules (operations/readiness.py): every chart
    # released for its current spec, PostgreSQL healthy, every workload rolled out, Open
    # WebUI's /health through Traefik, every model listed.
    read = fact(health.ApplianceRead, domain=settings.webui_domain)
    assert [
        f"{c.name}: {c.state}, {c.detail}"
        for c in readiness.apps_components(read, settings)
        if c.state not in (component_state.READY, component_state.WARNING)
    ] == []


def test_webui_health_through_traefik(host, settings, kubectl):
    # Through Traefik on this host, under the public name; without -k, so the certificate
    # must be valid (Let's Encrypt production) unless the appliance runs without ACME.
    insecure = "" if settings.acme_ca == "production" else "-k "
    status = host.check_output(
        f"curl -s {insecure}-o /dev/null -w '%{{http_code}}' --resolve "
        f"{settings.webui_domain}:443:127.0.0.1 https://{settings.webui_domain}/health"
    )
    assert status == "200"


def test_every_model_is_listed(fact, settings, kubectl):
    # The readiness gate's rule: a name as `ollama list` prints it (readiness.ollama_list_name).
    assert not readiness.missing_models(settings.models, fact(OllamaModels, namespace=NAMESPACE))


def test_postgres_accepts_connections_with_vector(kubectl):
    extensions = kubectl(
        f"--namespace {NAMESPACE} exec {POSTGRES_CLUSTER}-1 -c postgres -- "
        "psql --dbname=openwebui --tuples-only --no-align --command='SELECT extname FROM pg_extension'"
    )
    assert "vector" in extensions.split()


def test_ollama_is_cluster_internal(kubectl):
    service = json.loads(kubectl(f"--namespace {NAMESPACE} get service ollama -o json"))
    assert service["spec"]["type"] == "ClusterIP"
    ingresses = kubectl("get ingress --all-namespaces -o json")
    assert "11434" not in ingresses and '"name": "ollama"' not in ingresses
    policy = json.loads(kubectl(f"--namespace {NAMESPACE} get networkpolicy ollama -o json"))
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 11434, "protocol": "TCP"}]


def test_ollama_port_unreachable_from_the_host_network(host):
    address = primary_address(host)
    result = host.run(f"curl -s -m 3 -o /dev/null http://{address}:11434/")
    assert result.rc != 0, "Ollama's API answers on the host's address"


def test_secrets_exist_and_are_not_in_the_manifests(host, kubectl):
    secrets = kubectl(f"--namespace {NAMESPACE} get secrets -o name").split()
    assert f"secret/{WEBUI_SECRETS}" in secrets
    assert f"secret/{POSTGRES_APP_SECRET}" in secrets
    manifests = host.check_output("cat /var/lib/rancher/k3s/server/manifests/llm-appliance-*.yaml")
    assert "kind: Secret" not in manifests


def test_monitoring_refuses_a_request_without_credentials(host, settings, kubectl):
    status = host.check_output(
        f"curl -sk -o /dev/null -w '%{{http_code}}' --resolve "
        f"{settings.monitor_domain}:443:127.0.0.1 https://{settings.monitor_domain}/"
    )
    assert status == "401"


# README "Security model": each namespace denies all traffic both ways, then allows these flows.
POLICIES = {
    "llm": {
        "default-deny",
        "allow-dns",
        "open-webui",
        "ollama",
        "model-puller",
        "backup",
        "postgres",
    },
    "monitoring": {"default-deny", "allow-dns", "netdata-parent", "netdata-k8s-state"},
}


@pytest.mark.parametrize("namespace", sorted(POLICIES))
def test_namespaces_deny_by_default(kubectl, namespace):
    policies = json.loads(kubectl(f"--namespace {namespace} get networkpolicies -o json"))["items"]
    assert {policy["metadata"]["name"] for policy in policies} == POLICIES[namespace]
    (deny,) = [policy for policy in policies if policy["metadata"]["name"] == "default-deny"]
    assert deny["spec"]["podSelector"] == {} and sorted(deny["spec"]["policyTypes"]) == [
        "Egress",
        "Ingress",
    ]
    assert not deny["spec"].get("ingress") and not deny["spec"].get("egress")


def test_backups_are_scheduled(kubectl, settings):
    cronjob = json.loads(kubectl(f"--namespace {NAMESPACE} get cronjob {BACKUP_CRONJOB} -o json"))
    assert cronjob["spec"]["schedule"] == settings.backup_schedule
