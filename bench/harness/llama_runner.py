"""llama.cpp's `llama-server` run as Ollama runs it on a CPU, on GGUF files of a model's real shape
with random weights, inside a memory limit: what bench/model_memory.py and
tests/realapps/test_llama_server_memory.py measure operations/model_memory.py's prediction against.

`llama-server` comes from Debian forky's `llama.cpp-tools` (0.7.0, build 11669; Ollama v0.32.15
runs llama.cpp through the same program) in a root built once with debootstrap and cached under
~/.cache/llm-appliance/rehearsal; the GGUF files, written with PyPI's `gguf`, are cached under
~/.cache/llm-appliance/gguf. Needs root (debootstrap, chroot, memory cgroups).

    tiny = Architecture("llama", "Q4_0", 1024, 256, 512, 8, 4, 4, 32768)
    with LlamaServer.start(write_gguf(tiny, Path("/tmp/tiny.gguf")), 4096, "f16", 1) as server:
        server.ask()
        server.peak_bytes(), server.buffers()  # 62332928, {'CPU KV buffer': 32.0, ...}
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from appliance.rootfs import build_rootfs, cache_root
from operations.model_memory import ollama_batch

# Debian forky's package with llama-server (and the libggml it needs).
LLAMA_PACKAGES = "llama.cpp-tools"
# Where the model files are seen inside the root (hard links of the cached files).
MODELS_IN_ROOT = "var/tmp/models"
LOAD_TIMEOUT_SECONDS = 900


@dataclass(frozen=True)
class Architecture:
    """The shape of a model for a synthetic GGUF file: the real file's tensors and types, its
    header's figures. family: GGUF `general.architecture` (llama, qwen2, nomic-bert).
    quantization: the library file's type mix, Q4_K_M, Q4_0 or F16 (llama.cpp
    src/llama-quant.cpp llama_tensor_get_type: Q4_K_M keeps attn_v and ffn_down in Q6_K on the
    layers use_more_bits picks, the output in Q6_K). tied_output: no output.weight (the token
    embeddings serve, in Q6_K). file_bytes: the library file's size, which the synthetic file
    is padded to with a filler metadata key; None for none."""

    family: str
    quantization: str
    vocab: int
    embedding: int
    feed_forward: int
    layers: int
    heads: int
    heads_kv: int
    context_train: int
    file_bytes: int | None = None
    tied_output: bool = False
    qkv_bias: bool = False
    rope_freqs: bool = False

    @property
    def head_dim(self) -> int:
        return self.embedding // self.heads

    @property
    def causal(self) -> bool:
        return self.family != "nomic-bert"


def _gguf():
    """PyPI's gguf (the `test` extra), imported where it is used: nothing else needs it."""
    import gguf

    return gguf


# ggml block layouts: (elements, bytes, offsets of the block's f16 scales), ggml-common.h.
_BLOCKS = {
    "Q4_0": (32, 18, (0,)),
    "Q8_0": (32, 34, (0,)),
    "Q4_K": (256, 144, (0, 2)),
    "Q6_K": (256, 210, (208,)),
}
_FILE_TYPES = {"F16": 1, "Q4_0": 2, "Q4_K_M": 15}  # llama.cpp include/llama.h llama_ftype


def _use_more_bits(layer: int, layers: int) -> bool:
    """llama.cpp src/llama-quant.cpp use_more_bits: the layers Q4_K_M keeps in Q6_K."""
    return layer < layers // 8 or layer >= 7 * layers // 8 or (layer - layers // 8) % 3 == 2


