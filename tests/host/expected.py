"""What a deployed host must have, written out: the one expectation that the shipped suite
(tests/host, against a real host) and the unit contract (tests/unit/test_host_contract.py,
against what the deploy renders) both check. Literal values, never read from operations/:
a deploy change that breaks one of these fails both (README "What the host layer does").

    >>> KERNEL_PARAMETERS["vm.overcommit_memory"]
    '1'
"""

# The host layer's kernel parameters, persisted in one sysctl drop-in.
KERNEL_PARAMETERS_FILE = "/etc/sysctl.d/90-llm-appliance.conf"
KERNEL_PARAMETERS = {
    # Kubernetes networking: routed pod traffic, bridged traffic seen by iptables.
    "net.ipv4.ip_forward": "1",
    "net.ipv6.conf.all.forwarding": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    # Many pods watch many files.
    "fs.inotify.max_user_instances": "8192",
    "fs.inotify.max_user_watches": "524288",
    # k3s CIS hardening guide (the kubelet's protect-kernel-defaults refuses other values).
    "vm.overcommit_memory": "1",
    "vm.panic_on_oom": "0",
    "kernel.panic": "10",
    "kernel.panic_on_oops": "1",
}
KERNEL_MODULES_FILE = "/etc/modules-load.d/llm-appliance.conf"
KERNEL_MODULES = ("overlay", "br_netfilter")
PACKAGES = (
    "ca-certificates",
    "curl",
    "iproute2",
    "kmod",
    "systemd-timesyncd",
    "ufw",
    "unattended-upgrades",
)
FAIL2BAN_PACKAGES = ("fail2ban", "python3-systemd")
FAIL2BAN_FILE = "/etc/fail2ban/jail.d/llm-appliance.conf"

# Hardening (README "Security model"): none of these is a value k3s or the pods need otherwise.
HARDENING_PARAMETERS_FILE = "/etc/sysctl.d/80-llm-appliance-hardening.conf"
HARDENING_PARAMETERS = {
    "dev.tty.ldisc_autoload": "0",
    "kernel.core_uses_pid": "1",
    "kernel.ctrl-alt-del": "0",
    "kernel.kptr_restrict": "2",
    "kernel.perf_event_paranoid": "3",
    "kernel.unprivileged_bpf_disabled": "1",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
    "net.ipv4.conf.default.accept_source_route": "0",
    "net.ipv4.conf.all.log_martians": "1",
    "net.ipv4.conf.default.log_martians": "1",
}
HARDENING_PACKAGES = ("acct", "apt-listchanges", "libpam-pwquality", "libpam-tmpdir")
BLOCKED_MODULES = ("dccp", "sctp", "rds", "tipc", "firewire-core", "firewire-ohci")

# The operating systems the appliance installs on (README "Set up and test").
SUPPORTED_OS = {"Ubuntu": ("22.04", "24.04"), "Debian": ("12", "13")}

# The k3s layer's files (README "The k3s layer").
K3S_BINARY = "/usr/local/bin/k3s"
K3S_CONFIG_FILE = "/etc/rancher/k3s/config.yaml"
KUBECONFIG_FILE = "/etc/rancher/k3s/k3s.yaml"
# The Kubernetes API server's port, which the firewall opens to admin_cidrs only.
API_SERVER_PORT = "6443"

# The apps layer's objects (README "The apps layer").
NAMESPACE = "llm"
POSTGRES_CLUSTER = "postgres"
POSTGRES_APP_SECRET = "postgres-app"
WEBUI_SECRETS = "open-webui-secrets"
BACKUP_CRONJOB = "llm-appliance-backup"

# Ollama on an NVIDIA GPU (README "NVIDIA GPUs"): NVIDIA's container toolkit, its runtime in k3s's
# containerd and the RuntimeClass k3s makes for it, and the label of a node with a GPU.
TOOLKIT_PACKAGES = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)
NVIDIA_RUNTIME_BINARY = "/usr/bin/nvidia-container-runtime"
CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"
RUNTIME_CLASS = "nvidia"
GPU_NODE_LABEL = "nvidia.com/gpu.present"
