"""The `appliance` command: what pyinfra does not do itself (check, render).

    appliance check inventories/prod.py
    appliance render inventories/prod.py --out rendered/
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from pyinfra.api.exceptions import PyinfraError

from appliance.inventory import inventory_hosts
from operations import host as host_layer
from operations.rendering import PROJECT_ROOT, write_tree
from operations.settings import Settings, SettingsError, load

INVENTORY = click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
DATA = click.option(
    "--data", "data", multiple=True, metavar="KEY=VALUE",
    help="Override a setting, as pyinfra's --data does (repeatable).",
)


def _override_data(pairs: tuple[str, ...]) -> dict:
    from pyinfra_cli.util import parse_cli_arg

    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.UsageError(f"--data {pair!r}: use KEY=VALUE")
        data[key] = parse_cli_arg(value)
    return data


def _settings_by_host(inventory: str, data: tuple[str, ...]) -> dict[str, Settings]:
    """Every host's validated settings; exits with one message listing every problem."""
    try:
        hosts = inventory_hosts(inventory, _override_data(data))
    except (click.ClickException, PyinfraError, OSError, SyntaxError) as error:
        # pyinfra wraps errors raised by the inventory file's own code in `.exception`.
        cause = getattr(error, "exception", error)
        raise click.ClickException(f"{inventory}: cannot read the inventory: {cause}") from None
    settings, problems = {}, []
    for name, host_data in hosts.items():
        try:
            settings[name] = load(host_data)
        except SettingsError as error:
            problems += [f"{name}: {problem}" for problem in error.problems]
    if problems:
        click.secho(f"{inventory}: the settings need fixing:", fg="red", bold=True, err=True)
        for problem in problems:
            click.echo(f"    - {problem}", err=True)
        sys.exit(1)
    return settings


def rendered_files(settings: Settings) -> list:
    """Every file the deploy would put on a host with these settings."""
    files = []
    if "host" in settings.layers:
        files += host_layer.host_files(settings)
    return files


@click.group()
def main():
    """llm-appliance: a private LLM appliance on one server, deployed with pyinfra.

    The deploy itself is `pyinfra INVENTORY deploy.py`; these commands check and show what it
    would do.
    """


@main.command()
@INVENTORY
@DATA
@click.option("--offline", is_flag=True, help="Only validate the settings; connect to no host.")
def check(inventory, data, offline):
    """Validate the settings, then check each host (OS, CPU, RAM, disk, ports) over SSH.

    Changes nothing on any host. Example:

        appliance check inventories/prod.py
    """
    settings = _settings_by_host(inventory, data)
    click.echo(f"settings: {len(settings)} host(s) valid")
    if offline:
        return
    command = [sys.executable, "-m", "pyinfra", "-y", str(Path(inventory).resolve()),
               "operations.preflight.check"]
    command += [arg for pair in data for arg in ("--data", pair)]
    result = subprocess.run(command, cwd=PROJECT_ROOT)
    if result.returncode != 0:
        sys.exit(result.returncode)
    click.echo("preflight: every host can run the appliance as set")


@main.command()
@INVENTORY
@DATA
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write into; each file lands at its host path below it.")
def render(inventory, data, out_dir):
    """Write every file the deploy would put on the hosts, without connecting.

    With one host the files land at their host paths under OUT; with several, under OUT/HOST/.
    Example:

        appliance render inventories/prod.py --out rendered/
    """
    settings = _settings_by_host(inventory, data)
    for name, host_settings in settings.items():
        target = Path(out_dir) if len(settings) == 1 else Path(out_dir) / name
        for path in write_tree(rendered_files(host_settings), target):
            click.echo(str(path))
