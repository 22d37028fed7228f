"""Stop a run before it changes anything: validate the settings, then check the host itself.

``checked_settings()`` runs while pyinfra plans (it reads facts, changes nothing); on a problem
it prints one message, a line per problem naming the setting or the host's shortfall and the
fix, and ends the run with exit status 1, before any host is changed. On its own::

    pyinfra inventories/prod.py operations.preflight.check
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from types import MappingProxyType

from pyinfra import host, inventory, logger
from pyinfra.api import deploy
from pyinfra.facts.hardware import Cpus
from pyinfra.facts.server import Arch, LinuxDistribution

from operations.cluster import cluster_problems
from operations.errors import stop
from operations.fact_batch import batch_reads, fact_key, read_fact
from operations.facts import K3sNetworks, K3sVersion
from operations.gpu import gpu_choice, gpu_problems
from operations.gpu_facts import NvidiaGpus
from operations.host_facts import DiskSpace, FileState, ListeningTcpPorts, MemTotal, SshServerPort
from operations.memory import (
    gpu_memory_needed_gib,
    gpu_ram_refusal,
    loaded_together,
    refusal,
    unsized_warning,
)
from operations.names import HOST_SYSCTL_FILE, K3S_BINARY, LAYERS
from operations.ollama_facts import OLLAMA_REGISTRY, OllamaModelDownload
from operations.settings import Settings, SettingsError, load
from operations.sizing import (
    APPLIANCE_PORT_HOLDERS,
    APPLIANCE_PORTS,
    MIN_CPUS,
    REFERENCE_CPUS,
    REFERENCE_MEM_TOTAL_KIB,
    SUPPORTED_ARCHITECTURES,
    SUPPORTED_OS,
)

RANCHER_DIR = "/var/lib/rancher"
KIB_PER_GIB = 1024 * 1024
# The NvidiaGpus fact of a host without an NVIDIA GPU.
NO_GPU = {
    "pci_devices": [],
    "gpus": [],
    "driver_problem": "nvidia-smi is not installed (no NVIDIA driver)",
}
GIB = 1024**3
REGISTRY_SOURCE = f"{OLLAMA_REGISTRY}, read from the host"
# What the preflight reports of each host besides its problems, each line starting so
# (`appliance check` shows these lines of pyinfra's output, and nothing else of it).
GPU_REPORT, SIZES_REPORT = "Ollama: ", "model sizes: "


def settings_or_stop() -> Settings:
    """The current host's validated settings."""
    try:
        return load(host.data.dict())
    except SettingsError as error:
        stop(error.problems, f"the settings of {host.name} need fixing")


def host_problems(
    settings: Settings,
    distribution: dict,
    arch: str,
    cpus: int,
    mem_total_kib: int,
    disk: dict,
    listening: dict[int, set[str]],
    gpus: dict = NO_GPU,
    size_sources: dict[str, str] | None = None,
) -> list[str]:
    """What keeps this host from running the appliance as set; empty when it can. `gpus` is
    the NvidiaGpus fact: with a GPU in use, the model's weights go to GPU memory. A model's
    size is named with where it comes from (`size_sources`, model -> source)."""
    problems = gpu_problems(settings.ollama_gpu, gpus)
    name, version = distribution.get("name"), _os_version(distribution)
    # name: None for a distribution pyinfra does not know.
    if version not in SUPPORTED_OS.get(name or "", ()):
        supported = "; ".join(f"{os} {', '.join(v)}" for os, v in SUPPORTED_OS.items())
        problems.append(
            f"operating system {name} {version} is not supported; install one of: {supported}"
        )
    if arch not in SUPPORTED_ARCHITECTURES:
        problems.append(
            f"architecture {arch} is not supported; k3s and the images need one of: "
            f"{', '.join(SUPPORTED_ARCHITECTURES)}"
        )

    if cpus < MIN_CPUS:
        problems.append(
            f"the host has {cpus} CPU; the appliance needs at least {MIN_CPUS} (the reference "
            f"server has {REFERENCE_CPUS} vCPU): choose a larger host"
        )

    choice = gpu_choice(settings.ollama_gpu, gpus)
    if choice.use:
        problems += _gpu_fit_problems(settings, choice, mem_total_kib)
    else:
        problem = refusal(settings, mem_total_kib)
        if problem:
            largest = loaded_together(settings)[0].model
            source = (size_sources or {}).get(largest)
            problems.append(problem + (f" (size of {largest}: {source})" if source else ""))

    disk_gib = (disk["free_kib"] + disk["used_by_path_kib"]) / KIB_PER_GIB
    if disk_gib < settings.disk_needed_gib:
        problems.append(
            f"ollama_models: {RANCHER_DIR} (on {disk['mount']}) has {disk_gib:.1f} GiB for the "
            f"appliance, which needs {settings.disk_needed_gib:.1f} GiB with its models; "
            "free or add disk space, or choose fewer models"
        )

    for port in APPLIANCE_PORTS:
        holders = listening.get(port, set()) - set(APPLIANCE_PORT_HOLDERS)
        if holders:
            problems.append(
                f"port {port} is held by {', '.join(sorted(holders))}; the appliance serves it: "
                "stop and disable that service, then run again"
            )
    return problems


