"""Benchmark: time of the host layer's first converge and of its no-op re-run, and where it goes.

Boots fresh rehearsal hosts (needs root, like the integration tests), deploys the host layer
to each, re-runs it, and prints the medians, then a breakdown of one first converge and one
no-op re-run: Python start-up, SSH connect, and the time and count of remote commands per
operation and per fact (traced by bench/pyinfra_trace.py around the real run). Usage:

    python bench/host_layer.py [--hosts 3] [--reruns 3]

Side by side with k3s-ansible's `prereq` role on the same rehearsal host (a k3s-ansible checkout
and an ansible-core with the community.general and ansible.posix collections, both outside this
repository), alternating no-op runs, medians and their ratio:

    python bench/host_layer.py --ansible /tmp/k3s-ansible --ansible-bin /tmp/ansible-venv/bin

Example output (abridged)::

    host layer, no-op re-run:   median 1.02 s (min 0.98, max 1.10, 3 runs, changes reported: 0)
    no-op re-run breakdown: 1.05 s in all
      Python start-up (interpreter and imports)   0.38 s
      SSH connect                                 0.09 s   1
      remote commands and transfers               0.21 s  14
      ...
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import click

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost
from appliance.rootfs import RehearsalError
from appliance.runner import DeployRun, project_environment
from pyinfra_trace import run_traced

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class TracedRun:
    """A deploy run with its trace (see bench/pyinfra_trace.py)."""

    run: DeployRun
    trace: dict


def traced_deploy(inventory: Path, folder: Path) -> TracedRun:
    """Run the deploy as `pyinfra -y --json INVENTORY deploy.py` does, traced."""
    run, trace = run_traced(inventory, folder)
    if run.returncode != 0 or run.totals["error"]:
        sys.exit(f"deploy failed:\n{run.stderr[-3000:]}")
    return TracedRun(run, trace)


def python_start_up(repeat: int = 3) -> float:
    """Median seconds for a fresh interpreter to import pyinfra's CLI and the deploy's modules."""
    times = []
    for _ in range(repeat):
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", "import pyinfra_cli.main, operations.host, operations.apps"],
            cwd=PROJECT_ROOT,
            check=True,
            env=project_environment(),
        )
        times.append(time.monotonic() - started)
    return statistics.median(times)


def breakdown(title: str, traced: TracedRun, start_up: float) -> list[str]:
    """Lines saying where one run's time went."""
    events = traced.trace["events"]
    remote = [e for e in events if e["kind"] != "connect"]
    connects = [e for e in events if e["kind"] == "connect"]
    total = traced.run.seconds
    traced_total = traced.trace["ended"]
    remote_seconds = sum(e["seconds"] for e in remote)
    connect_seconds = sum(e["seconds"] for e in connects)

    def row(label: str, seconds: float, count: int | str = "") -> str:
        return f"  {label:<52} {seconds:6.2f} s {count:>4}"

    lines = [
        f"{title}: {total:.2f} s in all",
        row("Python start-up (interpreter and imports)", start_up),
        row("SSH connect", connect_seconds, len(connects)),
        row("remote commands and file transfers", remote_seconds, len(remote)),
        row(
            "local work (pyinfra, rendering, output)",
            max(0.0, traced_total - remote_seconds - connect_seconds),
        ),
        row("rest (interpreter start, exit)", max(0.0, total - traced_total)),
    ]
    for key, heading in (("operation", "per operation"), ("fact", "per fact")):
        groups: dict[str, list[float]] = defaultdict(list)
        for event in remote:
            name = event[key] or ("(before any operation)" if key == "operation" else None)
            if name:
                groups[name].append(event["seconds"])
        lines.append(f"  {heading} (seconds, remote commands and transfers):")
        for name, times in sorted(groups.items(), key=lambda item: -sum(item[1])):
            lines.append(row(f"  {name[:50]}", sum(times), len(times)))
    return lines


def _median_line(label: str, times: list[float], extra: str = "") -> str:
    return (
        f"{label}: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f}, {len(times)} runs{extra})"
    )


def _host_inventory(rehearsal: RehearsalHost, folder: Path) -> Path:
    return rehearsal.write_inventory(folder / "bench.py", {**REHEARSAL_SETTINGS, "layers": "host"})


def bench_host_layer(hosts: int, reruns: int) -> None:
    first, rerun, changes = [], [], []
    first_traced = rerun_traced = None
    for _ in range(hosts):
        with RehearsalHost.boot() as rehearsal, tempfile.TemporaryDirectory() as folder:
            inventory = _host_inventory(rehearsal, Path(folder))
            first_traced = traced_deploy(inventory, Path(folder))
            first.append(first_traced.run.seconds)
            for _ in range(reruns):
                rerun_traced = traced_deploy(inventory, Path(folder))
                rerun.append(rerun_traced.run.seconds)
                changes.append(rerun_traced.run.totals["success"])
    assert first_traced and rerun_traced  # --hosts and --reruns are at least 1
    start_up = python_start_up()
    print(_median_line("host layer, first converge", first, " on fresh hosts"))
    print(_median_line("host layer, no-op re-run  ", rerun, f", changes reported: {sum(changes)}"))
    print("\n".join(breakdown("first converge breakdown (last host)", first_traced, start_up)))
    print("\n".join(breakdown("no-op re-run breakdown (last run)", rerun_traced, start_up)))


