"""Disaster recovery's repair of a restored datastore (operations/recovery.py): what is deleted
on a new server, with the commands written out."""

import json

from operations.ollama import model_puller_job
from operations.recovery import RestoredCluster, repair_commands
from operations.settings import load
from restored_state import REPAIR_COMMANDS, model_job, restored

JOB_DELETE = (
    "/usr/local/bin/k3s kubectl delete job ollama-models-a8ea5c5027 --namespace llm "
    "--ignore-not-found --wait=false"
)
ADDONS_DELETE = (
    "/usr/local/bin/k3s kubectl delete addons.k3s.cattle.io "
    "llm-appliance-ollama-models llm-appliance-postgres --namespace kube-system "
    "--ignore-not-found --wait=false"
)


def test_a_new_server_with_another_name_deletes_the_old_node_and_its_volumes():
    assert repair_commands(restored("server-1", "server-2"), "server-2") == REPAIR_COMMANDS


def test_a_new_server_with_the_old_name_keeps_its_node_but_not_the_lost_volumes():
    commands = repair_commands(restored("server-1", "server-1"), "server-1")
    assert commands == REPAIR_COMMANDS[1:]


def test_the_model_job_carries_its_label_as_kubernetes_stores_it():
    # SetDefaults_Job copies the pod template's labels only to a Job with none of its own: the
    # manifest names the Job's label itself, so the stored Job has it.
    labels = model_job()["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/name": "ollama-model-puller",
        "app.kubernetes.io/part-of": "llm-appliance",
    }
    assert JOB_DELETE in REPAIR_COMMANDS and ADDONS_DELETE in REPAIR_COMMANDS


def test_a_model_job_labelled_on_its_pods_only_is_not_found_by_its_label():
    # The manifest as it was (label on the pod template, another on the Job): Kubernetes
    # keeps the Job's own, and the repair would not have deleted it.
    manifest = model_puller_job(
        load(
            {
                "webui_domain": "chat.example.com",
                "monitor_domain": "mon.example.com",
                "acme_email": "admin@example.com",
            }
        )
    )
    manifest["metadata"]["labels"] = {"app.kubernetes.io/part-of": "llm-appliance"}
    job = model_job(manifest)
    assert job["metadata"]["labels"] == {"app.kubernetes.io/part-of": "llm-appliance"}
    objects = [o for o in restored("server-1", "server-2") if o["kind"] != "Job"] + [job]
    commands = repair_commands(objects, "server-2")
    assert JOB_DELETE not in commands and ADDONS_DELETE in commands


def test_a_model_job_gone_after_its_ttl_still_has_its_addon_deleted():
    # ttlSecondsAfterFinished (24 h) took the Job: the Addon goes all the same, so that the
    # apps layer's unchanged manifest makes the Job again and the models are pulled again.
    objects = [
        o
        for o in restored("server-1", "server-2")
        if not o["metadata"]["name"].startswith("ollama-models-")
    ]
    commands = repair_commands(objects, "server-2")
    assert commands == [c for c in REPAIR_COMMANDS if c != JOB_DELETE]
    assert ADDONS_DELETE in commands


def test_models_on_a_volume_that_survived_are_not_pulled_again():
    # Ollama's claim on storage that was not the lost disk: its Job and Addon stay.
    objects = [
        o
        for o in restored("server-1", "server-2")
        if not (o["kind"] == "PersistentVolume" and o["spec"]["claimRef"]["name"] == "ollama")
    ]
    commands = repair_commands(objects, "server-2")
    assert JOB_DELETE not in commands
    assert (
        "/usr/local/bin/k3s kubectl delete addons.k3s.cattle.io llm-appliance-postgres "
        "--namespace kube-system --ignore-not-found --wait=false"
    ) in commands


def test_nothing_of_the_lost_server_left_is_only_the_marker():
    objects = [
        o
        for o in restored("server-1", "server-2")
        if o["kind"] in ("Node", "Pod") and o["metadata"]["name"] != "server-1"
    ]
    assert repair_commands(objects, "server-2") == [
        "rm -f /var/lib/llm-appliance/restored-from-repository"
    ]


def test_the_read_parses_the_node_name_and_the_objects():
    fact = RestoredCluster()
    assert fact.command() == (
        "hostname | tr A-Z a-z; listed=$(/usr/local/bin/k3s kubectl get nodes,persistentvolumes,"
        "persistentvolumeclaims,pods,jobs,clusters.postgresql.cnpg.io --all-namespaces --output "
        'json 2>/dev/null); [ -n "$listed" ] || listed=$(/usr/local/bin/k3s kubectl get '
        "nodes,persistentvolumes,persistentvolumeclaims,pods,jobs --all-namespaces --output json "
        """2>/dev/null); [ -z "$listed" ] || printf '%s\\n' "$listed" || true"""
    )
    listing = json.dumps(
        {"apiVersion": "v1", "kind": "List", "items": restored("s1", "s2")[:2]}, indent=4
    ).splitlines()
    read = fact.process(["server-2", *listing])
    assert read["node_name"] == "server-2"
    assert [o["metadata"]["name"] for o in read["objects"]] == ["s1", "s2"]
    assert fact.process(["server-2"]) == {"node_name": "server-2", "objects": []}
