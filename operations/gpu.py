"""Ollama on an NVIDIA GPU (setting ``ollama_gpu``): which nodes use a GPU and why, the NVIDIA
Container Toolkit on those hosts, containerd's ``nvidia`` runtime in k3s, and NVIDIA's device
plugin, through which GPU nodes advertise ``nvidia.com/gpu``.

    choice = gpu_choice("auto", host.get_fact(NvidiaGpus))
    choice.use, choice.reason  # True, "GPU: GeForce RTX 2080 (7979 MiB, driver 440.64)"

The kernel driver is the host owner's: the appliance checks that it answers (``nvidia-smi``)
and never installs one (a driver is built for one kernel, needs a reboot, and on Secure Boot
hosts a signed module; getting it wrong leaves a server without a console).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from pyinfra import host, inventory
from pyinfra.api import operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Hostname
from pyinfra.operations import apt

from operations import health, read_parser
from operations.components import DEVICE_PLUGIN
from operations.fact_batch import read_fact
from operations.gpu_facts import NvidiaGpus, NvidiaRuntimeInContainerd
from operations.host_facts import KeyringFingerprints
from operations.names import K3S_BINARY
from operations.pins import PINNED_VERSIONS
from operations.rendering import HostFile, helm_chart, put_host_file
from operations.settings import Settings, load
from operations.sizing import DEVICE_PLUGIN_REQUEST_MIB

# A label the deploy sets on nodes whose GPU Ollama may use; NVIDIA's device plugin chart
# also reads it in its default node affinity (values.yaml at v0.20.0).
GPU_NODE_LABEL = "nvidia.com/gpu.present"
# The RuntimeClass and containerd runtime name. k3s creates the RuntimeClass itself
# (manifests/runtimes.yaml, since k3s-io/k3s#8751) and adds the runtime to containerd's
# config when /usr/bin/nvidia-container-runtime exists as it starts
# (pkg/agent/containerd/runtimes.go).
RUNTIME_CLASS = "nvidia"
NVIDIA_RUNTIME_BINARY = "/usr/bin/nvidia-container-runtime"
CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"

# NVIDIA's apt repository of the toolkit, as its install guide sets it up, with the signing
# key checked against its fingerprint before apt trusts it.
TOOLKIT_PACKAGES = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)
TOOLKIT_KEY_URL = "https://nvidia.github.io/libnvidia-container/gpgkey"
TOOLKIT_KEY_FINGERPRINT = "C95B321B61E88C1809C4F759DDCAE044F796ECB0"
TOOLKIT_KEYRING = "/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg"
TOOLKIT_SOURCE_FILE = "/etc/apt/sources.list.d/nvidia-container-toolkit.list"
TOOLKIT_REPOSITORY = "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /"

DRIVER_FIX = (
    "install the NVIDIA driver for this OS (Ubuntu: sudo ubuntu-drivers install; Debian: the "
    "nvidia-driver package from non-free), reboot, check that nvidia-smi lists the GPU, and "
    "run again (the appliance does not install kernel drivers)"
)

RESOURCES = {
    "nvidia-device-plugin": {
        "requests": {"cpu": "10m", "memory": f"{DEVICE_PLUGIN_REQUEST_MIB}Mi"},
        "limits": {"memory": "128Mi"},
    },
}


@dataclass(frozen=True)
class GpuChoice:
    """Whether a host's Ollama uses its GPU, why, and the GPUs nvidia-smi listed."""

    use: bool
    reason: str
    gpus: tuple = ()

    @property
    def largest_gpu_mib(self) -> int:
        return max((gpu["memory_mib"] for gpu in self.gpus), default=0)


def describe(gpus) -> str:
    """``describe([{"name": "L4", "memory_mib": 23034, "driver_version": "550.54.15"}])``
    gives 'L4 (23034 MiB, driver 550.54.15)'."""
    return ", ".join(
        f"{gpu['name']} ({gpu['memory_mib']} MiB, driver {gpu['driver_version']})" for gpu in gpus
    )


