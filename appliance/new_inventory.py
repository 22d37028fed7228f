"""`appliance init`: a commented inventory for a new server, from flags or, on a terminal,
questions; validated before it is written, never over a file.

    appliance init inventories/mine.py --address 203.0.113.10 ...
"""

from __future__ import annotations

import ipaddress
import re
import sys
from pathlib import Path

import click

from appliance.options import warn_of_the_reference_box
from operations.rendering import render as render_template
from operations.settings import SettingsError, load


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
                f"--model-size {pair!r}: use NAME:TAG=GiB, e.g. mymodel:7b=4.5"
            ) from None
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


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--address", help="The server to deploy to (IP or DNS name).")
@click.option(
    "--ssh-user", help="User pyinfra logs in as: root, or a user with sudo [default: ubuntu]."
)
@click.option(
    "--ssh-key",
    type=click.Path(dir_okay=False),
    help="Private key pyinfra logs in with (ssh_key) [default: your SSH agent and ~/.ssh keys].",
)
@click.option("--webui-domain", help="webui_domain, e.g. chat.example.com")
@click.option("--monitor-domain", help="monitor_domain, e.g. monitor.example.com")
@click.option(
    "--acme-ca",
    type=click.Choice(["production", "staging", "none"]),
    help="acme_ca [default: production].",
)
@click.option("--acme-email", help="acme_email (not asked with --acme-ca none).")
@click.option(
    "--admin-email",
    help="webui_admin_email (default: the ACME e-mail; asked for with --acme-ca none).",
)
@click.option(
    "--admin-cidr",
    "admin_cidrs",
    multiple=True,
    help="A network that may reach the Kubernetes API (repeatable).",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    default=("llama3.2:3b",),
    show_default=True,
    help="A chat model, name:tag (repeatable).",
)
@click.option(
    "--model-size",
    "model_sizes",
    multiple=True,
    metavar="NAME:TAG=GiB",
    help="Download size of a model (ollama_model_sizes), for an air-gapped server; "
    "otherwise the preflight reads it from the Ollama registry (repeatable).",
)
def init(
    path,
    address,
    ssh_user,
    ssh_key,
    webui_domain,
    monitor_domain,
    acme_ca,
    acme_email,
    admin_email,
    admin_cidrs,
    models,
    model_sizes,
):
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
        raise click.BadParameter(
            f"{address!r} is neither an IP address nor a host name; give "
            "one like 192.0.2.10 or server.example.com",
            param_hint="--address",
        )
    ssh_user = _answer(ssh_user, "--ssh-user", "SSH user (root, or a user with sudo)", "ubuntu")
    webui_domain = _answer(
        webui_domain, "--webui-domain", "Public name of Open WebUI (e.g. chat.example.com)"
    )
    monitor_domain = _answer(
        monitor_domain,
        "--monitor-domain",
        "Public name of the monitoring UI (e.g. monitor.example.com)",
    )
    acme_ca = _answer(
        acme_ca,
        "--acme-ca",
        "Let's Encrypt CA",
        "production",
        type=click.Choice(["production", "staging", "none"]),
    )
    if acme_ca != "none":
        acme_email = _answer(acme_email, "--acme-email", "E-mail for Let's Encrypt")
    elif admin_email is None:
        # No ACME e-mail to fall back on: Open WebUI's first admin needs one of their own.
        admin_email = _answer(
            admin_email, "--admin-email", "E-mail of Open WebUI's first admin account"
        )
    if not admin_cidrs and sys.stdin.isatty():
        # Asked, not required: without one the Kubernetes API answers on the server only, and
        # `appliance kubeconfig` gives a file that cannot reach it from here.
        answer = click.prompt(
            "Network allowed to reach the Kubernetes API, as CIDR (e.g. 198.51.100.0/24; "
            "empty: kubectl on the server only)",
            default="",
            show_default=False,
        )
        admin_cidrs = tuple(answer.replace(",", " ").split())
    sizes = _model_sizes(model_sizes)
    data = {
        "webui_domain": webui_domain,
        "monitor_domain": monitor_domain,
        "acme_ca": acme_ca,
        "acme_email": acme_email or None,
        "webui_admin_email": admin_email or None,
        "admin_cidrs": list(admin_cidrs),
        "ollama_models": list(models),
        "ollama_model_sizes": sizes,
        **({"ssh_key": ssh_key} if ssh_key else {}),
    }
    try:
        settings = load(data)
    except SettingsError as error:
        raise click.ClickException("; ".join(error.problems)) from None
    warn_of_the_reference_box(settings)
    if not target.parent.is_dir():
        raise click.ClickException(
            f"{target.parent} is not a folder: make it first, or write "
            "the inventory into one that exists (e.g. inventories/)"
        )
    target.write_text(
        render_template(
            "inventory/inventory.py.j2",
            path=path,
            address=address,
            ssh_user=ssh_user,
            ssh_key=str(Path(ssh_key).expanduser().resolve()) if ssh_key else None,
            webui_domain=webui_domain,
            monitor_domain=monitor_domain,
            acme_ca=acme_ca,
            acme_email=acme_email,
            admin_email=admin_email,
            admin_cidrs=admin_cidrs,
            models=models,
            model_sizes=sizes,
        )
    )
    click.echo(f"wrote {path}; next: appliance check {path}, then pyinfra -y {path} deploy.py")
