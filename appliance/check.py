"""`appliance check`: the settings validated, then each host checked over SSH by the
preflight (operations/preflight.py, run through pyinfra), changing nothing.

    appliance check inventories/prod.py
    appliance check inventories/prod.py --offline
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import click

from appliance.options import DATA, INVENTORY, load_hosts, warn_of_the_reference_box
from appliance.runner import connection_hint, last_error_line, project_environment, pyinfra_name
from operations import preflight
from operations.rendering import PROJECT_ROOT


@click.command()
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
