"""The cluster a converged deploy leaves, as `kubectl get -o json` shows it, for the `k3s kubectl`
stand-in (tests/integration/standin_k3s.py) to serve: the objects of the rendered manifests, and
the objects k3s, the charts and the operator make from them.

Chart-made names and labels are the pinned charts' own, read in their templates:
- otwld/ollama-helm 1.77.0 (`templates/_helpers.tpl`, `service.yaml`): release `ollama` is the
  full name; selector labels `app.kubernetes.io/name: ollama`, `app.kubernetes.io/instance:
  ollama`; Service `ollama` of `.Values.service.type`, port 11434.
- open-webui/helm-charts 16.0.0 (`_helpers.tpl`, `service.yaml`, `ingress.yaml`): full name
  `open-webui`; selector labels `app.kubernetes.io/instance: open-webui`,
  `app.kubernetes.io/component: open-webui`; Service `open-webui` (port 80 to `http`, 8080);
  an Ingress `open-webui` with `.Values.ingress.annotations`, `.class` and `.host`.
- netdata/helmchart 3.7.172 (`parent/deployment.yaml`, `child/daemonset.yaml`,
  `k8s-state/deployment.yaml`, `service.yaml`): pods labelled `app: netdata`, `release:
  netdata`, `role: parent | child | k8sState`; Service `netdata`, port 19999.
- CloudNativePG (operator 1.30, chart cloudnative-pg 0.29.0): instance pod `postgres-1` labelled
  `cnpg.io/cluster: postgres`, `cnpg.io/instanceName: postgres-1`, `role: primary`; Services
  `postgres-rw`, `-ro`, `-r`; Secret `postgres-app`.
- k3s v1.36.4+k3s1: the Node, its packaged Traefik chart (`traefik-40.1.4+up40.1.0.tgz`) and the
  Traefik Deployment, whose arguments are what that chart renders from the appliance's values.

    state = deployed_state(rendered_documents, settings)  # {"items": [...], "exec": {...}}
"""

from __future__ import annotations

import yaml
from cluster_state import config_hash, install_pod, job, release, workload

READY = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
# What Traefik chart 40.1 renders from the appliance's values with acme_ca none (ACME adds the
# resolver's arguments).
TRAEFIK_ARGUMENTS = [
    "--entryPoints.metrics.address=:9100/tcp",
    "--entryPoints.traefik.address=:8080/tcp",
    "--entryPoints.web.address=:8000/tcp",
    "--entryPoints.websecure.address=:8443/tcp",
    "--api.dashboard=true",
    "--ping=true",
    "--providers.kubernetescrd",
    "--providers.kubernetesingress",
    "--entryPoints.web.http.redirections.entryPoint.to=:443",
    "--entryPoints.web.http.redirections.entryPoint.scheme=https",
    "--entryPoints.web.http.redirections.entryPoint.permanent=true",
    "--entryPoints.websecure.http.tls=true",
]
OLLAMA_LIST = (
    "NAME                       ID              SIZE      MODIFIED\n"
    "llama3.2:3b                a80c4f17acd5    2.0 GB    2 hours ago\n"
    "nomic-embed-text:latest    0a109f422b47    274 MB    2 hours ago\n"
)
PG_EXTENSIONS = "plpgsql\nvector\n"


def pod(namespace: str, name: str, labels: dict, status: dict = READY) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "status": status}


def service(namespace: str, name: str, port: int, selector: dict, kind: str = "ClusterIP") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": kind, "selector": selector,
                     "ports": [{"port": port, "protocol": "TCP", "name": "http"}]}}


def chart_values(documents: list[dict], name: str) -> dict:
    (chart,) = [d for d in documents if d["kind"] == "HelmChart" and d["metadata"]["name"] == name]
    return yaml.safe_load(chart["spec"]["valuesContent"])