def gpu_choice(setting: str, facts: dict) -> GpuChoice:
    """Decide from the NvidiaGpus fact: ``gpu_choice("auto", {"pci_devices": [], "gpus": [],
    "driver_problem": "..."})`` gives GpuChoice(False, "CPU: no NVIDIA GPU on this host")."""
    if setting == "none":
        return GpuChoice(False, "CPU: ollama_gpu is none")
    if facts["gpus"]:
        return GpuChoice(True, f"GPU: {describe(facts['gpus'])}", tuple(facts["gpus"]))
    if facts["pci_devices"]:
        return GpuChoice(
            False,
            f"CPU: an NVIDIA GPU is present but its driver does not answer "
            f"({facts['driver_problem']}); {DRIVER_FIX}",
        )
    return GpuChoice(False, "CPU: no NVIDIA GPU on this host")


def gpu_problems(setting: str, facts: dict) -> list[str]:
    """What stops a run before anything changes: ``nvidia`` without a working GPU."""
    if setting != "nvidia" or facts["gpus"]:
        return []
    if facts["pci_devices"]:
        return [
            f"ollama_gpu: nvidia, but the NVIDIA driver does not answer on this host "
            f"({facts['driver_problem']}); {DRIVER_FIX}"
        ]
    return [
        "ollama_gpu: nvidia, but this host has no NVIDIA GPU (no PCI display controller of "
        "vendor 10de); set ollama_gpu to auto or none, or deploy on a host with one"
    ]


def host_gpu_choice(settings: Settings, node=host) -> GpuChoice:
    """The choice for an inventory host (the one pyinfra deploys now by default)."""
    return gpu_choice(settings.ollama_gpu, read_fact(node, NvidiaGpus))


def cluster_gpu_nodes() -> dict[str, GpuChoice]:
    """Kubernetes node name -> choice, for the inventory's hosts whose Ollama may use a GPU."""
    found = {}
    for node in inventory:
        choice = host_gpu_choice(load(node.data.dict()), node)
        if choice.use:
            found[node.get_fact(Hostname).lower()] = choice
    return found


def cluster_gpu_line() -> str:
    """What the run summary says about Ollama's GPU, for the whole cluster."""
    nodes = cluster_gpu_nodes()
    if not nodes:
        reasons = {host_gpu_choice(load(node.data.dict()), node).reason for node in inventory}
        return "; ".join(sorted(reasons))
    return "; ".join(f"{name}: {choice.reason}" for name, choice in nodes.items()) + (
        "; model weights in GPU memory"
    )


# -- host layer ---------------------------------------------------------------------------------


def toolkit_files() -> list[HostFile]:
    """The apt source of NVIDIA's toolkit repository, trusting only its pinned key."""
    source = f"deb [signed-by={TOOLKIT_KEYRING}] {TOOLKIT_REPOSITORY}\n"
    return [HostFile(TOOLKIT_SOURCE_FILE, source)]


@operation()
def apt_key_pinned(url: str, fingerprint: str, keyring: str):
    """
    Install an apt signing key from ``url`` into ``keyring``, only if its fingerprint is
    ``fingerprint``; nothing while the keyring holds that key.

    .. code:: python

        apt_key_pinned(url="https://nvidia.github.io/libnvidia-container/gpgkey",
                       fingerprint="C95B321B61E88C1809C4F759DDCAE044F796ECB0",
                       keyring="/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg")
    """
    if fingerprint in host.get_fact(KeyringFingerprints, path=keyring):
        return
    yield (
        "set -e; dir=$(mktemp -d); trap 'rm -rf \"$dir\"' EXIT; "
        f'curl -fsSL --retry 3 -o "$dir/key" {url}; '
        'found=$(gpg --show-keys --with-colons "$dir/key" '
        "| awk -F: '$1 == \"fpr\" {print $10; exit}'); "
        f'[ "$found" = {fingerprint} ] || '
        f'{{ echo "{url}: the key $found is not the pinned {fingerprint}" >&2; exit 1; }}; '
        f'gpg --dearmor --yes -o {shlex.quote(keyring + ".new")} "$dir/key"; '
        f"chmod 644 {shlex.quote(keyring + '.new')}; "
        f"mv {shlex.quote(keyring + '.new')} {shlex.quote(keyring)}"
    )


