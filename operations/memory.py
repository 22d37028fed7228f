"""Ollama's memory on a host without a GPU, from the measured memory model (model_memory) and
the settings: the request and limit of Ollama's pod, what the preflight asks of the host, and
the settings that would make a refused model fit. One source for the apps layer, the
preflight, `appliance init`'s warning and bench/memory_budget.py. All figures in MiB.

    ollama_mib(settings)             # Ollama's request and limit: server + models loaded together
    host_mib_needed(settings)        # the system, the platform's requests and Ollama's
    refusal(settings, mem_total_kib) # None where it fits, else one line with what would fit

The kube scheduler places a pod where the node's allocatable memory (MemTotal less the
kubelet's reservations) holds every pod's request; Ollama requests what it may use, so the
node reserves it, and its limit is that same figure.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

from operations.model_memory import MODEL_SHAPES, RUNNER_OVERHEAD_BYTES, ModelShape, resident_bytes
from operations.settings import Settings
from operations.sizing import (
    DEVICE_PLUGIN_REQUEST_MIB,
    KUBELET_EVICTION_MEMORY_MIB,
    KUBELET_KUBE_RESERVED_MIB,
    KUBELET_SYSTEM_RESERVED_MIB,
    MODEL_MEMORY_FACTOR,
    OLLAMA_GPU_HOST_MEMORY_GIB,
    OLLAMA_MAX_LOADED_MODELS,
    PLATFORM_REQUESTS_MIB,
)

MIB = 2**20
GIB = 2**30
# The Ollama server itself, beside its runners: the request the appliance gave Ollama's pod
# before issue 21 (the chart, otwld/ollama-helm 1.77.0 values.yaml, requests nothing). Not
# measured: Ollama cannot run here (no binary from the registries this project reaches).
OLLAMA_SERVER_MIB = 256
# What the kubelet keeps from pods (k3s config.yaml: system-reserved, kube-reserved and the
# eviction threshold, which the scheduler's allocatable leaves out too).
SYSTEM_MIB = KUBELET_SYSTEM_RESERVED_MIB + KUBELET_KUBE_RESERVED_MIB + KUBELET_EVICTION_MEMORY_MIB
# The library's smaller quantisation of a model of the table: the same shape, a smaller file.
# Tags of the Ollama library (registry.ollama.ai/library/NAME, not read here: no registry
# access); the preflight reads their size from the registry like any other model's.
SMALLER_QUANTISATION = {
    "llama3.1:8b": "llama3.1:8b-instruct-q3_K_M",
    "qwen2.5:7b": "qwen2.5:7b-instruct-q3_K_M",
}


@dataclass(frozen=True)
class Loaded:
    """One model as Ollama holds it on the CPU: `mib` resident (llama-server's file, KV cache,
    compute buffer and runner); `estimated` where the model's shape is not in the table, so its
    KV cache and buffers are a guess (the weights x MODEL_MEMORY_FACTOR, plus the runner)."""

    model: str
    mib: int
    causal: bool
    estimated: bool = False


def model_shape(settings: Settings, model: str) -> ModelShape | None:
    """The shape of `model`: the table's, with the size the settings know where they know one
    (the registry's, a GGUF file's); a tag of a table model's quantisation
    ("llama3.1:8b-instruct-q3_K_M") shares its shape with that size. None when neither."""
    size = settings.model_size(model)
    if size is None:
        return MODEL_SHAPES.get(model)
    file_bytes = round(size[0] * GIB)
    if model in MODEL_SHAPES:
        shape = MODEL_SHAPES[model]
        known = size[1] == "built-in table"
        return shape if known else dataclasses.replace(shape, file_bytes=file_bytes)
    for name, shape in MODEL_SHAPES.items():
        if model.startswith(f"{name}-") and file_bytes:
            return dataclasses.replace(shape, name=model, file_bytes=file_bytes)
    return None


def loaded(settings: Settings, model: str) -> Loaded:
    """`model` loaded with the settings' context, KV cache type, parallel slots and flash
    attention (Ollama v0.32.15 passes the embedding model parallel 1: server/sched.go load)."""
    shape = model_shape(settings, model)
    if shape is None:
        guess = settings.model_size_gib(model) * GIB * MODEL_MEMORY_FACTOR + RUNNER_OVERHEAD_BYTES
        return Loaded(model, math.ceil(guess / MIB), True, estimated=True)
    parallel = settings.ollama_num_parallel if shape.causal else 1
    needed = resident_bytes(
        shape,
        settings.ollama_context_length,
        settings.ollama_kv_cache_type,
        parallel,
        settings.ollama_flash_attention,
    )
    return Loaded(model, math.ceil(needed / MIB), shape.causal)


def loaded_together(settings: Settings) -> tuple[Loaded, ...]:
    """The models Ollama may hold at once: the OLLAMA_MAX_LOADED_MODELS largest (with one chat
    model, it and the embedding model), largest first."""
    every = sorted(
        (loaded(settings, model) for model in settings.models),
        key=lambda one: (-one.mib, one.model),
    )
    return tuple(every[:OLLAMA_MAX_LOADED_MODELS])


def ollama_mib(settings: Settings) -> int:
    """Ollama's memory request and limit on the CPU: the server, the models loaded together and
    each chat model's prompt cache (ollama_prompt_cache_mib; an embedding model keeps none)."""
    together = loaded_together(settings)
    caches = sum(settings.ollama_prompt_cache_mib for one in together if one.causal)
    return OLLAMA_SERVER_MIB + sum(one.mib for one in together) + caches