def deployed_state(documents: list[dict], settings) -> dict:
    """The served state of a converged single-server appliance (rehearsal settings)."""
    items = [dict(document) for document in documents]
    ollama_values = chart_values(documents, "ollama")
    webui_values = chart_values(documents, "open-webui")
    ollama_labels = {"app.kubernetes.io/name": "ollama", "app.kubernetes.io/instance": "ollama"}
    webui_labels = {"app.kubernetes.io/name": "open-webui", "app.kubernetes.io/instance": "open-webui",
                    "app.kubernetes.io/component": "open-webui"}
    (puller,) = [d for d in documents if d["kind"] == "Job"]
    traefik = workload("Deployment", "kube-system", "traefik", "rancher/mirrored-library-traefik:3.6.1")
    traefik["spec"]["template"]["spec"]["containers"][0]["args"] = TRAEFIK_ARGUMENTS
    items += [
        # k3s
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "rehearsal"},
         "status": {"conditions": [{"type": "Ready", "status": "True"}],
                    "nodeInfo": {"kubeletVersion": settings.k3s_version}}},
        {"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
         "metadata": {"name": "traefik", "namespace": "kube-system"},
         "spec": {"chart": "https://%{KUBERNETES_API}%/static/charts/traefik-40.1.4+up40.1.0.tgz"}},
        traefik,
        # otwld/ollama-helm
        service("llm", "ollama", 11434, ollama_labels, ollama_values["service"]["type"]),
        pod("llm", "ollama-7d9c6b8f5-x2x7q", {**ollama_labels, "app.kubernetes.io/version": "0.32.15"}),
        pod("llm", f"{puller['metadata']['name']}-5kq2d",
            puller["spec"]["template"]["metadata"]["labels"],
            {"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False"}]}),
        # open-webui/helm-charts
        service("llm", "open-webui", 80, {k: webui_labels[k] for k in
                                          ("app.kubernetes.io/instance", "app.kubernetes.io/component")}),
        pod("llm", "open-webui-6f8d9c7b4-k8p2m", webui_labels),
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {"name": "open-webui", "namespace": "llm",
                      "annotations": webui_values["ingress"]["annotations"]},
         "spec": {"ingressClassName": webui_values["ingress"]["class"], "rules": [{
             "host": webui_values["ingress"]["host"], "http": {"paths": [{
                 "path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "open-webui", "port": {"name": "http"}}}}]}}]}},
        # CloudNativePG
        pod("llm", "postgres-1", {"cnpg.io/cluster": "postgres", "cnpg.io/instanceName": "postgres-1",
                                  "cnpg.io/podRole": "instance", "role": "primary"}),
        *(service("llm", f"postgres-{suffix}", 5432, {"cnpg.io/cluster": "postgres"}) for suffix in ("rw", "ro", "r")),
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "postgres-app", "namespace": "llm"},
         "type": "kubernetes.io/basic-auth", "data": {}},
        # netdata/helmchart
        service("monitoring", "netdata", 19999, {"app": "netdata", "release": "netdata", "role": "parent"}),
        *(pod("monitoring", name, {"app": "netdata", "release": "netdata", "role": role})
          for name, role in (("netdata-parent-5b7c9d6f8-q4w7e", "parent"), ("netdata-child-7xk2p", "child"),
                             ("netdata-k8s-state-6c8d7f9b5-r2t5y", "k8sState"))),
        # the deploy's own Secrets (files/ensure-secret.sh)
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "open-webui-secrets", "namespace": "llm"},
         "data": {}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "netdata-basic-auth", "namespace": "monitoring"},
         "type": "kubernetes.io/basic-auth", "data": {}},
        # the charts' workloads, rolled out (names as the pinned charts render them)
        workload("Deployment", "cnpg-system", "cloudnative-pg", "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0"),
        workload("Deployment", "llm", "ollama", "ollama/ollama:0.32.15"),
        workload("Deployment", "llm", "open-webui", "ghcr.io/open-webui/open-webui:0.12.4"),
        workload("Deployment", "monitoring", "netdata-parent", "netdata/netdata:v2.11.0"),
        workload("Deployment", "monitoring", "netdata-k8s-state", "netdata/netdata:v2.11.0"),
        workload("DaemonSet", "monitoring", "netdata-child", "netdata/netdata:v2.11.0"),
    ]
    # helm-controller's install Job of each HelmChart, its pod and the release it deployed
    # (tests/cluster_state.py), and CloudNativePG's status of the rendered Cluster.
    for chart in [item for item in items if item["kind"] == "HelmChart"]:
        name = chart["metadata"]["name"]
        target = chart["spec"].get("targetNamespace") or "kube-system"
        items += [job(name, config_hash(name)), install_pod(name),
                  release(name, target, 1, "deployed", config_hash(name))]
    for cluster in (item for item in items if item["kind"] == "Cluster"):
        cluster["status"] = {"phase": "Cluster in healthy state",
                             "readyInstances": cluster["spec"].get("instances", 1),
                             "image": cluster["spec"].get("imageName", "")}
    return {
        "items": items,
        "exec": {
            "llm/deployment/ollama/ollama list": OLLAMA_LIST,
            "llm/postgres-1/psql --dbname=openwebui --tuples-only --no-align "
            "--command=SELECT extname FROM pg_extension": PG_EXTENSIONS,
        },
    }
