"""operations/model_memory.py: the KV cache, Ollama's batch and the resident memory, with the
figures worked out by hand here (the real runner's side is bench/model_memory.py and
tests/realapps/test_llama_server_memory.py)."""

import pytest

from operations.model_memory import (
    MODEL_SHAPES,
    ModelShape,
    kv_cache_bytes,
    ollama_batch,
    resident_bytes,
)

MIB = 2**20


@pytest.mark.parametrize(
    "model, context, kv_type, parallel, expected",
    [
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
    ],
)
def test_kv_cache(model, context, kv_type, parallel, expected):
    assert kv_cache_bytes(MODEL_SHAPES[model], context, kv_type, parallel) == expected


def test_an_unknown_kv_type_is_a_key_error():
    with pytest.raises(KeyError):
        kv_cache_bytes(MODEL_SHAPES["mistral:7b"], 4096, "q5_1", 1)


@pytest.mark.parametrize(
    "context, parallel, causal, expected",
    [
        (2048, 1, True, 512),
        (4096, 1, True, 512),
        (2048, 2, True, 512),
        (4097, 1, True, 1024),
        (4096, 2, True, 1024),
        (32768, 1, True, 1024),
        (16384, 4, True, 2048),
        (2048, 1, False, 2048),
        (8192, 1, False, 2048),
        (1024, 1, False, 1024),
    ],
)
def test_ollama_batch(context, parallel, causal, expected):
    assert ollama_batch(context, parallel, causal) == expected


TINY = ModelShape("tiny:1m", "F32", 10 * MIB, 2, 4, 2, 64, 32, 8 * MIB)


def test_resident_is_file_kv_compute_and_runner():
    # 10 MiB file + KV 2 x 2 x 96 x 2 bytes x 1024 tokens (768 KiB) + compute 8 MiB and the
    # mask 512 x 1024 x 2 bytes (1 MiB) + 64 MiB
    assert resident_bytes(TINY, 1024, "f16", 1) == 83 * MIB + 768 * 1024


def test_resident_compute_grows_with_the_batch():
    # context 8192: Ollama's batch 1024 doubles the activations, 16 MiB, the mask
    # 1024 x 8192 x 2 bytes 16 MiB; KV 6 MiB
    assert resident_bytes(TINY, 8192, "f16", 1) == (10 + 6 + 16 + 16 + 64) * MIB
    assert resident_bytes(TINY, 8192, "f16", 1, batch=512) == (10 + 6 + 8 + 8 + 64) * MIB


def test_without_flash_attention_the_scores_count():
    # the mask in f32 (1 MiB more) and 512 batch x 1024 context x 4 heads x 4 bytes (8 MiB)
    assert (
        resident_bytes(TINY, 1024, "f16", 1, flash_attention=False)
        - resident_bytes(TINY, 1024, "f16", 1)
    ) == 9 * MIB


def test_an_encoder_has_no_kv_cache_and_attends_within_its_batch():
    # nomic-embed-text at 2048: batch 2048, activations 4 x 26 MiB, mask 2048 x 2048 x 2 bytes
    assert resident_bytes(MODEL_SHAPES["nomic-embed-text:latest"], 2048, "f16", 1) == (
        274_290_656 + (104 + 8 + 64) * MIB
    )


def test_llama31_8b_at_ollamas_defaults():
    # 4_920_738_944 file + 512 MiB KV + 124 MiB activations + 4 MiB mask + 64 MiB
    assert resident_bytes(MODEL_SHAPES["llama3.1:8b"], 4096, "f16", 1) == 5_658_936_448
