"""What the `appliance` commands share: the INVENTORY argument and the --data option, the
inventory's hosts with their validated settings (one message listing every problem, exit 1),
the first server, and the reference box's warning.

    load_hosts("inventories/prod.py", ("acme_ca=staging",))  # [(InventoryHost(...), Settings(...))]
"""

from __future__ import annotations

import sys

import click
from pyinfra.api.exceptions import PyinfraError

from appliance.inventory import InventoryHost, inventory_hosts, parse_data
from operations import preflight
from operations.cluster import cluster_problems, first_server_index
from operations.settings import Settings, SettingsError, load

INVENTORY = click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
DATA = click.option(
    "--data",
    "data",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting, as pyinfra's --data does (repeatable).",
)


def _override_data(pairs: tuple[str, ...]) -> dict:
    try:
        return parse_data(pairs)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def load_hosts(inventory: str, data: tuple[str, ...]) -> list[tuple[InventoryHost, Settings]]:
    """Every host with its validated settings; exits with one message listing every problem."""
    overrides = _override_data(data)  # a bad --data is the command line's fault, not the file's
    try:
        hosts = inventory_hosts(inventory, overrides)
    except (click.ClickException, PyinfraError, OSError, SyntaxError) as error:
        # pyinfra wraps errors raised by the inventory file's own code in `.exception`.
        cause = getattr(error, "exception", error)
        raise click.ClickException(f"{inventory}: cannot read the inventory: {cause}") from None
    if not hosts:
        raise click.ClickException(
            f"{inventory}: the inventory lists no hosts; add your server, e.g. "
            'hosts = ["203.0.113.10"] (appliance init writes one)'
        )
    loaded, problems = [], []
    for node in hosts:
        try:
            loaded.append((node, load(node.data)))
        except SettingsError as error:
            problems += [f"{node.name}: {problem}" for problem in error.problems]
    if any("k3s" in settings.layers for _, settings in loaded):
        problems += cluster_problems({node.name: node.groups for node in hosts})
    if problems:
        click.secho(f"{inventory}: the settings need fixing:", fg="red", bold=True, err=True)
        for problem in problems:
            click.echo(f"    - {problem}", err=True)
        sys.exit(1)
    return loaded


def first_server(inventory: str, data: tuple[str, ...] = ()) -> tuple[InventoryHost, Settings]:
    """The inventory's first server, where the cluster's state is, and its settings (with
    ``data``, --data's KEY=VALUE pairs, over the inventory's)."""
    loaded = load_hosts(inventory, data)
    return loaded[first_server_index({node.name: node.groups for node, _ in loaded})]


def warn_of_the_reference_box(settings: Settings, prefix: str = "") -> None:
    """A yellow warning on stderr when the models do not fit the 8 GB reference box, or when
    a model's size is not known offline."""
    warn(preflight.reference_box_warning(settings), prefix)


def warn(warning: str | None, prefix: str) -> None:
    """`warning`, where there is one, in yellow on stderr after `prefix` (a host's name)."""
    if warning:
        click.secho(f"warning: {prefix}{warning}", fg="yellow", err=True)


def first_settings(loaded: list[tuple[InventoryHost, Settings]]) -> Settings:
    """The first server's settings: the cluster's k3s_version."""
    return loaded[first_server_index({node.name: node.groups for node, _ in loaded})][1]
