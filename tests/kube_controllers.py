"""The controllers of the stand-in API server (tests/kube_api.py): what Kubernetes' own
controllers and the kubelet do with the objects, written from their sources at the versions the
pinned k3s (v1.36.5+k3s1, Kubernetes 1.36) runs.

    api = kubernetes_api().start()
    api.crash_loop("kube-system", "traefik", "level=error msg=...")  # its new pods never get Ready
    api.add([deployment])      # ReplicaSet, Pods and status follow at once
    api.tick()                 # time passes: crash-looping containers restart once more

Every pod runs on the first Node (there is no scheduler) and, unless a test says otherwise, its
containers start and get Ready at once. A Job's pod runs its "container" through
``api.job_runs``: a callable per (namespace, Job name) that returns (exit code, log text), else
``api.run_pod`` (a kubelet for every Job, as on a rehearsal guest), or exit 0 with no log.
"""

from __future__ import annotations

import base64
import hashlib

from kube_api import DEFAULTS, KubeAPI, Resource, clone, now_text, omit_zero

# Characters of pod-template-hash and generated name suffixes (k8s.io/apimachinery
# pkg/util/rand/rand.go SafeEncodeString's alphabet).
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def safe_hash(value, length: int = 10) -> str:
    digest = hashlib.sha256(repr(value).encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:length])


def selector_text(selector: dict | None) -> str:
    """A LabelSelector's matchLabels as a selector string (matchExpressions: In/NotIn/Exists)."""
    selector = selector or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(expression.get("values", []))
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }[operator]
        )
    return ",".join(parts)


def owner_reference(owner: dict) -> dict:
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def owned_by(api: KubeAPI, kind: str, owner: dict) -> list[dict]:
    return api.owned(kind, owner)


def write(api: KubeAPI, item: dict) -> dict:
    """Save an object when it differs from the stored one (controllers write only changes,
    so that reconcile() settles)."""
    resource = api.resource_of(item)
    metadata = item["metadata"]
    key = api._store_key(resource, metadata.get("namespace", ""), metadata["name"])
    stored = api.objects.get(key)
    if stored is not None:

        def comparable(obj):
            return {
                **obj,
                "metadata": {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"},
            }

        if comparable(stored) == comparable(item):
            return stored
    return api.save(resource, clone(item))


def set_condition(
    conditions: list,
    kind: str,
    status: str,
    reason: str = "",
    message: str = "",
    now: str = "",
    updated: bool = False,
) -> list:
    """A condition list with ``kind`` set; lastTransitionTime moves only when its status
    changes, and (``updated``, Deployments' conditions) lastUpdateTime when its reason or
    message does (pkg/controller/deployment/util/deployment_util.go SetDeploymentCondition)."""
    conditions = clone(conditions or [])
    found = next((c for c in conditions if c["type"] == kind), None)
    if found is None:
        found = {"type": kind, "status": status, "lastTransitionTime": now}
        conditions.append(found)
        if updated:
            found["lastUpdateTime"] = now
    elif found["status"] != status:
        found["lastTransitionTime"] = now
    if updated and (found.get("reason"), found.get("message")) != (reason, message):
        found["lastUpdateTime"] = now
    found["status"] = status
    for key, value in (("reason", reason), ("message", message)):
        if value:
            found[key] = value
        else:
            found.pop(key, None)
    return conditions


# -- pods: what the kubelet reports --------------------------------------------------------------


def make_pod(api: KubeAPI, owner: dict, name: str, template: dict, labels: dict) -> dict:
    """A pod of ``owner`` from its template, on the first Node, as the kubelet reports it once
    its containers started (Ready unless the owner crash-loops)."""
    nodes = api.list("Node")
    spec = clone(template.get("spec", {}))
    if nodes and not spec.get("nodeName"):
        spec["nodeName"] = nodes[0]["metadata"]["name"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": owner["metadata"]["namespace"],
            "labels": labels,
            "annotations": clone(template.get("metadata", {}).get("annotations", {})),
            "ownerReferences": [owner_reference(owner)],
        },
        "spec": spec,
    }
    if not pod["metadata"]["annotations"]:
        del pod["metadata"]["annotations"]
    pod["status"] = pod_status(api, pod, restarts=0)
    crashing = crash_key(api, pod)
    if crashing:
        api.logs[(pod["metadata"]["namespace"], name, "")] = api.crash_logs.get(crashing, "")
    return api.save(api.resource("Pod"), pod)


