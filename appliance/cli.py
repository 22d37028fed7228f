"""The `appliance` command: what pyinfra does not do itself. Here: the command group
(--version) and the commands that judge the deployed hosts (verify, status, outdated); the
others each in a module of their own, added to the group below (check.py, render.py,
alerts.py, backup.py, credentials.py, new_inventory.py, restore.py, rehearse.py), beside what
they share (options.py) and how they run pyinfra (runner.py).

    appliance check inventories/prod.py
    appliance render inventories/prod.py --out rendered/
    appliance kubeconfig inventories/prod.py --out kubeconfig.yaml
    appliance admin-password inventories/prod.py
    appliance monitor-password inventories/prod.py
    appliance backup inventories/prod.py --fetch backups/
    appliance restore inventories/prod.py backups/llm-appliance-20261124-033000.tar
    appliance restore inventories/prod.py --from-repository --password-file restic-password
    appliance init inventories/mine.py
    appliance verify inventories/prod.py
    appliance status inventories/prod.py
    appliance outdated inventories/prod.py
    appliance rehearse
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click

from appliance import (
    alerts,
    backup,
    check,
    credentials,
    new_inventory,
    rehearse,
    render,
    restore,
    status_table,
)
from appliance.inventory import InventoryHost
from appliance.options import DATA, INVENTORY, first_settings, load_hosts
from appliance.runner import last_error_line, on_host, project_environment, pyinfra_name
from operations import component_state, health
from operations.cluster import first_server_index, node_role
from operations.facts import K3sVersion
from operations.names import K3S_BINARY, LAYERS
from operations.rendering import PROJECT_ROOT


def version_lines() -> list[str]:
    """What `appliance --version` prints, for a bug report: the project's version (with the
    checkout's commit when git can read it), then every entry of PINNED_VERSIONS as read now,
    e.g. ['llm-appliance 0.1.0 (commit 23283ea)', 'pinned versions (PINNED_VERSIONS,
    operations/pins.py):', '  k3s: v1.36.5+k3s1', ...]."""
    from importlib.metadata import PackageNotFoundError, version

    from operations.pins import PINNED_VERSIONS

    try:
        project = version("llm-appliance")
    except PackageNotFoundError:
        project = "(not installed: pip install -e .)"
    commit = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    head = f"llm-appliance {project}" + (f" (commit {commit})" if commit else "")
    return [
        head,
        "pinned versions (PINNED_VERSIONS, operations/pins.py):",
        *(f"  {name}: {pinned}" for name, pinned in PINNED_VERSIONS.items()),
    ]


def _print_version(context: click.Context, _parameter, value: bool) -> None:
    if value and not context.resilient_parsing:
        click.echo("\n".join(version_lines()))
        context.exit()


@click.group()
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print the project's version and the pinned versions, then exit.",
)
def main():
    """llm-appliance: a private LLM appliance on one server, deployed with pyinfra.

    The deploy itself is `pyinfra INVENTORY deploy.py`; these commands do what pyinfra does
    not: write and check an inventory, show the files a deploy writes, prove a deployed host,
    read credentials, kubeconfig and backups, and rehearse on a local host.
    """


@main.command(context_settings={"ignore_unknown_options": True})
@INVENTORY
@DATA
@click.option(
    "--layers",
    "layers",
    default=None,
    help="Layers to check, e.g. host,k3s (default: the inventory's layers).",
)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def verify(inventory, data, layers, pytest_args):
    """Run the shipped testinfra suite (tests/host) against the inventory's hosts.

    Checks the layers the settings deploy, with the settings the deploy had: give the same
    --data as to pyinfra. Extra arguments go to pytest. Example:

    \b
        appliance verify inventories/prod.py
        appliance verify inventories/prod.py --data ssh_hardening=true
        appliance verify inventories/prod.py --layers host -x
    """
    chosen = layers.split(",") if layers else []
    unknown = [layer for layer in chosen if layer not in LAYERS]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)} is not a layer; give some of {','.join(LAYERS)}",
            param_hint="--layers",
        )
    loaded = load_hosts(inventory, data)
    chosen = chosen or list(loaded[0][1].layers)
    if {"k3s", "apps"} & set(chosen):
        # Each of their checks would fail on `k3s: command not found` (217 lines in all).
        missing = [node.name for node, _ in loaded if not _k3s_installed(inventory, node)]
        if missing:
            raise click.ClickException(
                f"k3s is not installed on {', '.join(missing)}: verify with --layers host"
            )
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(PROJECT_ROOT / "tests/host"),
        f"--inventory={Path(inventory).resolve()}",
        "-p",
        "no:cacheprovider",
        *(f"--data={pair}" for pair in data),
        "-m",
        " or ".join(chosen),
        *pytest_args,
    ]
    sys.exit(subprocess.run(command, cwd=PROJECT_ROOT, env=project_environment()).returncode)


