"""What k3s's controllers applied, judged from the cluster read: helm-controller's charts
(``chart_component``: the install Job and the release Secrets, helm-controller v0.17.7
pkg/controllers/chart/chart.go and klipper-helm's entry) and the deploy controller's manifests
(``manifest_components``: the Addons' checksums and failure Events, k3s pkg/deploy/controller.go).
"""

from __future__ import annotations

import hashlib
from typing import Any

from operations.component_state import FAILED, READY, WAITING, Component
from operations.names import MANIFESTS_DIR
from operations.read_parser import Cluster, condition, event_time, spec_time

# helm-controller v0.17.7 (the version k3s's go.mod requires) pkg/controllers/chart/chart.go
# installs a HelmChart NAME with the Job helm-install-NAME in the HelmChart's namespace,
# `restartPolicy: OnFailure` and `backoffLimit: 1000`: a failing helm is a restarted container,
# not a failed pod, so the Job's status.failed stays 0. This many restarts of its container
# (helm failed this many times for the current spec) count as a failure.
INSTALL_RESTARTS = 3
# -- charts: helm-controller v0.17.7 pkg/controllers/chart/chart.go and klipper-helm's entry ----

# Release Secrets (helm's storage driver "secret"): type helm.sh/release.v1, labels owner=helm,
# name=RELEASE (helm-controller names the release after the HelmChart), version=REVISION,
# status, and the configHash label klipper-helm (v0.13 `entry`, `--labels`) gives the release
# from the Job's CONFIG_HASH.
RELEASE_TYPE = "helm.sh/release.v1"
CONFIG_HASH = "helmcharts.helm.cattle.io/configHash"


def newest_release(cluster: Cluster, chart: dict) -> dict:
    """The labels of a HelmChart's newest release Secret (highest ``version`` label), as
    helm-controller's getChartRelease and latestRelease read them: Secrets of type
    helm.sh/release.v1 labelled owner=helm and name=CHART in the chart's targetNamespace; {}
    when there is none. Without a targetNamespace (k3s's own Traefik) helm-controller lists
    every namespace (getChartRelease lists Secrets in namespace "") while klipper-helm
    installs into the chart's own namespace, which is where this reads."""
    name = chart["metadata"]["name"]
    target = chart.get("spec", {}).get("targetNamespace") or chart["metadata"]["namespace"]
    newest: dict = {}
    for secret in cluster.of("Secret", (target,)):
        labels = secret["metadata"].get("labels") or {}
        if (
            secret.get("type") == RELEASE_TYPE
            and labels.get("owner") == "helm"
            and labels.get("name") == name
            and labels.get("version", "").isdigit()
            and int(labels["version"]) > int(newest.get("version", 0))
        ):
            newest = labels
    return newest


def job_config_hash(job: dict) -> str:
    """The configHash helm-controller expects of a Job's release: its pod template's
    annotation "SHA256=HEX" after the "=", cut to 63 characters (a label value's most)."""
    annotations = (
        job.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    )
    return annotations.get(CONFIG_HASH, "").partition("=")[2][:63]


def job_pods(cluster: Cluster, job: dict) -> list[dict]:
    """The pods of an install Job, by their ownerReference (the Job's uid where the read has
    one: a pod of a replaced Job of the same name is not the Job's)."""
    metadata = job["metadata"]
    return [
        pod
        for pod in cluster.of("Pod", (metadata["namespace"],))
        if any(
            o.get("kind") == "Job"
            and o.get("name") == metadata["name"]
            and o.get("uid") == metadata.get("uid")
            for o in pod["metadata"].get("ownerReferences") or []
        )
    ]


def restarted_helm(cluster: Cluster, job: dict) -> tuple[dict, dict] | None:
    """The install Job's pod (job_pods) and container status whose helm has failed
    INSTALL_RESTARTS times or more (restartCount), if any."""
    for pod in job_pods(cluster, job):
        for status in pod.get("status", {}).get("containerStatuses", []) or []:
            if status.get("restartCount", 0) >= INSTALL_RESTARTS:
                return pod, status
    return None