def container_toolkit(settings: Settings) -> None:
    """The NVIDIA Container Toolkit, pinned, on a host whose Ollama uses its GPU; nothing on
    others. Packages already installed at the pinned version (air-gap: by hand) are kept and
    NVIDIA's repository is then never reached."""
    if not host_gpu_choice(settings).use:
        return
    version = PINNED_VERSIONS["nvidia container toolkit"]
    installed = host.get_fact(DebPackages) or {}
    if all(version in installed.get(package, ()) for package in TOOLKIT_PACKAGES):
        return
    apt.packages(
        name="Install gpg (checks NVIDIA's signing key)", packages=["gpg"], no_recommends=True
    )
    apt_key_pinned(
        name="Trust NVIDIA's toolkit repository key (pinned fingerprint)",
        url=TOOLKIT_KEY_URL,
        fingerprint=TOOLKIT_KEY_FINGERPRINT,
        keyring=TOOLKIT_KEYRING,
    )
    for toolkit_file in toolkit_files():
        put_host_file(toolkit_file)
    apt.packages(
        name=f"Install the NVIDIA Container Toolkit {version}",
        packages=[f"{package}={version}" for package in TOOLKIT_PACKAGES],
        update=True,
        no_recommends=True,
    )


# -- k3s layer ----------------------------------------------------------------------------------


@operation()
def nvidia_runtime_known(service: str):
    """
    Restart k3s once when nvidia-container-runtime is installed but k3s's containerd config,
    written at k3s's last start, lacks it (k3s looks for the runtime only as it starts).

    .. code:: python

        nvidia_runtime_known(service="k3s")
    """
    state = host.get_fact(
        NvidiaRuntimeInContainerd, binary=NVIDIA_RUNTIME_BINARY, config=CONTAINERD_CONFIG
    )
    if state["installed"] and state["in_config"] is False:
        yield f"systemctl restart {service}"


def k3s_gpu_runtime(settings: Settings, service: str) -> None:
    """On a GPU host, make sure the running k3s knows the nvidia runtime."""
    if host_gpu_choice(settings).use:
        nvidia_runtime_known(name="Restart k3s once for the NVIDIA runtime", service=service)


# -- apps layer ---------------------------------------------------------------------------------


def device_plugin_values() -> dict:
    """Values for NVIDIA's nvidia-device-plugin chart: only on labelled GPU nodes, through the
    nvidia runtime (which gives it the driver's libraries)."""
    return {
        "runtimeClassName": RUNTIME_CLASS,
        "nodeSelector": {GPU_NODE_LABEL: "true"},
        "resources": RESOURCES["nvidia-device-plugin"],
    }


def gpu_manifests() -> list[dict]:
    return [
        helm_chart(DEVICE_PLUGIN.installed_chart, device_plugin_values()),
    ]


@operation()
def gpu_nodes_labelled(node_names: tuple[str, ...], settings: Settings, wait_seconds: int = 300):
    """
    Label exactly these Kubernetes nodes as GPU nodes (a node that joins late is waited for);
    the label goes from nodes no longer listed. The labels are read from the run's cluster read
    (operations/health.py): no kubectl call of its own.

    .. code:: python

        gpu_nodes_labelled(node_names=("gpu-1",), settings=settings)
    """
    labelled = read_parser.labelled_nodes(health.latest_read(settings), GPU_NODE_LABEL)
    for name in node_names:
        if name not in labelled:
            node = shlex.quote(name)
            yield (
                f"for second in $(seq {wait_seconds}); do {K3S_BINARY} kubectl get node {node} "
                ">/dev/null 2>&1 && break; sleep 1; done; "
                f"{K3S_BINARY} kubectl label node {node} {GPU_NODE_LABEL}=true --overwrite"
            )
    for name in sorted(labelled - set(node_names)):
        yield f"{K3S_BINARY} kubectl label node {shlex.quote(name)} {GPU_NODE_LABEL}-"
