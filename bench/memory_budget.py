"""Benchmark: the memory requests of the rendered appliance on the 8 GB box.

Renders an inventory (default: inventories/prod.py) as the deploy would, reads the manifests,
and prints every container's request and limit (what the manifests ask for), the resident
memory measured where there is a measurement (Open WebUI, in tests/realapps), the platform's
total of the requests, Ollama's request (the models loaded together, operations/memory.py) and
whether the preflight admits them on the reference box; with ollama_gpu nvidia, what the
preflight checks there instead: the host's RAM, and the GPU memory the largest model needs
(the GPU's own, only the host knows). Usage:

    python bench/memory_budget.py [INVENTORY] [--data ollama_gpu=nvidia]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
from click.testing import CliRunner

from appliance.budget import budget, markdown_table, measured, requests_gib
from appliance.cli import main as appliance
from appliance.options import load_hosts
from operations.memory import (
    TABLE_MODELS,
    fit_table,
    gpu_host_mib,
    gpu_memory_needed_gib,
    gpu_ram_refusal,
    host_mib_needed,
    loaded_together,
    ollama_mib,
    ollama_room_mib,
    refusal,
    unsized_warning,
)
from operations.settings import Settings
from operations.sizing import (
    DEVICE_PLUGIN_REQUEST_MIB,
    MODEL_MEMORY_FACTOR,
    PLATFORM_REQUESTS_MIB,
    REFERENCE_MEM_TOTAL_KIB,
)


@click.command()
@click.argument("inventory", default="inventories/prod.py", type=click.Path(exists=True))
@click.option("--markdown", is_flag=True, help="Print README.md's budget table instead.")
@click.option(
    "--fits",
    is_flag=True,
    help=(
        "Print README.md's table of what the 8 GB box takes instead: its chat models "
        f"({', '.join(TABLE_MODELS)}), always, with the settings' embedding model and knobs; "
        "ollama_models is not read."
    ),
)
@click.option(
    "--data",
    "data",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a setting as the deploy does, e.g. --data ollama_gpu=nvidia.",
)
def main(inventory: str, markdown: bool, fits: bool, data: tuple[str, ...]):
    """Print the platform's memory requests and limits per container, and what is left for models.

    Renders INVENTORY (default: inventories/prod.py, of the folder it runs in) as the deploy
    would (no host needed). Example:

    \b
        python bench/memory_budget.py inventories/prod.py --data ollama_gpu=nvidia
        python bench/memory_budget.py --markdown
        python bench/memory_budget.py --fits
    """
    # As `appliance check` reads them, never with a traceback: a bad setting is one line naming
    # it and the fix (exit 1), a malformed --data a usage error (exit 2).
    settings = load_hosts(inventory, data)[0][1]
    if fits:
        print(fit_table(settings, REFERENCE_MEM_TOTAL_KIB))
        return
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
        print(
            f"{entry.component:<40} {entry.request_mib:>6.0f} MiB {limit:>10} "
            f"{measured(entry):>13}{note}"
        )
    print(
        "request and limit: what the manifests ask for; measured: resident memory read in "
        "tests/realapps (the real Open WebUI), not measured: no reading here"
    )
    summary = gpu_summary if settings.ollama_gpu == "nvidia" else cpu_summary
    for line in summary(settings, requests_gib(entries)):
        print(line)


def cpu_summary(settings: Settings, total_gib: float) -> list[str]:
    """What the preflight checks on a host without a GPU: the models in RAM."""
    models = ", ".join(
        f"{one.model} {one.mib} MiB"
        + (" (its runner only: size not known)" if one.model in settings.unsized_models else "")
        for one in loaded_together(settings)
    )
    return [
        f"requests: {total_gib:.2f} GiB in all, of which the platform (all but Ollama) "
        f"{PLATFORM_REQUESTS_MIB} MiB (operations/sizing.py PLATFORM_REQUESTS_MIB)",
        f"Ollama's request and limit (CPU): {ollama_mib(settings)} MiB, with {models} loaded "
        "together (operations/memory.py)",
        f"on the 8 GB reference box (MemTotal {REFERENCE_MEM_TOTAL_KIB} kB) Ollama has "
        f"{ollama_room_mib(REFERENCE_MEM_TOTAL_KIB)} MiB: "
        + (
            unsized_warning(settings)
            or refusal(settings, REFERENCE_MEM_TOTAL_KIB)
            or "the preflight admits these models"
        ),
    ]


def gpu_summary(settings: Settings, total_gib: float) -> list[str]:
    """What the preflight checks with ollama_gpu nvidia (operations/preflight.py
    _gpu_fit_problems): the host's RAM for the platform, the device plugin and Ollama's RAM
    beside the GPU, and the largest model against the GPU's memory, which only the host knows."""
    largest = settings.largest_model or ("", 0.0)
    gpu_gib = gpu_memory_needed_gib(settings)
    return [
        f"requests: {total_gib:.2f} GiB in all, of which the platform (all but Ollama) "
        f"{PLATFORM_REQUESTS_MIB + DEVICE_PLUGIN_REQUEST_MIB} MiB (operations/sizing.py "
        f"PLATFORM_REQUESTS_MIB {PLATFORM_REQUESTS_MIB} and the NVIDIA device plugin's "
        f"DEVICE_PLUGIN_REQUEST_MIB {DEVICE_PLUGIN_REQUEST_MIB})",
        f"Ollama's request and limit (GPU): {gpu_host_mib(settings)} MiB of RAM, the server and "
        "CUDA's host side with any prompt cache; its models load into the GPU's memory, where "
        f"the largest, {largest[0]}, needs {gpu_gib:.1f} GiB (its {largest[1]:.1f} GiB of "
        f"weights x {MODEL_MEMORY_FACTOR}) (operations/memory.py)",
        f"on the 8 GB reference box (MemTotal {REFERENCE_MEM_TOTAL_KIB} kB) the host needs "
        f"{host_mib_needed(settings, gpu=True)} MiB of RAM: "
        + (
            unsized_warning(settings)
            or gpu_ram_refusal(settings, REFERENCE_MEM_TOTAL_KIB)
            or "the preflight admits that RAM"
        ),
        f"the GPU's memory: the preflight reads it on the host (nvidia-smi), this offline bench "
        f"cannot; the GPU must hold {gpu_gib:.1f} GiB for {largest[0]}",
    ]


if __name__ == "__main__":
    main()