def gpu_host_mib(settings: Settings) -> int:
    """Ollama's RAM request and limit when its models are in GPU memory: the server with CUDA's
    host side (OLLAMA_GPU_HOST_MEMORY_GIB) and the loaded chat models' prompt caches."""
    caches = sum(
        settings.ollama_prompt_cache_mib for one in loaded_together(settings) if one.causal
    )
    return OLLAMA_GPU_HOST_MEMORY_GIB * 1024 + caches


def gpu_memory_needed_gib(settings: Settings) -> float:
    """GPU memory the largest model needs, loaded: its weights x MODEL_MEMORY_FACTOR (not
    measured on a GPU here)."""
    largest = settings.largest_model
    return largest[1] * MODEL_MEMORY_FACTOR if largest else 0.0


def host_mib_needed(settings: Settings, gpu: bool = False) -> int:
    """MemTotal, in MiB, the host needs: the system, the platform's requests and Ollama's (with
    `gpu`, Ollama's RAM beside the GPU)."""
    if gpu:
        return (
            SYSTEM_MIB + PLATFORM_REQUESTS_MIB + DEVICE_PLUGIN_REQUEST_MIB + gpu_host_mib(settings)
        )
    return SYSTEM_MIB + PLATFORM_REQUESTS_MIB + ollama_mib(settings)


def gpu_ram_refusal(settings: Settings, mem_total_kib: int) -> str | None:
    """With Ollama's models in GPU memory: None when a host with MemTotal `mem_total_kib` (KiB)
    holds the system, the platform, the device plugin and Ollama's RAM beside the GPU
    (host_mib_needed with `gpu`), else one line saying what it lacks."""
    needed = host_mib_needed(settings, gpu=True)
    if mem_total_kib // 1024 >= needed:
        return None
    return (
        f"the host has {mem_total_kib // 1024} MiB of RAM, the platform and Ollama beside "
        f"its GPU need {needed} MiB; use a larger host"
    )


def ollama_room_mib(mem_total_kib: int) -> int:
    """What a host with MemTotal `mem_total_kib` leaves Ollama, in MiB, after the system and
    the platform's requests: ``ollama_room_mib(8139012)`` is 5238."""
    return mem_total_kib // 1024 - SYSTEM_MIB - PLATFORM_REQUESTS_MIB


def unsized_warning(settings: Settings) -> str | None:
    """None when every model's size is known here, else one line naming the models whose size
    only the Ollama registry knows and the two fixes: `ollama_model_sizes`, or the online
    preflight, which reads the registry through the host (preflight.sized_settings). Until
    then `loaded` counts such a model as its runner alone, so offline figures leave it out."""
    unsized = settings.unsized_models
    if not unsized:
        return None
    names = " and ".join(unsized)
    sizes = ", ".join(f"{json.dumps(model)}: GIB" for model in unsized)
    one = len(unsized) == 1
    return (
        f"ollama_models: the size{'' if one else 's'} of {names} "
        f"{'is' if one else 'are'} not known offline (neither ollama_model_sizes, "
        "ollama_model_files nor the built-in table gives it), so Ollama's memory request and "
        f"limit and the reference box's check count nothing for {'it' if one else 'them'}: set "
        f"ollama_model_sizes to {'its' if one else 'their'} download size in GiB, e.g. --data "
        f"'ollama_model_sizes={{{sizes}}}', or run `appliance check` without --offline, which "
        f"reads {'it' if one else 'them'} from the Ollama registry through the host"
    )


# The smallest context the advice names: below it a conversation with Open WebUI's system and
# RAG prompts hardly fits.
SMALLEST_ADVISED_CONTEXT = 1024


def _smaller(settings: Settings) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """Settings that lower Ollama's memory, each with its values from the mildest change on (of
    the setting's own type: str or int); the contexts are the powers of two below the settings'
    context, largest first, down to SMALLEST_ADVISED_CONTEXT (8192 gives 4096, 2048, 1024)."""
    contexts, below = [], 2 ** (settings.ollama_context_length - 1).bit_length() // 2
    while below >= SMALLEST_ADVISED_CONTEXT:
        contexts.append(below)
        below //= 2
    return (
        ("ollama_kv_cache_type", ("q8_0", "q4_0")),
        ("ollama_prompt_cache_mib", (0,)),
        ("ollama_num_parallel", (1,)),
        ("ollama_context_length", tuple(contexts)),
    )


