"""`appliance restore`: a backup archive back into Open WebUI, or the whole appliance rebuilt on a
new server from the off-site repository, the steps in the order they run.

Each step is one pyinfra run on the first server, its operation named by import
(runner.pyinfra_name: `offsite.password_restored`, `backup.restore_archive`, pyinfra's
`server.shell`) or the deploy file `deploy.py` with `--data layers=...`. They are not one deploy
file run once, because pyinfra plans every operation of a run before it executes any (pyinfra
3.10 pyinfra_cli/cli.py _main: every deploy file is loaded in the Prepare stage, through
_prepare_deploy_operations and load_deploy_file, then `state.set_stage(StateStage.Execute)` and
`run_ops`), and later steps plan on what earlier ones did: the k3s layer plans its repair of
the restored datastore only where files/offsite.sh restore left RESTORED_FILE
(operations/k3s.py install: `health.latest_read(settings).get("restored")`,
operations/markers.py), and the archive Open WebUI's data comes from is the one the snapshot
brought (LatestBackup, read after it). A run per step also prints each step's line as it ends
and names the step that failed.

    appliance restore inventories/prod.py backups/llm-appliance-20261124-033000.tar --yes
    appliance restore inventories/prod.py --from-repository --password-file restic-password --yes
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import click
from pyinfra.operations import server

from appliance.options import DATA, INVENTORY, first_server
from appliance.runner import fact, last_error_line, on_host, pyinfra_name
from operations import backup as backup_layer
from operations import offsite
from operations.facts import LatestBackup
from operations.names import BACKUP_DIR

# What --from-repository accepts: "latest", or a snapshot ID of 8 to 64 hex digits.
SNAPSHOT_RE = re.compile(r"latest|[0-9a-f]{8,64}")


@click.command()
@INVENTORY
@click.argument("archive", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--from-repository",
    "snapshot",
    is_flag=False,
    flag_value="latest",
    default=None,
    metavar="[SNAPSHOT]",
    help="Disaster recovery onto a fresh server from the off-site repository "
    "(backup_repository): the snapshot's ID, or the latest without one.",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False),
    help="With --from-repository: a file holding the repository's password "
    "(`appliance backup-password` printed it); asked on a terminal otherwise.",
)
@click.option(
    "--yes",
    is_flag=True,
    help="Replace Open WebUI's data without asking (needed without a terminal).",
)
@DATA
def restore(inventory, archive, snapshot, password_file, yes, data):
    """Restore a backup archive, or (--from-repository) the whole appliance onto a new server.

    With ARCHIVE: Open WebUI stops, its database and uploads are replaced by the archive's,
    checked here first (one `appliance backup` made); on a failure the restore Job's files are
    removed and Open WebUI starts again.

    With --from-repository, on a fresh server at the inventory's address (the first server): the
    repository's password goes to the server (mode 0600), then the host layer, the snapshot's
    k3s datastore and token, the k3s layer (the lost server's node and volumes removed), the
    apps layer with the restored Secrets, Open WebUI's data from the snapshot's archive, and
    the readiness gate. Models are pulled again. Give the same --data as the deploy had: the
    settings and each of the restore's deploys read it. Examples:

    \b
        appliance restore inventories/prod.py backups/llm-appliance-20261124-033000.tar --yes
        appliance restore inventories/prod.py --from-repository --password-file restic-password --yes
        appliance restore inventories/prod.py --from-repository 4f1c2a9b --yes
    """
    if snapshot is not None:
        if archive:
            raise click.UsageError("give an ARCHIVE or --from-repository, not both")
        restore_from_repository(inventory, data, snapshot, password_file, yes)
        return
    if archive is None:
        raise click.UsageError(
            "give an ARCHIVE (appliance backup --fetch made it), or "
            "--from-repository to rebuild a lost server"
        )
    restore_archive(inventory, archive, yes)


def restore_archive(inventory: str, archive: str, yes: bool) -> None:
    """appliance restore INVENTORY ARCHIVE: the archive checked here, then one pyinfra run of
    backup.restore on the first server (upload, Open WebUI stopped, the restore Job, Open
    WebUI started again)."""
    if not Path(archive).is_file():
        raise click.UsageError(f"{archive}: no such file")
    problem = backup_layer.archive_problem(archive)
    if problem:
        raise click.ClickException(
            f"{archive} is not an appliance backup: {problem}; give an archive that "
            "`appliance backup` made (files/backup.sh)"
        )
    _confirmed(
        yes, "restore replaces Open WebUI's data", "Replace Open WebUI's data with the archive's?"
    )
    first, _ = first_server(inventory)
    result = on_host(
        inventory,
        first.name,
        pyinfra_name(backup_layer.restore),
        f"archive={Path(archive).resolve()}",
    )
    if result.returncode != 0:
        raise click.ClickException(
            f"the restore failed: {last_error_line(result.stdout + result.stderr)}"
        )
    click.echo(f"restored {archive} on {first.name}")


def restore_from_repository(
    inventory: str, data: tuple[str, ...], snapshot: str, password_file: str | None, yes: bool
):
    """appliance restore --from-repository, step by step in the order they run (see the module's
    docstring for why each is a pyinfra run of its own): each step one line; a failure names
    its step and the server's own line."""
    if not SNAPSHOT_RE.fullmatch(snapshot):
        raise click.UsageError(
            f"--from-repository {snapshot!r}: give a snapshot ID (hex, as "
            "`restic snapshots` shows it) or nothing for the latest"
        )
    first, settings = first_server(inventory, data)
    if not settings.backup_repository:
        raise click.ClickException(
            f"{first.name}: backup_repository is not set in {inventory}; "
            "set it as it was on the lost server"
        )
    _confirmed(
        yes,
        "a restore from the repository replaces the server's k3s datastore and Open WebUI's data",
        f"Rebuild {first.name} from the off-site repository?",
    )
    password = _repository_password(password_file)

    def step(title: str, *arguments: str) -> None:
        # The deploy's --data first: a step's own (layers=...) comes after it, and wins.
        given = [arg for pair in data for arg in ("--data", pair)]
        result = on_host(inventory, first.name, *given, *arguments)
        if result.returncode != 0:
            raise click.ClickException(
                f"{title}: failed: {last_error_line(result.stdout + result.stderr)}"
            )

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
    step(
        "off-site restore",
        pyinfra_name(server.shell),
        f"commands={offsite.SCRIPT} restore {snapshot}",
    )
    archive = fact(inventory, first, LatestBackup, "the newest backup", folder=BACKUP_DIR)
    if not archive:
        raise click.ClickException(
            f"off-site restore: failed: no archive in {BACKUP_DIR} on "
            f"{first.name} after the restore"
        )
    click.echo(
        f"off-site restore: snapshot {snapshot}: the k3s datastore and token in place, "
        f"Open WebUI's archive {archive}"
    )
    layer(
        "k3s",
        "k3s runs on the restored datastore; what it held of the lost server "
        "(node, volumes) removed",
    )
    if "apps" in settings.layers:
        layer("apps", "converged with the restored Secrets (models are pulled again)")
        step(
            "Open WebUI's data",
            pyinfra_name(backup_layer.restore_archive),
            f"archive_name={Path(archive).name}",
        )
        click.echo(f"Open WebUI's data: restored from {Path(archive).name}")
        step("ready", "deploy.py", "--data", "layers=apps")
        click.echo("ready: the apps layer's readiness gate passed")
    click.echo(f"restored {first.name} from the off-site repository")


def _repository_password(password_file: str | None) -> str:
    """The repository's password: from --password-file, else asked (hidden) on a terminal."""
    if password_file:
        password = Path(password_file).read_text().strip()
    elif sys.stdin.isatty():
        password = click.prompt(
            "Off-site repository password (appliance backup-password printed it)", hide_input=True
        ).strip()
    else:
        raise click.UsageError(
            "--password-file is missing, and there is no terminal to ask on: "
            "give the file holding the repository's password"
        )
    if not password:
        where = f" in {password_file}" if password_file else ""
        raise click.UsageError(
            f"the repository's password is empty{where}: give the one "
            "`appliance backup-password` printed"
        )
    return password


def _confirmed(yes: bool, flag_missing: str, question: str) -> None:
    """Go on with --yes, or after a yes on a terminal; without a terminal, fail naming --yes."""
    if not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"--yes is missing, and there is no terminal to ask on: "
                f"{flag_missing}; confirm with --yes"
            )
        click.confirm(question, abort=True)
