"""The cluster read's parser: ``parse_read`` turns ApplianceRead's output (operations/health.py)
into a plain dict (JSON-friendly), and ``Cluster`` views its objects by kind, with each
object's Events, as the readiness judge (operations/readiness.py) asks for them.

    cluster = Cluster(parse_read(lines))
    cluster.get("Job", "kube-system", "helm-install-ollama")   # the object, or None
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from operations.ollama_facts import OllamaModels

SECTIONS = (
    "now",
    "memory",
    "disk",
    "backup",
    "offsite",
    "reboot",
    "restored",
    "k3s",
    "objects",
    "errors",
    "helm",
    "models",
    "redirect",
    "health",
    "alarms",
    "certificate",
)


def parse_read(lines: list[str]) -> dict:
    """The fact's output as a plain dict (JSON-friendly, for ``pyinfra --json fact`` too)."""
    sections: dict[str, list[str]] = {name: [] for name in SECTIONS}
    current = None
    for line in lines:
        if line.startswith("## ") and line[3:].strip() in sections:
            current = line[3:].strip()
        elif current and line.strip():
            sections[current].append(line.strip())
    objects = [json.loads(line) for line in sections["objects"] if line.startswith("{")]
    objects += [_secret(line) for line in sections["objects"] if line.startswith("Secret ")]
    helm_logs: dict[str, list[str]] = {}
    for line in sections["helm"]:
        # kubectl logs --prefix: "[pod/NAME/CONTAINER] line"
        source, _, text = line.partition("] ")
        if source.startswith("[pod/"):
            helm_logs.setdefault(source[len("[pod/") :].split("/", 1)[0], []).append(text)
    backup = sections["backup"][0].split(" ", 1) if sections["backup"] else None
    disk = sections["disk"][0].split() if sections["disk"] else []
    memory = sections["memory"][0].split() if sections["memory"] else []
    offsite_time: int | None = None
    offsite_failed: dict[str, str] = {}
    for line in sections["offsite"]:
        kind, _, rest = line.partition(" ")
        unit, _, what = rest.partition(" ")
        if kind == "time" and rest.isdigit():
            offsite_time = int(rest)
        elif kind == "failed":
            offsite_failed[unit] = f"its last run failed (systemd result: {what})"
        elif kind == "error":
            offsite_failed[unit] = what
    reboot = sections["reboot"][1:] if sections["reboot"][:1] == ["required"] else None
    return {
        "now": int(sections["now"][0]) if sections["now"] else 0,
        "memory_available_kib": int(memory[1]) if len(memory) > 1 else None,
        "disk_free_kib": int(disk[3]) if len(disk) > 3 and disk[3].isdigit() else None,
        "backup": {"time": int(backup[0]), "path": backup[1]} if backup else None,
        "offsite": {"time": offsite_time, "failed": offsite_failed},
        # None: no reboot needed; else the packages that asked for one, each once, in order.
        "reboot": None if reboot is None else list(dict.fromkeys(reboot)),
        "restored": sections["restored"][0] if sections["restored"] else None,
        "k3s": sections["k3s"] == ["installed"],
        "objects": objects,
        # kubectl's errors of the objects' get (a list that failed), but its warnings.
        "errors": [line for line in sections["errors"] if not line.startswith("Warning:")],
        "helm_logs": helm_logs,
        "models": sorted(OllamaModels().process(sections["models"])),
        "redirect": " ".join(sections["redirect"]),
        "health": " ".join(sections["health"]),
        "certificate": _certificate(sections["certificate"]),
        "alarms": _alarms(sections["alarms"]),
    }


def _alarms(lines: list[str]) -> list[dict] | None:
    """The raised alarms of each /api/v1/alarms answer (one JSON document a line), as
    [{"host", "name", "status", "info"}]; None when Netdata gave none (not there yet)."""
    raised, answered = [], False
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        answered = True
        for alarm in (document.get("alarms") or {}).values():
            if alarm.get("status") in ("WARNING", "CRITICAL"):
                raised.append(
                    {
                        "host": document.get("hostname", ""),
                        "name": alarm.get("name", ""),
                        "status": alarm["status"],
                        "info": alarm.get("info", ""),
                    }
                )
    return raised if answered else None


