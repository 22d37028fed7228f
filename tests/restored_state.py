"""What a k3s datastore restored from the off-site repository holds of the lost server, as
`kubectl get -o json` shows it on the new one: the old first server's Node, its local-path
volumes with their claims and pods, the install and model Jobs, the CloudNativePG Cluster. For
the unit tests of operations/recovery.py and for the `k3s kubectl` stand-in on a rehearsal host.

    objects = restored(old_node="server-1", new_node="server-2")

Names and annotations as the pinned charts, CloudNativePG and k3s's deploy controller set them;
the rest is a converged appliance as the stand-in's controllers make it from the apps layer's
manifests (status_harness.appliance_objects), so that the gates pass once the repair is done.
"""

from __future__ import annotations

import copy
import functools
import shutil
from typing import Any

from kube_controllers import kubernetes_api
from operations.ollama import model_puller_job
from operations.settings import load
from status_harness import appliance_objects

FIRST_SERVER_LABEL = "llm-appliance.io/first-server"


def node(name: str, first_server: bool) -> dict:
    labels = {"kubernetes.io/hostname": name}
    if first_server:
        labels[FIRST_SERVER_LABEL] = "true"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "nodeInfo": {"kubeletVersion": "v1.36.5+k3s1"},
        },
    }


def volume(
    name: str, namespace: str, claim: str, node_name: str, storage_class: str = "local-path"
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "storageClassName": storage_class,
            "claimRef": {"namespace": namespace, "name": claim},
            "local": {"path": f"/var/lib/rancher/k3s/storage/{name}_{namespace}_{claim}"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node_name],
                                }
                            ]
                        }
                    ]
                }
            },
        },
    }


def claim(
    namespace: str, name: str, release: str | None = None, cluster: str | None = None
) -> dict:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if release:
        metadata["annotations"] = {
            "meta.helm.sh/release-name": release,
            "meta.helm.sh/release-namespace": namespace,
        }
    if cluster:
        metadata["labels"] = {"cnpg.io/cluster": cluster, "cnpg.io/instanceName": name}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": {"storageClassName": "local-path"},
    }


def pod(namespace: str, name: str, claims: tuple[str, ...] = ()) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "volumes": [
                {"name": f"volume-{c}", "persistentVolumeClaim": {"claimName": c}} for c in claims
            ]
            + [{"name": "tmp", "emptyDir": {}}]
        },
    }


def addon_annotations(addon: str) -> dict:
    """What k3s's deploy controller (wrangler's apply) notes on an object of a manifest."""
    return {
        "objectset.rio.cattle.io/owner-gvk": "k3s.cattle.io/v1, Kind=Addon",
        "objectset.rio.cattle.io/owner-name": addon,
        "objectset.rio.cattle.io/owner-namespace": "kube-system",
    }


def job(namespace: str, name: str, labels: dict) -> dict:
    metadata = {"name": name, "namespace": namespace, "labels": labels}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }


# The lost server's settings, as far as its model Job goes (the default models).
SETTINGS = {
    "webui_domain": "chat.example.com",
    "monitor_domain": "mon.example.com",
    "acme_email": "admin@example.com",
}


def model_job(manifest: dict | None = None) -> dict:
    """Ollama's model Job as the API server holds it once it ran: the apps layer's manifest
    (model_puller_job, or `manifest`) as k3s's deploy controller applies it (its Addon's owner
    annotations), defaulted and run by the stand-in's Kubernetes (tests/kube_controllers.py:
    SetDefaults_Job copies the template's labels only to a Job without labels; the Job
    controller completes it)."""
    job = manifest or model_puller_job(load(SETTINGS))
    job["metadata"]["annotations"] = addon_annotations("llm-appliance-ollama-models")
    api = kubernetes_api()
    try:
        api.add([job])
        finished = api.get("Job", job["metadata"]["namespace"], job["metadata"]["name"])
        assert finished is not None, "the Job is gone once it ran"
        return finished
    finally:
        shutil.rmtree(api.directory, ignore_errors=True)


