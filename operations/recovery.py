"""Disaster recovery: what a k3s datastore restored from the off-site repository remembers of
the lost server, repaired on the new one (``appliance restore INVENTORY --from-repository``).

files/offsite.sh restore puts the datastore back and leaves RESTORED_FILE (operations/markers.py). The k3s layer's next
run on the first server, once k3s answers, deletes what only the lost server had:

- its Node (the one labelled FIRST_SERVER_LABEL), when the new server's node name differs;
- every local-path volume (PersistentVolume and its claim) on the first server's node, by the
  old name or the new: their data was on the lost disk;
- the pods that mount those claims, and each CloudNativePG Cluster whose instance volume was
  one of them: a single instance has nothing to rebuild it from, so the apps layer makes the
  Cluster again (a fresh database, with the `vector` extension, that the archive then fills);
- the helm install Jobs of the charts whose claims went (helm-controller runs them again, and
  helm makes the missing claims);
- when Ollama's claim went (the models were on the lost disk): the model Job, if it is still
  there (its own label names it; it goes 24 h after it finished, ttlSecondsAfterFinished), and
  always the Addon of its manifest, so that the apps layer's manifest makes it again and the
  models are pulled again;
- the k3s Addons that applied a deleted object (the Clusters'; the model Job's, above): k3s
  skips a manifest whose checksum its Addon already holds, so without this the apps layer's
  identical manifests would not make the Cluster or the model Job again.

Then RESTORED_FILE goes: an ordinary deploy never repairs anything. Read in the sources:
k3s's pkg/deploy/controller.go (the stored copy, commit 0301210f; v1.36.5's could not be read)
names a manifest's Addon after its file up to the first dot and skips a manifest whose checksum
its Addon holds, except in its forced passes after k3s starts (the first, and each next one
until a pass applies every file), which normally end before the apps layer writes its files on
a new server (and a deleted Addon takes none of its objects with it);
helm-controller v0.17.7's pkg/controllers/chart/chart.go watches the Jobs a HelmChart owns, so a
deleted install Job is made again, and its `helm upgrade` makes the release's missing objects.
Kubernetes' SetDefaults_Job (pkg/apis/batch/v1/defaults.go) copies a Job's pod template labels
to the Job only when the Job has none: the model Job carries its label itself.

    repair_commands(objects, node_name="server-2")
    # ['/usr/local/bin/k3s kubectl delete node server-1', ...]
"""

from __future__ import annotations

import json
import time

from pyinfra import host
from pyinfra.api import FactBase, OperationError, operation

from operations.components import MODEL_PULLER, OLLAMA
from operations.health import kubectl_get_everywhere
from operations.markers import CLEAR_RESTORED
from operations.names import FIRST_SERVER_LABEL, K3S_BINARY, MANIFEST_PREFIX, MODEL_PULLER_MANIFEST
from operations.read_parser import Cluster
from operations.settings import Settings

KUBECTL = f"{K3S_BINARY} kubectl"
KINDS = "nodes,persistentvolumes,persistentvolumeclaims,pods,jobs"
# Who made an object: helm (its release, named as the HelmChart), CloudNativePG (its Cluster),
# k3s's deploy controller (the Addon of the manifest it came from).
HELM_RELEASE = "meta.helm.sh/release-name"
CNPG_CLUSTER = "cnpg.io/cluster"
ADDON = "objectset.rio.cattle.io/owner-name"
LOCAL_PATH = "local-path"
POLL_SECONDS = 5


class RestoredCluster(FactBase):
    """
    This host's node name (k3s names the node after the host) and the objects a restored
    datastore holds that the repair looks at, as a kubectl List; no objects while the API
    server does not answer yet.

    .. code:: python

        host.get_fact(RestoredCluster)
        # {"node_name": "server-2", "objects": [{"kind": "Node", ...}, ...]}
    """

    def command(self):
        return f"hostname | tr A-Z a-z; {kubectl_get_everywhere(KINDS, 'json')} || true"

    def process(self, output):
        listing = "\n".join(output[1:])
        return {
            "node_name": output[0].strip() if output else "",
            "objects": json.loads(listing)["items"] if listing.strip() else [],
        }


def _meta(item: dict, key: str) -> dict:
    return item["metadata"].get(key) or {}


def _pv_node(volume: dict) -> str | None:
    """The node a local-path volume lives on, from its node affinity."""
    terms = (
        (volume["spec"].get("nodeAffinity") or {}).get("required", {}).get("nodeSelectorTerms", [])
    )
    for term in terms:
        for expression in term.get("matchExpressions", []):
            if expression.get("key") == "kubernetes.io/hostname" and expression.get("values"):
                return expression["values"][0]
    return None


def _delete(kind: str, names_by_namespace: dict[str, set[str]], wait: bool = False) -> list[str]:
    """One `kubectl delete` per namespace ("" for cluster-wide kinds), names sorted; gone
    already is fine (a re-run after a failure)."""
    return [
        " ".join(
            [KUBECTL, "delete", kind, *sorted(names)]
            + ([f"--namespace {namespace}"] if namespace else [])
            + ["--ignore-not-found"]
            + ([] if wait else ["--wait=false"])
        )
        for namespace, names in sorted(names_by_namespace.items())
        if names
    ]


