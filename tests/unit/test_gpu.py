"""The NVIDIA path (ollama_gpu): facts parsed from real nvidia-smi outputs, the choice and the
preflight, the GPU manifests, and the CPU path left exactly as it was.

Recorded outputs, from public reports (each line as nvidia-smi prints it; the fact's own
command adds the ``pci`` lines from sysfs and the ``exit`` line):
- RTX_2080: Ricks-Lab/gpu-utils issue #83, a `--query-gpu=...,memory.total,...,
  driver_version,name,... --format=csv,noheader,nounits` run on a GeForce RTX 2080
  (7979, 440.64, GeForce RTX 2080); the same three fields in this fact's order.
- QUADRO_PAIR: akash-network/provider-configs pull request #12, `nvidia-smi` on two Quadro
  RTX 4000 (8192 MiB each, driver 535.129.03), in this fact's CSV form.
- NO_DRIVER: NVIDIA/nvidia-docker issue #988 and ci-for-research/self-hosted-runners issue
  #40, nvidia-smi with the driver not loaded.
- MISMATCH: lyulyul/shine-cluster issue #50, nvidia-smi after a driver upgrade without a reboot.
"""

import pytest
import yaml
from k8s_schemas import unknown_value_paths, validate_manifest

from appliance.budget import budget
from operations import apps, gpu, ollama
from operations.gpu_facts import NvidiaGpus, NvidiaRuntimeInContainerd
from operations.host_facts import KeyringFingerprints
from operations.pins import PINNED_VERSIONS
from operations.preflight import NO_GPU, host_problems
from operations.rendering import write_tree
from operations.settings import load

GIB = 1024 * 1024

RTX_2080 = ["pci 0000:0a:00.0", "GeForce RTX 2080, 7979, 440.64", "exit 0"]
QUADRO_PAIR = [
    "pci 0000:06:00.0",
    "pci 0000:07:00.0",
    "Quadro RTX 4000, 8192, 535.129.03",
    "Quadro RTX 4000, 8192, 535.129.03",
    "exit 0",
]
NO_DRIVER = [
    "pci 0000:01:00.0",
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.",
    "exit 9",
]
MISMATCH = [
    "pci 0000:01:00.0",
    "Failed to initialize NVML: Driver/library version mismatch",
    "exit 18",
]
NO_NVIDIA = ["exit 127"]


def facts(output):
    return NvidiaGpus().process(output)


@pytest.fixture(scope="session")
def settings(base_data_no_acme):
    def settings(**data):
        return load({**base_data_no_acme, **data})

    return settings


def test_facts_of_one_gpu():
    assert facts(RTX_2080) == {
        "pci_devices": ["0000:0a:00.0"],
        "driver_problem": None,
        "gpus": [{"name": "GeForce RTX 2080", "memory_mib": 7979, "driver_version": "440.64"}],
    }


def test_facts_of_two_gpus():
    found = facts(QUADRO_PAIR)
    assert found["pci_devices"] == ["0000:06:00.0", "0000:07:00.0"]
    assert [gpu["memory_mib"] for gpu in found["gpus"]] == [8192, 8192]


def test_facts_of_a_driver_that_does_not_answer():
    assert facts(NO_DRIVER) == {
        "pci_devices": ["0000:01:00.0"],
        "gpus": [],
        "driver_problem": "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't "
        "communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is "
        "installed and running.",
    }
    assert facts(MISMATCH)["driver_problem"] == (
        "nvidia-smi failed: Failed to initialize NVML: Driver/library version mismatch"
    )


def test_facts_without_nvidia():
    assert facts(NO_NVIDIA) == NO_GPU


def test_fact_command_reads_pci_vendor_and_queries_nvidia_smi():
    command = NvidiaGpus().command()
    assert "/sys/bus/pci/devices/*" in command and "0x10de" in command and "0x03*" in command
    assert (
        "nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits"
    ) in command


