"""The host layer: kernel, packages, time, security updates and the firewall, for k3s.

Idempotent: every step compares the host with what it must be (file checksums, facts) and
changes only the difference, so a second run reports no change.
"""

from __future__ import annotations

from pyinfra import host, inventory
from pyinfra.api import deploy, operation
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Sysctl
from pyinfra.operations import apt, files, server, systemd

from operations.facts import (
    DpkgInterrupted,
    KernelModules,
    PrimaryAddress,
    SshServerPort,
    TimeSyncService,
    Ufw,
)
from operations.firewall import FirewallRule, stored_address
from operations.gpu import container_toolkit
from operations.rendering import HostFile, put_host_file, render
from operations.settings import Settings

SYSCTL_FILE = "/etc/sysctl.d/90-llm-appliance.conf"
MODULES_FILE = "/etc/modules-load.d/llm-appliance.conf"
KERNEL_MODULES = ("overlay", "br_netfilter")
KERNEL_PARAMETERS = {
    # Kubernetes networking: routed pod traffic, bridged traffic seen by iptables.
    "net.ipv4.ip_forward": "1",
    "net.ipv6.conf.all.forwarding": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    # Many pods watch many files.
    "fs.inotify.max_user_instances": "8192",
    "fs.inotify.max_user_watches": "524288",
    # k3s CIS hardening guide: protect-kernel-defaults makes the kubelet refuse other values.
    "vm.overcommit_memory": "1",
    "vm.panic_on_oom": "0",
    "kernel.panic": "10",
    "kernel.panic_on_oops": "1",
}
APT_LOCK_FILE = "/etc/apt/apt.conf.d/50llm-appliance-lock-timeout"
AUTO_UPGRADES_FILE = "/etc/apt/apt.conf.d/20auto-upgrades"
UNATTENDED_UPGRADES_FILE = "/etc/apt/apt.conf.d/52llm-appliance-unattended-upgrades"
SSHD_FILE = "/etc/ssh/sshd_config.d/10-llm-appliance.conf"
FAIL2BAN_FILE = "/etc/fail2ban/jail.d/llm-appliance.conf"
HOST_PACKAGES = (
    "ca-certificates",
    "curl",
    "iproute2",
    "kmod",
    "systemd-timesyncd",
    "ufw",
    "unattended-upgrades",
)


FAIL2BAN_PACKAGES = ("fail2ban", "python3-systemd")


def host_packages(settings: Settings) -> list[str]:
    return [*HOST_PACKAGES, *(FAIL2BAN_PACKAGES if settings.fail2ban else ())]


def host_files(settings: Settings, ssh_port: int = 22) -> list[HostFile]:
    """Every file the host layer writes (`ssh_port`: the one fail2ban watches)."""
    host_files = [
        # apt waits for a lock held by unattended-upgrades (or an interrupted run) instead
        # of failing at once.
        HostFile(APT_LOCK_FILE, 'DPkg::Lock::Timeout "600";\n'),
        HostFile(SYSCTL_FILE, render("host/sysctl.conf.j2", parameters=KERNEL_PARAMETERS)),
        HostFile(MODULES_FILE, render("host/modules-load.conf.j2", modules=KERNEL_MODULES)),
        HostFile(AUTO_UPGRADES_FILE, render("host/20auto-upgrades.j2")),
        HostFile(
            UNATTENDED_UPGRADES_FILE,
            render(
                "host/unattended-upgrades.conf.j2",
                reboot=settings.unattended_reboot,
                reboot_time=settings.unattended_reboot_time,
            ),
        ),
    ]
    if settings.ssh_hardening:
        host_files.append(HostFile(SSHD_FILE, render("host/sshd.conf.j2")))
    if settings.fail2ban:
        host_files.append(
            HostFile(FAIL2BAN_FILE, render("host/fail2ban-jail.conf.j2", ssh_port=ssh_port))
        )
    return host_files


def firewall_rules(
    settings: Settings, ssh_port: int, peers: tuple[str, ...] = ()
) -> list[FirewallRule]:
    """The ufw rules, in ufw's stored form: all the appliance admits.

        firewall_rules(settings, 22)[0].command  # "allow 22/tcp"
    """
    rules = [FirewallRule("allow", "tcp", str(port)) for port in (ssh_port, 80, 443)]
    rules += [
        FirewallRule("allow", "tcp", "6443", source=stored_address(cidr))
        for cidr in settings.admin_cidrs
    ]
    # Pods and services reach the API server and each other through the host; the other nodes
    # of a cluster too (API server, kubelet, flannel VXLAN, etcd).
    rules += [
        FirewallRule("allow", source=stored_address(source))
        for source in (settings.k3s_cluster_cidr, settings.k3s_service_cidr, *peers)
    ]
    return rules


def cluster_peers() -> tuple[str, ...]:
    """The addresses of the inventory's other hosts, as this host's peers see them."""
    return tuple(
        address
        for node in inventory
        if node.name != host.name and (address := node.get_fact(PrimaryAddress))
    )


@operation()
def kernel_modules_loaded(names: tuple[str, ...]):
    """
    Load kernel modules that are neither loaded nor built in.

    .. code:: python

        kernel_modules_loaded(names=("overlay", "br_netfilter"))
    """
    present = host.get_fact(KernelModules, names=names)
    for name in names:
        if name not in present:
            yield f"modprobe {name}"


