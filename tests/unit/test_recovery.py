"""Disaster recovery's repair of a restored datastore (operations/recovery.py): what is deleted
on a new server, with the commands written out."""

import json

from restored_state import REPAIR_COMMANDS, restored

from operations.recovery import RestoredCluster, repair_commands


def test_a_new_server_with_another_name_deletes_the_old_node_and_its_volumes():
    assert repair_commands(restored("server-1", "server-2"), "server-2") == REPAIR_COMMANDS


def test_a_new_server_with_the_old_name_keeps_its_node_but_not_the_lost_volumes():
    commands = repair_commands(restored("server-1", "server-1"), "server-1")
    assert commands == REPAIR_COMMANDS[1:]


def test_nothing_of_the_lost_server_left_is_only_the_marker():
    objects = [o for o in restored("server-1", "server-2")
               if o["kind"] in ("Node", "Pod") and o["metadata"]["name"] != "server-1"]
    assert repair_commands(objects, "server-2") == [
        "rm -f /var/lib/llm-appliance/restored-from-repository"]


def test_the_read_parses_the_node_name_and_the_objects():
    fact = RestoredCluster()
    assert fact.command() == (
        "hostname | tr A-Z a-z; listed=$(/usr/local/bin/k3s kubectl get nodes,persistentvolumes,"
        "persistentvolumeclaims,pods,jobs,clusters.postgresql.cnpg.io --all-namespaces --output "
        'json 2>/dev/null); [ -n "$listed" ] || listed=$(/usr/local/bin/k3s kubectl get '
        "nodes,persistentvolumes,persistentvolumeclaims,pods,jobs --all-namespaces --output json "
        """2>/dev/null); [ -z "$listed" ] || printf '%s\\n' "$listed" || true""")
    listing = json.dumps({"apiVersion": "v1", "kind": "List", "items": restored("s1", "s2")[:2]},
                         indent=4).splitlines()
    read = fact.process(["server-2", *listing])
    assert read["node_name"] == "server-2"
    assert [o["metadata"]["name"] for o in read["objects"]] == ["s1", "s2"]
    assert fact.process(["server-2"]) == {"node_name": "server-2", "objects": []}
