"""Benchmark: Lynis hardening index of a bare Debian 12 host, then after the host layer.

Boots a fresh rehearsal host (root needed), installs Lynis on it (for the audit only), audits,
deploys the host layer with its defaults, audits again, then once more with the opt-in
ssh_hardening, and prints the three indexes, then the points each Lynis test gained or lost
from one audit to the next. Usage:

    python bench/lynis.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from itertools import pairwise
from pathlib import Path

import click

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost
from appliance.rootfs import RehearsalError
from appliance.runner import run_pyinfra


def hardening_index(rehearsal: RehearsalHost) -> tuple[int, str]:
    report = rehearsal.ssh("lynis audit system --quick --no-colors 2>/dev/null", timeout=900).stdout
    index = re.search(r"Hardening index : (\d+)", report)
    if not index:
        raise click.ClickException(f"Lynis printed no hardening index: {report.strip()[-300:]!r}")
    warnings = re.search(r"Warnings \((\d+)\)", report)
    suggestions = re.search(r"Suggestions \((\d+)\)", report)
    detail = (
        f"{warnings.group(1) if warnings else 0} warnings, "
        f"{suggestions.group(1) if suggestions else 0} suggestions"
    )
    return int(index.group(1)), detail


def points_per_test(log: str) -> dict[str, tuple[int, int]]:
    """Hardening points (earned, possible) per Lynis test, summed from its log:
    `Performing test ID KRNL-6000` then `... partial number of hardening points (0 of 1)`
    or `... maximum number of hardening points for this item (1)` give {"KRNL-6000": (1, 2)}."""
    points: dict[str, tuple[int, int]] = {}
    test = "-"
    for line in log.splitlines():
        if started := re.search(r"Performing test ID (\S+)", line):
            test = started.group(1)
            continue
        if partial := re.search(r"partial number of hardening points \((\d+) of (\d+)\)", line):
            earned, possible = int(partial.group(1)), int(partial.group(2))
        elif full := re.search(r"maximum number of hardening points for this item \((\d+)\)", line):
            earned = possible = int(full.group(1))
        else:
            continue
        so_far = points.get(test, (0, 0))
        points[test] = (so_far[0] + earned, so_far[1] + possible)
    return points


def audit(rehearsal: RehearsalHost) -> tuple[int, str, dict[str, tuple[int, int]]]:
    index, detail = hardening_index(rehearsal)
    return index, detail, points_per_test(rehearsal.ssh("cat /var/log/lynis.log").stdout)


@click.command(help=__doc__)
def main() -> None:
    try:
        audits = audit_before_and_after()
    except RehearsalError as error:
        raise click.ClickException(str(error)) from None
    print_audits(audits)


def audit_before_and_after() -> list[tuple[str, int, str, dict[str, tuple[int, int]]]]:
    """The three audits on one fresh rehearsal host, each (label, index, detail, points per
    test), e.g. ``[("bare Debian 12", 62, "1 warnings, 20 suggestions", {"KRNL-6000": (1, 2)}),
    ("host layer (defaults)", ...), ("host layer + ssh_hardening", ...)]``."""
    with RehearsalHost.boot() as rehearsal, tempfile.TemporaryDirectory() as folder:
        rehearsal.ssh(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
            "apt-get install -y -qq lynis >/dev/null",
            timeout=900,
        )
        results = [("bare Debian 12", *audit(rehearsal))]
        for label, extra in (
            ("host layer (defaults)", {}),
            ("host layer + ssh_hardening", {"ssh_hardening": True}),
        ):
            inventory = rehearsal.write_inventory(
                Path(folder) / "lynis.py", {**REHEARSAL_SETTINGS, "layers": "host", **extra}
            )
            run = run_pyinfra(inventory, "deploy.py")
            if run.returncode != 0:
                sys.exit(f"deploy failed:\n{run.stderr[-3000:]}")
            results.append((label, *audit(rehearsal)))
    return results


def print_audits(results: list[tuple[str, int, str, dict[str, tuple[int, int]]]]) -> None:
    """The indexes, then the points per test that changed from one audit to the next, e.g.
    ``  KRNL-6000    1/2   ->   2/2   (+1 of +0)``."""
    for label, index, detail, _ in results:
        print(f"Lynis hardening index, {label:<28} {index:>3}  ({detail})")
    for (before_label, _, _, before), (label, _, _, after) in pairwise(results):
        print(f"\nPoints per test, {before_label} -> {label}:")
        for test in sorted(set(before) | set(after)):
            was, now = before.get(test, (0, 0)), after.get(test, (0, 0))
            if was != now:
                print(
                    f"  {test:<10} {was[0]:>3}/{was[1]:<3} -> {now[0]:>3}/{now[1]:<3} "
                    f"({now[0] - was[0]:+d} of {now[1] - was[1]:+d})"
                )


if __name__ == "__main__":
    main()
