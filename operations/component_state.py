"""What a readiness judgement gives: ``Component``, one thing the appliance needs as read, with
its state (READY, WAITING, FAILED or WARNING) and what explains it. The judges
(operations/readiness.py, operations/k3s_applied.py) make them; the gate and `appliance status`
show them.
"""

from __future__ import annotations

from dataclasses import dataclass

READY, WAITING, FAILED, WARNING = "ready", "waiting", "failed", "warning"


@dataclass(frozen=True)
class Component:
    """One thing the appliance needs, as read: its state and what explains it."""

    name: str
    state: str  # READY, WAITING, FAILED, or WARNING (does not fail the run)
    detail: str
    running: str = ""  # version running, where one is known
    pinned: str = ""  # version the settings pin
    look: str = ""  # the command that shows more
    logs: tuple[str, str] | None = None  # (namespace, "job/NAME"): a log tail explains it
    targets: tuple[tuple[str, str, str], ...] = ()  # (kind, namespace, name) of its events
