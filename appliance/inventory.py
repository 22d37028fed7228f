"""Read a pyinfra inventory (with its group data) without connecting to any host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory


def inventory_hosts(path: str | Path, override_data: dict[str, Any] | None = None) -> dict[str, dict]:
    """Each host's name and merged data (group data, host data, then ``override_data``)."""
    with ctx_state.use(State()):
        inventory = make_inventory(str(path), override_data=override_data or {})
        return {host.name: host.data.dict() for host in inventory}
