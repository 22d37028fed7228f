"""`appliance kubeconfig`, `admin-password`, `monitor-password` and `backup-password`: what the
deploy generated on the first server and keeps only there, read over SSH.

    appliance admin-password inventories/prod.py
"""

from __future__ import annotations

from pathlib import Path

import click
from pyinfra.facts.files import FileContents

from appliance.options import INVENTORY, first_server
from appliance.runner import fact, fetch_private
from operations import k3s as k3s_layer
from operations import offsite
from operations.facts import KubernetesSecretValue
from operations.names import (
    BASIC_AUTH_SECRET,
    BASIC_AUTH_USER,
    MONITORING_NAMESPACE,
    NAMESPACE,
    WEBUI_SECRETS,
)


@click.command()
@INVENTORY
@click.option(
    "--out",
    "out_file",
    default="kubeconfig.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the kubeconfig (mode 0600).",
)
def kubeconfig(inventory, out_file):
    """Fetch the cluster's kubeconfig from the first server, for kubectl on this machine.

    The server URL is rewritten from 127.0.0.1 to the server's address; the API answers only
    to the networks in admin_cidrs. Example:

    \b
        appliance kubeconfig inventories/prod.py --out ~/.kube/appliance.yaml
        KUBECONFIG=~/.kube/appliance.yaml kubectl get nodes
    """
    first, _ = first_server(inventory)
    target = fetch_private(
        inventory, first, k3s_layer.KUBECONFIG_FILE, Path(out_file), "is the k3s layer deployed?"
    )
    target.write_text(
        target.read_text().replace("https://127.0.0.1:6443", f"https://{first.address}:6443")
    )
    click.echo(f"wrote {target} (server https://{first.address}:6443)")


def _secret_or_fail(inventory: str, namespace: str, secret: str, key: str) -> tuple:
    first, settings = first_server(inventory)
    value = fact(
        inventory,
        first,
        KubernetesSecretValue,
        f"the Secret {namespace}/{secret}",
        namespace=namespace,
        secret=secret,
        key=key,
    )
    if not value:
        raise click.ClickException(f"no {secret} on {first.name}: is the apps layer deployed?")
    return settings, value


@click.command("admin-password")
@INVENTORY
def admin_password(inventory):
    """Print the e-mail and password of Open WebUI's first admin account.

    The password was generated on the server at the first deploy and lives only there, in a
    Kubernetes Secret; this reads it over SSH. Example:

    \b
        appliance admin-password inventories/prod.py
    """
    settings, password = _secret_or_fail(inventory, NAMESPACE, WEBUI_SECRETS, "admin-password")
    click.echo(f"Open WebUI: https://{settings.webui_domain}/")
    click.echo(f"e-mail:     {settings.admin_email}")
    click.echo(f"password:   {password}")


@click.command("monitor-password")
@INVENTORY
def monitor_password(inventory):
    """Print the user and password that open the Netdata monitoring UI.

    Generated on the server at the first deploy; read from it over SSH. Example:

    \b
        appliance monitor-password inventories/prod.py
    """
    settings, password = _secret_or_fail(
        inventory, MONITORING_NAMESPACE, BASIC_AUTH_SECRET, "password"
    )
    click.echo(f"Netdata:  https://{settings.monitor_domain}/")
    click.echo(f"user:     {BASIC_AUTH_USER}")
    click.echo(f"password: {password}")


@click.command("backup-password")
@INVENTORY
def backup_password(inventory):
    """Print the password of the off-site backup repository (backup_repository).

    The first server made it at the first deploy with a backup_repository, and it lives only
    there: keep a copy somewhere else, for a restore onto a new server needs it. Example:

    \b
        appliance backup-password inventories/prod.py
    """
    first, _ = first_server(inventory)
    lines = fact(inventory, first, FileContents, offsite.PASSWORD_FILE, path=offsite.PASSWORD_FILE)
    password = "".join(lines or [])
    if not password:
        raise click.ClickException(
            f"no off-site backup password on {first.name}: is backup_repository set and deployed?"
        )
    click.echo(password)