def _ansible_run(
    checkout: Path, ansible_bin: Path, rehearsal: RehearsalHost, folder: Path
) -> tuple[float, str]:
    """One run of k3s-ansible's prereq role against the rehearsal host: (seconds, recap)."""
    playbook = folder / "prereq.yml"
    playbook.write_text(
        "- hosts: k3s_cluster\n  gather_facts: true\n  become: true\n  roles:\n    - role: prereq\n"
    )
    inventory = folder / "ansible-inventory.yml"
    ssh_args = f"-o UserKnownHostsFile={rehearsal.known_hosts} -o StrictHostKeyChecking=accept-new"
    inventory.write_text(
        json.dumps(
            {
                "k3s_cluster": {
                    "children": {
                        "server": {
                            "hosts": {
                                rehearsal.address: {
                                    "ansible_user": "root",
                                    "ansible_ssh_private_key_file": str(rehearsal.ssh_key),
                                    "ansible_ssh_common_args": ssh_args,
                                }
                            }
                        }
                    }
                }
            }
        )
    )
    # k3s-ansible's own ansible.cfg settings (pipelining on), roles from the checkout.
    env = dict(
        os.environ,
        ANSIBLE_ROLES_PATH=str(checkout / "roles"),
        ANSIBLE_PIPELINING="True",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_NOCOWS="1",
        ANSIBLE_LOCAL_TEMP=str(folder / "ansible-tmp"),
        ANSIBLE_FORCE_COLOR="0",
    )
    started = time.monotonic()
    result = subprocess.run(
        [str(ansible_bin / "ansible-playbook"), "-i", str(inventory), str(playbook)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=folder,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"ansible-playbook failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
    recap = result.stdout.rsplit("PLAY RECAP", 1)[-1].strip().splitlines()
    return seconds, recap[-1].strip() if recap else ""


def bench_against_ansible(checkout: Path, ansible_bin: Path, runs: int) -> None:
    ours, theirs = [], []
    with RehearsalHost.boot() as rehearsal, tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        inventory = _host_inventory(rehearsal, folder)
        first = traced_deploy(inventory, folder)
        ansible_first, recap = _ansible_run(checkout, ansible_bin, rehearsal, folder)
        print(
            f"first runs: host layer {first.run.seconds:.2f} s, "
            f"k3s-ansible prereq {ansible_first:.2f} s ({recap})"
        )
        changes = 0
        for _ in range(runs):
            run = traced_deploy(inventory, folder)
            ours.append(run.run.seconds)
            changes += run.run.totals["success"]
            seconds, recap = _ansible_run(checkout, ansible_bin, rehearsal, folder)
            theirs.append(seconds)
    print(_median_line("host layer no-op        ", ours, f", changes reported: {changes}"))
    print(_median_line("k3s-ansible prereq no-op", theirs, f", last recap: {recap}"))
    print(
        f"ratio host layer / k3s-ansible prereq (no-op medians): "
        f"{statistics.median(ours) / statistics.median(theirs):.2f}"
    )


@click.command()
@click.option(
    "--hosts",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Fresh hosts to converge.",
)
@click.option(
    "--reruns",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="No-op re-runs per host.",
)
@click.option(
    "--ansible",
    "checkout",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A k3s-ansible checkout: run its prereq role side by side instead.",
)
@click.option(
    "--ansible-bin",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=lambda: str(Path(sys.executable).parent),
    show_default="this Python's",
    help="Folder holding ansible-playbook.",
)
@click.option("--runs", default=5, show_default=True, help="Alternating no-op runs with --ansible.")
def main(hosts: int, reruns: int, checkout: Path | None, ansible_bin: Path, runs: int):
    """Time the host layer's first converge and no-op re-run on fresh rehearsal hosts (root).

    Prints the medians and where the time goes; with --ansible, k3s-ansible's prereq role side
    by side instead. Example:

    \b
        python bench/host_layer.py --hosts 3 --reruns 3
        python bench/host_layer.py --ansible /tmp/k3s-ansible --ansible-bin /tmp/ansible-venv/bin
    """
    try:
        if checkout:
            bench_against_ansible(checkout, ansible_bin, runs)
        else:
            bench_host_layer(hosts, reruns)
    except RehearsalError as error:
        raise click.ClickException(str(error)) from None


if __name__ == "__main__":
    main()