def fixes(settings: Settings, mem_total_kib: int) -> list[str]:
    """The fewest and mildest changes of _smaller's settings, as `name=value`, that make Ollama
    fit a host with MemTotal `mem_total_kib`; [] when even all of them do not (then a smaller
    model is the fix). Of the contexts, the largest that fits with the other changes."""
    room, need = ollama_room_mib(mem_total_kib), ollama_mib(settings)
    smaller = _smaller(settings)
    options = [
        [(name, None)]
        + [
            (name, value)
            for value in values
            if ollama_mib(dataclasses.replace(settings, **{name: value})) < need
        ]
        for name, values in smaller
    ]

    # Fewest settings changed first, then the mildest values (earlier in a setting's list), then
    # the settings earlier in _smaller (the KV cache type costs the least to change).
    def order(chosen):
        changed = [
            (knob, values.index(value))
            for knob, ((_, value), (_, values)) in enumerate(zip(chosen, smaller, strict=True))
            if value is not None
        ]
        return len(changed), sum(mildness for _, mildness in changed), sum(k for k, _ in changed)

    combinations = sorted(itertools.product(*options), key=order)
    for chosen in combinations:
        changed = {name: value for name, value in chosen if value is not None}
        if changed and ollama_mib(dataclasses.replace(settings, **changed)) <= room:
            return [f"{name}={value}" for name, value in changed.items()]
    return []


def refusal(settings: Settings, mem_total_kib: int, host: str = "the host") -> str | None:
    """None when Ollama's memory fits beside the system and the platform on a host with
    MemTotal `mem_total_kib` (KiB), else one line: what the models loaded together need, what
    `host` leaves them, and the settings or the smaller model that would fit."""
    need, room = ollama_mib(settings), ollama_room_mib(mem_total_kib)
    if need <= room:
        return None
    together = loaded_together(settings)
    models = " and ".join(
        f"{one.model} ({one.mib} MiB{', estimated: its shape is not in the table' if one.estimated else ''})"
        for one in together
    )
    knobs = (
        f"context {settings.ollama_context_length}, KV cache {settings.ollama_kv_cache_type}, "
        f"parallel {settings.ollama_num_parallel}, prompt cache "
        f"{settings.ollama_prompt_cache_mib} MiB"
    )
    ways = []
    found = fixes(settings, mem_total_kib)
    if found:
        ways.append("set " + ", ".join(found))
    largest = together[0].model
    if largest in SMALLER_QUANTISATION:
        ways.append(
            f"use the library's smaller quantisation {SMALLER_QUANTISATION[largest]} "
            "(same shape, smaller file)"
        )
    chat = [one.model for one in together if one.causal]
    if len(chat) > 1:
        ways.append(
            f"drop one of the chat models {' and '.join(chat)} from ollama_models (Ollama "
            f"holds the {OLLAMA_MAX_LOADED_MODELS} largest models together)"
        )
    ways.append("choose a smaller model or a host with more RAM")
    return (
        f"ollama_models: Ollama needs {need} MiB with {models} loaded together ({knobs}, "
        f"server {OLLAMA_SERVER_MIB} MiB); {host} leaves it {room} MiB of its "
        f"{mem_total_kib // 1024} MiB after the system ({SYSTEM_MIB} MiB) and the platform's "
        f"requests ({PLATFORM_REQUESTS_MIB} MiB), {need - room} MiB short: " + "; or ".join(ways)
    )


# The chat models README's table sizes on the reference box (each with the embedding model).
TABLE_MODELS = ("llama3.2:3b", "mistral:7b", "qwen2.5:7b", "llama3.1:8b")


def fit_table(settings: Settings, mem_total_kib: int) -> str:
    """README's table of what a host with MemTotal `mem_total_kib` takes: for each chat model of
    TABLE_MODELS with `settings`' embedding model and knobs, the model's MiB, Ollama's in all,
    and whether it fits or how much is missing (tests/unit/test_readme.py keeps README's copy
    true; regenerate with `python bench/memory_budget.py --fits`)."""
    room = ollama_room_mib(mem_total_kib)
    rows = [
        "| chat model | the model | Ollama in all | on the 8 GB box |",
        "| --- | --- | --- | --- |",
    ]
    for model in TABLE_MODELS:
        one = dataclasses.replace(settings, ollama_models=(model,))
        need = ollama_mib(one)
        short = SMALLER_QUANTISATION.get(model)
        verdict = (
            "fits"
            if need <= room
            else f"{need - room} MiB short"
            + (f": the library's `{short}`, or a larger box" if short else ": a larger box")
        )
        rows.append(f"| `{model}` | {loaded(one, model).mib} MiB | {need} MiB | {verdict} |")
    return "\n".join(rows)