def tensors(arch: Architecture) -> list[tuple[str, tuple[int, ...], str]]:
    """The file's tensors as (name, shape with the row length first as ggml writes it, type)."""
    quantized = {"Q4_K_M": "Q4_K", "Q4_0": "Q4_0", "F16": "F16"}[arch.quantization]
    wide = "Q6_K" if arch.quantization != "F16" else "F16"
    e, kv = arch.embedding, arch.heads_kv * arch.head_dim
    found: list[tuple[str, tuple[int, ...], str]] = [
        ("token_embd.weight", (e, arch.vocab), wide if arch.tied_output else quantized)
    ]
    if arch.family == "nomic-bert":
        found += [
            ("token_types.weight", (e, 2), "F32"),
            ("token_embd_norm.weight", (e,), "F32"),
            ("token_embd_norm.bias", (e,), "F32"),
        ]
        for i in range(arch.layers):
            found += [
                (f"blk.{i}.attn_qkv.weight", (e, 3 * e), "F16"),
                (f"blk.{i}.attn_output.weight", (e, e), "F16"),
                (f"blk.{i}.attn_output_norm.weight", (e,), "F32"),
                (f"blk.{i}.attn_output_norm.bias", (e,), "F32"),
                (f"blk.{i}.ffn_up.weight", (e, arch.feed_forward), "F16"),
                (f"blk.{i}.ffn_gate.weight", (e, arch.feed_forward), "F16"),
                (f"blk.{i}.ffn_down.weight", (arch.feed_forward, e), "F16"),
                (f"blk.{i}.layer_output_norm.weight", (e,), "F32"),
                (f"blk.{i}.layer_output_norm.bias", (e,), "F32"),
            ]
        return found
    found += [("output_norm.weight", (e,), "F32")]
    if not arch.tied_output:
        found += [("output.weight", (e, arch.vocab), wide)]
    if arch.rope_freqs:
        found += [("rope_freqs.weight", (arch.head_dim // 2,), "F32")]
    for i in range(arch.layers):
        more = (
            wide if arch.quantization == "Q4_K_M" and _use_more_bits(i, arch.layers) else quantized
        )
        found += [
            (f"blk.{i}.attn_norm.weight", (e,), "F32"),
            (f"blk.{i}.attn_q.weight", (e, arch.heads * arch.head_dim), quantized),
            (f"blk.{i}.attn_k.weight", (e, kv), quantized),
            (f"blk.{i}.attn_v.weight", (e, kv), more),
            (f"blk.{i}.attn_output.weight", (arch.heads * arch.head_dim, e), quantized),
            (f"blk.{i}.ffn_norm.weight", (e,), "F32"),
            (f"blk.{i}.ffn_gate.weight", (e, arch.feed_forward), quantized),
            (f"blk.{i}.ffn_up.weight", (e, arch.feed_forward), quantized),
            (f"blk.{i}.ffn_down.weight", (arch.feed_forward, e), more),
        ]
        if arch.qkv_bias:
            found += [
                (f"blk.{i}.attn_q.bias", (arch.heads * arch.head_dim,), "F32"),
                (f"blk.{i}.attn_k.bias", (kv,), "F32"),
                (f"blk.{i}.attn_v.bias", (kv,), "F32"),
            ]
    return found


def _nbytes(shape: tuple[int, ...], kind: str) -> int:
    elements = 1
    for size in shape:
        elements *= size
    if kind in _BLOCKS:
        per, size, _ = _BLOCKS[kind]
        return elements // per * size
    return elements * {"F16": 2, "F32": 4}[kind]


def _tokenizer(writer, arch: Architecture) -> None:
    """A vocabulary of the model's size that llama.cpp accepts: SentencePiece-style with the 256
    byte tokens (any text tokenizes), or BERT's WordPiece for nomic-bert."""
    gguf = _gguf()
    if arch.family == "nomic-bert":
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        writer.add_tokenizer_model("bert")
        writer.add_token_list(specials + [f"t{i}" for i in range(arch.vocab - len(specials))])
        writer.add_token_types(
            [gguf.TokenType.CONTROL] * len(specials)
            + [gguf.TokenType.NORMAL] * (arch.vocab - len(specials))
        )
        writer.add_unk_token_id(1)
        writer.add_bos_token_id(2)  # [CLS]: llama.cpp reads BERT's CLS as its BOS
        writer.add_sep_token_id(3)
        writer.add_pad_token_id(0)
        return
    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    rest = arch.vocab - len(specials) - 256
    writer.add_tokenizer_model("llama")
    writer.add_token_list(specials + byte_tokens + [f"\u2581t{i}" for i in range(rest)])
    writer.add_token_scores([0.0] * 259 + [-float(i) for i in range(rest)])
    writer.add_token_types(
        [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
        + [gguf.TokenType.BYTE] * 256
        + [gguf.TokenType.NORMAL] * rest
    )
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)


def _writer(path: Path, arch: Architecture, filler: int):
    """A GGUFWriter with the header, metadata and tensor infos of `arch`, written to `path`."""
    import numpy

    gguf = _gguf()
    writer = gguf.GGUFWriter(str(path), arch.family)
    writer.add_name(f"synthetic {arch.family} ({arch.quantization}, random weights)")
    writer.add_file_type(_FILE_TYPES[arch.quantization])
    writer.add_context_length(arch.context_train)
    writer.add_embedding_length(arch.embedding)
    writer.add_feed_forward_length(arch.feed_forward)
    writer.add_block_count(arch.layers)
    writer.add_head_count(arch.heads)
    writer.add_head_count_kv(arch.heads_kv)
    writer.add_vocab_size(arch.vocab)
    if arch.family == "nomic-bert":
        writer.add_layer_norm_eps(1e-12)
        writer.add_causal_attention(False)
        writer.add_pooling_type(gguf.PoolingType.MEAN)
        writer.add_rope_freq_base(1000.0)
        writer.add_token_type_count(2)
    else:
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_rope_dimension_count(arch.head_dim)
        writer.add_rope_freq_base(500000.0)
    _tokenizer(writer, arch)
    # Pads the file to the library file's size: the real file's extra metadata (chat template,
    # merges) is read into memory as this is.
    writer.add_string("synthetic.filler", "x" * filler)
    gguf_types = gguf.GGMLQuantizationType
    for name, shape, kind in tensors(arch):
        nbytes = _nbytes(shape, kind)
        if kind in _BLOCKS:
            per, size, _ = _BLOCKS[kind]
            byte_shape = (*reversed(shape[1:]), shape[0] // per * size)
            writer.add_tensor_info(
                name, byte_shape, numpy.dtype("uint8"), nbytes, raw_dtype=getattr(gguf_types, kind)
            )
        else:
            dtype = "float16" if kind == "F16" else "float32"
            writer.add_tensor_info(name, tuple(reversed(shape)), numpy.dtype(dtype), nbytes)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    return writer


def _data(shape: tuple[int, ...], kind: str, rng):
    """Random weights of `kind`: random blocks with a small f16 scale (no NaN, no infinity)."""
    import numpy

    if kind == "F32":
        return numpy.ones(shape[::-1], dtype=numpy.float32)
    if kind == "F16":
        return (rng.standard_normal(shape[::-1], dtype=numpy.float32) * 0.02).astype(numpy.float16)
    per, size, scales = _BLOCKS[kind]
    blocks = numpy.frombuffer(bytearray(rng.bytes(_nbytes(shape, kind))), dtype=numpy.uint8)
    blocks = blocks.reshape(-1, size)
    for offset in scales:
        blocks[:, offset : offset + 2] = numpy.frombuffer(
            numpy.float16(0.001).tobytes(), numpy.uint8
        )
    return blocks


def tensor_bytes(arch: Architecture) -> int:
    """The tensor data of the file, in bytes, each tensor aligned to 32 as GGUF writes it."""
    return sum(-(-_nbytes(shape, kind) // 32) * 32 for _, shape, kind in tensors(arch))


def write_gguf(arch: Architecture, path: Path) -> Path:
    """Write a GGUF file of `arch` with random weights to `path` (kept if already there), padded
    to arch.file_bytes when set and reachable. Returns path."""
    import numpy

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    filler = 0
    if arch.file_bytes is not None:
        # The header ends aligned to 32 bytes: probe it until it is the room left exactly.
        room = arch.file_bytes - tensor_bytes(arch)
        with tempfile.TemporaryDirectory() as scratch:
            for _ in range(3):
                _writer(Path(scratch) / "header.gguf", arch, filler).close()
                header = (Path(scratch) / "header.gguf").stat().st_size
                if header == room or filler + room - header < 0:
                    break
                filler += room - header
    writer = _writer(partial, arch, filler)
    rng = numpy.random.default_rng(0)
    for _, shape, kind in tensors(arch):
        writer.write_tensor_data(_data(shape, kind, rng))
    writer.close()
    partial.rename(path)
    return path


def gguf_cache() -> Path:
    """Where the synthetic files are kept between runs (~/.cache/llm-appliance/gguf)."""
    return cache_root() / "gguf"


def llama_root() -> Path:
    """The cached Debian forky root with llama-server (built on first use, ~1 minute)."""
    return build_rootfs(suite="forky", base_packages="", extra_packages=LLAMA_PACKAGES)


def ollama_arguments(
    model: str,
    port: int,
    context: int,
    kv_type: str,
    parallel: int,
    causal: bool,
    batch: int | None = None,
    flash_attention: bool = True,
) -> list[str]:
    """llama-server's arguments as Ollama v0.32.15 builds them on a host without a GPU
    (llm/llama_server.go startLlamaServer: -c is context x parallel; appendLoadModeArgs gives
    `--load-mode none`, the scheduler turning mmap off on CPU, server/sched.go
    disableMmapDefaultReason "cpu"; appendFlashAttentionArgs `auto`, ml/device.go
    FlashAttentionSupported is true for no GPU; appendBatchArgs -b and -ub, with the batch of
    server/sched.go generationBatchForContext, or `--embedding` and the embedding batch).
    `flash_attention` False: `--flash-attn off`, what OLLAMA_FLASH_ATTENTION=0 gives
    (llm/llama_server.go LlamaServerFlashAttention).
    Ollama passes the KV type only when OLLAMA_KV_CACHE_TYPE is set; f16 is llama-server's
    default, so passing it changes nothing."""
    if batch is None:
        batch = ollama_batch(context, parallel, causal)
    arguments = [
        "--model",
        model,
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--no-webui",
        "--offline",
        "-c",
        str(context * parallel),
        "-np",
        str(parallel),
        "--log-verbosity",
        "4",
        "--no-log-prefix",
        "--no-log-timestamps",
        "--load-mode",
        "none",
        "--cache-type-k",
        kv_type,
        "--cache-type-v",
        kv_type,
        "--flash-attn",
        "auto" if flash_attention else "off",
    ]
    if not causal:
        arguments.append("--embedding")
    return arguments + ["-b", str(batch), "-ub", str(batch)]


class MemoryCgroup:
    """A memory cgroup of the machine's own kind for one process: cgroup v1's memory controller
    (memory.limit_in_bytes) or, on a cgroup v2 host, a child of the cgroup v2 root
    (memory.max). `limit_bytes` None: no limit, still counted."""

    def __init__(self, limit_bytes: int | None):
        v1 = Path("/sys/fs/cgroup/memory")
        if v1.is_dir():
            own = next(
                line.split(":", 2)[2]
                for line in Path("/proc/self/cgroup").read_text().splitlines()
                if line.split(":")[1] == "memory"
            )
            self.path = Path(
                tempfile.mkdtemp(prefix="llm-appliance-llama-", dir=v1 / own.lstrip("/"))
            )
            self.limit_file = "memory.limit_in_bytes"
        else:
            root = Path("/sys/fs/cgroup")
            controllers = (root / "cgroup.subtree_control").read_text().split()
            if "memory" not in controllers:
                (root / "cgroup.subtree_control").write_text("+memory")
            self.path = Path(tempfile.mkdtemp(prefix="llm-appliance-llama-", dir=root))
            self.limit_file = "memory.max"
        if limit_bytes is not None:
            (self.path / self.limit_file).write_text(str(limit_bytes))

    def join(self) -> None:
        """Move the calling process in (a Popen preexec_fn: the child, before its exec)."""
        (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:  # its process is still leaving
                time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# llama-server's lines at load naming its buffers (llama.cpp src/llama-model.cpp,
# llama-kv-cache.cpp, llama-context.cpp), e.g. "llama_kv_cache:        CPU KV buffer size =   512.00 MiB".
BUFFER_RE = re.compile(
    r"(CPU(?:_REPACK)? (?:model|KV|compute|output) buffer) size =\s*([\d.]+) MiB"
)


class LlamaServer:
    """A running llama-server: its process, port and log."""

    def __init__(
        self, process: subprocess.Popen, port: int, log: Path, cgroup: MemoryCgroup, causal: bool
    ):
        self.process, self.port, self.log, self.cgroup, self.causal = (
            process,
            port,
            log,
            cgroup,
            causal,
        )

    @classmethod
    @contextmanager
    def start(
        cls,
        model: Path,
        context: int,
        kv_type: str,
        parallel: int,
        causal: bool = True,
        limit_bytes: int | None = None,
        batch: int | None = None,
        flash_attention: bool = True,
    ):
        """Run llama-server on `model` (a file on this machine) as Ollama would, in a memory
        cgroup limited to `limit_bytes`; yields once it answers /health or has exited (an OOM
        kill at load: `oom_killed()`). Stops it on leaving."""
        root = llama_root()
        inside = root / MODELS_IN_ROOT / model.name
        inside.parent.mkdir(parents=True, exist_ok=True)
        if not (inside.exists() and inside.samefile(model)):
            # A link made under another name, then renamed over any older file of that name.
            staged = inside.with_name(f".{inside.name}.{os.getpid()}")
            staged.unlink(missing_ok=True)
            try:
                os.link(model, staged)
            except OSError:  # another file system: a copy
                subprocess.run(["cp", "--reflink=auto", str(model), str(staged)], check=True)
            staged.rename(inside)
        port = _free_port()
        cgroup = MemoryCgroup(limit_bytes)
        log = Path(tempfile.mkstemp(prefix="llama-server-", suffix=".log")[1])
        arguments = ollama_arguments(
            f"/{MODELS_IN_ROOT}/{model.name}",
            port,
            context,
            kv_type,
            parallel,
            causal,
            batch,
            flash_attention,
        )
        with log.open("w") as output:
            process = subprocess.Popen(
                ["chroot", str(root), "llama-server", *arguments],
                stdout=output,
                stderr=subprocess.STDOUT,
                preexec_fn=cgroup.join,
                start_new_session=True,
            )
        server = cls(process, port, log, cgroup, causal)
        try:
            server._wait_loaded()
            yield server
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            cgroup.remove()
            log.unlink(missing_ok=True)

    def _wait_loaded(self) -> None:
        deadline = time.monotonic() + LOAD_TIMEOUT_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        if self.process.poll() is None:
            raise TimeoutError(f"llama-server did not load in {LOAD_TIMEOUT_SECONDS} s")

    def oom_killed(self) -> bool:
        """True when the kernel killed it (SIGKILL) before or while it served."""
        return self.process.poll() == -signal.SIGKILL

    def ask(self, tokens: int = 2) -> None:
        """One request of `tokens` tokens, a completion of one token or an embedding, so the
        compute graph runs once. A full batch uses the whole of its activations; it takes
        minutes for a 7B model on 2 cores. The synthetic vocabulary makes each character of
        "a a a" one token (a byte token; with BOS and the leading space, or an unknown word)."""
        if self.causal:
            path, body = "/completion", {"prompt": "a" * max(tokens - 2, 1), "n_predict": 1}
        else:
            path, body = "/embedding", {"content": " ".join(["a"] * max(tokens - 2, 1))}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=600) as response:
            response.read()

    def peak_bytes(self) -> int:
        """The most memory the process has held resident (VmHWM), in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        peak = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
        if peak is None:  # proc(5): a zombie's status has no Vm* lines
            raise RuntimeError(f"llama-server (pid {self.process.pid}) has exited")
        return int(peak.group(1)) * 1024

    def buffers(self) -> dict[str, float]:
        """The buffers llama-server reported at load, in MiB, e.g. {'CPU KV buffer': 512.0}."""
        found: dict[str, float] = {}
        for name, mib in BUFFER_RE.findall(self.log.read_text(errors="replace")):
            found[name] = found.get(name, 0.0) + float(mib)
        return found

    def log_tail(self, lines: int = 5) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
