"""operations/model_memory.py's prediction against the real runner: Debian forky's llama-server
(build 11669, the llama.cpp Ollama v0.32.15 runs) started with Ollama's CPU arguments on a tiny
synthetic GGUF file, in a memory cgroup limited to the prediction. bench/model_memory.py does the
same with the library models' shapes.

The tiny model's KV cache is most of its memory (64 layers x 4 KV heads x (64 + 64) x 2 bytes =
64 KiB a token, 512 MiB at 8192 tokens), so a prediction that missed part of the KV cache or its
type would fall below the measurement.
"""

from __future__ import annotations

import pytest

from harness.llama_runner import Architecture, LlamaServer, write_gguf
from operations.model_memory import ModelShape, resident_bytes

MIB = 2**20
TINY = Architecture("llama", "Q4_0", 1024, 256, 512, 64, 4, 4, 32768, file_bytes=24 * MIB)
# The same model as operations/model_memory.py sees it; compute buffer as llama-server reports
# it at batch 512 and 4096 tokens less its 4 MiB mask (9.52 MiB, measured here).
TINY_SHAPE = ModelShape("tiny:24m", "Q4_0", 24 * MIB, 64, 4, 4, 64, 64, 6 * MIB)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_gguf(TINY, tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def test_the_synthetic_file_has_the_size_asked(tiny_model):
    assert tiny_model.stat().st_size == 25_165_824


@pytest.mark.parametrize("context, kv_type, kv_mib", [(8192, "f16", 512), (8192, "q8_0", 272)])
def test_prediction_holds_the_real_runner_within_256_mib(tiny_model, context, kv_type, kv_mib):
    predicted = resident_bytes(TINY_SHAPE, context, kv_type, 1)
    with LlamaServer.start(tiny_model, context, kv_type, 1, limit_bytes=predicted) as server:
        assert server.process.poll() is None, server.log_tail()
        server.ask()
        peak = server.peak_bytes()
        buffers = server.buffers()
    assert buffers["CPU KV buffer"] == kv_mib
    assert peak <= predicted <= peak + 256 * MIB, (peak / MIB, predicted / MIB, buffers)


def test_a_limit_below_the_kv_cache_is_an_oom_kill_at_load(tiny_model):
    # The check above fails when the runner does not fit its limit: 256 MiB holds the file but
    # not the 512 MiB KV cache llama.cpp touches at load.
    with LlamaServer.start(tiny_model, 8192, "f16", 1, limit_bytes=256 * MIB) as server:
        assert server.oom_killed(), server.log_tail()
