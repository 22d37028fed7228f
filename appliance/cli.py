"""The `appliance` command: what pyinfra does not do itself.

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

import ipaddress
import json
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import click
from pyinfra.api.exceptions import PyinfraError
from pyinfra.facts.files import FileContents
from pyinfra.operations import server

from appliance import status_table
from appliance.inventory import InventoryHost, inventory_hosts, parse_data
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
from operations.cluster import Node, cluster_problems, first_server_index, node_role
from operations.facts import K3sVersion, KubernetesSecretValue, LatestBackup
from operations.names import (
    BACKUP_DIR,
    BASIC_AUTH_SECRET,
    BASIC_AUTH_USER,
    K3S_BINARY,
    LAYERS,
    MONITORING_NAMESPACE,
    NAMESPACE,
    WEBUI_SECRETS,
)
from operations.rendering import PROJECT_ROOT, HostFile, write_tree
from operations.rendering import render as render_template
from operations.settings import Settings, SettingsError, load

INVENTORY = click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
DATA = click.option(
    "--data", "data", multiple=True, metavar="KEY=VALUE",
    help="Override a setting, as pyinfra's --data does (repeatable).",
)


def _override_data(pairs: tuple[str, ...]) -> dict:
    try:
        return parse_data(pairs)
    except ValueError as error:
        raise click.UsageError(str(error)) from None


def _load(inventory: str, data: tuple[str, ...]) -> list[tuple[InventoryHost, Settings]]:
    """Every host with its validated settings; exits with one message listing every problem."""
    try:
        hosts = inventory_hosts(inventory, _override_data(data))
    except (click.ClickException, PyinfraError, OSError, SyntaxError) as error:
        # pyinfra wraps errors raised by the inventory file's own code in `.exception`.
        cause = getattr(error, "exception", error)
        raise click.ClickException(f"{inventory}: cannot read the inventory: {cause}") from None
    if not hosts:
        raise click.ClickException(
            f"{inventory}: the inventory lists no hosts; add your server, e.g. "
            "hosts = [\"203.0.113.10\"] (appliance init writes one)")
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


def node_plans(node: InventoryHost, settings: Settings, hosts: list[InventoryHost]) -> list:
    """The plans (rendering.LayerPlan) of the layers the settings name, for an inventory host,
    offline: no host's GPU is known, so `ollama_gpu: nvidia` plans the GPU files, `auto` the
    CPU ones."""
    gpu_used = settings.ollama_gpu == "nvidia"
    role = node_role(node.name, {h.name: h.groups for h in hosts},
                     {h.name: h.address for h in hosts})
    planned = Node(node.name, node.address, role, node.data.get("ssh_port") or 22,
                   gpu=gpu_used, cluster_gpu=gpu_used)
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
    commit = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    head = f"llm-appliance {project}" + (f" (commit {commit})" if commit else "")
    return [head, "pinned versions (PINNED_VERSIONS, operations/pins.py):",
            *(f"  {name}: {pinned}" for name, pinned in PINNED_VERSIONS.items())]


def _print_version(context: click.Context, _parameter, value: bool) -> None:
    if value and not context.resilient_parsing:
        click.echo("\n".join(version_lines()))
        context.exit()


@click.group()
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version,
              help="Print the project's version and the pinned versions, then exit.")
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
    loaded = _load(inventory, data)
    click.echo(f"settings: {len(loaded)} host(s) valid")
    for node, settings in loaded:
        _warn_of_the_reference_box(settings, f"{node.name}: ")
    if offline:
        return
    command = [sys.executable, "-m", "pyinfra", "-y", str(Path(inventory).resolve()),
               pyinfra_name(preflight.check)]
    command += [arg for pair in data for arg in ("--data", pair)]
    result = subprocess.run(command, cwd=PROJECT_ROOT, env=project_environment(),
                            capture_output=True, text=True)
    output = result.stderr + result.stdout
    for line in preflight_report(output):
        click.echo(f"preflight: {line}")
    if result.returncode != 0:
        stopped = re.search(r"^--> llm-appliance: (stopped before changing anything: .+?)\n"
                            r"((?:\s+- .+\n?)+)", output, re.M)
        if stopped:
            click.secho(f"preflight: {stopped[1]}", fg="red", err=True)
            click.echo(stopped[2].rstrip("\n"), err=True)
        else:
            error = last_error_line(output)
            click.secho(f"preflight: could not check the hosts: {error}; {connection_hint(error)}",
                        fg="red", err=True)
        sys.exit(result.returncode)
    click.echo("preflight: every host can run the appliance as set")


def preflight_report(output: str) -> list[str]:
    """The preflight's own lines in pyinfra's output (what it says of each host's GPU and
    models), as ``HOST: LINE``, without pyinfra's frame (`--> Loading config...`, its results
    table): e.g. "    [10.213.1.2] Ollama: CPU: no NVIDIA GPU on this host" gives
    "10.213.1.2: Ollama: CPU: no NVIDIA GPU on this host"."""
    return [f"{name}: {line}" for name, line in re.findall(r"^\s+\[([^\]]+)\] (.+)$", output, re.M)
            if line.startswith((preflight.GPU_REPORT, preflight.SIZES_REPORT))]


@main.command()
@INVENTORY
@DATA
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write into; each file lands at its host path below it.")
def render(inventory, data, out_dir):
    """Write every file the deploy would put on the hosts, without connecting.

    With one host the files land at their host paths under OUT; with several, under OUT/HOST/.
    A joining node's k3s config shows __JOIN_TOKEN__ where the deploy puts the server's token.
    Example:

    \b
        appliance render inventories/prod.py --out rendered/
    """
    loaded = _load(inventory, data)
    hosts = [node for node, _ in loaded]
    for node, settings in loaded:
        target = Path(out_dir) if len(loaded) == 1 else Path(out_dir) / node.name
        for path in write_tree(rendered_files(node, settings, hosts), target):
            click.echo(str(path))


@main.command()
@INVENTORY
@click.option("--out", "out_file", default="kubeconfig.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the kubeconfig (mode 0600).")
def kubeconfig(inventory, out_file):
    """Fetch the cluster's kubeconfig from the first server, for kubectl on this machine.

    The server URL is rewritten from 127.0.0.1 to the server's address; the API answers only
    to the networks in admin_cidrs. Example:

    \b
        appliance kubeconfig inventories/prod.py --out ~/.kube/appliance.yaml
        KUBECONFIG=~/.kube/appliance.yaml kubectl get nodes
    """
    first = _first_server(inventory)
    target = fetch_private(inventory, first, k3s_layer.KUBECONFIG_FILE, Path(out_file),
                            "is the k3s layer deployed?")
    target.write_text(target.read_text().replace(
        "https://127.0.0.1:6443", f"https://{first.address}:6443"))
    click.echo(f"wrote {target} (server https://{first.address}:6443)")


def _first_server(inventory: str) -> InventoryHost:
    hosts = [node for node, _ in _load(inventory, ())]
    return hosts[first_server_index({h.name: h.groups for h in hosts})]


def _secret_or_fail(inventory: str, namespace: str, secret: str, key: str) -> tuple:
    first = _first_server(inventory)
    value = fact(inventory, first, KubernetesSecretValue,
                  namespace=namespace, secret=secret, key=key)
    if not value:
        raise click.ClickException(
            f"no {secret} on {first.name}: is the apps layer deployed?")
    return load(first.data), value


@main.command("admin-password")
@INVENTORY
def admin_password(inventory):
    """Print the e-mail and password of Open WebUI's first admin account.

    The password was generated on the server at the first deploy and lives only there, in a
    Kubernetes Secret; this reads it over SSH. Example:

    \b
        appliance admin-password inventories/prod.py
    """
    settings, password = _secret_or_fail(
        inventory, NAMESPACE, WEBUI_SECRETS, "admin-password")
    click.echo(f"Open WebUI: https://{settings.webui_domain}/")
    click.echo(f"e-mail:     {settings.admin_email}")
    click.echo(f"password:   {password}")


@main.command("monitor-password")
@INVENTORY
def monitor_password(inventory):
    """Print the user and password that open the Netdata monitoring UI.

    Generated on the server at the first deploy; read from it over SSH. Example:

    \b
        appliance monitor-password inventories/prod.py
    """
    settings, password = _secret_or_fail(
        inventory, MONITORING_NAMESPACE, BASIC_AUTH_SECRET, "password")
    click.echo(f"Netdata:  https://{settings.monitor_domain}/")
    click.echo(f"user:     {BASIC_AUTH_USER}")
    click.echo(f"password: {password}")


@main.command("backup-password")
@INVENTORY
def backup_password(inventory):
    """Print the password of the off-site backup repository (backup_repository).

    The first server made it at the first deploy with a backup_repository, and it lives only
    there: keep a copy somewhere else, for a restore onto a new server needs it. Example:

    \b
        appliance backup-password inventories/prod.py
    """
    first = _first_server(inventory)
    lines = fact(inventory, first, FileContents, path=offsite.PASSWORD_FILE)
    password = "".join(lines or [])
    if not password:
        raise click.ClickException(
            f"no off-site backup password on {first.name}: is backup_repository set and deployed?")
    click.echo(password)


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
    first = _first_server(inventory)
    configured = alert_routes.routes(load(first.data))
    if not configured:
        raise click.ClickException(
            "no alert route is set: set alert_email_to (with alert_smtp_host and "
            "alert_email_from), alert_webhook_url, alert_ntfy_url, or SLACK_WEBHOOK_URL in the "
            "file alert_secrets_file names, then deploy")
    result = on_host(inventory, first.name, "exec", "--", alert_routes.test_command(configured))
    # pyinfra prints each line of the host's output after the host's name.
    answers = alert_routes.route_answers(re.sub(r"^\s*\[[^\]]+\] ", "", result.stdout, flags=re.M))
    if not answers:
        raise click.ClickException(
            f"could not run Netdata's test on {first.name}: "
            f"{last_error_line(result.stderr + result.stdout)} (is the apps layer deployed?)")
    for route in configured:
        click.echo(f"{route}: {answers.get(route, 'failed')}")
    if any(answers.get(route) != "answered" for route in configured):
        click.echo(f"a route that failed: `k3s kubectl --namespace {MONITORING_NAMESPACE} logs "
                   f"{alert_routes.PARENT.ref}` has alarm-notify.sh's reason", err=True)
        sys.exit(1)


@main.command()
@INVENTORY
@click.option("--fetch", "fetch_dir", type=click.Path(file_okay=False),
              help="Also copy the archive into this folder on this machine (mode 0600).")
def backup(inventory, fetch_dir):
    """Back up Open WebUI now (database and uploads), on the first server.

    Runs the backup CronJob at once and waits for it; the archive stays in
    /var/backups/llm-appliance on the server. Example:

    \b
        appliance backup inventories/prod.py --fetch backups/
    """
    first = _first_server(inventory)
    result = on_host(inventory, first.name, pyinfra_name(backup_layer.backup_now))
    if result.returncode != 0:
        raise click.ClickException(
            f"the backup failed: {last_error_line(result.stdout + result.stderr)} "
            "(is the apps layer deployed?)")
    archive = fact(inventory, first, LatestBackup, folder=BACKUP_DIR)
    click.echo(f"backup on {first.name}: {archive}")
    if fetch_dir:
        target = fetch_private(inventory, first, archive, Path(fetch_dir) / Path(archive).name,
                                "the backup was made, but could not be copied")
        click.echo(f"fetched: {target}")


def _confirmed(yes: bool, flag_missing: str, question: str) -> None:
    """Go on with --yes, or after a yes on a terminal; without a terminal, fail naming --yes."""
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(f"--yes is missing, and there is no terminal to ask on: "
                                   f"{flag_missing}; confirm with --yes")
        click.confirm(question, abort=True)


SNAPSHOT_RE = re.compile(r"latest|[0-9a-f]{8,64}")


@main.command()
@INVENTORY
@click.argument("archive", required=False, type=click.Path(dir_okay=False))
@click.option("--from-repository", "snapshot", is_flag=False, flag_value="latest", default=None,
              metavar="[SNAPSHOT]",
              help="Disaster recovery onto a fresh server from the off-site repository "
              "(backup_repository): the snapshot's ID, or the latest without one.")
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False),
              help="With --from-repository: a file holding the repository's password "
              "(`appliance backup-password` printed it); asked on a terminal otherwise.")
@click.option("--yes", is_flag=True,
              help="Replace Open WebUI's data without asking (needed without a terminal).")
def restore(inventory, archive, snapshot, password_file, yes):
    """Restore a backup archive, or (--from-repository) the whole appliance onto a new server.

    With ARCHIVE: Open WebUI stops, its database and uploads are replaced by the archive's,
    checked here first (one `appliance backup` made); on a failure the restore Job's files are
    removed and Open WebUI starts again.

    With --from-repository, on a fresh server at the inventory's address (the first server): the
    repository's password goes to the server (mode 0600), then the host layer, the snapshot's
    k3s datastore and token, the k3s layer (the lost server's node and volumes removed), the
    apps layer with the restored Secrets, Open WebUI's data from the snapshot's archive, and
    the readiness gate. Models are pulled again. Examples:

    \b
        appliance restore inventories/prod.py backups/llm-appliance-20261124-033000.tar --yes
        appliance restore inventories/prod.py --from-repository --password-file restic-password --yes
        appliance restore inventories/prod.py --from-repository 4f1c2a9b --yes
    """
    if snapshot is not None:
        if archive:
            raise click.UsageError("give an ARCHIVE or --from-repository, not both")
        _restore_from_repository(inventory, snapshot, password_file, yes)
        return
    if archive is None:
        raise click.UsageError("give an ARCHIVE (appliance backup --fetch made it), or "
                               "--from-repository to rebuild a lost server")
    if not Path(archive).is_file():
        raise click.UsageError(f"{archive}: no such file")
    problem = backup_layer.archive_problem(archive)
    if problem:
        raise click.ClickException(
            f"{archive} is not an appliance backup: {problem}; give an archive that "
            "`appliance backup` made (files/backup.sh)")
    _confirmed(yes, "restore replaces Open WebUI's data",
               "Replace Open WebUI's data with the archive's?")
    first = _first_server(inventory)
    result = on_host(inventory, first.name, pyinfra_name(backup_layer.restore),
                      f"archive={Path(archive).resolve()}")
    if result.returncode != 0:
        raise click.ClickException(
            f"the restore failed: {last_error_line(result.stdout + result.stderr)}")
    click.echo(f"restored {archive} on {first.name}")


def _repository_password(password_file: str | None) -> str:
    """The repository's password: from --password-file, else asked (hidden) on a terminal."""
    if password_file:
        password = Path(password_file).read_text().strip()
    elif sys.stdin.isatty():
        password = click.prompt("Off-site repository password (appliance backup-password "
                                "printed it)", hide_input=True).strip()
    else:
        raise click.UsageError("--password-file is missing, and there is no terminal to ask on: "
                               "give the file holding the repository's password")
    if not password:
        where = f" in {password_file}" if password_file else ""
        raise click.UsageError(f"the repository's password is empty{where}: give the one "
                               "`appliance backup-password` printed")
    return password


def _restore_from_repository(inventory: str, snapshot: str, password_file: str | None, yes: bool):
    """appliance restore --from-repository: each step one line; a failure names its step and
    the server's own line."""
    if not SNAPSHOT_RE.fullmatch(snapshot):
        raise click.UsageError(f"--from-repository {snapshot!r}: give a snapshot ID (hex, as "
                               "`restic snapshots` shows it) or nothing for the latest")
    first = _first_server(inventory)
    settings = load(first.data)
    if not settings.backup_repository:
        raise click.ClickException(f"{first.name}: backup_repository is not set in {inventory}; "
                                   "set it as it was on the lost server")
    _confirmed(yes, "a restore from the repository replaces the server's k3s datastore and "
               "Open WebUI's data", f"Rebuild {first.name} from the off-site repository?")
    password = _repository_password(password_file)

    def step(title: str, *arguments: str) -> None:
        result = on_host(inventory, first.name, *arguments)
        if result.returncode != 0:
            raise click.ClickException(
                f"{title}: failed: {last_error_line(result.stdout + result.stderr)}")

    def layer(name: str, done: str) -> None:
        if name in settings.layers:
            step(f"{name} layer", "deploy.py", "--data", f"layers={name}")
            click.echo(f"{name} layer: {done}")

    with tempfile.TemporaryDirectory() as private:  # mode 0700
        kept = Path(private) / "restic-password"
        kept.touch(mode=0o600)
        kept.write_text(password)
        step("password", pyinfra_name(offsite.password_restored), f"src={kept}")
    click.echo(f"password: on {first.name}, mode 0600 ({offsite.PASSWORD_FILE})")
    layer("host", "converged (restic, the repository's credentials, the off-site timers)")
    step("off-site restore", pyinfra_name(server.shell), f"commands={offsite.SCRIPT} restore {snapshot}")
    archive = fact(inventory, first, LatestBackup, folder=BACKUP_DIR)
    if not archive:
        raise click.ClickException(f"off-site restore: failed: no archive in {BACKUP_DIR} on "
                                   f"{first.name} after the restore")
    click.echo(f"off-site restore: snapshot {snapshot}: the k3s datastore and token in place, "
               f"Open WebUI's archive {archive}")
    layer("k3s", "k3s runs on the restored datastore; what it held of the lost server "
          "(node, volumes) removed")
    if "apps" in settings.layers:
        layer("apps", "converged with the restored Secrets (models are pulled again)")
        step("Open WebUI's data", pyinfra_name(backup_layer.restore_archive),
             f"archive_name={Path(archive).name}")
        click.echo(f"Open WebUI's data: restored from {Path(archive).name}")
        step("ready", "deploy.py", "--data", "layers=apps")
        click.echo("ready: the apps layer's readiness gate passed")
    click.echo(f"restored {first.name} from the off-site repository")


def _warn_of_the_reference_box(settings: Settings, prefix: str = "") -> None:
    warning = preflight.reference_box_warning(settings)
    if warning:
        click.secho(f"warning: {prefix}{warning}", fg="yellow", err=True)


def _answer(value, flag: str, question: str, default=None, **prompt):
    """A flag's value; else, on a terminal, the answer to its question; else its default.
    Without a terminal and without a default, fail naming the flag: init never waits for input
    that cannot come."""
    if value is not None:
        return value
    if sys.stdin.isatty():
        return click.prompt(question, default=default, **prompt)
    if default is None:
        raise click.UsageError(f"{flag} is missing, and there is no terminal to ask on; give it")
    return default


def _model_sizes(pairs: tuple[str, ...]) -> dict[str, float]:
    sizes = {}
    for pair in pairs:
        model, _, size = pair.rpartition("=")
        try:
            sizes[model] = float(size)
        except ValueError:
            raise click.UsageError(
                f"--model-size {pair!r}: use NAME:TAG=GiB, e.g. mymodel:7b=4.5") from None
    return sizes


HOST_NAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.?$", re.I)


def _is_host_address(address: str) -> bool:
    """Whether ``address`` is an IP address or a host name (RFC 1123 labels, 253 characters at
    most), what pyinfra's SSH connector can connect to: ``_is_host_address("10.0.0.5")``."""
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return len(address) <= 253 and bool(HOST_NAME_RE.match(address))


@main.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--address", help="The server to deploy to (IP or DNS name).")
@click.option("--ssh-user", help="User pyinfra logs in as: root, or a user with sudo "
              "[default: ubuntu].")
@click.option("--ssh-key", type=click.Path(dir_okay=False),
              help="Private key pyinfra logs in with (ssh_key) [default: your SSH agent and "
              "~/.ssh keys].")
@click.option("--webui-domain", help="webui_domain, e.g. chat.example.com")
@click.option("--monitor-domain", help="monitor_domain, e.g. monitor.example.com")
@click.option("--acme-ca", type=click.Choice(["production", "staging", "none"]),
              help="acme_ca [default: production].")
@click.option("--acme-email", help="acme_email (not asked with --acme-ca none).")
@click.option("--admin-email", help="webui_admin_email (default: the ACME e-mail; asked for "
              "with --acme-ca none).")
@click.option("--admin-cidr", "admin_cidrs", multiple=True,
              help="A network that may reach the Kubernetes API (repeatable).")
@click.option("--model", "models", multiple=True, default=("llama3.2:3b",), show_default=True,
              help="A chat model, name:tag (repeatable).")
@click.option("--model-size", "model_sizes", multiple=True, metavar="NAME:TAG=GiB",
              help="Download size of a model (ollama_model_sizes), for an air-gapped server; "
              "otherwise the preflight reads it from the Ollama registry (repeatable).")
def init(path, address, ssh_user, ssh_key, webui_domain, monitor_domain, acme_ca, acme_email,
         admin_email, admin_cidrs, models, model_sizes):
    """Write a commented inventory for a new server, from flags or questions.

    On a terminal it asks for what the flags leave out; without one (a script, CI) it never
    asks, and fails naming a missing flag. Refuses to overwrite a file; validates what it
    writes. Example:

    \b
        appliance init inventories/mine.py --address 203.0.113.10 --ssh-user ubuntu \\
            --ssh-key ~/.ssh/id_ed25519 --webui-domain chat.example.com --monitor-domain monitor.example.com \\
            --acme-ca production --acme-email admin@example.com --admin-cidr 198.51.100.0/24
    """
    target = Path(path)
    if target.exists():
        raise click.ClickException(f"{path} exists; choose another name (init never overwrites)")
    address = _answer(address, "--address", "Server address (IP or DNS name)")
    if not _is_host_address(address):
        raise click.BadParameter(f"{address!r} is neither an IP address nor a host name; give "
                                 "one like 192.0.2.10 or server.example.com", param_hint="--address")
    ssh_user = _answer(ssh_user, "--ssh-user", "SSH user (root, or a user with sudo)", "ubuntu")
    webui_domain = _answer(webui_domain, "--webui-domain",
                           "Public name of Open WebUI (e.g. chat.example.com)")
    monitor_domain = _answer(monitor_domain, "--monitor-domain",
                             "Public name of the monitoring UI (e.g. monitor.example.com)")
    acme_ca = _answer(acme_ca, "--acme-ca", "Let's Encrypt CA", "production",
                      type=click.Choice(["production", "staging", "none"]))
    if acme_ca != "none":
        acme_email = _answer(acme_email, "--acme-email", "E-mail for Let's Encrypt")
    elif admin_email is None:
        # No ACME e-mail to fall back on: Open WebUI's first admin needs one of their own.
        admin_email = _answer(admin_email, "--admin-email",
                              "E-mail of Open WebUI's first admin account")
    sizes = _model_sizes(model_sizes)
    data = {"webui_domain": webui_domain, "monitor_domain": monitor_domain, "acme_ca": acme_ca,
            "acme_email": acme_email or None, "webui_admin_email": admin_email or None,
            "admin_cidrs": list(admin_cidrs), "ollama_models": list(models),
            "ollama_model_sizes": sizes, **({"ssh_key": ssh_key} if ssh_key else {})}
    try:
        settings = load(data)
    except SettingsError as error:
        raise click.ClickException("; ".join(error.problems)) from None
    _warn_of_the_reference_box(settings)
    if not target.parent.is_dir():
        raise click.ClickException(f"{target.parent} is not a folder: make it first, or write "
                                   "the inventory into one that exists (e.g. inventories/)")
    target.write_text(render_template(
        "inventory/inventory.py.j2", path=path, address=address, ssh_user=ssh_user,
        ssh_key=str(Path(ssh_key).expanduser().resolve()) if ssh_key else None,
        webui_domain=webui_domain, monitor_domain=monitor_domain, acme_ca=acme_ca,
        acme_email=acme_email, admin_email=admin_email, admin_cidrs=admin_cidrs, models=models,
        model_sizes=sizes,
    ))
    click.echo(f"wrote {path}; next: appliance check {path}, then pyinfra -y {path} deploy.py")


@main.command(context_settings={"ignore_unknown_options": True})
@INVENTORY
@DATA
@click.option("--layers", "layers", default=None,
              help="Layers to check, e.g. host,k3s (default: the inventory's layers).")
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
        raise click.BadParameter(f"{', '.join(unknown)} is not a layer; give some of "
                                 f"{','.join(LAYERS)}", param_hint="--layers")
    loaded = _load(inventory, data)
    chosen = chosen or list(loaded[0][1].layers)
    if {"k3s", "apps"} & set(chosen):
        # Each of their checks would fail on `k3s: command not found` (217 lines in all).
        missing = [node.name for node, _ in loaded if not _k3s_installed(inventory, node)]
        if missing:
            raise click.ClickException(
                f"k3s is not installed on {', '.join(missing)}: verify with --layers host")
    command = [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "tests/host"),
               f"--inventory={Path(inventory).resolve()}", "-p", "no:cacheprovider",
               *(f"--data={pair}" for pair in data), "-m", " or ".join(chosen), *pytest_args]
    sys.exit(subprocess.run(command, cwd=PROJECT_ROOT, env=project_environment()).returncode)


