"""A converged appliance's cluster objects, as `kubectl get -o json` shows them, for the unit
tests of operations/health.py and for the `k3s kubectl` stand-in on rehearsal hosts
(tests/integration/standin_k3s.py serves them from objects.json).

    objects = converged()                      # every component ready
    objects = converged(failed_chart="ollama") # helm-install-ollama failed 3 times

Times are fixed: the charts' specs last changed at SPEC_TIME, their Jobs ran after.
"""

from __future__ import annotations

SPEC_TIME = "2026-11-29T20:00:00Z"
JOB_TIME = "2026-11-29T20:00:05Z"
CHARTS = {"traefik": "kube-system", "cloudnative-pg": "cnpg-system", "ollama": "llm",
          "open-webui": "llm", "netdata": "monitoring"}
HELM_ERROR = ("Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) "
              "in the following chart(s):\nollama:\n- resources.limits.memory: Invalid type")


def chart(name: str, target: str) -> dict:
    return {
        "apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
        "metadata": {"name": name, "namespace": "kube-system", "generation": 1,
                     "creationTimestamp": SPEC_TIME,
                     "managedFields": [
                         {"manager": "deploy@s1", "operation": "Update", "time": SPEC_TIME},
                         {"manager": "helm-controller", "operation": "Update",
                          "subresource": "status", "time": JOB_TIME},
                     ]},
        "spec": {"chart": name, "version": "1.0.0", "targetNamespace": target},
    }


def job(name: str, failed: int = 0) -> dict:
    condition = {"type": "Failed" if failed else "Complete", "status": "True"}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": f"helm-install-{name}", "namespace": "kube-system",
                     "creationTimestamp": JOB_TIME},
        "status": {"conditions": [condition], **({"failed": failed} if failed else {"succeeded": 1})},
    }


def workload(kind: str, namespace: str, name: str, image: str, available: int = 1) -> dict:
    status = ({"desiredNumberScheduled": 1, "numberAvailable": available,
               "updatedNumberScheduled": 1, "observedGeneration": 1} if kind == "DaemonSet" else
              {"replicas": 1, "availableReplicas": available, "readyReplicas": available,
               "updatedReplicas": 1, "observedGeneration": 1})
    return {
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": {**({} if kind == "DaemonSet" else {"replicas": 1}),
                 "template": {"spec": {"containers": [{"name": name, "image": image}]}}},
        "status": status,
    }


def converged(failed_chart: str | None = None) -> list[dict]:
    """Every object of a converged single-server appliance; `failed_chart`'s install failed."""
    objects = [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "s1"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "nodeInfo": {"kubeletVersion": "v1.36.4+k3s1"}},
    }]
    for name, target in CHARTS.items():
        objects.append(chart(name, target))
        objects.append(job(name, failed=3 if name == failed_chart else 0))
    objects += [
        workload("Deployment", "kube-system", "traefik", "rancher/mirrored-library-traefik:3.6.1"),
        workload("Deployment", "kube-system", "coredns", "rancher/mirrored-coredns-coredns:1.13.1"),
        workload("Deployment", "cnpg-system", "cloudnative-pg",
                 "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0"),
        workload("Deployment", "llm", "ollama", "ollama/ollama:0.32.15",
                 available=0 if failed_chart == "ollama" else 1),
        workload("Deployment", "llm", "open-webui", "ghcr.io/open-webui/open-webui:0.11.0"),
        workload("Deployment", "monitoring", "netdata-parent", "netdata/netdata:v2.11.0"),
        workload("DaemonSet", "monitoring", "netdata-child", "netdata/netdata:v2.11.0"),
        {"apiVersion": "postgresql.cnpg.io/v1", "kind": "Cluster",
         "metadata": {"name": "postgres", "namespace": "llm"}, "spec": {"instances": 1},
         "status": {"phase": "Cluster in healthy state", "readyInstances": 1,
                    "image": "ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie"}},
        {"apiVersion": "v1", "kind": "Event",
         "metadata": {"name": "helm-install-ollama.1", "namespace": "kube-system"},
         "involvedObject": {"kind": "Job", "name": "helm-install-ollama"},
         "reason": "BackoffLimitExceeded" if failed_chart == "ollama" else "Completed",
         "message": ("Job has reached the specified backoff limit" if failed_chart == "ollama"
                     else "Job completed"),
         "lastTimestamp": JOB_TIME},
    ]
    return objects