def crash_key(api: KubeAPI, pod: dict) -> tuple[str, str] | None:
    """(namespace, workload) of a pod when its workload crash-loops (KubeAPI.crash_loop)."""
    namespace = pod["metadata"]["namespace"]
    for reference in pod["metadata"].get("ownerReferences", []):
        name = reference["name"]
        if reference["kind"] == "ReplicaSet":
            name = name.rsplit("-", 1)[0]
        if (namespace, name) in api.crashing:
            return namespace, name
    return None


def pod_status(api: KubeAPI, pod: dict, restarts: int, exit_code: int | None = None) -> dict:
    """A running pod's status as the kubelet writes it (pkg/kubelet/status): Ready when its
    containers run, CrashLoopBackOff waiting with restartCount when they keep failing;
    Succeeded/Failed for a finished Job pod (``exit_code``)."""
    now = now_text(api.now())
    crashing = crash_key(api, pod) is not None
    containers = pod["spec"].get("containers", [])
    finished = exit_code is not None
    ready = not crashing and not finished
    statuses = []
    for container in containers:
        status = {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "restartCount": restarts,
            "ready": ready,
            "started": ready,
        }
        if finished:
            status["state"] = {
                "terminated": {
                    "exitCode": exit_code,
                    "startedAt": now,
                    "finishedAt": now,
                    "reason": "Completed" if exit_code == 0 else "Error",
                }
            }
        elif crashing:
            status["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off restarting failed container={container['name']} "
                    f"pod={pod['metadata']['name']}",
                }
            }
            status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
        else:
            status["state"] = {"running": {"startedAt": now}}
        statuses.append(status)
    phase = ("Succeeded" if exit_code == 0 else "Failed") if finished else "Running"
    return {
        "phase": phase,
        "startTime": now,
        "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        ],
        "containerStatuses": statuses,
    }


def pod_ready(pod: dict) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in pod.get("status", {}).get("conditions", [])
    )


# -- Deployments and ReplicaSets ------------------------------------------------------------------


def replica_sets(api: KubeAPI) -> None:
    """The ReplicaSet controller (pkg/controller/replicaset/replica_set.go, 1.36): as many pods
    as spec.replicas, named RS-xxxxx, with the template's labels; status counts them
    (replicas required; fullyLabeledReplicas, readyReplicas, availableReplicas omitempty)."""
    for replica_set in api.list("ReplicaSet"):
        sync_replica_set(api, replica_set)


def sync_replica_set(api: KubeAPI, replica_set: dict) -> dict:
    pods = owned_by(api, "Pod", replica_set)
    wanted = replica_set["spec"].get("replicas", 1)
    template = replica_set["spec"]["template"]
    for index in range(len(pods), wanted):
        suffix = safe_hash((replica_set["metadata"]["uid"], index, api.version), 5)
        name = f"{replica_set['metadata']['name']}-{suffix}"
        pods.append(
            make_pod(
                api, replica_set, name, template, clone(template["metadata"].get("labels", {}))
            )
        )
    for pod in pods[wanted:]:
        api.remove(api.resource("Pod"), pod["metadata"]["namespace"], pod["metadata"]["name"])
    pods = pods[:wanted]
    ready = sum(pod_ready(p) for p in pods)
    replica_set["status"] = {
        "replicas": len(pods),
        **omit_zero(
            {
                "fullyLabeledReplicas": len(pods),
                "readyReplicas": ready,
                "availableReplicas": ready,
                "observedGeneration": replica_set["metadata"].get("generation", 1),
            }
        ),
    }
    return write(api, replica_set)