def _k3s_installed(inventory: str, node: InventoryHost) -> bool:
    """Whether the k3s binary is on the host; True when the host cannot be read (the suite
    then says, in its own one line, that it cannot reach it)."""
    result = on_host(inventory, node.name, "--json", "fact", pyinfra_name(K3sVersion),
                      f"path={K3S_BINARY}")
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
    loaded = _load(inventory, ())
    hosts = [node for node, _ in loaded]
    groups = {node.name: node.groups for node in hosts}
    first = hosts[first_server_index(groups)]
    healthy = True
    for node, settings in loaded:
        role = node_role(node.name, groups, {h.name: h.address for h in hosts}).role
        result = on_host(inventory, node.name, "--json", "fact",
                          pyinfra_name(health.ApplianceRead), f"domain={settings.webui_domain}",
                          "alarms=yes")
        try:
            (values,) = json.loads(result.stdout).values()
            read = values[node.name]
        except (ValueError, KeyError):
            read = None
        if not read:
            click.secho(f"{node.name}: unreachable: {last_error_line(result.stderr + result.stdout)}",
                        fg="red", err=True)
            healthy = False
            continue
        components = status_table.status_components(read, settings, role, node is first)
        click.echo(f"{node.name} ({role})")
        for line in status_table.table(components):
            click.echo(f"  {line}")
        unread = [layer for layer in ("k3s", "apps") if layer not in settings.layers]
        if unread:
            click.echo(f"  not read: {', '.join(unread)} (not in this inventory's layers: "
                       f"{','.join(settings.layers)})")
        healthy &= all(c.state in (component_state.READY, component_state.WARNING)
                       for c in components)
    # From appliance outdated's last run, never a request: status must not wait offline.
    from appliance import outdated as upstream  # requests after pyinfra_cli's gevent patching

    advisories = upstream.status_line(first_settings(loaded).k3s_version)
    if advisories:
        click.echo(advisories)
    sys.exit(0 if healthy else 1)


