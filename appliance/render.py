"""`appliance render`: every file the deploy would put on the hosts, written without
connecting, from the layers' plans (node_plans; rendering.LayerPlan), each path once
(rendered_files).

    appliance render inventories/prod.py --out rendered/
"""

from __future__ import annotations

from pathlib import Path

import click

from appliance.inventory import InventoryHost
from appliance.options import DATA, INVENTORY, load_hosts, warn, warn_of_the_reference_box
from operations import apps as apps_layer
from operations import host as host_layer
from operations import k3s as k3s_layer
from operations import offsite
from operations.cluster import Node, node_role
from operations.rendering import HostFile, write_tree
from operations.settings import Settings


def node_plans(node: InventoryHost, settings: Settings, hosts: list[InventoryHost]) -> list:
    """The plans (rendering.LayerPlan) of the layers the settings name, for an inventory host,
    offline: no host's GPU is known, so `ollama_gpu: nvidia` plans the GPU files, `auto` the
    CPU ones."""
    gpu_used = settings.ollama_gpu == "nvidia"
    role = node_role(
        node.name, {h.name: h.groups for h in hosts}, {h.name: h.address for h in hosts}
    )
    planned = Node(
        node.name,
        node.address,
        role,
        node.data.get("ssh_port") or 22,
        gpu=gpu_used,
        cluster_gpu=gpu_used,
    )
    plans = []
    if "host" in settings.layers:
        plans.append(host_layer.plan(settings, planned))
        if planned.first_server:  # where the archives and the k3s datastore are
            plans.append(offsite.plan(settings))
    if "k3s" in settings.layers:
        plans.append(k3s_layer.plan(settings, planned))
    if "apps" in settings.layers:
        plans.append(apps_layer.plan(settings, planned))
    return plans


def rendered_files(node: InventoryHost, settings: Settings, hosts: list[InventoryHost]) -> list:
    """Every file the deploy would put on a host with these settings (rendering.HostFile), each
    path once: the ``files`` of its ``node_plans``."""
    by_path: dict[str, HostFile] = {}
    for plan in node_plans(node, settings, hosts):
        for host_file in plan.files:
            by_path.setdefault(host_file.path, host_file)
    return list(by_path.values())


@click.command()
@INVENTORY
@DATA
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write into; each file lands at its host path below it.",
)
def render(inventory, data, out_dir):
    """Write every file the deploy would put on the hosts, without connecting.

    With one host the files land at their host paths under OUT; with several, under OUT/HOST/.
    A joining node's k3s config shows __JOIN_TOKEN__ where the deploy puts the server's token.
    Models that the 8 GB reference box cannot hold, or whose size is not known offline, are
    warned of as `check --offline` does, and so are files already in OUT that this render did
    not write. Example:

    \b
        appliance render inventories/prod.py --out rendered/
    """
    loaded = load_hosts(inventory, data)
    hosts = [node for node, _ in loaded]
    written: set[Path] = set()
    for node, settings in loaded:
        warn_of_the_reference_box(settings, f"{node.name}: ")
        target = Path(out_dir) if len(loaded) == 1 else Path(out_dir) / node.name
        for path in write_tree(rendered_files(node, settings, hosts), target):
            click.echo(str(path))
            written.add(path)
    warn(stale_files_warning(Path(out_dir), written), "")


def stale_files_warning(out_dir: Path, written: set[Path]) -> str | None:
    """The line naming the files under ``out_dir`` that this render did not write (an earlier
    render's, with other settings): the deploy would not put them. None when there are none."""
    stale = sorted(path for path in out_dir.rglob("*") if path.is_file() and path not in written)
    if not stale:
        return None
    shown = ", ".join(str(path) for path in stale[:3]) + (", ..." if len(stale) > 3 else "")
    return (
        f"{len(stale)} file(s) in {out_dir} are not from this render, and the deploy would not "
        f"put them ({shown}): an earlier render's? Render into an empty folder to see only "
        "this one's"
    )
