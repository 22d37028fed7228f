"""Ollama on an NVIDIA GPU (see operations/gpu.py), on hosts whose Ollama uses one; skipped,
with the reason, on the others (a host without an NVIDIA GPU, `ollama_gpu: none`).

Run with the layers deployed: `pytest tests/host --inventory inventories/prod.py`.
"""

import json

import pytest

from host.expected import (
    CONTAINERD_CONFIG,
    GPU_NODE_LABEL,
    NAMESPACE,
    NVIDIA_RUNTIME_BINARY,
    RUNTIME_CLASS,
    TOOLKIT_PACKAGES,
)
from operations import gpu
from operations.gpu_facts import NvidiaGpus, NvidiaRuntimeInContainerd
from operations.pins import PINNED_VERSIONS


@pytest.fixture
def gpu_host(fact, settings):
    """This host's GPU choice, as the deploy made it; skips on a host that uses the CPU."""
    choice = gpu.gpu_choice(settings.ollama_gpu, fact(NvidiaGpus))
    if not choice.use:
        pytest.skip(f"Ollama runs on the CPU here ({choice.reason})")
    return choice


@pytest.fixture
def gpu_cluster(kubectl, fact, settings, request):
    """The GPU nodes the deploy labelled (read on a server); skips on a CPU-only cluster, and
    without asking the cluster where no GPU is configured: `ollama_gpu: none` on every host,
    or a single host whose Ollama uses the CPU."""
    every = list(request.config.appliance_settings.values()) or [settings]
    if all(node.ollama_gpu == "none" for node in every):
        pytest.skip("ollama_gpu: none: Ollama runs on the CPU")
    if len(every) == 1:
        choice = gpu.gpu_choice(settings.ollama_gpu, fact(NvidiaGpus))
        if not choice.use:
            pytest.skip(f"Ollama runs on the CPU here ({choice.reason})")
    labelled = kubectl(f"get nodes --selector {GPU_NODE_LABEL}=true --output name").split()
    if not labelled:
        pytest.skip(f"no node is labelled {GPU_NODE_LABEL}: Ollama runs on the CPU")
    return [name.split("/", 1)[1] for name in labelled]


@pytest.mark.host
def test_container_toolkit_installed(host, gpu_host):
    for package in TOOLKIT_PACKAGES:
        installed = host.package(package)
        assert installed.is_installed, package
        assert installed.version == PINNED_VERSIONS["nvidia container toolkit"], package
    assert host.file(NVIDIA_RUNTIME_BINARY).is_file


@pytest.mark.k3s
def test_containerd_has_the_nvidia_runtime(fact, gpu_host):
    assert fact(
        NvidiaRuntimeInContainerd, binary=NVIDIA_RUNTIME_BINARY, config=CONTAINERD_CONFIG
    ) == {"installed": True, "in_config": True}


@pytest.mark.k3s
def test_runtime_class_exists(kubectl, gpu_cluster):
    runtime_class = json.loads(kubectl(f"get runtimeclass {RUNTIME_CLASS} -o json"))
    assert runtime_class["handler"] == RUNTIME_CLASS


@pytest.mark.apps
def test_a_gpu_node_advertises_nvidia_gpus(kubectl, gpu_cluster):
    for node in gpu_cluster:
        allocatable = json.loads(kubectl(f"get node {node} -o json"))["status"]["allocatable"]
        assert int(allocatable.get("nvidia.com/gpu", "0")) >= 1, node


@pytest.mark.apps
def test_nvidia_smi_works_inside_the_ollama_pod(kubectl, gpu_cluster):
    listed = kubectl(f"--namespace {NAMESPACE} exec deploy/ollama -- nvidia-smi --list-gpus")
    assert listed.startswith("GPU 0:")


@pytest.mark.apps
def test_the_model_runs_on_the_gpu(kubectl, settings, gpu_cluster):
    model = settings.ollama_models[0]
    body = json.dumps(
        {"model": model, "prompt": "hi", "stream": False, "options": {"num_predict": 1}}
    )
    # One token through Ollama's API inside its own pod (bash's /dev/tcp: no curl needed).
    kubectl(
        f"--namespace {NAMESPACE} exec deploy/ollama -- bash -c "
        f"'exec 3<>/dev/tcp/127.0.0.1/11434; printf \"POST /api/generate HTTP/1.0\\r\\n"
        f'Content-Type: application/json\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n%s" '
        f"\"$0\" >&3; cat <&3 >/dev/null' '{body}'"
    )
    running = kubectl(f"--namespace {NAMESPACE} exec deploy/ollama -- ollama ps")
    (line,) = [line for line in running.splitlines() if line.startswith(model)]
    assert "100% GPU" in line, running