def _secret(line: str) -> dict:
    """A "Secret NAMESPACE NAME TYPE LABELS" line (TEMPLATE) as an object of kind Secret with
    those fields alone."""
    _, namespace, name, kind, labels = (line.split(" ", 4) + ["", ""])[:5]
    return {
        "kind": "Secret",
        "type": kind,
        "metadata": {
            "namespace": namespace,
            "name": name,
            "labels": json.loads(labels) if labels else {},
        },
    }


def _certificate(lines: list[str]) -> dict | None:
    """openssl x509 -issuer -enddate -ext subjectAltName, as a dict; None without one."""
    issuer: str | None = None
    not_after: str | None = None
    names: list[str] = []
    for line in lines:
        if line.startswith("issuer="):
            issuer = line[len("issuer=") :].strip()
        elif line.startswith("notAfter="):
            not_after = line[len("notAfter=") :].strip()
        elif "DNS:" in line:
            names = [name.strip()[4:] for name in line.split(",") if name.strip()[:4] == "DNS:"]
    return {"issuer": issuer, "not_after": not_after, "names": names} if issuer else None


@dataclass
class Cluster:
    """The objects of one read, by kind."""

    read: dict
    by_kind: dict = field(default_factory=dict)

    def __post_init__(self):
        for item in self.read.get("objects", []):
            self.by_kind.setdefault(item["kind"], []).append(item)

    def of(self, kind: str, namespaces: tuple[str, ...] | None = None) -> list[dict]:
        items = self.by_kind.get(kind, [])
        return [
            i for i in items if namespaces is None or i["metadata"].get("namespace") in namespaces
        ]

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return next((i for i in self.of(kind, (namespace,)) if i["metadata"]["name"] == name), None)

    def events(self, kind: str, namespace: str, name: str, count: int = 5) -> list[str]:
        """The last events about an object, oldest first: "Reason: message". Events of a
        cluster-scoped object (a Node) are in namespace ``default`` (client-go v0.36
        tools/record/event.go makeEvent)."""
        return [
            f"{e.get('reason', '')}: {' '.join(str(e.get('message', '')).split())}"
            for e in self.event_objects(kind, namespace, name)[-count:]
        ]

    def event_objects(self, kind: str, namespace: str, name: str) -> list[dict]:
        """The Events about an object, oldest first (by lastTimestamp, else eventTime)."""
        found = [
            event
            for event in self.of("Event", (namespace,))
            if event.get("involvedObject", {}).get("kind") == kind
            and event["involvedObject"].get("name") == name
        ]
        return sorted(found, key=event_time)


def event_time(event: dict) -> str:
    """When an Event last happened (RFC 3339, comparable as text)."""
    return event.get("lastTimestamp") or event.get("eventTime") or ""


def condition(item: dict, kind: str) -> dict | None:
    """The object's status condition of type ``kind`` when it is True (its reason and
    message), else None."""
    return next(
        (
            c
            for c in item.get("status", {}).get("conditions", []) or []
            if c.get("type") == kind and c.get("status") == "True"
        ),
        None,
    )


def spec_time(item: dict | None) -> str:
    """When an object's spec last changed: the newest managedFields entry that is not a status
    update (RFC 3339, comparable as text); its creation time without managedFields; "" for
    no object."""
    if item is None:
        return ""
    times = [
        entry.get("time", "")
        for entry in item["metadata"].get("managedFields", [])
        if entry.get("subresource") != "status"
    ]
    return max(times, default=item["metadata"].get("creationTimestamp", ""))


def secret_names(read: dict, namespace: str) -> set[str]:
    """Names of the Secrets of a namespace, as read: ``secret_names(read, "llm")``."""
    return {secret["metadata"]["name"] for secret in Cluster(read).of("Secret", (namespace,))}


def labelled_nodes(read: dict, label: str) -> set[str]:
    """Names of the nodes whose ``label`` is "true", as read:
    ``labelled_nodes(read, "nvidia.com/gpu.present")``."""
    return {
        node["metadata"]["name"]
        for node in Cluster(read).of("Node")
        if (node["metadata"].get("labels") or {}).get(label) == "true"
    }
