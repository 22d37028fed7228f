"""Network policies of the appliance's namespaces: deny by default, then allow exactly the
flows the appliance needs. k3s enforces them with its embedded network policy controller.

    Traefik -> Open WebUI (8080), Netdata parent (19999)
    Open WebUI -> Ollama (11434), PostgreSQL (5432)
    model puller -> Ollama (11434); Ollama -> model registry (443)
    backup -> PostgreSQL (5432); CloudNativePG operator -> PostgreSQL (8000, 5432)
    PostgreSQL, Netdata's Kubernetes state -> API server; Netdata children -> parent (19999)
    every pod -> cluster DNS (53)
"""

from __future__ import annotations

from operations.names import (
    BACKUP_LABEL,
    MODEL_PULLER_LABEL,
    MONITORING_NAMESPACE,
    NAMESPACE,
    OPERATOR_NAMESPACE,
    POSTGRES_CLUSTER,
)
from operations.webui import POD_LABELS as OPEN_WEBUI

_ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]

TRAEFIK = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
           "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}}}
CLUSTER_DNS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
               "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
POSTGRES_OPERATOR = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": OPERATOR_NAMESPACE}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}},
}
OLLAMA = {"app.kubernetes.io/name": "ollama", "app.kubernetes.io/instance": "ollama"}
POSTGRES = {"cnpg.io/cluster": POSTGRES_CLUSTER}
NETDATA_PARENT = {"app": "netdata", "role": "parent"}
NETDATA_K8S_STATE = {"app": "netdata", "role": "k8sState"}


def _ports(*ports: int) -> list[dict]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _policy(namespace: str, name: str, pods: dict, ingress=None, egress=None) -> dict:
    spec = {"podSelector": {"matchLabels": pods} if pods else {}, "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def _baseline(namespace: str) -> list[dict]:
    """Deny everything, then let every pod ask the cluster DNS."""
    return [
        _policy(namespace, "default-deny", {}, ingress=[], egress=[]),
        _policy(namespace, "allow-dns", {}, egress=[{
            "to": [CLUSTER_DNS],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }]),
    ]


def apps_policies() -> list[dict]:
    pods = lambda labels: {"podSelector": {"matchLabels": labels}}  # noqa: E731
    return _baseline(NAMESPACE) + [
        _policy(NAMESPACE, "open-webui", OPEN_WEBUI,
                ingress=[{"from": [TRAEFIK], "ports": _ports(8080)}],
                egress=[{"to": [pods(OLLAMA)], "ports": _ports(11434)},
                        {"to": [pods(POSTGRES)], "ports": _ports(5432)}]),
        _policy(NAMESPACE, "ollama", OLLAMA,
                ingress=[{"from": [pods(OPEN_WEBUI), pods({"app.kubernetes.io/name": MODEL_PULLER_LABEL})],
                          "ports": _ports(11434)}],
                # Model pulls from the Ollama registry (none in an air-gapped install).
                egress=[{"to": _ANYWHERE, "ports": _ports(443)}]),
        _policy(NAMESPACE, "model-puller", {"app.kubernetes.io/name": MODEL_PULLER_LABEL},
                egress=[{"to": [pods(OLLAMA)], "ports": _ports(11434)}]),
        _policy(NAMESPACE, "backup", {"app.kubernetes.io/name": BACKUP_LABEL},
                egress=[{"to": [pods(POSTGRES)], "ports": _ports(5432)}]),
        _policy(NAMESPACE, "postgres", POSTGRES,
                ingress=[{"from": [pods(OPEN_WEBUI), pods({"app.kubernetes.io/name": BACKUP_LABEL})],
                          "ports": _ports(5432)},
                         {"from": [POSTGRES_OPERATOR], "ports": _ports(8000, 5432)}],
                # An instance that cannot reach the API server shuts itself down.
                egress=[{"to": _ANYWHERE, "ports": _ports(443, 6443)}]),
    ]


def monitoring_policies() -> list[dict]:
    namespace = MONITORING_NAMESPACE
    return _baseline(namespace) + [
        _policy(namespace, "netdata-parent", NETDATA_PARENT, ingress=[
            {"from": [TRAEFIK], "ports": _ports(19999)},
            {"from": [{"podSelector": {"matchLabels": NETDATA_K8S_STATE}}], "ports": _ports(19999)},
            # Children stream from the nodes' host network, which no pod selector matches;
            # the host firewall keeps 19999 closed to the outside.
            {"from": _ANYWHERE, "ports": _ports(19999)},
        ]),
        _policy(namespace, "netdata-k8s-state", NETDATA_K8S_STATE, egress=[
            {"to": [{"podSelector": {"matchLabels": NETDATA_PARENT}}], "ports": _ports(19999)},
            {"to": _ANYWHERE, "ports": _ports(443, 6443)},
        ]),
    ]
