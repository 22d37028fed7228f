"""A stand-in of Ollama's model scheduler on a host without a GPU, written from Ollama v0.32.15
server/sched.go (the pinned image, ollama/ollama:0.32.15), to count the model loads a sequence
of requests makes. It is NOT Ollama: it keeps the decisions that load and unload models and
nothing else (no runner, no timers but the keep-alive's order, no GPU).

What it follows, function by function (server/sched.go unless named):
- `processPending`: a request for a loaded model whose runner needs no reload uses it; else,
  with `maxRunners > 0 && loadedCount >= maxRunners`, it unloads the runner
  `findRunnerToUnload` picks and tries again; else it loads the model. `maxRunners` is
  envconfig.MaxRunners() (OLLAMA_MAX_LOADED_MODELS, default 0), and 0 becomes
  `defaultModelsPerGPU (3) * max(len(gpus), 1)`: 3 on a CPU.
- `load` on a CPU: `llama.Load` ignores requireFull (llm/llama_server.go llamaServerRunner.Load
  takes it as `_ bool`) and the fit check needs GPUs (`len(loadGpus) > 0`): a second model is
  loaded beside the first whenever the runner count allows.
- `findRunnerToUnload`: the runners sorted `ByDurationAndName` (session duration, then model
  path), the first idle one (every runner is idle between the requests here).
- `needsReload`: a reload when the runner options differ; `num_ctx` is compared as
  `effectiveContext(num_ctx, trainContext)` (the model's training context caps it).
- The options a request carries: Ollama's defaults with OLLAMA_CONTEXT_LENGTH as num_ctx
  (server/routes.go modelOptions, api/types.go DefaultOptions), overridden by the request's
  `options`. Open WebUI 0.12.4 sends none by default: `/api/embed` with `input`, `model` and
  `truncate` only (open_webui/retrieval/utils.py generate_ollama_batch_embeddings), `/api/chat`
  with `options` only from a model's or chat's advanced parameters
  (open_webui/utils/payload.py convert_payload_openai_to_ollama).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# server/sched.go: var defaultModelsPerGPU = 3
DEFAULT_MODELS_PER_GPU = 3


@dataclass
class Runner:
    model: str
    num_ctx: int  # the effective context it was loaded with
    session_seconds: float


@dataclass
class Scheduler:
    """``Scheduler(env, train_context)``: `env` is Ollama's environment (name -> value), as the
    chart's extraEnv gives it; `train_context` maps a model to its training context (the GGUF
    header's ARCH.context_length). ``request(model, options)`` returns the loads it caused."""

    env: dict[str, str]
    train_context: dict[str, int]
    loaded: dict[str, Runner] = field(default_factory=dict)
    loads: list[str] = field(default_factory=list)
    unloads: list[str] = field(default_factory=list)

    @property
    def max_runners(self) -> int:
        configured = int(self.env.get("OLLAMA_MAX_LOADED_MODELS", "0"))
        return configured if configured > 0 else DEFAULT_MODELS_PER_GPU * 1

    def _num_ctx(self, model: str, options: dict) -> int:
        # envconfig.ContextLength(); 0 means the VRAM tier's default, 4096 without a GPU
        # (server/routes.go: s.defaultNumCtx).
        default = int(self.env.get("OLLAMA_CONTEXT_LENGTH", "0")) or 4096
        wanted = options.get("num_ctx", default)
        trained = self.train_context.get(model, 0)
        return min(wanted, trained) if trained else wanted

    def request(self, model: str, options: dict | None = None) -> list[str]:
        """One request for `model` (processPending's loop); the models it loaded."""
        before = len(self.loads)
        num_ctx = self._num_ctx(model, options or {})
        while True:
            runner = self.loaded.get(model)
            if runner is not None:
                if runner.num_ctx == num_ctx:  # needsReload: the options are the same
                    break
                self._unload(runner)
            elif len(self.loaded) >= self.max_runners:
                self._unload(self._runner_to_unload())
            else:
                keep_alive = self.env.get("OLLAMA_KEEP_ALIVE", "5m")
                self.loaded[model] = Runner(model, num_ctx, _seconds(keep_alive))
                self.loads.append(model)
                break
        return self.loads[before:]

    def _runner_to_unload(self) -> Runner:
        # ByDurationAndName: session duration, then the model's path (here its name).
        return sorted(self.loaded.values(), key=lambda r: (r.session_seconds, r.model))[0]

    def _unload(self, runner: Runner) -> None:
        del self.loaded[runner.model]
        self.unloads.append(runner.model)


def _seconds(duration: str) -> float:
    """A Go duration as OLLAMA_KEEP_ALIVE takes it ("30m", "5m", "1h"): _seconds("30m") is 1800."""
    units = {"s": 1, "m": 60, "h": 3600}
    return float(duration[:-1]) * units[duration[-1]]
