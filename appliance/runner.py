"""Running pyinfra from this checkout, and reading what it printed: one command, fact or deploy
file on one host of an inventory (the `appliance` commands), a whole `--json` run (the tests and
benchmarks), and the line that says why a run failed.

Operations and facts are passed as the objects themselves and named for pyinfra's command line
by `pyinfra_name`, so that a renamed or moved one fails at import, here, not on a server.

    on_host("inventories/prod.py", "203.0.113.10", pyinfra_name(backup.backup_now))
    fact("inventories/prod.py", node, LatestBackup, "the newest backup", folder=BACKUP_DIR)
    # '/var/backups/llm-appliance/llm-appliance-20261124-033000.tar'
    run_pyinfra(Path("rehearsal.py"), "deploy.py").totals  # {'success': 41, 'error': 0, ...}
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click

from appliance.inventory import InventoryHost
from operations.rendering import PROJECT_ROOT

# pyinfra's command line takes its own operations and facts without these prefixes, and any
# other by its module path (pyinfra 3.10 pyinfra_cli/commands.py get_func_and_args and
# get_facts_and_args: try_import_module_attribute(name, prefix="pyinfra.operations" or
# "pyinfra.facts")): `files.get`, `files.FileContents`, `operations.backup.restore`.
PYINFRA_PREFIXES = ("pyinfra.operations.", "pyinfra.facts.")


def pyinfra_name(target) -> str:
    """How pyinfra's command line names an operation, a deploy function or a fact class:
    ``pyinfra_name(backup.restore)`` gives 'operations.backup.restore',
    ``pyinfra_name(files.FileContents)`` 'files.FileContents'."""
    name = f"{target.__module__}.{target.__qualname__}"
    for prefix in PYINFRA_PREFIXES:
        name = name.removeprefix(prefix)
    return name


def project_environment() -> dict[str, str]:
    """The environment for a subprocess that must import this checkout's code, whichever
    checkout `pip install -e` pointed at last."""
    path = os.environ.get("PYTHONPATH")
    root = str(PROJECT_ROOT)
    return dict(os.environ, PYTHONPATH=f"{root}{os.pathsep}{path}" if path else root)


def on_host(inventory: str, limit: str, *arguments: str) -> subprocess.CompletedProcess:
    """Run pyinfra on one host of the inventory, from the project, capturing its output:
    ``on_host(inventory, "203.0.113.10", "deploy.py", "--data", "layers=host")``."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pyinfra",
            "-y",
            str(Path(inventory).resolve()),
            "--limit",
            limit,
            *arguments,
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=project_environment(),
    )


def fact(inventory: str, node: InventoryHost, fact_class, what: str, **arguments: str):
    """One fact of one host (``fact_class``: a pyinfra fact, e.g. ``files.FileContents``),
    through `pyinfra --json ... fact`; None if the host has no such value. A host pyinfra
    cannot reach fails naming it and ``what`` was read, in the user's words: `could not read
    /etc/llm-appliance/backup/restic-password on 203.0.113.10: Could not connect (...)`."""
    name = pyinfra_name(fact_class)
    result = on_host(
        inventory,
        node.name,
        "--json",
        "fact",
        name,
        *(f"{key}={value}" for key, value in arguments.items()),
    )
    if result.returncode != 0:
        raise click.ClickException(
            f"could not read {what} on {node.name}: "
            f"{last_error_line(result.stderr + result.stdout)}"
        )
    try:
        (values,) = json.loads(result.stdout).values()  # {"<fact> (<arguments>)": {host: value}}
        return values[node.name]
    except (ValueError, KeyError):
        return None


def fetch_private(inventory: str, node: InventoryHost, src: str, target: Path, hint: str) -> Path:
    """Copy a file from a host to `target` with mode 0600, readable by nobody else on the way
    (it lands in a private folder beside the target first)."""
    from pyinfra.operations import files

    target = target.expanduser()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as private:  # mode 0700
        fetched = Path(private) / target.name
        result = on_host(
            inventory, node.name, pyinfra_name(files.get), f"src={src}", f"dest={fetched}"
        )
        if result.returncode != 0 or not fetched.exists():
            raise click.ClickException(
                f"could not read {src} on {node.name}: {hint} "
                f"({last_error_line(result.stderr + result.stdout)})"
            )
        fetched.chmod(0o600)
        os.replace(fetched, target)
    return target


def last_error_line(output: str) -> str:
    """The line that says why a pyinfra run failed: the last line a host printed (its
    command's own error, e.g. `sh: 1: /usr/local/bin/k3s: not found`), not pyinfra's summary
    (`No hosts remaining!`); else the last line that names an error. A run the preflight
    stopped gives its reason and first problem, e.g. `stopped before changing anything:
    203.0.113.10 cannot run the appliance as set: operating system Debian 11 is not supported`."""
    stopped = re.search(r"llm-appliance: (stopped before changing anything: .+)\n\s+- (.+)", output)
    if stopped:
        return f"{stopped[1]}: {stopped[2]}"
    printed = [line.strip() for line in re.findall(r"^\s+\[[^\]]+\] (.+)$", output, re.M)]
    printed = [
        line
        for line in printed
        if line and not line.startswith(("Error: executed", ">>>", "Success", "No changes"))
    ]
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "rror" in line or "No such file" in line]
    return (printed or errors or lines or ["no output"])[-1]


# What to check, by the words of pyinfra's or paramiko's error for a host it could not reach
# (pyinfra 3.10 pyinfra/connectors/ssh.py: "Could not resolve hostname", "Could not connect",
# "SSH error", "Authentication error"; paramiko 4.0: "Invalid private key file", "Error reading
# SSH protocol banner").
CONNECTION_HINTS = (
    (("resolve hostname",), "the host's address in the inventory does not resolve: check it"),
    (
        ("Authentication", "private key", "No authentication methods", "Permission denied"),
        "pyinfra could not log in: set ssh_user and ssh_key in the inventory "
        "(appliance init --ssh-key)",
    ),
    (
        ("Unable to connect", "Connection refused", "timed out", "banner", "Could not connect"),
        "nothing answered SSH there: check that the server is up, reachable from here, and "
        "running sshd on its address and port (ssh_port)",
    ),
)


def connection_hint(error: str) -> str:
    """What to check for a host pyinfra could not reach, by its error line:
    ``connection_hint("Could not resolve hostname (...)")`` says to check the address."""
    return next(
        (hint for words, hint in CONNECTION_HINTS if any(w in error for w in words)),
        "check the host's address, ssh_user and ssh_key in the inventory",
    )


@dataclass
class DeployRun:
    """A finished `pyinfra ... --json` run: exit status, output, and totals per result."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def operations(self) -> list[dict]:
        return json.loads(self.stdout)["results"]["operations"]

    @property
    def totals(self) -> dict[str, int]:
        totals = {"success": 0, "error": 0, "no_change": 0}
        for operation in self.operations:
            for result in totals:
                totals[result] += len(operation[result])
        return totals

    @property
    def changed(self) -> list[str]:
        """Names of the operations that changed a host."""
        return [operation["name"] for operation in self.operations if operation["success"]]


def run_pyinfra(inventory: Path, *args: str, timeout: float = 900) -> DeployRun:
    """Run pyinfra from the project root, as a user would, with JSON results on stdout.
    A `--dry` run detects changes (pyinfra skips that with `-y`); any other run executes."""
    started = time.monotonic()
    confirm = [] if "--dry" in args else ["-y"]
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", *confirm, "--json", str(inventory), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=project_environment(),
    )
    return DeployRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)
