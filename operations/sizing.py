"""Sizing: what the appliance needs from its host (OS, CPUs, RAM, disk, ports) and the memory
figures its budget is built from (kubelet reservations, the platform's pod requests, Ollama's).

Plain constants, units in their names (MIB, GIB, KIB); imports nothing of the project:
settings, the preflight, operations/memory.py and the k3s layer read them.
"""

SUPPORTED_OS: dict[str, tuple[str, ...]] = {"Ubuntu": ("22.04", "24.04"), "Debian": ("12", "13")}
SUPPORTED_ARCHITECTURES = ("x86_64", "aarch64")
# CPUs the preflight asks for. The reference server has 4 vCPU; with 1, k3s, PostgreSQL, Open
# WebUI and a model's inference would starve each other (k3s itself asks for 2 on a server).
MIN_CPUS = 2
REFERENCE_CPUS = 4
# The reference box's RAM as the preflight reads it: MemTotal, in KiB, of an Ubuntu 24.04 VM
# with 8 GiB (the figure of the project's lead, not read on such a VM here; the kernel keeps
# about 200 MiB of the 8 GiB). What `appliance init` and `check` warn against before any host
# is read.
REFERENCE_MEM_TOTAL_KIB = 8139012
# Ports the appliance serves; another program holding one of them would break it.
APPLIANCE_PORTS = (80, 443, 6443)
# Programs that legitimately hold those ports once the appliance runs.
APPLIANCE_PORT_HOLDERS = ("k3s", "k3s-server", "k3s-agent", "traefik")
# Memory kept from pods by the kubelet (k3s config.yaml), in MiB: for the OS, for k3s itself,
# and the free memory below which the kubelet evicts pods, so a greedy pod cannot starve the host.
KUBELET_SYSTEM_RESERVED_MIB = 384
KUBELET_KUBE_RESERVED_MIB = 256
KUBELET_EVICTION_MEMORY_MIB = 256
# Memory, in GiB: the operating system with k3s itself (what the kubelet keeps from pods).
SYSTEM_MEMORY_GIB = (
    KUBELET_SYSTEM_RESERVED_MIB + KUBELET_KUBE_RESERVED_MIB + KUBELET_EVICTION_MEMORY_MIB
) / 1024
# Every pod's memory request but Ollama's, in MiB, on a host without a GPU: what the kube
# scheduler reserves beside Ollama. The sum of the requests in the recorded chart renders
# (tests/data/charts: Traefik 64, CloudNativePG 96, Netdata 192 + 128 + 96, Open WebUI 816),
# the appliance's own manifests (PostgreSQL 256, the backup CronJob 64, the model Job 32) and
# k3s's coredns (70; metrics-server is disabled); tests/unit/test_budget.py adds them up again.
PLATFORM_REQUESTS_MIB = 1814
# With ollama_gpu, the NVIDIA device plugin's DaemonSet requests this much more (MiB).
DEVICE_PLUGIN_REQUEST_MIB = 32
# A model's room beyond its weights where its shape is unknown, and with a GPU (GPU memory).
MODEL_MEMORY_FACTOR = 1.2
# With the model in GPU memory, Ollama's RAM: the server, CUDA's host side and buffers (GiB).
OLLAMA_GPU_HOST_MEMORY_GIB = 2
# Models Ollama keeps loaded at once: a chat model and the embedding model, so that a RAG
# question loads nothing (OLLAMA_MAX_LOADED_MODELS; Ollama v0.32.15 server/sched.go
# processPending unloads one when this many are loaded). Ollama's memory holds the two largest.
OLLAMA_MAX_LOADED_MODELS = 2
# Disk, in GiB, under /var/lib/rancher: k3s, container images, databases and logs, before models.
PLATFORM_DISK_GIB = 15.0