def test_choice():
    assert gpu.gpu_choice("auto", facts(RTX_2080)) == gpu.GpuChoice(
        True, "GPU: GeForce RTX 2080 (7979 MiB, driver 440.64)", tuple(facts(RTX_2080)["gpus"])
    )
    assert gpu.gpu_choice("none", facts(RTX_2080)).reason == "CPU: ollama_gpu is none"
    assert gpu.gpu_choice("auto", NO_GPU) == gpu.GpuChoice(False, "CPU: no NVIDIA GPU on this host")
    broken = gpu.gpu_choice("auto", facts(NO_DRIVER))
    assert not broken.use
    assert broken.reason.startswith("CPU: an NVIDIA GPU is present but its driver does not answer")
    assert "sudo ubuntu-drivers install" in broken.reason


def check(node_settings, mem_gib, gpus):
    return host_problems(
        node_settings,
        {"name": "Ubuntu", "major": 24, "minor": 4},
        "x86_64",
        cpus=4,
        mem_total_kib=int(mem_gib * GIB),
        disk={"mount": "/", "free_kib": 500 * GIB, "used_by_path_kib": 0},
        listening={},
        gpus=gpus,
    )


def test_nvidia_without_a_working_driver_stops_with_the_fix(settings):
    (problem,) = check(settings(ollama_gpu="nvidia"), 16, facts(NO_DRIVER))
    assert problem == (
        "ollama_gpu: nvidia, but the NVIDIA driver does not answer on this host (nvidia-smi "
        "failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.); install the NVIDIA "
        "driver for this OS (Ubuntu: sudo ubuntu-drivers install; Debian: the nvidia-driver "
        "package from non-free), reboot, check that nvidia-smi lists the GPU, and run again "
        "(the appliance does not install kernel drivers)"
    )
    assert gpu.gpu_problems("nvidia", NO_GPU) == [
        "ollama_gpu: nvidia, but this host has no NVIDIA GPU (no PCI display controller of "
        "vendor 10de); set ollama_gpu to auto or none, or deploy on a host with one"
    ]
    assert gpu.gpu_problems("auto", facts(NO_DRIVER)) == []


def test_with_a_gpu_the_weights_go_to_gpu_memory(settings):
    # qwen3:8b (4.9 GiB, shape not in the table: an estimate of 6086 MiB) does not fit the
    # CPU of the 8 GB box; beside a GPU, 896 + 1846 + 2048 MiB of RAM do.
    eight_b = settings(ollama_models=["qwen3:8b"])
    assert check(eight_b, 7.7, facts(RTX_2080)) == []
    assert check(eight_b, 7.7, NO_GPU)[0].startswith("ollama_models: Ollama needs 6780 MiB")
    big = settings(ollama_models=["gemma3:27b"])
    assert check(big, 32, facts(RTX_2080)) == [
        "ollama_models: with the GPU, model weights go to GPU memory: gemma3:27b (15.9 GiB of "
        "weights) needs 19.1 GiB, the GPU has 7.8 GiB (GPU: GeForce RTX 2080 (7979 MiB, driver "
        "440.64)); choose a smaller model, or ollama_gpu: none to run it on the CPU"
    ]
    assert check(eight_b, 4, facts(RTX_2080)) == [
        "the host has 4096 MiB of RAM, the platform and Ollama beside its GPU need 4790 MiB; "
        "use a larger host"
    ]


def test_auto_on_a_cpu_host_renders_exactly_the_cpu_manifests(settings):
    for data in ({}, {"ollama_models": ["qwen3:8b"], "webui_signup": True}):
        auto = settings(**data)
        cpu = settings(**data, ollama_gpu="none")
        used = gpu.gpu_choice(auto.ollama_gpu, NO_GPU).use
        assert apps.app_files(auto, used) == apps.app_files(cpu)
    assert ollama.ollama_values(settings())["ollama"]["gpu"] == {
        "enabled": False,
        "type": "nvidia",
        "number": 1,
    }