def helm_error(cluster: Cluster, job: dict) -> str:
    """helm's error as the install Job's newest pod logged it (the read's helm_logs): from its
    last line starting "Error:" (helm's own prefix) to the end, as one line; else its last
    line; "" without a log."""
    pods = job_pods(cluster, job)
    if not pods:
        return ""
    newest = max(pods, key=lambda pod: pod["metadata"].get("creationTimestamp", ""))
    lines = cluster.read.get("helm_logs", {}).get(newest["metadata"]["name"], [])
    starts = [index for index, line in enumerate(lines) if line.startswith("Error:")]
    return " ".join(lines[starts[-1] :] if starts else lines[-1:])


def chart_component(cluster: Cluster, chart: dict, pinned: str) -> Component:
    """A HelmChart, as helm-controller v0.17.7 judges its install done: the Job helm-install-NAME
    made for the chart's current spec (and its HelmChartConfig's) is Complete, and the
    release's newest Secret says status=deployed with the Job's configHash. Failed when the
    HelmChart's Failed condition is True (helm-controller could not make the Job, or the Job
    failed), when the newest release is `failed` for the Job's configHash (klipper-helm's
    failed install or upgrade; with failurePolicy retry it then exits 0, so the Job still ends
    Complete), or when helm has failed INSTALL_RESTARTS times in the Job's pod (OnFailure: each
    failure is a container restart); a failure's detail ends with helm's error (helm_error)."""
    name, namespace = chart["metadata"]["name"], chart["metadata"]["namespace"]
    job_name = f"helm-install-{name}"
    job = cluster.get("Job", namespace, job_name)
    requested = chart["spec"].get("version") or chart["spec"].get("chart", "").rsplit("/", 1)[-1]
    # The Component fields every outcome shares (their types are Component's).
    common: dict[str, Any] = dict(
        name=f"chart {name}",
        pinned=pinned,
        logs=(namespace, f"job/{job_name}"),
        targets=(("HelmChart", namespace, name), ("Job", namespace, job_name)),
        look=f"k3s kubectl --namespace {namespace} logs job/{job_name}",
    )
    failed = condition(chart, "Failed")
    if failed:
        return Component(
            state=FAILED,
            detail=f"{failed.get('reason', 'Failed')}: {failed.get('message', '')}".rstrip(": "),
            **common,
        )
    if job is None:
        return Component(state=WAITING, detail="no install Job yet (helm-controller)", **common)
    config = cluster.get("HelmChartConfig", namespace, name)
    if job["metadata"].get("creationTimestamp", "") < max(spec_time(chart), spec_time(config)):
        return Component(state=WAITING, detail="install Job predates the chart's spec", **common)
    release, expected = newest_release(cluster, chart), job_config_hash(job)
    revision, status = release.get("version", "0"), release.get("status", "")
    current = release.get(CONFIG_HASH) == expected
    if condition(job, "Complete") and status == "deployed" and current:
        return Component(
            state=READY, detail=f"installed (revision {revision})", running=requested, **common
        )
    error = helm_error(cluster, job)
    error = f": {error}" if error else ""
    if status == "failed" and current:
        return Component(
            state=FAILED,
            detail=f"helm failed: release revision {revision} is failed{error}",
            **common,
        )
    crashing = restarted_helm(cluster, job)
    if crashing:
        pod, container = crashing
        waiting = (container.get("state", {}).get("waiting") or {}).get("reason", "")
        common["targets"] += (("Pod", namespace, pod["metadata"]["name"]),)
        return Component(
            state=FAILED,
            detail=f"helm failed {container['restartCount']} times"
            + (f" ({waiting})" if waiting else "")
            + error,
            **common,
        )
    if condition(job, "Failed"):
        return Component(state=FAILED, detail=f"install Job failed{error}", **common)
    if condition(job, "Complete"):
        return Component(
            state=WAITING,
            detail=(
                f"install Job complete, release revision {revision} {status or 'missing'}"
                f"{'' if current else ' for another spec'}: helm-controller runs it again"
            ),
            **common,
        )
    return Component(state=WAITING, detail="installing", **common)


