"""The memory budget: what the rendered manifests request, container by container.

Read from the files `appliance render` writes, so the figure is that of what the deploy puts
on the host. Ollama's request is its limit: the models it keeps loaded together
(operations/memory.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

# Pods k3s itself runs, with their requests (k3s's manifests/coredns.yaml); local-path-provisioner
# and the servicelb pods request nothing, and metrics-server (70 MiB) is disabled in k3s's config
# (templates/k3s/config.yaml.j2).
K3S_SYSTEM_PODS_MIB = {"k3s coredns": 70}
# Resident memory measured (MiB), not requested: the largest reading of the real Open WebUI
# (the pinned release, CPU torch, on PostgreSQL 18) in tests/realapps, after start and after
# its scenarios; that test fails when a run reads more than its request and limit allow. 798 MiB
# is the highest reading on record (operations/webui.py's comment above RESOURCES).
MEASURED_MIB = {"open-webui": 798}
# Containers that run before the others and so add nothing to their pod's request.
INIT_CONTAINER_KEYS = ("copyAppData", "initContainers")


@dataclass(frozen=True)
class Entry:
    component: str
    request_mib: float
    limit_mib: float | None
    init: bool = False


def mebibytes(quantity: str | int) -> float:
    text = str(quantity)
    units = {
        "Ki": 1 / 1024,
        "Mi": 1,
        "Gi": 1024,
        "Ti": 1024**2,
        "k": 1e3 / 2**20,
        "M": 1e6 / 2**20,
        "G": 1e9 / 2**20,
    }
    for suffix, factor in sorted(units.items(), key=lambda item: -len(item[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text) / 2**20


def resource_maps(tree, path=()):
    """(path, resources) for every container's `resources` map in a manifest or values tree."""
    if isinstance(tree, dict):
        for key, child in tree.items():
            if key == "resources" and isinstance(child, dict) and "requests" in child:
                yield path, child
            else:
                yield from resource_maps(child, path + (str(key),))
    elif isinstance(tree, list):
        for child in tree:
            yield from resource_maps(child, path)


def budget(rendered: Path) -> list[Entry]:
    """Every container's memory request and limit in the manifests under `rendered`."""
    entries = [Entry(name, mib, None) for name, mib in K3S_SYSTEM_PODS_MIB.items()]
    for manifest in sorted(rendered.rglob("var/lib/rancher/k3s/server/manifests/*.yaml")):
        for document in yaml.safe_load_all(manifest.read_text()):
            if not document:
                continue
            name = document["metadata"]["name"]
            tree = document
            if document["kind"] in ("HelmChart", "HelmChartConfig"):
                tree = yaml.safe_load(document["spec"].get("valuesContent") or "{}")
            for path, resources in resource_maps(tree):
                init = any(key in path for key in INIT_CONTAINER_KEYS)
                if init:
                    component = f"{name} ({path[-1]})"
                elif document["kind"] in ("Job", "CronJob"):
                    # A Job's name ends in a hash of what it does.
                    base = name.rsplit("-", 1)[0] if document["kind"] == "Job" else name
                    component = f"{base} ({document['kind']})"
                elif document["kind"] == "HelmChart" and path:
                    component = f"{name} {path[0]}"  # a chart's part: netdata parent, child...
                else:
                    component = name
                limit = resources.get("limits", {}).get("memory")
                entries.append(
                    Entry(
                        component,
                        mebibytes(resources["requests"]["memory"]),
                        mebibytes(limit) if limit else None,
                        init,
                    )
                )
    return entries


def requests_gib(entries: list[Entry]) -> float:
    return sum(entry.request_mib for entry in entries if not entry.init) / 1024


def measured(entry: Entry) -> str:
    """The resident memory measured for a component, e.g. '850 MiB', or 'not measured'."""
    mib = None if entry.init else MEASURED_MIB.get(entry.component)
    return f"{mib:.0f} MiB" if mib else "not measured"


def markdown_table(entries: list[Entry]) -> str:
    """The budget table in README.md (a test keeps the two the same)."""
    rows = [
        "| component | memory request | memory limit | measured (resident) |",
        "| --- | --- | --- | --- |",
    ]
    for entry in entries:
        limit = f"{entry.limit_mib:.0f} MiB" if entry.limit_mib else "none"
        note = " (init container: not added)" if entry.init else ""
        rows.append(
            f"| {entry.component}{note} | {entry.request_mib:.0f} MiB | {limit} | "
            f"{measured(entry)} |"
        )
    rows.append(f"| **requests in all** | **{requests_gib(entries):.2f} GiB** | | |")
    return "\n".join(rows)