@functools.cache
def _converged() -> tuple:
    return tuple(appliance_objects(load(SETTINGS)))


def restored(old_node: str, new_node: str) -> list[dict]:
    """The restored cluster once k3s registered `new_node` (the same name as `old_node` when
    the new server kept the lost one's hostname): a converged appliance
    (status_harness.appliance_objects, its model Job included), as the lost server left it,
    with the volumes, claims and pods its disk held."""
    objects = [item for item in copy.deepcopy(_converged()) if item["kind"] != "Node"]
    nodes = [node(old_node, True)] + ([node(new_node, True)] if new_node != old_node else [])
    return (
        nodes
        + objects
        + [
            volume("pvc-0a1", "llm", "postgres-1", old_node),
            volume("pvc-0b2", "llm", "open-webui", old_node),
            volume("pvc-0c3", "llm", "ollama", old_node),
            volume("pvc-0d4", "monitoring", "netdata-parent-database", old_node),
            volume("pvc-0e5", "kube-system", "traefik", old_node),
            # Not on the lost disk: a NAS the operator added; it stays.
            volume("nas-archive", "llm", "archive", old_node, storage_class="nfs"),
            claim("llm", "postgres-1", cluster="postgres"),
            claim("llm", "open-webui", release="open-webui"),
            claim("llm", "ollama", release="ollama"),
            claim("monitoring", "netdata-parent-database", release="netdata"),
            claim("kube-system", "traefik", release="traefik"),
            claim("llm", "archive"),
            pod("llm", "postgres-1", ("postgres-1",)),
            pod("llm", "open-webui-6d5f8b7c4-w2m9x", ("open-webui",)),
            pod("llm", "ollama-5d9c7b-x2k4p", ("ollama",)),
            pod("monitoring", "netdata-parent-7c9f-qq2lw", ("netdata-parent-database",)),
            pod("kube-system", "traefik-6f4b9-8xk2m", ("traefik",)),
            pod("kube-system", "coredns-7b98-lk2pq"),
            job(
                "llm",
                "llm-appliance-backup-29400930",
                {"app.kubernetes.io/name": "llm-appliance-backup"},
            ),
        ]
    )


K3S = "/usr/local/bin/k3s kubectl"
# What the repair runs on that cluster when the new server's node is `server-2`.
REPAIR_COMMANDS = [
    f"{K3S} delete node server-1 --ignore-not-found",
    f"{K3S} delete clusters.postgresql.cnpg.io postgres --namespace llm --ignore-not-found --wait=false",
    f"{K3S} delete pod traefik-6f4b9-8xk2m --namespace kube-system --ignore-not-found --wait=false",
    f"{K3S} delete pod ollama-5d9c7b-x2k4p open-webui-6d5f8b7c4-w2m9x postgres-1 --namespace llm --ignore-not-found "
    "--wait=false",
    f"{K3S} delete pod netdata-parent-7c9f-qq2lw --namespace monitoring --ignore-not-found --wait=false",
    f"{K3S} delete persistentvolumeclaim traefik --namespace kube-system --ignore-not-found --wait=false",
    f"{K3S} delete persistentvolumeclaim ollama open-webui postgres-1 --namespace llm --ignore-not-found "
    "--wait=false",
    f"{K3S} delete persistentvolumeclaim netdata-parent-database --namespace monitoring --ignore-not-found "
    "--wait=false",
    f"{K3S} delete persistentvolume pvc-0a1 pvc-0b2 pvc-0c3 pvc-0d4 pvc-0e5 --ignore-not-found --wait=false",
    f"{K3S} delete job helm-install-netdata helm-install-ollama helm-install-open-webui helm-install-traefik "
    "--namespace kube-system --ignore-not-found --wait=false",
    f"{K3S} delete job ollama-models-a8ea5c5027 --namespace llm --ignore-not-found --wait=false",
    f"{K3S} delete addons.k3s.cattle.io llm-appliance-ollama-models llm-appliance-postgres --namespace "
    "kube-system --ignore-not-found --wait=false",
    "rm -f /var/lib/llm-appliance/restored-from-repository",
]
