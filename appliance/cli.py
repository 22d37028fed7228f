"""The `appliance` command: what pyinfra does not do itself. Here: the command group and the
commands that read or check the hosts (check, render, verify, status, outdated, backup,
alerts test, --version); the others each in a module of their own, added to the group below
(credentials.py, new_inventory.py, restore.py, rehearse.py), beside what they share
(options.py) and how they run pyinfra (runner.py).

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
import re
import subprocess
import sys
from pathlib import Path

import click

from appliance import credentials, new_inventory, rehearse, restore, status_table
from appliance.inventory import InventoryHost
from appliance.options import (
    DATA,
    INVENTORY,
    first_server,
    first_settings,
    load_hosts,
    warn_of_the_reference_box,
    warn_of_unsized_models,
)
from appliance.runner import (
    connection_hint,
    fact,
    fetch_private,
    last_error_line,
    on_host,
    project_environment,
    pyinfra_name,
)
from operations import alerts as alert_routes
from operations import apps as apps_layer
from operations import backup as backup_layer
from operations import component_state, health, offsite, preflight
from operations import host as host_layer
from operations import k3s as k3s_layer
from operations.cluster import Node, first_server_index, node_role
from operations.facts import K3sVersion, LatestBackup
from operations.names import BACKUP_DIR, K3S_BINARY, LAYERS, MONITORING_NAMESPACE
from operations.rendering import PROJECT_ROOT, HostFile, write_tree
from operations.settings import Settings, load


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


@main.command()
@INVENTORY
@DATA
@click.option("--offline", is_flag=True, help="Only validate the settings; connect to no host.")
def check(inventory, data, offline):
    """Validate the settings, then check each host (OS, CPU, RAM, disk, ports) over SSH.

    Changes nothing on any host. Example:

    \b
        appliance check inventories/prod.py
    """
    loaded = load_hosts(inventory, data)
    click.echo(f"settings: {len(loaded)} host(s) valid")
    for node, settings in loaded:
        warn_of_the_reference_box(settings, f"{node.name}: ")
    if offline:
        return
    command = [
        sys.executable,
        "-m",
        "pyinfra",
        "-y",
        str(Path(inventory).resolve()),
        pyinfra_name(preflight.check),
    ]
    command += [arg for pair in data for arg in ("--data", pair)]
    result = subprocess.run(
        command, cwd=PROJECT_ROOT, env=project_environment(), capture_output=True, text=True
    )
    output = result.stderr + result.stdout
    for line in preflight_report(output):
        click.echo(f"preflight: {line}")
    if result.returncode != 0:
        stopped = re.search(
            r"^--> llm-appliance: (stopped before changing anything: .+?)\n"
            r"((?:\s+- .+\n?)+)",
            output,
            re.M,
        )
        if stopped:
            click.secho(f"preflight: {stopped[1]}", fg="red", err=True)
            click.echo(stopped[2].rstrip("\n"), err=True)
        else:
            error = last_error_line(output)
            click.secho(
                f"preflight: could not check the hosts: {error}; {connection_hint(error)}",
                fg="red",
                err=True,
            )
        sys.exit(result.returncode)
    click.echo("preflight: every host can run the appliance as set")


def preflight_report(output: str) -> list[str]:
    """The preflight's own lines in pyinfra's output (what it says of each host's GPU and
    models), as ``HOST: LINE``, without pyinfra's frame (`--> Loading config...`, its results
    table): e.g. "    [10.213.1.2] Ollama: CPU: no NVIDIA GPU on this host" gives
    "10.213.1.2: Ollama: CPU: no NVIDIA GPU on this host"."""
    return [
        f"{name}: {line}"
        for name, line in re.findall(r"^\s+\[([^\]]+)\] (.+)$", output, re.M)
        if line.startswith((preflight.GPU_REPORT, preflight.SIZES_REPORT))
    ]


@main.command()
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
    Example:

    \b
        appliance render inventories/prod.py --out rendered/
    """
    loaded = load_hosts(inventory, data)
    hosts = [node for node, _ in loaded]
    for node, settings in loaded:
        warn_of_unsized_models(settings, f"{node.name}: ")
        target = Path(out_dir) if len(loaded) == 1 else Path(out_dir) / node.name
        for path in write_tree(rendered_files(node, settings, hosts), target):
            click.echo(str(path))


