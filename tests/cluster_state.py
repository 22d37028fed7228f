"""A converged appliance's cluster objects, shaped as the upstream controllers make them and as
the readiness read gives them (operations/health.py), for the unit tests of
operations/health.py and for the `k3s kubectl` stand-in on rehearsal hosts
(tests/integration/standin_k3s.py serves them from objects.json).

    objects = converged()                      # every component ready
    objects = converged(failed_chart="ollama") # helm's upgrade of ollama failed

What each object holds, and where upstream makes it so:
- HelmChart status: `jobName` and the conditions JobCreated True, Failed False
  (helm-controller v0.17.7 pkg/controllers/chart/chart.go OnChange).
- Install Job `helm-install-NAME` in the HelmChart's namespace: label
  `helmcharts.helm.cattle.io/chart: NAME` on the Job and its pod template, `backoffLimit:
  1000`, `restartPolicy: OnFailure`, the pod template's `helmcharts.helm.cattle.io/configHash:
  SHA256=HEX` annotation (chart.go job, hashObjects); its pod owned by the Job (the Job
  controller's ownerReference), `restartCount` always present (core/v1 ContainerStatus has no
  omitempty on it).
- Release Secrets `sh.helm.release.v1.NAME.vN` in the target namespace, as the read gives a
  Secret: type and labels only (helm's secret driver labels name, owner=helm, status, version;
  klipper-helm's `entry` adds `--labels helmcharts.helm.cattle.io/configHash=HASH`, the
  annotation's value after "=", cut to 63 characters by chart.go).
- Workload status counters that are zero are absent (`omitempty` in apps/v1 types.go); spec
  fields carry the API server's defaults (kubernetes pkg/apis/apps/v1/defaults.go).
- Open WebUI is `Deployment llm/open-webui` (open-webui chart 16.0.0 with `workload.kind:
  Deployment`, as `helm template` renders the appliance's values).

Times are fixed: the charts' specs last changed at SPEC_TIME, their Jobs ran after.
"""

from __future__ import annotations

import hashlib

SPEC_TIME = "2026-11-29T20:00:00Z"
JOB_TIME = "2026-11-29T20:00:05Z"
CHARTS = {"traefik": "kube-system", "cloudnative-pg": "cnpg-system", "ollama": "llm",
          "open-webui": "llm", "netdata": "monitoring"}
HELM_ERROR = ("Error: UPGRADE FAILED: cannot patch \"ollama\" with kind Deployment: "
              "Deployment.apps \"ollama\" is invalid: spec.selector: Invalid value: "
              "v1.LabelSelector{...}: field is immutable")
CHART_LABEL = "helmcharts.helm.cattle.io/chart"
CONFIG_HASH = "helmcharts.helm.cattle.io/configHash"
KLIPPER_HELM = "rancher/klipper-helm:v0.13.3-build20260727"


def config_hash(name: str, spec: int = 1) -> str:
    """A Job's configHash annotation for chart `name` at its `spec`-th spec ("SHA256=" and 64
    upper-case hex digits, as chart.go's hashObjects writes it)."""
    return "SHA256=" + hashlib.sha256(f"{name} {spec}".encode()).hexdigest().upper()


def chart(name: str, target: str, failed: dict | None = None) -> dict:
    """A HelmChart in kube-system; `failed` is its Failed condition's reason and message."""
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
        "status": {"jobName": f"helm-install-{name}", "conditions": [
            {"type": "JobCreated", "status": "True", "reason": "Job created",
             "message": f"Applying HelmChart using Job kube-system/helm-install-{name}"},
            {"type": "Failed", "status": "True", **failed} if failed else
            {"type": "Failed", "status": "False"},
        ]},
    }


def job_uid(name: str) -> str:
    """The uid of chart `name`'s install Job (a UUID, as the API server gives one)."""
    digest = hashlib.md5(name.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"


def job(name: str, hash_: str, complete: bool = True) -> dict:
    """helm-controller's install Job for chart `name` with configHash `hash_`; Complete, or
    still running (no condition yet)."""
    status = ({"conditions": [
        {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached"},
        {"type": "Complete", "status": "True", "reason": "CompletionsReached"}],
        "succeeded": 1, "startTime": JOB_TIME, "completionTime": JOB_TIME}
        if complete else {"active": 1, "startTime": JOB_TIME, "ready": 0})
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": f"helm-install-{name}", "namespace": "kube-system",
                     "uid": job_uid(name), "creationTimestamp": JOB_TIME,
                     "labels": {CHART_LABEL: name}},
        "spec": {"backoffLimit": 1000, "template": {
            "metadata": {"labels": {CHART_LABEL: name}, "annotations": {CONFIG_HASH: hash_}},
            "spec": {"restartPolicy": "OnFailure",
                     "containers": [{"name": "helm", "image": KLIPPER_HELM}]}}},
        "status": status,
    }


