"""Benchmark: the platform's memory requests (everything but Ollama's models) on the 8 GB box.

Renders an inventory (default: inventories/prod.py) as the deploy would, reads the manifests,
and prints every container's request and limit (what the manifests ask for), the resident
memory measured where there is a measurement (Open WebUI, in tests/realapps), the platform
total of the requests, and what is left for models. Usage:

    python bench/memory_budget.py [INVENTORY] [--data ollama_gpu=nvidia]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
from click.testing import CliRunner

from appliance.budget import budget, markdown_table, measured, platform_request_gib
from appliance.cli import main as appliance
from operations.settings import (
    PLATFORM_MEMORY_GIB,
    REFERENCE_MEMORY_GIB,
    SYSTEM_MEMORY_GIB,
    weights_admitted_gib,
)


@click.command()
@click.argument("inventory", default="inventories/prod.py", type=click.Path(exists=True))
@click.option("--markdown", is_flag=True, help="Print README.md's budget table instead.")
@click.option("--data", "data", multiple=True, metavar="KEY=VALUE",
              help="Override a setting as the deploy does, e.g. --data ollama_gpu=nvidia.")
def main(inventory: str, markdown: bool, data: tuple[str, ...]):
    """Print the platform's memory requests and limits per container, and what is left for models.

    Renders INVENTORY as the deploy would (no host needed). Example:

    \b
        python bench/memory_budget.py inventories/prod.py --data ollama_gpu=nvidia
        python bench/memory_budget.py --markdown
    """
    with tempfile.TemporaryDirectory() as rendered:
        overrides = [arg for pair in data for arg in ("--data", pair)]
        result = CliRunner().invoke(appliance, ["render", inventory, "--out", rendered, *overrides])
        if result.exit_code != 0:
            sys.exit(result.output)
        entries = budget(Path(rendered))
    if markdown:
        print(markdown_table(entries))
        return
    print(f"{'component':<40} {'request':>10} {'limit':>10} {'measured':>13}")
    for entry in entries:
        limit = f"{entry.limit_mib:.0f} MiB" if entry.limit_mib else "-"
        note = " (init, not added)" if entry.init else ""
        print(f"{entry.component:<40} {entry.request_mib:>6.0f} MiB {limit:>10} "
              f"{measured(entry):>13}{note}")
    print("request and limit: what the manifests ask for; measured: resident memory read in "
          "tests/realapps (the real Open WebUI), not measured: no reading here")
    total = platform_request_gib(entries)
    print(f"platform requests: {total:.2f} GiB (the preflight counts {PLATFORM_MEMORY_GIB} GiB "
          "for the platform: PLATFORM_MEMORY_GIB)")
    print(f"models the preflight admits on the 8 GB box ({REFERENCE_MEMORY_GIB} GiB, "
          f"{SYSTEM_MEMORY_GIB:.2f} GiB of it system and k3s): up to "
          f"{weights_admitted_gib(REFERENCE_MEMORY_GIB):.1f} GiB of weights "
          "(operations/settings.py weights_admitted_gib)")


if __name__ == "__main__":
    main()