@main.group()
def alerts():
    """Netdata's alarm notifications (the alert_* settings). Example:

    \b
        appliance alerts test inventories/prod.py
    """


@alerts.command("test")
@INVENTORY
def alerts_test(inventory):
    """Send a test notification through every configured route and say which answered.

    Runs Netdata's own test (alarm-notify.sh test: a WARNING, a CRITICAL and a CLEAR) in the
    Netdata parent, one route at a time. Exits 1 when a route did not answer. Example:

    \b
        appliance alerts test inventories/prod.py
    """
    first = first_server(inventory)
    configured = alert_routes.routes(load(first.data))
    if not configured:
        raise click.ClickException(
            "no alert route is set: set alert_email_to (with alert_smtp_host and "
            "alert_email_from), alert_webhook_url, alert_ntfy_url, or SLACK_WEBHOOK_URL in the "
            "file alert_secrets_file names, then deploy"
        )
    result = on_host(inventory, first.name, "exec", "--", alert_routes.test_command(configured))
    # pyinfra prints each line of the host's output after the host's name.
    answers = alert_routes.route_answers(re.sub(r"^\s*\[[^\]]+\] ", "", result.stdout, flags=re.M))
    if not answers:
        raise click.ClickException(
            f"could not run Netdata's test on {first.name}: "
            f"{last_error_line(result.stderr + result.stdout)} (is the apps layer deployed?)"
        )
    for route in configured:
        click.echo(f"{route}: {answers.get(route, 'failed')}")
    if any(answers.get(route) != "answered" for route in configured):
        click.echo(
            f"a route that failed: `k3s kubectl --namespace {MONITORING_NAMESPACE} logs "
            f"{alert_routes.PARENT.ref}` has alarm-notify.sh's reason",
            err=True,
        )
        sys.exit(1)


@main.command()
@INVENTORY
@click.option(
    "--fetch",
    "fetch_dir",
    type=click.Path(file_okay=False),
    help="Also copy the archive into this folder on this machine (mode 0600).",
)
def backup(inventory, fetch_dir):
    """Back up Open WebUI now (database and uploads), on the first server.

    Runs the backup CronJob at once and waits for it; the archive stays in
    /var/backups/llm-appliance on the server. Example:

    \b
        appliance backup inventories/prod.py --fetch backups/
    """
    first = first_server(inventory)
    result = on_host(inventory, first.name, pyinfra_name(backup_layer.backup_now))
    if result.returncode != 0:
        raise click.ClickException(
            f"the backup failed: {last_error_line(result.stdout + result.stderr)} "
            "(is the apps layer deployed?)"
        )
    archive = fact(inventory, first, LatestBackup, folder=BACKUP_DIR)
    click.echo(f"backup on {first.name}: {archive}")
    if fetch_dir:
        target = fetch_private(
            inventory,
            first,
            archive,
            Path(fetch_dir) / Path(archive).name,
            "the backup was made, but could not be copied",
        )
        click.echo(f"fetched: {target}")


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
def status(inventory):
    """Show each host's components as read now: state, version running against the pinned one,
    and detail (certificate, models, last backup, free disk and memory).

    Reads only, waits for nothing. Exits 1 when a component is not ready or a host cannot be
    reached (a warning, such as a certificate not issued yet, does not count), so it can serve a
    cron job or a monitoring check. Example:

    \b
        appliance status inventories/prod.py
    """
    loaded = load_hosts(inventory, ())
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
