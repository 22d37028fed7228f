"""Ollama's facts: the models its pod has (`ollama list`), and the download size of a model
the Ollama registry serves, read from the host (the preflight's RAM and disk check).
"""

from __future__ import annotations

import json

from pyinfra.api import FactBase

from operations.components import OLLAMA


class OllamaModels(FactBase):
    """
    The models Ollama has (what its /api/tags lists, through `ollama list` in its pod). Empty
    before k3s or Ollama runs.

    .. code:: python

        host.get_fact(OllamaModels, namespace="llm")  # {"llama3.2:3b"}
    """

    default = set

    def command(self, namespace):
        return (
            f"if [ -x /usr/local/bin/k3s ]; then /usr/local/bin/k3s kubectl --namespace "
            f"{namespace} exec {OLLAMA.workload.ref} -- ollama list 2>/dev/null; fi; true"
        )

    def process(self, output):
        return {line.split()[0] for line in output[1:] if line.strip()}


# Where `ollama pull` reads a model's manifest (ollama/ollama, server/images.go:
# pullModelManifest): https://HOST/v2/NAMESPACE/MODEL/manifests/TAG, HOST registry.ollama.ai
# and NAMESPACE library unless the name gives them, with this Accept header.
OLLAMA_REGISTRY = "registry.ollama.ai"
OLLAMA_MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"


def ollama_manifest_url(model: str) -> str:
    """The registry URL of a model's manifest:
    ``ollama_manifest_url("qwen3:30b")`` gives
    'https://registry.ollama.ai/v2/library/qwen3/manifests/30b'."""
    name, _, tag = model.rpartition(":")
    parts = name.split("/")
    host = parts.pop(0) if len(parts) == 3 else OLLAMA_REGISTRY
    namespace = parts.pop(0) if len(parts) == 2 else "library"
    return f"https://{host}/v2/{namespace}/{parts[0]}/manifests/{tag}"


def ollama_manifest_bytes(manifest: dict) -> int:
    """What `ollama pull` downloads for a manifest: its config and every layer (weights,
    template, licence, parameters), in bytes."""
    return manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])


class OllamaModelDownload(FactBase):
    """
    A model's download size as the Ollama registry publishes it, read from the host (which
    must reach the registry to pull it anyway): ``{"bytes": N}``, or ``{"error": LINE}`` when
    the registry cannot be read (no route, no DNS: an air-gapped host) or does not know it.
    Uses curl, else wget, else python3, whichever the host has.

    .. code:: python

        host.get_fact(OllamaModelDownload, model="gemma:2b")  # {"bytes": 1678456656}
    """

    def command(self, model):
        url, accept = ollama_manifest_url(model), f"Accept: {OLLAMA_MANIFEST_TYPE}"
        return (
            "{ if command -v curl >/dev/null; then "
            f"curl -fsS --max-time 20 -H '{accept}' '{url}'; "
            "elif command -v wget >/dev/null; then "
            f"wget -q -T 20 -O - --header='{accept}' '{url}'; "
            "else python3 -c 'import sys, urllib.request as u; sys.stdout.write(u.urlopen("
            'u.Request(sys.argv[1], headers={"Accept": sys.argv[2]}), timeout=20)'
            f".read().decode())' '{url}' '{OLLAMA_MANIFEST_TYPE}'; fi; }} 2>&1; true"
        )

    @staticmethod
    def default():
        return {"error": "no answer"}

    def process(self, output):
        text = "\n".join(output)
        try:
            return {"bytes": ollama_manifest_bytes(json.loads(text))}
        except (ValueError, KeyError, TypeError):
            lines = [line.strip() for line in output if line.strip()]
            return {"error": lines[-1] if lines else "no answer"}
