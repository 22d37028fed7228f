"""How much RAM a model takes once Ollama has loaded it on the CPU: a prediction from the model's
shape and the runner's settings, checked against the real runner by bench/model_memory.py.

Ollama v0.32.15 runs every GGUF model in llama.cpp's `llama-server`. On a host without a GPU it
loads the whole file into memory of its own (`--load-mode none`: server/sched.go
disableMmapDefaultReason returns "cpu", llm/llama_server.go appendLoadModeArgs), and llama.cpp
allocates and touches the KV cache for the whole context at load. What stays resident is then

    the GGUF file + the KV cache + the compute buffer + the runner itself

and nothing of it depends on the conversation, so a memory limit computed from it holds from the
first second. Ollama v0.32.15 builds its llama-server from llama.cpp b10488 (its
LLAMA_CPP_VERSION); bench/model_memory.py measures Debian's build 11669, the one that runs here.
Imports nothing of the project: settings, the preflight and Ollama's manifests all read it.

    >>> resident_bytes(MODEL_SHAPES["llama3.1:8b"], 4096, "f16", 1) // 2**20
    5396
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

MIB = 2**20


@dataclass(frozen=True)
class ModelShape:
    """What of a model decides its memory on llama.cpp, as its GGUF file's header says it.

    name: the Ollama library's name:tag. file_bytes: the size of the model layer
    (`application/vnd.ollama.image.model`) in the library's manifest, in bytes: the GGUF file.
    block_count, head_count, head_count_kv, key_length, value_length: the header's
    `ARCH.block_count`, `ARCH.attention.head_count`, `ARCH.attention.head_count_kv`,
    `ARCH.attention.key_length` and `ARCH.attention.value_length` (the last two default to
    `ARCH.embedding_length / head_count` in llama.cpp src/llama-model.cpp when absent).
    causal: False for an encoder (BERT family), which llama.cpp runs without a KV cache
    (src/llama-model.cpp create_memory: no memory for LLM_ARCH_BERT, NOMIC_BERT...).
    compute_bytes: the model's activations in llama-server's compute buffer at batch 512, in
    bytes: the `CPU compute buffer size` llama-server prints at load for 4096 tokens, less that
    buffer's 4 MiB attention mask (compute_bytes below), measured by bench/model_memory.py.
    """

    name: str
    quantization: str
    file_bytes: int
    block_count: int
    head_count: int
    head_count_kv: int
    key_length: int
    value_length: int
    compute_bytes: int
    causal: bool = True


# The models the appliance names in its defaults and README, shapes from the GGUF header of the
# library file (`ollama show --verbose NAME` prints the same keys), sizes from the library's
# manifests (registry.ollama.ai/v2/library/NAME/manifests/TAG, the model layer's "size").
MODEL_SHAPES = MappingProxyType(
    {
        shape.name: shape
        for shape in (
            # Llama-3.1-8B-Instruct Q4_K_M, layer sha256:667b0c1932bc...; llama.block_count 32,
            # llama.attention.head_count 32, head_count_kv 8, embedding_length 4096 -> 128.
            ModelShape("llama3.1:8b", "Q4_K_M", 4_920_738_944, 32, 32, 8, 128, 128, 124 * MIB),
            # Mistral-7B-Instruct-v0.3 Q4_0, layer sha256:ff82381e2bea... (architecture "llama");
            # llama.block_count 32, head_count 32, head_count_kv 8, embedding_length 4096 -> 128.
            ModelShape("mistral:7b", "Q4_0", 4_113_289_152, 32, 32, 8, 128, 128, 124 * MIB),
            # Qwen2.5-7B-Instruct Q4_K_M, layer sha256:2bada8a74506...; qwen2.block_count 28,
            # qwen2.attention.head_count 28, head_count_kv 4, embedding_length 3584 -> 128.
            ModelShape("qwen2.5:7b", "Q4_K_M", 4_683_073_952, 28, 28, 4, 128, 128, 146 * MIB),
            # Llama-3.2-3B-Instruct Q4_K_M, layer sha256:dde5aa3fc5ff...; llama.block_count 28,
            # head_count 24, head_count_kv 8, key_length 128, value_length 128.
            ModelShape("llama3.2:3b", "Q4_K_M", 2_019_377_376, 28, 24, 8, 128, 128, 78 * MIB),
            # nomic-embed-text v1.5 F16, layer sha256:970aa74c0a90...; nomic-bert.block_count 12,
            # head_count 12, embedding_length 768 -> 64; an encoder: no KV cache.
            ModelShape(
                "nomic-embed-text:latest",
                "F16",
                274_290_656,
                12,
                12,
                12,
                64,
                64,
                26 * MIB,
                causal=False,
            ),
        )
    }
)

# Bytes per element of the KV cache types Ollama accepts (OLLAMA_KV_CACHE_TYPE, passed on as
# --cache-type-k/-v: Ollama v0.32.15 llm/llama_server.go): ggml's block sizes, q8_0 34 bytes
# and q4_0 18 bytes per 32 elements (ggml/src/ggml-common.h block_q8_0, block_q4_0).
KV_BYTES_PER_ELEMENT = MappingProxyType({"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32})

# The runner beyond its buffers: llama-server's code, threads, tokenizer and heap, from the
# resident memory measured beside the buffers llama-server reports (bench/model_memory.py).
RUNNER_OVERHEAD_BYTES = 64 * MIB


def ollama_batch(context: int, parallel: int, causal: bool = True) -> int:
    """The batch (`-b` and `-ub`) Ollama v0.32.15 passes llama-server on a host without a GPU.

    A chat model: 512 up to a context x parallel of 4096 tokens, 1024 up to 32768, 2048 above
    (server/sched.go generationBatchForContext; with no GPU, availableMemoryForLoad is 0, so
    generationBatchFits never lowers it). An embedding model: 2048 up to the context
    (llm/llama_server.go DefaultEmbeddingNumBatchForContext, embeddingBatchSize).
    ``ollama_batch(8192, 1)`` is 1024.
    """
    tokens = context * max(parallel, 1)
    if not causal:
        return min(2048, tokens)
    if tokens > 32768:
        return 2048
    return 1024 if tokens > 4096 else 512


def kv_cache_bytes(shape: ModelShape, context: int, kv_type: str, parallel: int) -> int:
    """The KV cache llama-server allocates for `context` tokens in each of `parallel` slots, in
    bytes: layers x KV heads x (key + value length) x bytes per element x context x parallel
    (Ollama passes `-c context*parallel -np parallel`, llm/llama_server.go). 0 for an encoder.
    ``kv_cache_bytes(MODEL_SHAPES["llama3.1:8b"], 4096, "f16", 1)`` is 536870912 (512 MiB).
    Raises KeyError for a KV type not in KV_BYTES_PER_ELEMENT.
    """
    per_element = KV_BYTES_PER_ELEMENT[kv_type]
    if not shape.causal:
        return 0
    elements = shape.block_count * shape.head_count_kv * (shape.key_length + shape.value_length)
    return round(elements * per_element * context * parallel)


def compute_bytes(
    shape: ModelShape, context: int, parallel: int, flash_attention: bool, batch: int
) -> int:
    """llama-server's compute buffer, in bytes, as it allocates it at load (llama.cpp
    src/llama-context.cpp reserves the graph of a full batch against the whole cache): the
    model's activations, measured at batch 512 and in proportion to the batch, plus the
    attention mask of one batch against every KV cell (f16 with flash attention, f32 without:
    batch x context x parallel x 2 or 4 bytes), plus without flash attention the attention scores
    themselves in f32 (x heads x 4 bytes). An encoder attends within its batch (batch x batch).
    Measured on llama-server build 11669 (bench/model_memory.py; tests/realapps): e.g. a tiny
    model's 27.04 MiB at 8192 tokens and batch 1024 with flash attention, 168.03 MiB without.
    """
    cells = context * parallel if shape.causal else batch
    mask = batch * cells * (2 if flash_attention else 4)
    scores = 0 if flash_attention else batch * cells * shape.head_count * 4
    return shape.compute_bytes * batch // 512 + mask + scores


def resident_bytes(
    shape: ModelShape,
    context: int,
    kv_type: str,
    parallel: int,
    flash_attention: bool = True,
    batch: int | None = None,
) -> int:
    """The memory, in bytes, llama-server holds for the model once Ollama has loaded it on the
    CPU with mmap off: the GGUF file + the KV cache + the compute buffer + the runner.
    `batch` defaults to what Ollama picks (ollama_batch). Never below what bench/model_memory.py
    measures, at most 256 MiB above. A quantised KV cache needs flash attention (llama.cpp
    refuses `--cache-type-v q8_0` without it).
    ``resident_bytes(MODEL_SHAPES["llama3.1:8b"], 4096, "f16", 1)`` is 5658936448 (5396 MiB).
    """
    if batch is None:
        batch = ollama_batch(context, parallel, shape.causal)
    return (
        shape.file_bytes
        + kv_cache_bytes(shape, context, kv_type, parallel)
        + compute_bytes(shape, context, parallel, flash_attention, batch)
        + RUNNER_OVERHEAD_BYTES
    )