def _int_or_percent(value, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent (k8s.io/apimachinery pkg/util/intstr)."""
    if isinstance(value, int):
        return value
    percent = int(str(value).rstrip("%"))
    scaled = total * percent / 100
    return int(-(-scaled // 1)) if round_up else int(scaled)


def deployments(api: KubeAPI) -> None:
    """The Deployment controller (pkg/controller/deployment, 1.36): one ReplicaSet per
    template (NAME-HASH, label pod-template-hash); RollingUpdate surges the new ReplicaSet
    (maxSurge 25% rounded up, maxUnavailable 25% rounded down: one new pod beside the old
    ones for 1 replica) and scales old ReplicaSets down only as new pods become available
    (rolling.go reconcileOldReplicaSets); Recreate scales old ones to 0 first. Status as
    sync.go calculateStatus writes it, zero counters omitted; conditions Available and
    Progressing (progress.go), ProgressDeadlineExceeded once progressDeadlineSeconds passed
    without the new ReplicaSet becoming available."""
    for deployment in api.list("Deployment"):
        metadata, spec = deployment["metadata"], deployment["spec"]
        wanted = spec.get("replicas", 1)
        template = spec["template"]
        template_hash = safe_hash(template)
        owned = owned_by(api, "ReplicaSet", deployment)
        new = next(
            (
                rs
                for rs in owned
                if rs["metadata"]["labels"].get("pod-template-hash") == template_hash
            ),
            None,
        )
        old = [rs for rs in owned if rs is not new]
        strategy = spec.get("strategy", {})
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        surge = (
            _int_or_percent(strategy.get("rollingUpdate", {}).get("maxSurge", "25%"), wanted, True)
            if rolling
            else 0
        )
        unavailable = (
            _int_or_percent(
                strategy.get("rollingUpdate", {}).get("maxUnavailable", "25%"), wanted, False
            )
            if rolling
            else wanted
        )
        old_pods = sum(rs["spec"].get("replicas", 0) for rs in old)
        if new is None and (rolling or old_pods == 0):
            labels = {**template["metadata"].get("labels", {}), "pod-template-hash": template_hash}
            new_template = clone(template)
            new_template["metadata"]["labels"] = labels
            selector = clone(spec.get("selector", {}))
            selector.setdefault("matchLabels", {})["pod-template-hash"] = template_hash
            replicas = min(wanted, max(wanted + surge - old_pods, 0)) if old else wanted
            new = api.save(
                api.resource("ReplicaSet"),
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "metadata": {
                        "name": f"{metadata['name']}-{template_hash}",
                        "namespace": metadata["namespace"],
                        "labels": labels,
                        "annotations": {"deployment.kubernetes.io/revision": str(len(owned) + 1)},
                        "ownerReferences": [owner_reference(deployment)],
                    },
                    "spec": {"replicas": replicas, "selector": selector, "template": new_template},
                },
            )
            api.record_event(
                deployment,
                "ScalingReplicaSet",
                f"Scaled up replica set {new['metadata']['name']} from 0 to {replicas}",
                component="deployment-controller",
            )
            new = clone(sync_replica_set(api, new))
        if new is not None:
            available_new = new.get("status", {}).get("availableReplicas", 0)
            # rolling.go: scale up within maxSurge, scale old down by what is available.
            total = old_pods + new["spec"].get("replicas", 0)
            room = wanted + surge - total
            if new["spec"].get("replicas", 0) < wanted and room > 0:
                new["spec"]["replicas"] = min(wanted, new["spec"].get("replicas", 0) + room)
                write(api, new)
            elif new["spec"].get("replicas", 0) > wanted:
                new["spec"]["replicas"] = wanted
                write(api, new)
            min_available = wanted - unavailable
            available_old = sum(rs.get("status", {}).get("availableReplicas", 0) for rs in old)
            can_remove = available_old + available_new - min_available
            for rs in old:
                count = rs["spec"].get("replicas", 0)
                remove = count if not rolling else max(0, min(count, can_remove))
                if remove:
                    rs["spec"]["replicas"] = count - remove
                    can_remove -= remove
                    write(api, rs)
        for replica_set in owned_by(api, "ReplicaSet", deployment):
            sync_replica_set(api, replica_set)
        owned = owned_by(api, "ReplicaSet", deployment)
        new = next(
            (
                rs
                for rs in owned
                if rs["metadata"]["labels"].get("pod-template-hash") == template_hash
            ),
            None,
        )
        status_of = [rs.get("status", {}) for rs in owned]
        replicas = sum(s.get("replicas", 0) for s in status_of)
        available = sum(s.get("availableReplicas", 0) for s in status_of)
        updated = (new or {}).get("status", {}).get("replicas", 0)
        now = now_text(api.now())
        status = deployment.get("status", {})
        conditions = set_condition(
            status.get("conditions", []),
            "Available",
            "True" if available >= wanted - unavailable else "False",
            "MinimumReplicasAvailable"
            if available >= wanted - unavailable
            else "MinimumReplicasUnavailable",
            "Deployment has minimum availability."
            if available >= wanted - unavailable
            else "Deployment does not have minimum availability.",
            now,
            updated=True,
        )
        name = (new or {}).get("metadata", {}).get("name", "")
        complete = updated == wanted and replicas == updated and available >= updated
        progressing = next((c for c in conditions if c["type"] == "Progressing"), None)
        deadline = spec.get("progressDeadlineSeconds", 600)
        if complete:
            conditions = set_condition(
                conditions,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                f'ReplicaSet "{name}" has successfully progressed.',
                now,
                updated=True,
            )
        elif progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
            pass
        elif (
            progressing
            and progressing.get("reason") == "ReplicaSetUpdated"
            and api.now().timestamp() - _seconds(progressing.get("lastUpdateTime", now)) > deadline
        ):
            conditions = set_condition(
                conditions,
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                f'ReplicaSet "{name}" has timed out progressing.',
                now,
                updated=True,
            )
        else:
            conditions = set_condition(
                conditions,
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                f'ReplicaSet "{name}" is progressing.',
                now,
                updated=True,
            )
        deployment["status"] = omit_zero(
            {
                "observedGeneration": metadata.get("generation", 1),
                "replicas": replicas,
                "updatedReplicas": updated,
                "readyReplicas": sum(s.get("readyReplicas", 0) for s in status_of),
                "availableReplicas": available,
                "unavailableReplicas": max(wanted - available, 0),
            }
        )
        deployment["status"]["conditions"] = conditions
        write(api, deployment)


def _seconds(text: str) -> float:
    import datetime

    return (
        datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        .replace(tzinfo=datetime.timezone.utc)
        .timestamp()
    )


# -- StatefulSets and DaemonSets -----------------------------------------------------------------


def statefulsets(api: KubeAPI) -> None:
    """The StatefulSet controller (pkg/controller/statefulset/stateful_set_control.go, 1.36):
    pods NAME-0..N-1 with labels controller-revision-hash, statefulset.kubernetes.io/pod-name
    and apps.kubernetes.io/pod-index, a PVC TEMPLATE-NAME-ORDINAL per volumeClaimTemplate
    (kept when the StatefulSet goes: Retain); RollingUpdate deletes and recreates one pod at
    a time from the highest ordinal, only while the others are Ready. Status: replicas and
    availableReplicas always, the rest omitempty (k8s.io/api apps/v1 types.go), but
    collisionCount, a pointer the controller always sets (updateStatefulSet:
    ``status.CollisionCount = new(int32)``), so 0 shows."""
    for statefulset in api.list("StatefulSet"):
        metadata, spec = statefulset["metadata"], statefulset["spec"]
        wanted = spec.get("replicas", 1)
        revision = f"{metadata['name']}-{safe_hash(spec['template'])}"
        pods = {p["metadata"]["name"]: p for p in owned_by(api, "Pod", statefulset)}
        for ordinal in range(wanted):
            name = f"{metadata['name']}-{ordinal}"
            for claim in spec.get("volumeClaimTemplates", []):
                claim_name = f"{claim['metadata']['name']}-{name}"
                if api.get("PersistentVolumeClaim", metadata["namespace"], claim_name) is None:
                    api.save(
                        api.resource("PersistentVolumeClaim"),
                        {
                            "apiVersion": "v1",
                            "kind": "PersistentVolumeClaim",
                            "metadata": {
                                "name": claim_name,
                                "namespace": metadata["namespace"],
                                "labels": clone(spec["selector"].get("matchLabels", {})),
                            },
                            "spec": clone(claim.get("spec", {})),
                            "status": {"phase": "Bound"},
                        },
                    )
            if name not in pods:
                labels = {
                    **spec["template"]["metadata"].get("labels", {}),
                    "controller-revision-hash": revision,
                    "statefulset.kubernetes.io/pod-name": name,
                    "apps.kubernetes.io/pod-index": str(ordinal),
                }
                pods[name] = make_pod(api, statefulset, name, spec["template"], labels)
        for name in sorted(pods):
            if int(name.rsplit("-", 1)[1]) >= wanted:
                api.remove(api.resource("Pod"), metadata["namespace"], name)
                del pods[name]
        strategy = spec.get("updateStrategy", {}).get("type", "RollingUpdate")
        stale = [
            p
            for p in pods.values()
            if p["metadata"]["labels"].get("controller-revision-hash") != revision
        ]
        if (
            strategy == "RollingUpdate"
            and stale
            and all(pod_ready(p) for p in pods.values() if p not in stale)
        ):
            victim = max(stale, key=lambda p: int(p["metadata"]["name"].rsplit("-", 1)[1]))
            api.remove(api.resource("Pod"), metadata["namespace"], victim["metadata"]["name"])
            statefulsets(api)
            return
        ready = sum(pod_ready(p) for p in pods.values())
        updated = sum(
            p["metadata"]["labels"].get("controller-revision-hash") == revision
            for p in pods.values()
        )
        status = statefulset.get("status", {})
        current_revision = status.get("currentRevision", revision)
        if updated == len(pods) == wanted and ready == wanted:
            current_revision = revision
        current = sum(
            p["metadata"]["labels"].get("controller-revision-hash") == current_revision
            for p in pods.values()
        )
        statefulset["status"] = {
            "replicas": len(pods),
            "availableReplicas": ready,
            **omit_zero(
                {
                    "observedGeneration": metadata.get("generation", 1),
                    "readyReplicas": ready,
                    "currentReplicas": current,
                    "updatedReplicas": updated,
                    "currentRevision": current_revision,
                    "updateRevision": revision,
                }
            ),
            "collisionCount": 0,
        }
        write(api, statefulset)


def daemonsets(api: KubeAPI) -> None:
    """The DaemonSet controller (pkg/controller/daemon, 1.36): one pod per Node (no taints or
    selectors here); RollingUpdate (maxUnavailable 1, maxSurge 0) replaces a node's old pod
    by deleting it first. Status: currentNumberScheduled, numberMisscheduled,
    desiredNumberScheduled, numberReady always; observedGeneration, updatedNumberScheduled,
    numberAvailable, numberUnavailable omitempty."""
    nodes = [n["metadata"]["name"] for n in api.list("Node")]
    for daemonset in api.list("DaemonSet"):
        metadata, spec = daemonset["metadata"], daemonset["spec"]
        revision = safe_hash(spec["template"])
        pods = owned_by(api, "Pod", daemonset)
        by_node = {p["spec"].get("nodeName"): p for p in pods}
        for node in nodes:
            pod = by_node.get(node)
            if (
                pod is not None
                and pod["metadata"]["labels"].get("controller-revision-hash") != revision
            ):
                api.remove(api.resource("Pod"), metadata["namespace"], pod["metadata"]["name"])
                pod = None
            if pod is None:
                template = clone(spec["template"])
                template.setdefault("spec", {})["nodeName"] = node
                labels = {
                    **template["metadata"].get("labels", {}),
                    "controller-revision-hash": revision,
                }
                by_node[node] = make_pod(
                    api,
                    daemonset,
                    f"{metadata['name']}-{safe_hash((node, revision), 5)}",
                    template,
                    labels,
                )
        pods = [by_node[n] for n in nodes]
        ready = sum(pod_ready(p) for p in pods)
        daemonset["status"] = {
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "desiredNumberScheduled": len(nodes),
            "numberReady": ready,
            **omit_zero(
                {
                    "observedGeneration": metadata.get("generation", 1),
                    "updatedNumberScheduled": len(pods),
                    "numberAvailable": ready,
                    "numberUnavailable": len(nodes) - ready,
                }
            ),
        }
        write(api, daemonset)


# -- Jobs -------------------------------------------------------------------------------------


def job_defaults(api: KubeAPI, resource: Resource, item: dict) -> None:
    """SetDefaults_Job (pkg/apis/batch/v1/defaults.go, 1.36): completions and parallelism 1,
    backoffLimit 6, suspend false, and the template's labels copied to the Job only when the
    Job has none; then the API server's Job strategy (pkg/registry/batch/job/strategy.go
    generateSelector) labels the template with batch.kubernetes.io/controller-uid,
    batch.kubernetes.io/job-name, controller-uid and job-name and selects on the uid."""
    if resource.kind != "Job":
        return
    spec = item.setdefault("spec", {})
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("suspend", False)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("manualSelector", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    metadata = item["metadata"]
    template_labels = spec.setdefault("template", {}).setdefault("metadata", {}).get("labels")
    if template_labels and not metadata.get("labels"):
        metadata["labels"] = clone(template_labels)
    uid = metadata.setdefault("uid", api_uid())
    generated = {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": metadata["name"],
        "controller-uid": uid,
        "job-name": metadata["name"],
    }
    spec["template"]["metadata"]["labels"] = {**(template_labels or {}), **generated}
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})


def api_uid() -> str:
    import uuid

    return str(uuid.uuid4())


def workload_defaults(api: KubeAPI, resource: Resource, item: dict) -> None:
    """SetDefaults_Deployment, _StatefulSet, _DaemonSet and _ReplicaSet (pkg/apis/apps/v1/
    defaults.go, 1.36): replicas 1; Deployments RollingUpdate with maxSurge and maxUnavailable
    25%, revisionHistoryLimit 10, progressDeadlineSeconds 600; StatefulSets OrderedReady,
    RollingUpdate partition 0, claims retained when deleted or scaled; DaemonSets
    RollingUpdate maxUnavailable 1, maxSurge 0."""
    spec = item.setdefault("spec", {})
    if resource.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
        spec.setdefault("replicas", 1)
    if resource.kind == "Deployment":
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", "25%")
            rolling.setdefault("maxSurge", "25%")
        spec.setdefault("progressDeadlineSeconds", 600)
    elif resource.kind == "StatefulSet":
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {})
        if "type" not in strategy:
            strategy["type"] = "RollingUpdate"
            strategy.setdefault("rollingUpdate", {})
        if strategy["type"] == "RollingUpdate" and "rollingUpdate" in strategy:
            strategy["rollingUpdate"].setdefault("partition", 0)
        retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
        retention.setdefault("whenDeleted", "Retain")
        retention.setdefault("whenScaled", "Retain")
    elif resource.kind == "DaemonSet":
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
    else:
        return
    spec.setdefault("revisionHistoryLimit", 10)


def secret_string_data(api: KubeAPI, resource: Resource, item: dict) -> None:
    """A Secret's stringData written into data, base64, and dropped, as the API server's
    conversion does (pkg/apis/core/v1/conversion.go Convert_v1_Secret_To_core_Secret)."""
    if resource.kind != "Secret" or "stringData" not in item:
        return
    item["data"] = {
        **(item.get("data") or {}),
        **{
            key: base64.b64encode(value.encode()).decode()
            for key, value in (item.pop("stringData") or {}).items()
        },
    }


def namespace_defaults(api: KubeAPI, resource: Resource, item: dict) -> None:
    """A Namespace as the API server makes it: finalizer kubernetes, phase Active, and the
    kubernetes.io/metadata.name label (pkg/registry/core/namespace/strategy.go)."""
    if resource.kind != "Namespace":
        return
    item.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    item["status"] = {"phase": "Active"}
    item["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = item["metadata"][
        "name"
    ]


def jobs(api: KubeAPI) -> None:
    """The Job controller (pkg/controller/job/job_controller.go, 1.36) for one-pod Jobs: a
    suspended Job gets condition Suspended and no pod; otherwise one pod (JOB-xxxxx) runs the
    container (``api.job_runs``). Exit 0: pod Succeeded, status.succeeded 1, conditions
    SuccessCriteriaMet then Complete, completionTime. A failure with restartPolicy OnFailure
    restarts the container in the same pod (restartCount up, active stays 1, status.failed
    stays 0) on each tick(), until the restarts reach backoffLimit (pastBackoffLimitOnFailure):
    then condition Failed, reason BackoffLimitExceeded. With Never, each failure is a Failed
    pod and status.failed counts them."""
    for job in api.list("Job"):
        status = job.get("status", {})
        if any(
            c["type"] in ("Complete", "Failed") and c["status"] == "True"
            for c in status.get("conditions", [])
        ):
            continue
        now = now_text(api.now())
        spec = job["spec"]
        conditions = status.get("conditions", [])
        if spec.get("suspend"):
            # A suspended Job's active pods are deleted (job_controller.go syncJob).
            for pod in owned_by(api, "Pod", job):
                api.remove(
                    api.resource("Pod"), pod["metadata"]["namespace"], pod["metadata"]["name"]
                )
            status = {k: v for k, v in status.items() if k not in ("active", "startTime")}
            job["status"] = {
                **status,
                "conditions": set_condition(
                    conditions, "Suspended", "True", "JobSuspended", "Job suspended", now
                ),
            }
            write(api, job)
            continue
        if any(c["type"] == "Suspended" and c["status"] == "True" for c in conditions):
            conditions = set_condition(
                conditions, "Suspended", "False", "JobResumed", "Job resumed", now
            )
        pods = [p for p in owned_by(api, "Pod", job) if p["status"]["phase"] == "Running"]
        failed = status.get("failed", 0)
        if not pods:
            name = f"{job['metadata']['name']}-{safe_hash((job['metadata']['uid'], failed), 5)}"
            pod = make_pod(
                api,
                job,
                name,
                spec["template"],
                clone(spec["template"]["metadata"].get("labels", {})),
            )
            api.record_event(
                job, "SuccessfulCreate", f"Created pod: {name}", component="job-controller"
            )
            run_container(api, job, pod)
        stored = api.get("Job", job["metadata"]["namespace"], job["metadata"]["name"])
        assert stored is not None, "the Job went while its pod ran"
        job = stored
        pods = owned_by(api, "Pod", job)
        running = [p for p in pods if p["status"]["phase"] == "Running"]
        succeeded = sum(p["status"]["phase"] == "Succeeded" for p in pods)
        failed = sum(p["status"]["phase"] == "Failed" for p in pods)
        restarts = sum(
            s.get("restartCount", 0)
            for p in running
            for s in p["status"].get("containerStatuses", [])
        )
        status = {
            **job.get("status", {}),
            "startTime": job.get("status", {}).get("startTime", now),
            "ready": sum(pod_ready(p) for p in running),
            "terminating": 0,
            "uncountedTerminatedPods": {},
        }
        for counter, value in (
            ("active", len(running)),
            ("succeeded", succeeded),
            ("failed", failed),
        ):
            if value:
                status[counter] = value
            else:
                status.pop(counter, None)
        if succeeded:
            conditions = set_condition(
                conditions,
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                now,
            )
            conditions = set_condition(
                conditions,
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                now,
            )
            status["completionTime"] = now
            api.record_event(job, "Completed", "Job completed", component="job-controller")
        elif restarts + failed >= spec.get("backoffLimit", 6) and (restarts or failed):
            conditions = set_condition(
                conditions,
                "FailureTarget",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                now,
            )
            conditions = set_condition(
                conditions,
                "Failed",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                now,
            )
            for pod in running:
                api.remove(
                    api.resource("Pod"), pod["metadata"]["namespace"], pod["metadata"]["name"]
                )
            status.pop("active", None)
            status["ready"] = 0
            api.record_event(
                job,
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                kind="Warning",
                component="job-controller",
            )
        if conditions:
            status["conditions"] = conditions
        job["status"] = status
        write(api, job)


def run_container(api: KubeAPI, job: dict, pod: dict) -> None:
    """Run a Job pod's container once (``api.job_runs``): its log appended, the pod
    Succeeded on exit 0; otherwise restarted (OnFailure: restartCount up, the kubelet's
    BackOff event) or Failed (Never)."""
    key = (job["metadata"]["namespace"], job["metadata"]["name"])
    run = api.job_runs.get(key, api.run_pod)
    code, log = run(api, job, pod) if run else (0, "")
    pod_key = (pod["metadata"]["namespace"], pod["metadata"]["name"], "")
    api.logs[pod_key] = api.logs.get(pod_key, "") + log
    stored = api.get("Pod", *pod_key[:2])
    if stored is None:
        return
    pod = stored
    restarts = pod["status"]["containerStatuses"][0]["restartCount"]
    if code == 0:
        pod["status"] = pod_status(api, pod, restarts, exit_code=0)
    elif pod["spec"].get("restartPolicy") == "OnFailure":
        pod["status"] = pod_status(api, pod, restarts + 1)
        for container_status in pod["status"]["containerStatuses"]:
            container_status["ready"] = False
            container_status["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
            container_status["lastState"] = {"terminated": {"exitCode": code, "reason": "Error"}}
        pod["status"]["conditions"][0]["status"] = "False"
        api.record_event(
            pod,
            "BackOff",
            f"Back-off restarting failed container "
            f"{pod['spec']['containers'][0]['name']} in pod "
            f"{pod['metadata']['name']}_{pod['metadata']['namespace']}"
            f"({pod['metadata']['uid']})",
            kind="Warning",
            component="kubelet",
        )
    else:
        pod["status"] = pod_status(api, pod, restarts, exit_code=code)
    write(api, pod)


def restart_crashed(api: KubeAPI) -> None:
    """Time passing for the kubelet (``KubeAPI.tick``): every crash-looping container restarts
    once more; a Job's container runs again."""
    for pod in api.list("Pod"):
        if pod["status"].get("phase") != "Running":
            continue
        job = next(
            (ref for ref in pod["metadata"].get("ownerReferences", []) if ref["kind"] == "Job"),
            None,
        )
        waiting = any(
            "waiting" in s.get("state", {}) for s in pod["status"].get("containerStatuses", [])
        )
        if job and waiting:
            owner = api.get("Job", pod["metadata"]["namespace"], job["name"])
            if owner is not None:
                run_container(api, owner, pod)
        elif crash_key(api, pod):
            restarts = pod["status"]["containerStatuses"][0]["restartCount"] + 1
            pod["status"] = pod_status(api, pod, restarts)
            write(api, pod)


KUBERNETES_CONTROLLERS = (deployments, replica_sets, statefulsets, daemonsets, jobs)


def kubernetes_api(**fields) -> KubeAPI:
    """A stand-in API server (not started) with Kubernetes' controllers and the kubelet's
    restarts on tick()."""
    return KubeAPI(controllers=list(KUBERNETES_CONTROLLERS), ticks=[restart_crashed], **fields)


def install_defaults() -> None:
    """Register the API server's defaulting for Jobs, Namespaces, Secrets and the apps/v1
    workloads (once)."""
    for default in (job_defaults, namespace_defaults, secret_string_data, workload_defaults):
        if default not in DEFAULTS:
            DEFAULTS.append(default)


install_defaults()