def _k3s_installed(inventory: str, node: InventoryHost) -> bool:
    """Whether the k3s binary is on the host; True when the host cannot be read (the suite
    then says, in its own one line, that it cannot reach it)."""
    result = on_host(
        inventory, node.name, "--json", "fact", pyinfra_name(K3sVersion), f"path={K3S_BINARY}"
    )
    try:
        (values,) = json.loads(result.stdout).values()
        return values[node.name] is not None
    except (ValueError, KeyError):
        return True


@main.command()
@INVENTORY
@DATA
def status(inventory, data):
    """Show each host's components as read now: state, version running against the pinned one,
    and detail (certificate, models, last backup, free disk and memory).

    Reads only, waits for nothing. Exits 1 when a component is not ready or a host cannot be
    reached (a warning, such as a certificate not issued yet, does not count), so it can serve a
    cron job or a monitoring check. Give the same --data as the deploy had. Example:

    \b
        appliance status inventories/prod.py
    """
    loaded = load_hosts(inventory, data)
    hosts = [node for node, _ in loaded]
    groups = {node.name: node.groups for node in hosts}
    first = hosts[first_server_index(groups)]
    healthy = True
    for node, settings in loaded:
        role = node_role(node.name, groups, {h.name: h.address for h in hosts}).role
        result = on_host(
            inventory,
            node.name,
            "--json",
            "fact",
            pyinfra_name(health.ApplianceRead),
            f"domain={settings.webui_domain}",
            "alarms=yes",
        )
        try:
            (values,) = json.loads(result.stdout).values()
            read = values[node.name]
        except (ValueError, KeyError):
            read = None
        if not read:
            click.secho(
                f"{node.name}: unreachable: {last_error_line(result.stderr + result.stdout)}",
                fg="red",
                err=True,
            )
            healthy = False
            continue
        components = status_table.status_components(read, settings, role, node is first)
        click.echo(f"{node.name} ({role})")
        for line in status_table.table(components):
            click.echo(f"  {line}")
        unread = [layer for layer in ("k3s", "apps") if layer not in settings.layers]
        if unread:
            click.echo(
                f"  not read: {', '.join(unread)} (not in this inventory's layers: "
                f"{','.join(settings.layers)})"
            )
        healthy &= all(
            c.state in (component_state.READY, component_state.WARNING) for c in components
        )
    # From appliance outdated's last run, never a request: status must not wait offline.
    from appliance import outdated as upstream  # requests after pyinfra_cli's gevent patching

    advisories = upstream.status_line(first_settings(loaded).k3s_version)
    if advisories:
        click.echo(advisories)
    sys.exit(0 if healthy else 1)


@main.command()
@INVENTORY
def outdated(inventory):
    """For each pinned component: the newest upstream release, and the published advisories
    (OSV) that affect the pinned version, with the release that fixes each. Read from this
    machine, not the server: needs api.osv.dev and api.github.com (https_proxy honoured;
    GITHUB_TOKEN raises GitHub's limit of 60 requests an hour).

    Exits 0 when no known advisory affects a pin, 1 when one does, 2 when the check could not
    be made (offline, rate-limited, an unexpected answer), said in one line. Example:

    \b
        appliance outdated inventories/prod.py
    """
    from appliance import outdated as upstream  # requests after pyinfra_cli's gevent patching

    try:
        lines, code = upstream.check_pins(first_settings(load_hosts(inventory, ())).k3s_version)
    except upstream.CheckFailed as error:
        click.echo(f"appliance outdated: {error}", err=True)
        sys.exit(upstream.EXIT_UNCHECKED)
    click.echo("\n".join(lines))
    sys.exit(code)


for command in (
    check.check,
    render.render,
    alerts.alerts,
    backup.backup,
    credentials.kubeconfig,
    credentials.admin_password,
    credentials.monitor_password,
    credentials.backup_password,
    new_inventory.init,
    rehearse.rehearse,
    restore.restore,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
