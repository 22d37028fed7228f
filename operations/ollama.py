"""Ollama: the otwld/ollama-helm chart (ClusterIP only, models on a volume, no calls home) and
a Job that pulls, or air-gapped imports, every model through Ollama's API.

    ollama_values(settings, gpu=False)  # the chart's values (gpu: on an NVIDIA GPU)
    model_puller_job(settings)  # the Job, named by a hash of the model list
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from operations.components import OLLAMA
from operations.gpu import RUNTIME_CLASS
from operations.memory import gpu_host_mib, ollama_mib
from operations.names import FIRST_SERVER_LABEL, MODEL_FILES_DIR, MODEL_PULLER_LABEL, NAMESPACE
from operations.pins import PINNED_VERSIONS
from operations.rendering import HELM_KEEP, NO_CAPABILITIES
from operations.settings import Settings
from operations.sizing import OLLAMA_MAX_LOADED_MODELS

# The models' volume. k3s's local-path storage neither enforces a volume's size nor lets it
# grow (its StorageClass has no allowVolumeExpansion): a size computed from the models would
# make the chart's upgrade fail at the first model that changed it. The size is nominal; the
# preflight checks the disk for every model (Settings.disk_needed_gib).
VOLUME_SIZE = "100Gi"
# Ollama's memory request and limit come from the models (ollama_resources).
RESOURCES = {
    "ollama": {"requests": {"cpu": "500m"}},
    "ollama-model-puller": {
        "requests": {"cpu": "50m", "memory": "32Mi"},
        "limits": {"memory": "256Mi"},
    },
}


def ollama_resources(settings: Settings, gpu: bool = False) -> dict:
    """Memory request and limit alike, so the node reserves what Ollama may use: the server
    and the models it holds at once, with their KV caches, compute buffers and prompt caches
    (operations/memory.py ollama_mib); with a GPU, the RAM beside it (gpu_host_mib)."""
    memory = f"{gpu_host_mib(settings) if gpu else ollama_mib(settings)}Mi"
    requests = {**RESOURCES["ollama"]["requests"], "memory": memory}
    return {"requests": requests, "limits": {"memory": memory}}


def ollama_environment(settings: Settings) -> list[dict]:
    """Ollama's environment: the memory knobs the settings choose, each read by Ollama v0.32.15
    envconfig/config.go and passed on to llama-server (llm/llama_server.go startLlamaServer:
    `-c NUM_CTX*PARALLEL -np PARALLEL`, `--cache-type-k/-v`, `--flash-attn on|off`), and the
    prompt cache's cap, which Ollama passes no flag for but hands llama-server in its own
    environment (SetupLlamaServerCommandEnv: cmd.Env = os.Environ()), where llama-server reads
    LLAMA_ARG_CACHE_RAM (`llama-server --help` of Debian forky's llama.cpp-tools 0.7.0, build
    11669: "--cache-ram N  set the maximum cache size in MiB (default: 8192, ... 0 - disable)
    (env: LLAMA_ARG_CACHE_RAM)"; Ollama v0.32.15's own llama-server is llama.cpp b10488, its
    LLAMA_CPP_VERSION, whose source could not be read here).

    OLLAMA_CONTEXT_LENGTH is the context of every request that names none (server/routes.go
    modelOptions: api.DefaultOptions' NumCtx is envconfig.ContextLength(); a num_ctx in the
    model's Modelfile or the request wins), capped at the model's training context (llm/server.go
    NewLlamaServer before `-c`; server/sched.go effectiveContext when it compares a request's
    num_ctx with a loaded model's)."""
    return [
        {"name": "OLLAMA_NO_CLOUD", "value": "1"},
        # A chat model and the embedding model loaded together: a RAG question loads nothing.
        {"name": "OLLAMA_MAX_LOADED_MODELS", "value": str(OLLAMA_MAX_LOADED_MODELS)},
        {"name": "OLLAMA_NUM_PARALLEL", "value": str(settings.ollama_num_parallel)},
        {"name": "OLLAMA_CONTEXT_LENGTH", "value": str(settings.ollama_context_length)},
        {"name": "OLLAMA_KV_CACHE_TYPE", "value": settings.ollama_kv_cache_type},
        # strconv.ParseBool's "true"/"false" (envconfig BoolWithDefault); unset would be
        # "auto", which llama-server resolves by itself.
        {"name": "OLLAMA_FLASH_ATTENTION", "value": str(settings.ollama_flash_attention).lower()},
        {"name": "OLLAMA_KEEP_ALIVE", "value": "30m"},
        {"name": "LLAMA_ARG_CACHE_RAM", "value": str(settings.ollama_prompt_cache_mib)},
    ]


def ollama_values(settings: Settings, gpu: bool = False) -> dict:
    """Values for otwld/ollama-helm: ClusterIP only, no ingress, models on a volume, no
    postStart model hook (a Job pulls them), no calls home. With `gpu`, one NVIDIA GPU
    (the chart's limit nvidia.com/gpu: 1) through the nvidia runtime class."""
    values = {
        "ollama": {"gpu": {"enabled": gpu, "type": "nvidia", "number": 1}},
        "service": {"type": "ClusterIP"},
        "ingress": {"enabled": False},
        # The models outlive the release (templates/pvc.yaml puts persistentVolume.annotations
        # on the claim).
        "persistentVolume": {"enabled": True, "size": VOLUME_SIZE, "annotations": HELM_KEEP},
        "resources": ollama_resources(settings, gpu),
        # The ollama container's (templates/deployment.yaml `securityContext`, chart 1.77.0).
        "securityContext": NO_CAPABILITIES,
        "extraEnv": ollama_environment(settings),
        "serviceAccount": {"automount": False},
        "tests": {"enabled": False},
    }
    if gpu:
        values["runtimeClassName"] = RUNTIME_CLASS
    return values


PULL_SCRIPT = """\
set -eu
present() { ollama list | awk 'NR > 1 {print $1}' | grep -qxF "$1"; }
until ollama list >/dev/null 2>&1; do echo "waiting for Ollama at $OLLAMA_HOST"; sleep 5; done
for model in $MODELS; do
  if present "$model"; then echo "present: $model"; continue; fi
  echo "pulling: $model"
  ollama pull "$model"
done
for entry in $MODEL_FILES; do
  model=${entry%%=*} file=${entry#*=}
  if present "$model"; then echo "present: $model"; continue; fi
  echo "importing: $model from $file"
  printf 'FROM /models/%s\\n' "$file" > /tmp/Modelfile
  ollama create "$model" -f /tmp/Modelfile
done
"""


def model_puller_job(settings: Settings) -> dict:
    """A Job that pulls (or, air-gapped, imports) every model through Ollama's API. Its name
    carries a hash of the model list: a new list is a new Job; an unchanged one, no change."""
    imported = {model: Path(path).name for model, path in settings.ollama_model_files.items()}
    pulled = [model for model in settings.models if model not in imported]
    digest = hashlib.sha256(repr((pulled, sorted(imported.items()))).encode()).hexdigest()[:10]
    pod: dict[str, Any] = {
        "restartPolicy": "OnFailure",
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "pull",
                "image": PINNED_VERSIONS["ollama image"],
                "command": ["sh", "-c", PULL_SCRIPT],
                "env": [
                    {"name": "OLLAMA_HOST", "value": OLLAMA.url},
                    {"name": "MODELS", "value": " ".join(pulled)},
                    {
                        "name": "MODEL_FILES",
                        "value": " ".join(f"{m}={f}" for m, f in imported.items()),
                    },
                ],
                "resources": RESOURCES["ollama-model-puller"],
            }
        ],
    }
    if imported:
        pod["containers"][0]["volumeMounts"] = [
            {"name": "models", "mountPath": "/models", "readOnly": True}
        ]
        pod["volumes"] = [
            {"name": "models", "hostPath": {"path": MODEL_FILES_DIR, "type": "Directory"}}
        ]
        # The files were uploaded to the first server.
        pod["nodeSelector"] = {FIRST_SERVER_LABEL: "true"}
    labels = {"app.kubernetes.io/name": MODEL_PULLER_LABEL}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        # The label on the Job itself too: Kubernetes copies the pod template's labels to a Job
        # only when the Job has none (SetDefaults_Job, pkg/apis/batch/v1/defaults.go), and the
        # restore's repair finds the Job by it (operations/recovery.py).
        "metadata": {
            "name": f"ollama-models-{digest}",
            "namespace": NAMESPACE,
            "labels": {**labels, "app.kubernetes.io/part-of": "llm-appliance"},
        },
        "spec": {
            "backoffLimit": 6,
            "activeDeadlineSeconds": settings.ollama_pull_timeout_minutes * 60,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels},
                "spec": pod,
            },
        },
    }
