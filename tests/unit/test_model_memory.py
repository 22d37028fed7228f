"""operations/model_memory.py: the KV cache, Ollama's batch and the resident memory, with the
figures worked out by hand here (the real runner's side is tests/unit/test_model_memory_real.py
and bench/model_memory.py)."""

import pytest

from operations.model_memory import (
    MODEL_SHAPES, ModelShape, kv_cache_bytes, ollama_batch, resident_bytes)

MIB = 2**20


@pytest.mark.parametrize("model, context, kv_type, parallel, expected", [
    # 32 layers x 8 KV heads x (128 + 128) x 2 bytes = 128 KiB a token
    ("llama3.1:8b", 4096, "f16", 1, 512 * MIB),
    ("mistral:7b", 4096, "f16", 1, 512 * MIB),
    ("llama3.1:8b", 2048, "q8_0", 1, 136 * MIB),
    ("llama3.1:8b", 4096, "q4_0", 2, 288 * MIB),
    # 28 x 4 x 256 x 2 = 56 KiB a token
    ("qwen2.5:7b", 4096, "f16", 1, 224 * MIB),
    ("qwen2.5:7b", 8192, "q8_0", 1, 238 * MIB),
    # 28 x 8 x 256 x 2 = 112 KiB a token
    ("llama3.2:3b", 4096, "f16", 1, 448 * MIB),
    # an encoder keeps no KV cache
    ("nomic-embed-text:latest", 2048, "f16", 1, 0),
])
def test_kv_cache(model, context, kv_type, parallel, expected):
    assert kv_cache_bytes(MODEL_SHAPES[model], context, kv_type, parallel) == expected


def test_an_unknown_kv_type_is_a_key_error():
    with pytest.raises(KeyError):
        kv_cache_bytes(MODEL_SHAPES["mistral:7b"], 4096, "q5_1", 1)


@pytest.mark.parametrize("context, parallel, causal, expected", [
    (2048, 1, True, 512), (4096, 1, True, 512), (2048, 2, True, 512), (4097, 1, True, 1024),
    (4096, 2, True, 1024), (32768, 1, True, 1024), (16384, 4, True, 2048),
    (2048, 1, False, 2048), (8192, 1, False, 2048), (1024, 1, False, 1024),
])
def test_ollama_batch(context, parallel, causal, expected):
    assert ollama_batch(context, parallel, causal) == expected


TINY = ModelShape("tiny:1m", "F32", 10 * MIB, 2, 4, 2, 64, 32, 8 * MIB)


def test_resident_is_file_kv_compute_and_runner():
    # 10 MiB file + 2 x 2 x 96 x 2 bytes x 1024 tokens (768 KiB) + 8 MiB + 64 MiB
    assert resident_bytes(TINY, 1024, "f16", 1) == 82 * MIB + 768 * 1024


def test_resident_compute_grows_with_the_batch():
    # context 8192: Ollama's batch 1024 doubles the compute buffer, 16 MiB; KV 6 MiB
    assert resident_bytes(TINY, 8192, "f16", 1) == (10 + 6 + 16 + 64) * MIB
    assert resident_bytes(TINY, 8192, "f16", 1, batch=512) == (10 + 6 + 8 + 64) * MIB


def test_without_flash_attention_the_scores_count():
    # 512 batch x 1024 context x 4 heads x 4 bytes = 8 MiB more
    assert (resident_bytes(TINY, 1024, "f16", 1, flash_attention=False)
            - resident_bytes(TINY, 1024, "f16", 1)) == 8 * MIB


def test_llama31_8b_at_ollamas_defaults():
    assert resident_bytes(MODEL_SHAPES["llama3.1:8b"], 4096, "f16", 1) == 5_667_325_056