def _group(pairs) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for namespace, name in pairs:
        grouped.setdefault(namespace, set()).add(name)
    return grouped


def repair_commands(objects: list[dict], node_name: str) -> list[str]:
    """The kubectl commands that rid a restored datastore of the lost server (see the module's
    docstring), in order; then the marker's removal. Every delete returns at once
    (`--wait=false`): the controllers finish in the background while the layers go on."""
    cluster = Cluster({"objects": objects})
    old_nodes = {
        node["metadata"]["name"]
        for node in cluster.of("Node")
        if _meta(node, "labels").get(FIRST_SERVER_LABEL) == "true"
        and node["metadata"]["name"] != node_name
    }
    lost_volumes = [
        volume
        for volume in cluster.of("PersistentVolume")
        if volume["spec"].get("storageClassName") == LOCAL_PATH
        and _pv_node(volume) in old_nodes | {node_name}
    ]
    lost_claims = {
        (volume["spec"]["claimRef"]["namespace"], volume["spec"]["claimRef"]["name"])
        for volume in lost_volumes
        if volume["spec"].get("claimRef")
    }
    claims = [
        claim
        for claim in cluster.of("PersistentVolumeClaim")
        if (claim["metadata"]["namespace"], claim["metadata"]["name"]) in lost_claims
    ]
    clusters = {
        (claim["metadata"]["namespace"], _meta(claim, "labels")[CNPG_CLUSTER])
        for claim in claims
        if CNPG_CLUSTER in _meta(claim, "labels")
    }
    pods = {
        (pod["metadata"]["namespace"], pod["metadata"]["name"])
        for pod in cluster.of("Pod")
        if any(
            (pod["metadata"]["namespace"], volume["persistentVolumeClaim"]["claimName"])
            in lost_claims
            for volume in pod["spec"].get("volumes", [])
            if "persistentVolumeClaim" in volume
        )
    }
    jobs = {
        (job["metadata"]["namespace"], job["metadata"]["name"]): job for job in cluster.of("Job")
    }
    releases = {_meta(claim, "annotations").get(HELM_RELEASE) for claim in claims}
    chart_jobs = {
        key
        for key in jobs
        if key[0] == "kube-system" and key[1].removeprefix("helm-install-") in releases
    }
    models_lost = any((OLLAMA.namespace, claim) in lost_claims for claim in OLLAMA.claims)
    model_jobs = {
        key
        for key, job in jobs.items()
        if models_lost and MODEL_PULLER.workload.pod_labels.items() <= _meta(job, "labels").items()
    }
    # The Addons that applied what goes and must come back: the Clusters' (as their objects
    # say) and the model Job's, whether or not the Job is still there.
    addons = {
        _meta(postgres, "annotations").get(ADDON)
        for postgres in cluster.of("Cluster")
        if (postgres["metadata"]["namespace"], postgres["metadata"]["name"]) in clusters
    }
    if models_lost:
        addons.add(MANIFEST_PREFIX + MODEL_PULLER_MANIFEST)
    return (
        _delete("node", {"": old_nodes}, wait=True)
        + _delete("clusters.postgresql.cnpg.io", _group(clusters))
        + _delete("pod", _group(pods))
        + _delete("persistentvolumeclaim", _group(lost_claims))
        + _delete("persistentvolume", {"": {v["metadata"]["name"] for v in lost_volumes}})
        + _delete("job", _group(chart_jobs | model_jobs))
        + _delete("addons.k3s.cattle.io", {"kube-system": {addon for addon in addons if addon}})
        + [CLEAR_RESTORED]
    )


def _wait_for_node(timeout_minutes: int) -> dict:
    """The restored cluster once this host's node is registered in it."""
    import gevent

    started = time.monotonic()
    while True:
        read = host.get_fact(RestoredCluster)
        if any(
            item["kind"] == "Node" and item["metadata"]["name"] == read["node_name"]
            for item in read["objects"]
        ):
            return read
        if time.monotonic() - started > timeout_minutes * 60:
            raise OperationError(
                f"k3s did not register node {read['node_name']} within {timeout_minutes} min "
                "on the restored datastore (journalctl -u k3s -n 50)"
            )
        gevent.sleep(POLL_SECONDS)


@operation()
def restored_cluster_repaired(settings: Settings):
    """
    On the first server, after a restore from the off-site repository (RESTORED_FILE): wait
    until k3s registered this node on the restored datastore, then delete what only the lost
    server had (repair_commands) and the marker. Only planned when the marker is there.

    .. code:: python

        restored_cluster_repaired(name="Repair the restored cluster", settings=settings)
    """
    if not host.state.is_executing:
        yield "echo 'llm-appliance: repairs what the restored datastore holds of the lost server'"
        return
    read = _wait_for_node(settings.ready_timeout_minutes)
    yield from repair_commands(read["objects"], read["node_name"])
