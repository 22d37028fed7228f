"""Benchmark: Lynis hardening index of a bare Debian 12 host, then after the host layer.

Boots a fresh rehearsal host (root needed), installs Lynis on it (for the audit only), audits,
deploys the host layer with its defaults, audits again, then once more with the opt-in
ssh_hardening, and prints the three indexes. Usage:

    python bench/lynis.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost, run_pyinfra


def hardening_index(rehearsal: RehearsalHost) -> tuple[int, str]:
    report = rehearsal.ssh("lynis audit system --quick --no-colors 2>/dev/null", timeout=900).stdout
    index = re.search(r"Hardening index : (\d+)", report)
    warnings = re.search(r"Warnings \((\d+)\)", report)
    suggestions = re.search(r"Suggestions \((\d+)\)", report)
    detail = (f"{warnings.group(1) if warnings else 0} warnings, "
              f"{suggestions.group(1) if suggestions else 0} suggestions")
    return int(index.group(1)), detail


def main() -> None:
    with RehearsalHost.boot() as rehearsal, tempfile.TemporaryDirectory() as folder:
        rehearsal.ssh("apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                      "apt-get install -y -qq lynis >/dev/null", timeout=900)
        results = [("bare Debian 12", *hardening_index(rehearsal))]
        for label, extra in (("host layer (defaults)", {}),
                             ("host layer + ssh_hardening", {"ssh_hardening": True})):
            inventory = rehearsal.write_inventory(
                Path(folder) / "lynis.py", {**REHEARSAL_SETTINGS, "layers": "host", **extra})
            run = run_pyinfra(inventory, "deploy.py")
            if run.returncode != 0:
                sys.exit(f"deploy failed:\n{run.stderr[-3000:]}")
            results.append((label, *hardening_index(rehearsal)))
    for label, index, detail in results:
        print(f"Lynis hardening index, {label:<28} {index:>3}  ({detail})")


if __name__ == "__main__":
    main()