def first_settings(loaded: list[tuple[InventoryHost, Settings]]) -> Settings:
    """The first server's settings: the cluster's k3s_version."""
    return loaded[first_server_index({node.name: node.groups for node, _ in loaded})][1]


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
        lines, code = upstream.check_pins(first_settings(_load(inventory, ())).k3s_version)
    except upstream.CheckFailed as error:
        click.echo(f"appliance outdated: {error}", err=True)
        sys.exit(upstream.EXIT_UNCHECKED)
    click.echo("\n".join(lines))
    sys.exit(code)


def _exit_on_hangup(signum, frame):
    """Closing the terminal (SIGHUP) or a kill (SIGTERM) ends the run as Ctrl-C does, through
    the clean-up; a second signal meanwhile is ignored."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(128 + signum)


@main.command()
@click.option("--keep", is_flag=True, help="Keep the host running until Ctrl-C (or until the "
              "terminal closes).")
@click.option("--clean", is_flag=True, help="Only remove what earlier rehearsals left behind "
              "(containers, lla* namespaces, mounts, nft tables, folders); live ones stay.")
def rehearse(keep, clean):
    """Boot a local Debian 12 rehearsal host, deploy the host layer to it, and verify it.

    Needs a Linux machine with root and the packages of README.md's install command; the
    first run builds the host's root file system (minutes, printing debootstrap's stages). The
    quickest way to see the appliance work without a server. Whatever ends it (Ctrl-C, a
    closed terminal, SIGTERM), the host and everything made for it are removed; --clean
    removes what a killed run left.
    Example:

    \b
        appliance rehearse --keep     # as root
        appliance rehearse --clean    # as root
    """
    from appliance.leftovers import clean_leftovers
    from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost
    from appliance.rootfs import RehearsalError, check_requirements

    if clean and keep:
        raise click.UsageError("--clean only removes what earlier rehearsals left; run "
                               "--keep on its own")
    if clean:
        try:
            check_requirements()
        except RehearsalError as error:
            raise click.ClickException(str(error)) from None
        removed = clean_leftovers()
        click.echo("\n".join(removed) if removed else "no leftovers of earlier rehearsals")
        return
    signal.signal(signal.SIGHUP, _exit_on_hangup)
    signal.signal(signal.SIGTERM, _exit_on_hangup)
    try:
        rehearsal = RehearsalHost.boot()
    except RehearsalError as error:
        raise click.ClickException(str(error)) from None
    try:
        with rehearsal:
            inventory = rehearsal.write_inventory(
                rehearsal.workdir / "rehearsal.py", {**REHEARSAL_SETTINGS, "layers": "host"})
            click.echo(f"rehearsal host {rehearsal.address} ({rehearsal.name}, {rehearsal.workdir}) "
                       "is up; deploying the host layer")
            deploy = subprocess.run(
                [sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py"],
                cwd=PROJECT_ROOT, env=project_environment())
            if deploy.returncode != 0:
                raise click.ClickException("the deploy failed (see above)")
            suite = subprocess.run(
                [sys.executable, "-m", "pytest", "tests/host", f"--inventory={inventory}",
                 "-p", "no:cacheprovider", "-m", "host", "-q"], cwd=PROJECT_ROOT,
                env=project_environment())
            if keep:
                click.echo(f"inventory: {inventory}\nssh: ssh {' '.join(rehearsal.ssh_options())} "
                           f"root@{rehearsal.address}\nCtrl-C stops and removes the host.")
                try:
                    signal.pause()
                except KeyboardInterrupt:
                    pass
            if suite.returncode != 0:
                raise click.ClickException("the testinfra suite failed (see above)")
    finally:
        click.echo(f"rehearsal host {rehearsal.name} ({rehearsal.address}) removed", err=True)
    click.echo("rehearsal: the host layer converged and its testinfra suite passed")


if __name__ == "__main__":
    main()