@operation()
def kernel_parameters_applied(path: str, parameters: dict[str, str]):
    """
    Load a sysctl drop-in when a running value differs from it (after the file changed, or
    when someone changed a value by hand); a no-op while the kernel matches.

    .. code:: python

        kernel_parameters_applied(path="/etc/sysctl.d/90-k8s.conf", parameters={"vm.panic_on_oom": "0"})
    """
    live = host.get_fact(Sysctl, keys=list(parameters))
    if any(str(live.get(key)) != value for key, value in parameters.items()):
        yield f"sysctl -p {path}"


@operation()
def ntp_synchronization():
    """
    Keep the clock synchronised with systemd-timesyncd (ACME needs a correct clock): enabled,
    and running unless its own conditions skip it (a container shares its host's clock).

    .. code:: python

        ntp_synchronization()
    """
    service = host.get_fact(TimeSyncService)
    running = service.get("ActiveState") == "active" or service.get("ConditionResult") == "no"
    if service.get("UnitFileState") != "enabled" or not running:
        yield "systemctl enable --now systemd-timesyncd.service"


@operation()
def ufw_admits_only(rules: list[FirewallRule]):
    """
    Make ufw deny incoming traffic but for exactly ``rules``, allow outgoing, and be active.
    Rules compare in ufw's stored form (operations/firewall.py); rules not in the list are
    deleted. The allow rules go in before ufw is enabled, so the SSH session in use survives.

    .. code:: python

        ufw_admits_only(rules=[FirewallRule("allow", "tcp", "22")])
    """
    state = host.get_fact(Ufw) or {"active": False, "incoming": None, "outgoing": None, "rules": []}
    if state["incoming"] != "deny":
        yield "ufw default deny incoming"
    if state["outgoing"] != "allow":
        yield "ufw default allow outgoing"
    for rule in rules:
        if rule not in state["rules"]:
            yield f"ufw {rule.command}"
    for rule in state["rules"]:
        if rule not in rules:
            yield f"ufw delete {rule.command}"
    if not state["active"]:
        yield "ufw --force enable"


def ssh_port() -> int:
    """The SSH port this deploy came in on: the firewall never shuts it."""
    return host.get_fact(SshServerPort) or host.data.get("ssh_port") or 22


@operation()
def dpkg_recovered():
    """
    Finish package installs an interrupted run left half done (``dpkg --configure -a``),
    once no package manager runs any more (a killed deploy's apt-get may still be at work).

    .. code:: python

        dpkg_recovered()
    """
    if host.get_fact(DpkgInterrupted):
        yield (
            "for second in $(seq 600); do "
            "pgrep -x 'dpkg|apt-get|apt' >/dev/null || break; sleep 1; done; "
            "DEBIAN_FRONTEND=noninteractive dpkg --configure -a"
        )


@deploy("Host layer")
def install(settings: Settings):
    port = ssh_port()
    by_path = {host_file.path: host_file for host_file in host_files(settings, port)}
    put_host_file(by_path[APT_LOCK_FILE])
    dpkg_recovered(name="Finish package installs an interrupted run left")
    packages = host_packages(settings)
    missing = [p for p in packages if p not in (host.get_fact(DebPackages) or {})]
    apt.packages(
        name="Install the packages the appliance needs",
        packages=packages,
        # Refresh package lists only when something is to be installed: a converged host
        # stays a no-op (unattended-upgrades keeps the lists fresh).
        update=bool(missing),
        no_recommends=True,
    )

    container_toolkit(settings)

    put_host_file(by_path[MODULES_FILE])
    kernel_modules_loaded(name="Load kernel modules", names=KERNEL_MODULES)
    put_host_file(by_path[SYSCTL_FILE])
    kernel_parameters_applied(
        name="Apply kernel parameters", path=SYSCTL_FILE, parameters=KERNEL_PARAMETERS
    )

    ntp_synchronization(name="Synchronise the clock (NTP)")

    for path in (AUTO_UPGRADES_FILE, UNATTENDED_UPGRADES_FILE):
        put_host_file(by_path[path])
    systemd.service(
        name="Run unattended security upgrades daily",
        service="apt-daily-upgrade.timer",
        running=True,
        enabled=True,
    )

    ufw_admits_only(
        name="Firewall: admit only the appliance",
        rules=firewall_rules(settings, port, cluster_peers()),
    )
    _ssh(settings, by_path)


def _ssh(settings: Settings, by_path: dict[str, HostFile]):
    """SSH by key only (opt-in), and fail2ban for sshd."""
    if settings.ssh_hardening:
        sshd = put_host_file(by_path[SSHD_FILE])
    else:
        sshd = files.file(name=f"Remove {SSHD_FILE}", path=SSHD_FILE, present=False)
    server.shell(
        name="Reload sshd for its new config (checked first)",
        commands=["sshd -t && systemctl try-reload-or-restart ssh"],
        _if=sshd.did_change,
    )
    if settings.fail2ban:
        jail = put_host_file(by_path[FAIL2BAN_FILE])
        started = systemd.service(
            name="Run fail2ban", service="fail2ban", running=True, enabled=True
        )
        # A fail2ban started just now reads the jail at start, and does not answer a reload
        # until its socket is up.
        server.shell(
            name="Reload fail2ban for its new jail",
            commands=["fail2ban-client reload"],
            _if=lambda: jail.did_change() and not started.did_change(),
        )
    else:
        files.file(name=f"Remove {FAIL2BAN_FILE}", path=FAIL2BAN_FILE, present=False)
        # Debian's package enables an sshd jail of its own: off means the service stops.
        systemd.service(
            name="Stop fail2ban (fail2ban: false)", service="fail2ban", running=False,
            enabled=False,
        )
