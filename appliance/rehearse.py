"""`appliance rehearse`: a local rehearsal host (appliance/rehearsal.py) booted, the host layer
deployed to it and its testinfra suite run; `--keep` leaves it up until Ctrl-C, `--clean`
removes what killed runs left (appliance/leftovers.py).

    appliance rehearse --keep     # as root
"""

from __future__ import annotations

import signal
import subprocess
import sys

import click

from appliance.leftovers import clean_leftovers
from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost
from appliance.rootfs import RehearsalError, check_requirements
from appliance.runner import project_environment
from operations.rendering import PROJECT_ROOT


def _exit_on_hangup(signum, frame):
    """Closing the terminal (SIGHUP) or a kill (SIGTERM) ends the run as Ctrl-C does, through
    the clean-up; a second signal meanwhile is ignored."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(128 + signum)


@click.command()
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the host running until Ctrl-C (or until the terminal closes).",
)
@click.option(
    "--clean",
    is_flag=True,
    help="Only remove what earlier rehearsals left behind "
    "(containers, lla* namespaces, mounts, nft tables, folders); live ones stay.",
)
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
    if clean and keep:
        raise click.UsageError(
            "--clean only removes what earlier rehearsals left; run --keep on its own"
        )
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
                rehearsal.workdir / "rehearsal.py", {**REHEARSAL_SETTINGS, "layers": "host"}
            )
            click.echo(
                f"rehearsal host {rehearsal.address} ({rehearsal.name}, {rehearsal.workdir}) "
                "is up; deploying the host layer"
            )
            deploy = subprocess.run(
                [sys.executable, "-m", "pyinfra", "-y", str(inventory), "deploy.py"],
                cwd=PROJECT_ROOT,
                env=project_environment(),
            )
            if deploy.returncode != 0:
                raise click.ClickException("the deploy failed (see above)")
            suite = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "tests/host",
                    f"--inventory={inventory}",
                    "-p",
                    "no:cacheprovider",
                    "-m",
                    "host",
                    "-q",
                ],
                cwd=PROJECT_ROOT,
                env=project_environment(),
            )
            if keep:
                click.echo(
                    f"inventory: {inventory}\nssh: ssh {' '.join(rehearsal.ssh_options())} "
                    f"root@{rehearsal.address}\nCtrl-C stops and removes the host."
                )
                try:
                    signal.pause()
                except KeyboardInterrupt:
                    pass
            if suite.returncode != 0:
                raise click.ClickException("the testinfra suite failed (see above)")
    finally:
        click.echo(f"rehearsal host {rehearsal.name} ({rehearsal.address}) removed", err=True)
    click.echo("rehearsal: the host layer converged and its testinfra suite passed")
