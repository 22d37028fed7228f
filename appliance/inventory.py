"""Read a pyinfra inventory (with its group data) without connecting to any host."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from operations.rendering import PROJECT_ROOT


def parse_data(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--data KEY=VALUE` overrides, parsed as pyinfra parses its own:
    ``parse_data(["ssh_hardening=true"])`` gives {'ssh_hardening': True}."""
    from pyinfra_cli.util import parse_cli_arg

    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"--data {pair!r}: use KEY=VALUE")
        data[key] = parse_cli_arg(value)
    return data


@dataclass(frozen=True)
class InventoryHost:
    name: str
    data: dict[str, Any]  # group data, host data, then the overrides, merged
    groups: tuple[str, ...]

    @property
    def address(self) -> str:
        return self.data.get("ssh_hostname") or self.name


def inventory_hosts(
    path: str | Path, override_data: dict[str, Any] | None = None, cwd: Path = PROJECT_ROOT
) -> list[InventoryHost]:
    """The inventory's hosts, in order, with their merged data and groups.

    Group data is read as pyinfra 3.10 reads it when a deploy runs from `cwd` (appliance runs
    pyinfra from the checkout root): pyinfra_cli/cli.py sets `state.cwd = getcwd()` and passes it
    to pyinfra_cli/inventory.py `make_inventory`, which loads `cwd/group_data/*.py`, then the
    inventory file's folder's `group_data/*.py` (a key there overrides the same key in the
    cwd's), then `--group-data` folders (none by default); group data is beneath host data and
    the overrides."""
    with ctx_state.use(State()):
        inventory = make_inventory(
            str(path), override_data=override_data or {}, cwd=str(Path(cwd).resolve())
        )
        return [InventoryHost(h.name, h.data.dict(), tuple(h.groups)) for h in inventory]