def layer_problems(layers: tuple[str, ...], host_layer_ran: bool, k3s_installed: bool) -> list[str]:
    """A layer whose prerequisite is neither among `layers` nor on the host already: the apps
    layer runs on k3s (`k3s_installed`: its binary is there), the k3s layer on what the host
    layer installs and sets (curl, kernel parameters k3s's protect-kernel-defaults asks for;
    `host_layer_ran`: its kernel parameters' file is there). One problem naming the fix, e.g.
    ``layer_problems(("apps",), True, False)`` gives ["layers = apps: k3s is not installed on
    this host (the apps layer runs on it); deploy with --data layers=k3s,apps"]."""
    reasons, needed = [], set(layers)
    if "apps" in layers and "k3s" not in layers and not k3s_installed:
        reasons.append("k3s is not installed on this host (the apps layer runs on it)")
        needed.add("k3s")
    if "k3s" in needed and "host" not in layers and not host_layer_ran:
        reasons.append(
            "the host layer has not run on this host (the k3s layer needs its packages, "
            "such as curl, and kernel parameters)"
        )
        needed.add("host")
    if not reasons:
        return []
    wanted = [layer for layer in LAYERS if layer in needed]
    every = " (every layer: the default, when layers is left out)" if wanted == list(LAYERS) else ""
    return [
        f"layers = {','.join(layers)}: {'; '.join(reasons)}; deploy with "
        f"--data layers={','.join(wanted)}{every}"
    ]


def reference_box_warning(settings: Settings) -> str | None:
    """The preflight's refusal (operations/memory.py refusal) on the 8 GB reference box, whose
    MemTotal is REFERENCE_MEM_TOTAL_KIB, before any host is read; while a model's size is
    known only to the registry, the line that says so (memory.unsized_warning); None when the
    models fit there or run on a GPU."""
    unsized = unsized_warning(settings)
    if unsized or settings.ollama_gpu == "nvidia":
        return unsized
    return refusal(settings, REFERENCE_MEM_TOTAL_KIB, host="the 8 GB reference box")


def k3s_network_problems(settings: Settings, running: dict[str, str]) -> list[str]:
    """k3s keeps the pod and service networks it started with: a change on a host that runs
    k3s (``running``: its config.yaml's networks) would only move the firewall off the pods."""
    problems = []
    for setting, key in (
        ("k3s_cluster_cidr", "cluster-cidr"),
        ("k3s_service_cidr", "service-cidr"),
    ):
        wanted = getattr(settings, setting)
        if running.get(key) and running[key] != wanted:
            problems.append(
                f"{setting} = {wanted!r}, but k3s on this host runs with {running[key]}, and k3s "
                f"keeps the networks it started with; set {setting} back to {running[key]!r}, or "
                "uninstall (uninstall.py) and deploy again"
            )
    return problems


def _gpu_fit_problems(settings: Settings, choice, mem_total_kib: int) -> list[str]:
    """With a GPU, the weights go to GPU memory and the host's RAM holds the rest."""
    problems = []
    gpu_gib = choice.largest_gpu_mib / 1024
    largest = settings.largest_model
    needed_gpu_gib = gpu_memory_needed_gib(settings)
    if largest and gpu_gib < needed_gpu_gib:
        problems.append(
            f"ollama_models: with the GPU, model weights go to GPU memory: {largest[0]} "
            f"({largest[1]:.1f} GiB of weights) needs {needed_gpu_gib:.1f} GiB, "
            f"the GPU has {gpu_gib:.1f} GiB ({choice.reason}); choose a smaller model, or "
            "ollama_gpu: none to run it on the CPU"
        )
    ram = gpu_ram_refusal(settings, mem_total_kib)
    return problems + ([ram] if ram else [])


