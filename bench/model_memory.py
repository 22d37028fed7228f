"""Benchmark: the RAM a model takes in Ollama's runner on a CPU, measured against
operations/model_memory.py's prediction. Usage:

    sudo .venv/bin/python bench/model_memory.py [--model NAME] [--context N] [--kv-type T]
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from harness.llama_runner import Architecture, LlamaServer, gguf_cache, write_gguf
from operations.model_memory import (
    KV_BYTES_PER_ELEMENT,
    MIB,
    MODEL_SHAPES,
    ollama_batch,
    resident_bytes,
)

# The library files' shapes (operations/model_memory.py MODEL_SHAPES has their sources), with
# what else a synthetic file of the same size needs: the vocabulary, embedding and
# feed-forward lengths from the same GGUF headers (ARCH.vocab_size or the token list's length,
# ARCH.embedding_length, ARCH.feed_forward_length, ARCH.context_length).
ARCHITECTURES = {
    "llama3.1:8b": Architecture(
        "llama",
        "Q4_K_M",
        128256,
        4096,
        14336,
        32,
        32,
        8,
        131072,
        file_bytes=4_920_738_944,
        rope_freqs=True,
    ),
    "mistral:7b": Architecture(
        "llama", "Q4_0", 32768, 4096, 14336, 32, 32, 8, 32768, file_bytes=4_113_289_152
    ),
    "qwen2.5:7b": Architecture(
        "qwen2",
        "Q4_K_M",
        152064,
        3584,
        18944,
        28,
        28,
        4,
        32768,
        file_bytes=4_683_073_952,
        qkv_bias=True,
    ),
    "llama3.2:3b": Architecture(
        "llama",
        "Q4_K_M",
        128256,
        3072,
        8192,
        28,
        24,
        8,
        131072,
        file_bytes=2_019_377_376,
        tied_output=True,
        rope_freqs=True,
    ),
    "nomic-embed-text:latest": Architecture(
        "nomic-bert", "F16", 30522, 768, 3072, 12, 12, 12, 2048, file_bytes=274_290_656
    ),
}
MODELS = tuple(ARCHITECTURES)
# The margin the prediction may keep above the measurement (issue 21), in MiB.
MARGIN_MIB = 256
STEP_MIB = 64


@dataclass
class Row:
    model: str
    context: int
    kv_type: str
    predicted_mib: int
    request_tokens: int = 2
    measured_mib: float | None = None
    under_prediction: str = "-"
    smallest_mib: int | None = None
    buffers: dict[str, float] = field(default_factory=dict)

    def cells(self) -> list[str]:
        measured = f"{self.measured_mib:.0f}" if self.measured_mib is not None else "-"
        margin = (
            f"{self.predicted_mib - self.measured_mib:+.0f}"
            if self.measured_mib is not None
            else "-"
        )
        smallest = f"{self.smallest_mib}" if self.smallest_mib else "-"
        return [
            self.model,
            str(self.context),
            self.kv_type,
            str(self.predicted_mib),
            str(self.request_tokens),
            measured,
            margin,
            self.under_prediction,
            smallest,
        ]


HEADER = [
    "model",
    "context",
    "KV",
    "predicted MiB",
    "request tokens",
    "measured MiB",
    "margin",
    "limit = predicted",
    "smallest working limit MiB",
]


def _model_file(model: str) -> Path:
    return write_gguf(ARCHITECTURES[model], gguf_cache() / f"{model.replace(':', '-')}.gguf")


def _loads(
    model: str,
    context: int,
    kv_type: str,
    flash_attention: bool,
    tokens: int,
    limit_mib: int | None,
) -> tuple[int, dict] | None:
    """(peak resident bytes, buffers) of a load and one request under `limit_mib`; None when
    the kernel killed it."""
    causal = ARCHITECTURES[model].causal
    with LlamaServer.start(
        _model_file(model),
        context,
        kv_type,
        1,
        causal=causal,
        limit_bytes=limit_mib * MIB if limit_mib else None,
        flash_attention=flash_attention,
    ) as server:
        if server.process.poll() is None:
            try:
                server.ask(tokens)
            except OSError:
                pass
        if server.process.poll() is not None:
            if server.oom_killed():
                return None
            sys.exit(
                f"llama-server exited ({server.process.returncode}) on {model}: "
                f"{server.log_tail(3)}"
            )
        return server.peak_bytes(), server.buffers()


def measure(
    model: str, context: int, kv_type: str, flash_attention: bool, fill: bool, smallest: bool
) -> Row:
    """Load `model` under a limit equal to the prediction, then (with `smallest`) find the
    smallest limit, in steps of 64 MiB up from the measured peak, that loads and answers."""
    shape = MODEL_SHAPES[model]
    # In whole MiB rounded up, as operations/memory.py gives Ollama's limit: the limit it runs under.
    predicted = math.ceil(resident_bytes(shape, context, kv_type, 1, flash_attention) / MIB)
    row = Row(
        model,
        context,
        kv_type if flash_attention else f"{kv_type}, no flash attention",
        predicted,
        fill_tokens(context, shape.causal) if fill else 2,
    )
    loaded = _loads(model, context, kv_type, flash_attention, row.request_tokens, predicted)
    if loaded is None:
        row.under_prediction = "OOM-killed"
        loaded = _loads(model, context, kv_type, flash_attention, row.request_tokens, None)
        if loaded is None:
            raise SystemExit(
                f"{model} did not load even without a memory limit (OOM-killed): "
                "run this on a machine with more memory"
            )
    else:
        row.under_prediction = "loads, answers"
    row.measured_mib, row.buffers = loaded[0] / MIB, loaded[1]
    if smallest:
        limit = math.ceil(row.measured_mib / STEP_MIB) * STEP_MIB
        while _loads(model, context, kv_type, flash_attention, row.request_tokens, limit) is None:
            limit += STEP_MIB
        row.smallest_mib = limit
    return row


@click.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    type=click.Choice(MODELS),
    default=MODELS,
    show_default=True,
    help="A model of the table (repeat for several).",
)
@click.option(
    "--context",
    "contexts",
    multiple=True,
    type=click.IntRange(256),
    default=(4096, 8192),
    show_default=True,
    help="Context length in tokens, Ollama's num_ctx (repeat).",
)
@click.option(
    "--kv-type",
    "kv_types",
    multiple=True,
    type=click.Choice(tuple(KV_BYTES_PER_ELEMENT)),
    default=("f16", "q8_0"),
    show_default=True,
    help="KV cache type (repeat).",
)
@click.option(
    "--flash-attention/--no-flash-attention",
    default=True,
    show_default=True,
    help="Flash attention as Ollama's default on a CPU, or off (OLLAMA_FLASH_ATTENTION=0; "
    "f16 KV only: llama.cpp needs it for a quantised V cache).",
)
@click.option(
    "--fill",
    is_flag=True,
    help="Ask with a prompt that fills the context (every buffer in use; ~3 minutes "
    "for llama3.2:3b at 4096 on 2 cores, 10 or more for a 7B model) instead of "
    "two tokens.",
)
@click.option(
    "--smallest",
    is_flag=True,
    help="Also find the smallest working memory limit (64 MiB steps; more loads).",
)
@click.option("--markdown", is_flag=True, help="Print the table as Markdown (README.md's).")
def main(models, contexts, kv_types, flash_attention, fill, smallest, markdown):
    """Measure the resident memory of each model in llama-server, as Ollama runs it on a CPU,
    against operations/model_memory.py's prediction.

    Runs Debian forky's llama-server (a root built with debootstrap, cached) on GGUF files of
    the library models' shapes with random weights (written once, cached under
    ~/.cache/llm-appliance/gguf: 16 GB for all five), each in a memory cgroup limited to the
    prediction, and prints model, context, KV type, predicted and measured MiB. One model at a
    time: the largest needs 6 GiB of free RAM. Needs root. Example:

    \b
        python bench/model_memory.py --model llama3.2:3b --context 4096 --kv-type f16
    """
    if os.geteuid() != 0:
        sys.exit(
            "bench/model_memory.py needs root (debootstrap, chroot, memory cgroups); "
            "run it with sudo"
        )
    if not flash_attention and set(kv_types) != {"f16"}:
        sys.exit(
            "--no-flash-attention needs --kv-type f16: llama.cpp refuses a quantised V cache "
            "without flash attention"
        )
    rows = []
    for model in models:
        for context in contexts:
            for kv_type in kv_types if ARCHITECTURES[model].causal else kv_types[:1]:
                rows.append(measure(model, context, kv_type, flash_attention, fill, smallest))
                if not markdown:
                    row = rows[-1]
                    print(
                        " | ".join(row.cells()),
                        " ".join(f"{name} {mib:.0f}" for name, mib in row.buffers.items()),
                        flush=True,
                    )
    print(markdown_table(rows) if markdown else "")
    late = [
        row
        for row in rows
        if row.measured_mib is not None
        and not 0 <= row.predicted_mib - row.measured_mib <= MARGIN_MIB
    ]
    if late:
        sys.exit(
            f"prediction off the measurement by more than 0..{MARGIN_MIB} MiB for "
            + ", ".join(f"{row.model} {row.context}/{row.kv_type}" for row in late)
        )


def fill_tokens(context: int, causal: bool) -> int:
    """A prompt's tokens that fill the context but for the answer's token and some slack; an
    encoder's, its batch."""
    return context - 16 if causal else ollama_batch(context, 1, causal)


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(row.cells()) + " |" for row in rows])


if __name__ == "__main__":
    main()