# -- what k3s applied: k3s pkg/deploy/controller.go (main, commit 0301210f; v1.36.5's own ----
# copy could not be read). The deploy controller scans the manifests folder every 15 s and
# applies a file whose sha256 differs from the checksum its Addon records (kube-system, named
# after the file up to its first dot). It reads only files whose mtime changed, but every file,
# whatever its checksum, in the passes after a start until one applies them all. It records
# the new checksum only after the apply succeeded, and reports a file it could not read,
# parse, validate or apply as a Warning Event of one of these reasons on the Addon, trying
# again at the next scan.
ADDON_FAILURES = (
    "ReadManifestFailed",
    "ParseManifestFailed",
    "ValidateManifestFailed",
    "ApplyManifestFailed",
)
# k3s tries a failed file again at every scan (listFilesIn keeps no modTime for it), and
# client-go's recorder counts a repeated Event up (tools/record/events_cache.go): a failure
# is waiting until k3s has met it this many times (a minute of scans), failed after. A kind
# whose CRD a chart of the same run installs (CloudNativePG's Cluster) is refused until helm
# has run; a value the CRD's schema refuses stays refused.
ADDON_RETRIES = 5


def addon_failure(event: dict) -> tuple[str, str]:
    """(state, detail) of a failure Event on an Addon (ADDON_FAILURES): FAILED once it
    counts ADDON_RETRIES, else WAITING; the detail is "REASON: k3s's message"."""
    message = " ".join(str(event.get("message", "")).split())
    state = FAILED if event.get("count", 1) >= ADDON_RETRIES else WAITING
    return state, f"{event['reason']}: {message}"


def written_manifests(host_files) -> tuple[tuple[str, str], ...]:
    """The manifests among rendered files (``rendering.HostFile``s under MANIFESTS_DIR) as
    (path, sha256 of the content written) pairs, the form the gate takes."""
    return tuple(
        (f.path, hashlib.sha256(f.content.encode()).hexdigest())
        for f in host_files
        if f.path.startswith(f"{MANIFESTS_DIR}/")
    )


def manifest_components(
    cluster: Cluster, manifests: tuple[tuple[str, str], ...], since: str = ""
) -> list[Component]:
    """Whether k3s applied each manifest as written (``(path, sha256)``, written_manifests):
    ready when its Addon's spec.checksum is that sha256; on a failure Event (ADDON_FAILURES)
    on the Addon later than ``since`` (RFC 3339: when the gate began, so that an earlier
    file's failure does not count), k3s's message, failed once k3s met it ADDON_RETRIES times
    (addon_failure); waiting otherwise (k3s has not scanned the folder since the file was
    written)."""
    components = []
    for path, checksum in manifests:
        name = path.rsplit("/", 1)[-1].split(".", 1)[0]
        addon = cluster.get("Addon", "kube-system", name) or {}
        common: dict[str, Any] = dict(
            name=f"manifest {name}",
            targets=(("Addon", "kube-system", name),),
            look=f"k3s kubectl --namespace kube-system describe addon {name}",
        )
        failures = [
            event
            for event in cluster.event_objects("Addon", "kube-system", name)
            if event.get("reason") in ADDON_FAILURES and event_time(event) > since
        ]
        if (addon.get("spec") or {}).get("checksum") == checksum:
            components.append(Component(state=READY, detail="applied by k3s", **common))
        elif failures:
            state, detail = addon_failure(failures[-1])
            components.append(Component(state=state, detail=detail, **common))
        else:
            components.append(
                Component(
                    state=WAITING,
                    detail="not applied by k3s yet (it scans its manifests every 15 s)",
                    **common,
                )
            )
    return components