def _os_version(distribution: dict) -> str:
    if distribution.get("name") == "Ubuntu":
        return f"{distribution.get('major')}.{distribution.get('minor') or 0:02d}"
    return str(distribution.get("major"))


def sized_settings(
    settings: Settings, download: Callable[[str], dict]
) -> tuple[Settings, dict[str, str], list[str]]:
    """Every model sized: the settings with the registry's size (`download(model)` gives
    {"bytes": N} or {"error": LINE}) of each model neither they nor the built-in table size;
    where each size comes from; and a problem per model whose size cannot be found."""
    found, sources, problems = {}, {}, []
    for model in settings.models:
        known = settings.model_size(model)
        if known:
            sources[model] = known[1]
            continue
        answer = download(model)
        if "bytes" in answer:
            found[model] = answer["bytes"] / GIB
            sources[model] = REGISTRY_SOURCE
        else:
            problems.append(
                f"ollama_models: the size of {model} is not known: the host could not read it "
                f"from {OLLAMA_REGISTRY} ({answer['error']}); on an air-gapped host add it to "
                f"ollama_model_sizes in GiB, e.g. {{{json.dumps(model)}: 4.5}}"
            )
    if found:
        settings = dataclasses.replace(
            settings, ollama_model_sizes=MappingProxyType({**found, **settings.ollama_model_sizes})
        )
    return settings, sources, problems


def check_host_or_stop(settings: Settings) -> Settings:
    """Check the host against what the settings ask for, from facts (read-only); say whether
    Ollama runs on a GPU here, and why, and each model's size and its source. Returns the
    settings with every model's size (read from the registry where only it knows it). The
    host's facts are read in one round trip, with the SSH port the host layer keeps open."""
    reads = {
        "distribution": fact_key(LinuxDistribution),
        "arch": fact_key(Arch),
        "cpus": fact_key(Cpus),
        "mem_total_kib": fact_key(MemTotal),
        "disk": fact_key(DiskSpace, path=RANCHER_DIR),
        "listening": fact_key(ListeningTcpPorts),
    }
    batch_reads(
        host,
        fact_key(NvidiaGpus),
        fact_key(K3sNetworks),
        *reads.values(),
        fact_key(SshServerPort),
        fact_key(FileState, path=HOST_SYSCTL_FILE),
        fact_key(K3sVersion, path=K3S_BINARY),
    )
    gpus = read_fact(host, NvidiaGpus)
    choice = gpu_choice(settings.ollama_gpu, gpus)
    # Only where it matters: Ollama is the apps layer's; the host layer's part is the NVIDIA
    # Container Toolkit, on a host whose GPU Ollama uses.
    if "apps" in settings.layers or choice.use:
        weights = "; model weights in GPU memory" if choice.use else ""
        logger.info(f"{host.print_prefix}{GPU_REPORT}{choice.reason}{weights}")
    problems = layer_problems(
        settings.layers,
        host_layer_ran=read_fact(host, FileState, path=HOST_SYSCTL_FILE) is not None,
        k3s_installed=read_fact(host, K3sVersion, path=K3S_BINARY) is not None,
    )
    sources: dict[str, str] = {}
    if "apps" in settings.layers:
        settings, sources, size_problems = sized_settings(
            settings, lambda model: host.get_fact(OllamaModelDownload, model=model)
        )
        problems += size_problems
        logger.info(
            f"{host.print_prefix}{SIZES_REPORT}"
            + ", ".join(
                f"{model} {settings.model_size_gib(model):.2f} GiB ({sources[model]})"
                for model in settings.models
                if model in sources
            )
        )
    problems += host_problems(
        settings,
        **{
            name: read_fact(host, fact, **dict(arguments))
            for name, (fact, arguments) in reads.items()
        },
        gpus=gpus,
        size_sources=sources,
    )
    problems += k3s_network_problems(settings, read_fact(host, K3sNetworks))
    if problems:
        stop(problems, f"{host.name} cannot run the appliance as set")
    return settings


def checked_settings() -> Settings:
    """The current host's settings, validated, with the host checked against them."""
    settings = settings_or_stop()
    if "k3s" in settings.layers:
        problems = cluster_problems({node.name: node.groups for node in inventory})
        if problems:
            stop(problems, "the inventory's k3s cluster needs fixing")
    return check_host_or_stop(settings)


@deploy("Preflight")
def check():
    checked_settings()
