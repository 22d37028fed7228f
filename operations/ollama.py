"""Ollama: the otwld/ollama-helm chart (ClusterIP only, models on a volume, no calls home) and
a Job that pulls, or air-gapped imports, every model through Ollama's API.

    ollama_values(settings, gpu=False)  # the chart's values (gpu: on an NVIDIA GPU)
    model_puller_job(settings)  # the Job, named by a hash of the model list
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

from operations.gpu import RUNTIME_CLASS
from operations.components import OLLAMA
from operations.names import FIRST_SERVER_LABEL, MODEL_FILES_DIR, MODEL_PULLER_LABEL, NAMESPACE
from operations.rendering import HELM_KEEP
from operations.settings import (
    MODEL_MEMORY_FACTOR,
    OLLAMA_GPU_HOST_MEMORY_GIB,
    OLLAMA_PROMPT_CACHE_MIB,
    PINNED_VERSIONS,
    Settings,
)

# The models' volume. k3s's local-path storage neither enforces a volume's size nor lets it
# grow (its StorageClass has no allowVolumeExpansion): a size computed from the models would
# make the chart's upgrade fail at the first model that changed it. The size is nominal; the
# preflight checks the disk for every model (Settings.disk_needed_gib).
VOLUME_SIZE = "100Gi"
# Ollama's request covers the server alone; its limit adds room for the largest model
# (ollama_resources).
RESOURCES = {
    "ollama": {"requests": {"cpu": "500m", "memory": "256Mi"}},
    "ollama-model-puller": {"requests": {"cpu": "50m", "memory": "32Mi"},
                            "limits": {"memory": "256Mi"}},
}


def ollama_resources(settings: Settings, gpu: bool = False) -> dict:
    """The server's request, and a limit that holds the largest model, the server (1 GiB) and
    the runner's prompt cache in RAM (OLLAMA_PROMPT_CACHE_MIB). With a GPU, the model is in GPU
    memory: the limit holds the server, CUDA's host side and the prompt cache."""
    cache_gib = OLLAMA_PROMPT_CACHE_MIB / 1024
    if gpu:
        limit_gib = math.ceil(OLLAMA_GPU_HOST_MEMORY_GIB + cache_gib)
        return {**RESOURCES["ollama"], "limits": {"memory": f"{limit_gib}Gi"}}
    largest = settings.largest_model
    model_gib = largest[1] * MODEL_MEMORY_FACTOR if largest else 0
    limit_gib = math.ceil(model_gib + 1 + cache_gib)
    return {**RESOURCES["ollama"], "limits": {"memory": f"{limit_gib}Gi"}}


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
        "extraEnv": [
            {"name": "OLLAMA_NO_CLOUD", "value": "1"},
            {"name": "OLLAMA_MAX_LOADED_MODELS", "value": "1"},
            {"name": "OLLAMA_NUM_PARALLEL", "value": "1"},
            {"name": "OLLAMA_KEEP_ALIVE", "value": "30m"},
            # llama-server's prompt cache in RAM (8 GiB unless capped; see settings.py).
            {"name": "LLAMA_ARG_CACHE_RAM", "value": str(OLLAMA_PROMPT_CACHE_MIB)},
        ],
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
    pod = {
        "restartPolicy": "OnFailure",
        "automountServiceAccountToken": False,
        "containers": [{
            "name": "pull",
            "image": PINNED_VERSIONS["ollama image"],
            "command": ["sh", "-c", PULL_SCRIPT],
            "env": [
                {"name": "OLLAMA_HOST", "value": OLLAMA.url},
                {"name": "MODELS", "value": " ".join(pulled)},
                {"name": "MODEL_FILES", "value": " ".join(f"{m}={f}" for m, f in imported.items())},
            ],
            "resources": RESOURCES["ollama-model-puller"],
        }],
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
        "metadata": {"name": f"ollama-models-{digest}", "namespace": NAMESPACE,
                     "labels": {**labels, "app.kubernetes.io/part-of": "llm-appliance"}},
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