@pytest.fixture(scope="session")
def gpu_documents(settings):
    def gpu_documents():
        for host_file in apps.app_files(settings(ollama_gpu="nvidia"), gpu_used=True):
            yield from validate_manifest(host_file.content)

    return gpu_documents


def test_gpu_manifests_validate_and_pin_the_device_plugin(gpu_documents):
    (chart,) = [d for d in gpu_documents() if d["metadata"]["name"] == "nvidia-device-plugin"]
    assert chart["spec"]["repo"] == "https://nvidia.github.io/k8s-device-plugin"
    assert chart["spec"]["chart"] == "nvidia-device-plugin"
    assert chart["spec"]["version"] == PINNED_VERSIONS["nvidia device plugin chart"] == "0.20.0"
    assert chart["spec"]["targetNamespace"] == "nvidia-device-plugin"
    assert yaml.safe_load(chart["spec"]["valuesContent"]) == {
        "runtimeClassName": "nvidia",
        "nodeSelector": {"nvidia.com/gpu.present": "true"},
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    }


# Keys of nvidia-device-plugin's values.yaml at tag v0.20.0 that the appliance sets (read
# there: `runtimeClassName: null`, `nodeSelector: {}`, `resources: {}`, each used by
# templates/daemonset-device-plugin.yml).
DEVICE_PLUGIN_VALUE_PATHS = {"runtimeClassName"}
DEVICE_PLUGIN_FREE_FORM = ("nodeSelector.", "resources.")


def test_device_plugin_values_use_only_keys_the_chart_reads():
    values = gpu.device_plugin_values()
    assert unknown_value_paths(values, DEVICE_PLUGIN_VALUE_PATHS, DEVICE_PLUGIN_FREE_FORM) == []


def test_ollama_on_the_gpu(gpu_documents):
    (chart,) = [
        d for d in gpu_documents() if d["kind"] == "HelmChart" and d["metadata"]["name"] == "ollama"
    ]
    values = yaml.safe_load(chart["spec"]["valuesContent"])
    assert values["ollama"]["gpu"] == {"enabled": True, "type": "nvidia", "number": 1}
    assert values["runtimeClassName"] == "nvidia"
    # The model is in GPU memory: the RAM request and limit hold the server with CUDA's host
    # side (2 GiB) and the chat models' prompt caches (none by default).
    assert values["resources"] == {
        "requests": {"cpu": "500m", "memory": "2048Mi"},
        "limits": {"memory": "2048Mi"},
    }


def test_the_budget_counts_the_device_plugin(settings, tmp_path):
    node_settings = settings(ollama_gpu="nvidia")
    write_tree(apps.app_files(node_settings, gpu_used=True), tmp_path)
    entries = {entry.component: entry for entry in budget(tmp_path)}
    assert (
        entries["nvidia-device-plugin"].request_mib,
        entries["nvidia-device-plugin"].limit_mib,
    ) == (32, 128)
    assert entries["ollama"].limit_mib == entries["ollama"].request_mib == 2048


def test_toolkit_repository_trusts_only_the_pinned_key():
    (source,) = gpu.toolkit_files()
    assert (source.path, source.content) == (
        "/etc/apt/sources.list.d/nvidia-container-toolkit.list",
        "deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] "
        "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n",
    )
    assert PINNED_VERSIONS["nvidia container toolkit"] == "1.20.0-1"


def test_keyring_and_runtime_facts():
    # gpg --show-keys --with-colons: the fingerprint is field 10 of an `fpr` record.
    assert KeyringFingerprints().process(
        [
            "fpr:::::::::C95B321B61E88C1809C4F759DDCAE044F796ECB0:",
        ]
    ) == {"C95B321B61E88C1809C4F759DDCAE044F796ECB0"}
    runtime = NvidiaRuntimeInContainerd()
    assert runtime.process(["installed", "not-in-config"]) == {
        "installed": True,
        "in_config": False,
    }
    assert runtime.process(["installed", "in-config"]) == {"installed": True, "in_config": True}
    assert runtime.process([]) == runtime.default() == {"installed": False, "in_config": None}