def install_pod(name: str, restarts: int = 0, waiting: str | None = None) -> dict:
    """The pod of chart `name`'s install Job: Succeeded, or with helm's container restarted
    `restarts` times and now waiting (`waiting`: e.g. CrashLoopBackOff)."""
    state = ({"waiting": {"reason": waiting, "message": "back-off 40s restarting failed container"}}
             if waiting else {"terminated": {"exitCode": 0, "reason": "Completed"}})
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"helm-install-{name}-x7k2p", "namespace": "kube-system",
                     "labels": {CHART_LABEL: name, "batch.kubernetes.io/job-name": f"helm-install-{name}",
                                "job-name": f"helm-install-{name}"},
                     "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                          "name": f"helm-install-{name}", "uid": job_uid(name),
                                          "controller": True}]},
        "spec": {"restartPolicy": "OnFailure", "serviceAccountName": f"helm-{name}",
                 "containers": [{"name": "helm", "image": KLIPPER_HELM}],
                 "volumes": [{"name": "klipper-helm", "emptyDir": {"medium": "Memory"}}]},
        "status": {"phase": "Running" if waiting else "Succeeded",
                   "containerStatuses": [{"name": "helm", "restartCount": restarts, "state": state,
                                          "ready": False}]},
    }


def release(name: str, target: str, revision: int, status: str, hash_: str) -> dict:
    """A release Secret as the readiness read gives it: type and labels."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"namespace": target, "name": f"sh.helm.release.v1.{name}.v{revision}",
                     "labels": {"name": name, "owner": "helm", "status": status,
                                "version": str(revision), "modifiedAt": "1795982400",
                                CONFIG_HASH: hash_.partition("=")[2][:63]}},
    }


def workload(kind: str, namespace: str, name: str, image: str, available: int = 1) -> dict:
    """A Deployment, StatefulSet or DaemonSet of one replica (one scheduled pod), rolled out,
    with `available` of them available (and ready)."""
    template = {"spec": {"containers": [{"name": name, "image": image}]}}
    if kind == "DaemonSet":
        spec = {"updateStrategy": {"type": "RollingUpdate",
                                   "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                "template": template}
        status = {"currentNumberScheduled": 1, "desiredNumberScheduled": 1,
                  "numberMisscheduled": 0, "numberReady": available,
                  "numberAvailable": available, "numberUnavailable": 1 - available,
                  "updatedNumberScheduled": 1, "observedGeneration": 1}
    elif kind == "StatefulSet":
        spec = {"replicas": 1, "updateStrategy": {"type": "RollingUpdate",
                                                  "rollingUpdate": {"partition": 0}},
                "template": template}
        status = {"replicas": 1, "readyReplicas": available, "availableReplicas": available,
                  "currentReplicas": 1, "updatedReplicas": 1, "observedGeneration": 1,
                  "currentRevision": f"{name}-5d8f7b9c6", "updateRevision": f"{name}-5d8f7b9c6"}
    else:
        spec = {"replicas": 1, "strategy": {"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
                "progressDeadlineSeconds": 600, "template": template}
        status = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": available,
                  "availableReplicas": available, "unavailableReplicas": 1 - available,
                  "observedGeneration": 1, "conditions": [
                      {"type": "Available", "status": "True" if available else "False"},
                      {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    return {
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "generation": 1},
        "spec": spec,
        "status": {key: value for key, value in status.items() if value != 0},
    }


def converged(failed_chart: str | None = None) -> list[dict]:
    """Every object of a converged single-server appliance. With `failed_chart`, helm's
    upgrade of that chart to its current spec failed: its newest release Secret (revision 2,
    the Job's configHash) says failed, the one before still deployed (helm marks a release
    superseded only when the next one deployed), and its Job ended Complete all
    the same (klipper-helm's `entry` exits 0 when the revision is not the expected one, and
    after `helm upgrade` with failurePolicy retry); the old pods stay available."""
    objects = [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "s1"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}],
                   "nodeInfo": {"kubeletVersion": "v1.36.4+k3s1"}},
    }]
    for name, target in CHARTS.items():
        hash_ = config_hash(name, 2 if name == failed_chart else 1)
        objects += [chart(name, target), job(name, hash_), install_pod(name),
                    release(name, target, 1, "deployed", config_hash(name, 1))]
        if name == failed_chart:
            objects.append(release(name, target, 2, "failed", hash_))
    objects += [
        workload("Deployment", "kube-system", "traefik", "rancher/mirrored-library-traefik:3.6.1"),
        workload("Deployment", "kube-system", "coredns", "rancher/mirrored-coredns-coredns:1.13.1"),
        workload("Deployment", "cnpg-system", "cloudnative-pg",
                 "ghcr.io/cloudnative-pg/cloudnative-pg:1.30.0"),
        workload("Deployment", "llm", "ollama", "ollama/ollama:0.32.15"),
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
         "reason": "Completed", "message": "Job completed", "lastTimestamp": JOB_TIME},
    ]
    return objects
