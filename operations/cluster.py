"""The cluster's shape, decided from the inventory alone: which host is the first server,
which hosts are servers or agents, and whether the shape is valid.

Hosts in the inventory group ``k3s_agents`` join as agents; every other host is a server (one
server, or an odd number of them for embedded-etcd HA, the first starting the cluster).

    node_role("s2", {"s1": [], "s2": []}, {"s1": "192.0.2.1", "s2": "192.0.2.2"})
    # NodeRole(role="server", first_server="s1", join_url="https://192.0.2.1:6443", ...)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyinfra import host, inventory

from operations.names import AGENT_GROUP


@dataclass(frozen=True)
class NodeRole:
    """A node's part in the cluster."""

    role: str  # "server" or "agent"
    first_server: str
    join_url: str | None  # None on the first server, which starts the cluster
    cluster_init: bool  # the first of several servers starts embedded etcd


@dataclass(frozen=True)
class Node:
    """A host as a layer's plan sees it (operations/rendering.py ``LayerPlan``): its inventory
    name, its address (``node_address``), its part in the cluster, the SSH port its firewall
    keeps open, whether its own Ollama uses an NVIDIA GPU (``gpu``: the host layer's toolkit)
    and whether any node's does (``cluster_gpu``: the apps layer's GPU manifests). Built from
    pyinfra's host by ``deployed_node``, from the inventory alone by ``appliance render``."""

    name: str
    address: str
    role: NodeRole
    ssh_port: int = 22
    gpu: bool = False
    cluster_gpu: bool = False

    @property
    def first_server(self) -> bool:
        return self.role.first_server == self.name


def first_server_index(groups_by_host: Mapping[str, Sequence[str]]) -> int:
    """The first host not in k3s_agents: the server that starts the cluster."""
    return next(i for i, groups in enumerate(groups_by_host.values()) if AGENT_GROUP not in groups)


def node_role(
    name: str, groups_by_host: Mapping[str, Sequence[str]], address_by_host: dict[str, str]
):
    """Agents are the hosts in k3s_agents; the first other host is the first server."""
    server_names = [n for n, groups in groups_by_host.items() if AGENT_GROUP not in groups]
    first = list(groups_by_host)[first_server_index(groups_by_host)]
    role = "agent" if AGENT_GROUP in groups_by_host[name] else "server"
    join_url = None if name == first else f"https://{address_by_host[first]}:6443"
    return NodeRole(role, first, join_url, cluster_init=name == first and len(server_names) > 1)


def cluster_problems(groups_by_host: Mapping[str, Sequence[str]]) -> list[str]:
    """What is wrong with the cluster's shape (server count), from each host's groups."""
    server_names = [name for name, groups in groups_by_host.items() if AGENT_GROUP not in groups]
    if not server_names:
        return [f"inventory: every host is in {AGENT_GROUP}; at least one must be a server"]
    if len(server_names) % 2 == 0:
        return [
            f"inventory: {len(server_names)} servers ({', '.join(server_names)}); embedded etcd "
            f"needs an odd number: add or remove a server, or move one to {AGENT_GROUP}"
        ]
    return []


def node_address(node) -> str:
    """How the operator, the certificate and joining nodes name a node: its SSH address."""
    return node.data.get("ssh_hostname") or node.name


def inventory_role() -> NodeRole:
    """The role of the host pyinfra is deploying now, in the current inventory."""
    nodes = list(inventory)
    return node_role(
        host.name,
        {node.name: node.groups for node in nodes},
        {node.name: node_address(node) for node in nodes},
    )


def deployed_node(ssh_port: int = 22, gpu: bool = False, cluster_gpu: bool = False) -> Node:
    """The host pyinfra is deploying now, as a ``Node``; the layer passes what it read of the
    host (the SSH port, the GPU choices)."""
    return Node(host.name, node_address(host), inventory_role(), ssh_port, gpu, cluster_gpu)


def is_first_server() -> bool:
    """Whether the host pyinfra is deploying now is the first server."""
    return inventory_role().first_server == host.name
