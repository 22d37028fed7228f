"""Benchmark: time of the host layer's first converge and of its no-op re-run.

Boots fresh rehearsal hosts (needs root, like the integration tests), deploys the host layer
to each, re-runs it, and prints the medians. Usage:

    python bench/host_layer.py [--hosts 3] [--reruns 3]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import click

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost, run_pyinfra


def _deploy(inventory: Path):
    run = run_pyinfra(inventory, "deploy.py")
    if run.returncode != 0 or run.totals["error"]:
        sys.exit(f"deploy failed:\n{run.stderr[-3000:]}")
    return run


@click.command()
@click.option("--hosts", default=3, show_default=True, help="Fresh hosts to converge.")
@click.option("--reruns", default=3, show_default=True, help="No-op re-runs per host.")
def main(hosts: int, reruns: int):
    first, rerun, changes = [], [], []
    for _ in range(hosts):
        with RehearsalHost.boot() as rehearsal, tempfile.TemporaryDirectory() as folder:
            inventory = rehearsal.write_inventory(
                Path(folder) / "bench.py", {**REHEARSAL_SETTINGS, "layers": "host"}
            )
            first.append(_deploy(inventory).seconds)
            for _ in range(reruns):
                run = _deploy(inventory)
                rerun.append(run.seconds)
                changes.append(run.totals["success"])
    print(f"host layer, first converge: median {statistics.median(first):.2f} s "
          f"(min {min(first):.2f}, max {max(first):.2f}, {len(first)} fresh hosts)")
    print(f"host layer, no-op re-run:   median {statistics.median(rerun):.2f} s "
          f"(min {min(rerun):.2f}, max {max(rerun):.2f}, {len(rerun)} runs, "
          f"changes reported: {sum(changes)})")


if __name__ == "__main__":
    main()
