"""`appliance backup`: the backup CronJob run now on the first server (operations/backup.py
backup_now), and the archive it made, optionally copied to this machine.

    appliance backup inventories/prod.py --fetch backups/
"""

from __future__ import annotations

from pathlib import Path

import click

from appliance.options import INVENTORY, first_server
from appliance.runner import fact, fetch_private, last_error_line, on_host, pyinfra_name
from operations import backup as backup_layer
from operations.facts import LatestBackup
from operations.names import BACKUP_DIR


@click.command()
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
    first, _ = first_server(inventory)
    result = on_host(inventory, first.name, pyinfra_name(backup_layer.backup_now))
    if result.returncode != 0:
        raise click.ClickException(
            f"the backup failed: {last_error_line(result.stdout + result.stderr)} "
            "(is the apps layer deployed?)"
        )
    archive = fact(inventory, first, LatestBackup, "the newest backup", folder=BACKUP_DIR)
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
