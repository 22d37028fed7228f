"""Network policies of the appliance's namespaces: deny by default, then allow exactly the
flows the appliance needs. k3s enforces them with its embedded network policy controller.

    Traefik -> Open WebUI (8080), Netdata parent (19999)
    Open WebUI -> Ollama (11434), PostgreSQL (5432); with single sign-on, the provider's port
    model puller -> Ollama (11434); Ollama -> model registry (443)
    backup -> PostgreSQL (5432); CloudNativePG operator -> PostgreSQL (8000, 5432)
    PostgreSQL, Netdata's Kubernetes state -> API server; Netdata children -> parent (19999)
    every pod -> cluster DNS (53)
"""

from __future__ import annotations

import ipaddress
import urllib.parse

from operations.components import (
    BACKUP,
    CLUSTER_DNS,
    MODEL_PULLER,
    NETDATA,
    OLLAMA,
    OPEN_WEBUI,
    POSTGRES,
    POSTGRES_OPERATOR,
    TRAEFIK,
    Component,
    Workload,
)
from operations.names import MONITORING_NAMESPACE, NAMESPACE
from operations.settings import Settings

_ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
# Addresses no public model registry has: private (RFC 1918), shared (RFC 6598), loopback and
# link-local (cloud metadata at 169.254.169.254). Ollama's egress leaves them out: the pinned
# Ollama 0.32.15 fetches what a pull names (CVE-2026-85180, SSRF through a blob redirect; see
# PINNED_VERSIONS), and this keeps such a request from reaching the server's LAN, the node or
# the cluster. k3s enforces `except` through kube-router: each entry goes into the rule's ipset
# as `nomatch` (cloudnativelabs/kube-router pkg/controllers/netpol/network_policy_controller.go,
# evalIPBlockPeer; the version k3s v1.36.5 vendors was not readable here).
NOT_A_REGISTRY = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
]
# CloudNativePG's instance manager answers its operator on this port of the PostgreSQL pod.
POSTGRES_STATUS_PORT = 8000
NETDATA_PARENT, NETDATA_CHILD, NETDATA_K8S_STATE = NETDATA.workloads


def pods(workload: Workload) -> dict:
    """A NetworkPolicy peer: the workload's pods, in its namespace when that is another one's."""
    return {"podSelector": {"matchLabels": dict(workload.pod_labels)}}


def pods_of(component: Component) -> dict:
    """A peer in another namespace: the component's pods there."""
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": component.namespace}},
        **pods(component.workload),
    }


def _ports(*ports: int) -> list[dict]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _policy(
    namespace: str, name: str, workload: Workload | None, ingress=None, egress=None
) -> dict:
    """A NetworkPolicy for the workload's pods (every pod of the namespace for None)."""
    spec = {**(pods(workload) if workload else {"podSelector": {}}), "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _baseline(namespace: str) -> list[dict]:
    """Deny everything, then let every pod ask the cluster DNS."""
    return [
        _policy(namespace, "default-deny", None, ingress=[], egress=[]),
        _policy(
            namespace,
            "allow-dns",
            None,
            egress=[
                {
                    "to": [pods_of(CLUSTER_DNS)],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        ),
    ]


def _provider_port(url: str) -> int:
    parsed = urllib.parse.urlsplit(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def _public_internet(settings: Settings) -> dict:
    """Every IPv4 address but NOT_A_REGISTRY and the cluster's own IPv4 networks (when settings
    put them outside it; an IPv6 one is outside 0.0.0.0/0 already):
    ``{"ipBlock": {"cidr": "0.0.0.0/0", "except": [...]}}``."""
    networks = [
        ipaddress.ip_network(cidr)
        for cidr in (settings.k3s_cluster_cidr, settings.k3s_service_cidr)
    ]
    own = [
        str(network)
        for network in networks
        if isinstance(network, ipaddress.IPv4Network)
        and not any(network.subnet_of(ipaddress.IPv4Network(private)) for private in NOT_A_REGISTRY)
    ]
    return {"ipBlock": {"cidr": "0.0.0.0/0", "except": NOT_A_REGISTRY + own}}


def apps_policies(settings: Settings) -> list[dict]:
    webui, ollama, postgres = OPEN_WEBUI.workload, OLLAMA.workload, POSTGRES.workload
    webui_egress = [
        {"to": [pods(ollama)], "ports": _ports(OLLAMA.listening_port)},
        {"to": [pods(postgres)], "ports": _ports(POSTGRES.listening_port)},
    ]
    if settings.oidc:
        # Discovery, keys, the token and userinfo endpoints: the provider's own address, not
        # known here (a name), on its port.
        webui_egress.append(
            {"to": _ANYWHERE, "ports": _ports(_provider_port(settings.oidc.provider))}
        )
    return _baseline(NAMESPACE) + [
        _policy(
            NAMESPACE,
            "open-webui",
            webui,
            ingress=[{"from": [pods_of(TRAEFIK)], "ports": _ports(OPEN_WEBUI.listening_port)}],
            egress=webui_egress,
        ),
        _policy(
            NAMESPACE,
            "ollama",
            ollama,
            ingress=[
                {
                    "from": [pods(webui), pods(MODEL_PULLER.workload)],
                    "ports": _ports(OLLAMA.listening_port),
                }
            ],
            # Model pulls from the Ollama registry (none in an air-gapped install).
            egress=[{"to": [_public_internet(settings)], "ports": _ports(443)}],
        ),
        _policy(
            NAMESPACE,
            "model-puller",
            MODEL_PULLER.workload,
            egress=[{"to": [pods(ollama)], "ports": _ports(OLLAMA.listening_port)}],
        ),
        _policy(
            NAMESPACE,
            "backup",
            BACKUP.workload,
            egress=[{"to": [pods(postgres)], "ports": _ports(POSTGRES.listening_port)}],
        ),
        _policy(
            NAMESPACE,
            "postgres",
            postgres,
            ingress=[
                {
                    "from": [pods(webui), pods(BACKUP.workload)],
                    "ports": _ports(POSTGRES.listening_port),
                },
                {
                    "from": [pods_of(POSTGRES_OPERATOR)],
                    "ports": _ports(POSTGRES_STATUS_PORT, POSTGRES.listening_port),
                },
            ],
            # An instance that cannot reach the API server shuts itself down.
            egress=[{"to": _ANYWHERE, "ports": _ports(443, 6443)}],
        ),
    ]


def monitoring_policies() -> list[dict]:
    namespace, port = MONITORING_NAMESPACE, NETDATA.listening_port
    return _baseline(namespace) + [
        _policy(
            namespace,
            "netdata-parent",
            NETDATA_PARENT,
            ingress=[
                {"from": [pods_of(TRAEFIK)], "ports": _ports(port)},
                {"from": [pods(NETDATA_K8S_STATE)], "ports": _ports(port)},
                # Children stream from the nodes' host network, which no pod selector matches;
                # the host firewall keeps 19999 closed to the outside.
                {"from": _ANYWHERE, "ports": _ports(port)},
            ],
        ),
        _policy(
            namespace,
            "netdata-k8s-state",
            NETDATA_K8S_STATE,
            egress=[
                {"to": [pods(NETDATA_PARENT)], "ports": _ports(port)},
                {"to": _ANYWHERE, "ports": _ports(443, 6443)},
            ],
        ),
    ]
