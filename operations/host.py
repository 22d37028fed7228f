"""The host layer: what a bare Ubuntu server needs under k3s (kernel, packages, time, security
updates, the firewall, fail2ban and SSH), its plan and its install.

``plan(settings, node)`` gives the layer's files, packages, units and fact reads
(rendering.LayerPlan); ``install(settings)`` deploys that plan. Idempotent: every step compares
the host with what it must be (file checksums, facts) and changes only the difference, so a
second run reports no change.
"""

from __future__ import annotations

from pyinfra import host, inventory
from pyinfra.api import deploy, operation
from pyinfra.facts.server import Sysctl
from pyinfra.operations import server

from operations import hardening, offsite
from operations.cluster import Node, deployed_node
from operations.fact_batch import batch_reads, fact_key, read_fact
from operations.firewall import FirewallRule, stored_address
from operations.gpu import container_toolkit, host_gpu_choice, toolkit_files
from operations.host_facts import (
    DpkgInterrupted,
    FileState,
    InstalledPackages,
    KernelModules,
    PrimaryAddress,
    SshServerPort,
    SystemdUnit,
    TimeSyncService,
    Ufw,
)
from operations.names import HOST_SYSCTL_FILE
from operations.rendering import HostFile, LayerPlan, file_absent, put_host_file, render
from operations.settings import Settings
from operations.system import (
    kernel_modules_loaded,
    kernel_parameters_applied,
    ntp_synchronization,
    unit_running,
)

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
UPGRADES_TIMER = "apt-daily-upgrade.timer"
FAIL2BAN_UNIT = "fail2ban.service"
UNITS_RUNNING = (UPGRADES_TIMER, FAIL2BAN_UNIT)


def host_packages(settings: Settings, first_server: bool = True) -> list[str]:
    """Every package the host layer installs, in one apt transaction: restic's for the
    off-site backups too, on the first server (operations/offsite.py).

        host_packages(settings)[:2]  # ['ca-certificates', 'curl']
    """
    return [
        *HOST_PACKAGES,
        *hardening.PACKAGES,
        *(FAIL2BAN_PACKAGES if settings.fail2ban else ()),
        *(offsite.PACKAGES if settings.backup_repository and first_server else ()),
    ]


def host_files(settings: Settings, ssh_port: int = 22) -> list[HostFile]:
    """Every file the host layer writes (`ssh_port`: the one fail2ban watches)."""
    host_files = [
        # apt waits for a lock held by unattended-upgrades (or an interrupted run) instead
        # of failing at once.
        HostFile(APT_LOCK_FILE, 'DPkg::Lock::Timeout "600";\n'),
        HostFile(HOST_SYSCTL_FILE, render("host/sysctl.conf.j2", parameters=KERNEL_PARAMETERS)),
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
    return host_files + hardening.hardening_files(settings.idle_logout_seconds)


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


def ufw_commands(state: dict | None, rules: list[FirewallRule]) -> list[str]:
    """The ufw commands that take ufw from ``state`` (the ``Ufw`` fact; None without ufw's
    files) to denying incoming traffic but for exactly ``rules``, allowing outgoing, active;
    none when it is so already. The allow rules go in before ufw is enabled, so the SSH
    session in use survives.

        ufw_commands(None, [FirewallRule("allow", "tcp", "22")])
        # ["ufw default deny incoming", "ufw default allow outgoing", "ufw allow 22/tcp",
        #  "ufw --force enable"]
    """
    state = state or {"active": False, "incoming": None, "outgoing": None, "rules": []}
    commands = []
    if state["incoming"] != "deny":
        commands.append("ufw default deny incoming")
    if state["outgoing"] != "allow":
        commands.append("ufw default allow outgoing")
    commands += [f"ufw {rule.command}" for rule in rules if rule not in state["rules"]]
    commands += [f"ufw delete {rule.command}" for rule in state["rules"] if rule not in rules]
    if not state["active"]:
        commands.append("ufw --force enable")
    return commands


@operation()
def ufw_admits_only(rules: list[FirewallRule]):
    """
    Make ufw deny incoming traffic but for exactly ``rules``, allow outgoing, and be active
    (``ufw_commands``). Rules compare in ufw's stored form (operations/firewall.py); rules not
    in the list are deleted.

    .. code:: python

        ufw_admits_only(rules=[FirewallRule("allow", "tcp", "22")])
    """
    commands = ufw_commands(read_fact(host, Ufw), rules)
    if not commands:
        host.noop(f"ufw is active and admits exactly the {len(rules)} rules")
    yield from commands


def apt_commands(missing: list[str], first_install: bool) -> list[str]:
    """The apt commands that install the ``missing`` packages (without recommends), the
    package lists refreshed first; none when nothing is missing. On a first install, one
    transaction also applies the updates the system image lacks: ``apt-get upgrade`` given
    package names installs those too, and removes nothing (unattended-upgrade run for the same
    updates took 57-72 s on the rehearsal host: Python resolving, then one dpkg run per
    package). Later, ``apt-get install`` touches only what is missing: a setting that adds a
    package never upgrades the rest of a production server (unattended-upgrades does that).

        apt_commands(["restic"], first_install=False)[1].split()[-2:]  # ['install', 'restic']
    """
    if not missing:
        return []
    apt = "DEBIAN_FRONTEND=noninteractive apt-get -y"
    return [
        f"{apt} update",
        f"{apt} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "
        f"--no-install-recommends {'upgrade' if first_install else 'install'} {' '.join(missing)}",
    ]


@operation()
def packages_installed(names: tuple[str, ...], first_install: bool = False):
    """
    Install the Debian packages that are missing (``apt_commands``), with the pending updates
    on a ``first_install``: a converged host stays a no-op (unattended-upgrades keeps the
    lists fresh).

    .. code:: python

        packages_installed(names=("curl", "ufw"))
    """
    commands = apt_commands(
        [name for name in names if name not in read_fact(host, InstalledPackages, names=names)],
        first_install,
    )
    if not commands:
        host.noop(f"the {len(names)} packages are installed")
    yield from commands


def ssh_port() -> int:
    """The SSH port this deploy came in on: the firewall never shuts it."""
    return read_fact(host, SshServerPort) or host.data.get("ssh_port") or 22


@operation()
def dpkg_recovered():
    """
    Finish package installs an interrupted run left half done (``dpkg --configure -a``),
    once no package manager runs any more (a killed deploy's apt-get may still be at work).

    .. code:: python

        dpkg_recovered()
    """
    if read_fact(host, DpkgInterrupted):
        yield (
            "for second in $(seq 600); do "
            "pgrep -x 'dpkg|apt-get|apt' >/dev/null || break; sleep 1; done; "
            "DEBIAN_FRONTEND=noninteractive dpkg --configure -a"
        )
    else:
        host.noop("no package install was left half done")


def plan(settings: Settings, node: Node) -> LayerPlan:
    """The host layer's plan for ``node``: ``host_files`` (and NVIDIA's apt source where the
    node's Ollama uses its GPU), ``host_packages``, the units it runs and every fact its
    operations read (a file's state also where the layer removes it)."""
    files = host_files(settings, node.ssh_port) + (toolkit_files() if node.gpu else [])
    packages = tuple(host_packages(settings, node.first_server))
    removable = (SSHD_FILE, FAIL2BAN_FILE, hardening.IDLE_LOGOUT_FILE)
    return LayerPlan(
        files=tuple(files),
        packages=packages,
        units=UNITS_RUNNING,
        reads=(
            *dict.fromkeys(
                fact_key(FileState, path=path)
                for path in [*(host_file.path for host_file in files), *removable]
            ),
            fact_key(DpkgInterrupted),
            fact_key(InstalledPackages, names=packages),
            fact_key(KernelModules, names=KERNEL_MODULES),
            fact_key(Sysctl, keys=tuple(KERNEL_PARAMETERS)),
            fact_key(Sysctl, keys=tuple(hardening.KERNEL_PARAMETERS)),
            fact_key(TimeSyncService),
            *(fact_key(SystemdUnit, unit=unit) for unit in UNITS_RUNNING),
            fact_key(Ufw),
        ),
    )


@deploy("Host layer")
def install(settings: Settings):
    port = ssh_port()
    layer = plan(settings, deployed_node(port, gpu=host_gpu_choice(settings).use))
    batch_reads(host, *layer.reads)
    by_path = {host_file.path: host_file for host_file in layer.files}
    put_host_file(by_path[APT_LOCK_FILE])
    dpkg_recovered(name="Finish package installs an interrupted run left")
    packages_installed(
        name="Install the packages the appliance needs (and, the first time, pending updates)",
        names=layer.packages,
        # Before the host layer's first run, its kernel parameters' file is not there.
        first_install=read_fact(host, FileState, path=HOST_SYSCTL_FILE) is None,
    )

    container_toolkit(settings)

    put_host_file(by_path[MODULES_FILE])
    kernel_modules_loaded(name="Load kernel modules", names=KERNEL_MODULES)
    put_host_file(by_path[HOST_SYSCTL_FILE])
    kernel_parameters_applied(
        name="Apply kernel parameters", path=HOST_SYSCTL_FILE, parameters=KERNEL_PARAMETERS
    )

    ntp_synchronization(name="Synchronise the clock (NTP)")

    for path in (AUTO_UPGRADES_FILE, UNATTENDED_UPGRADES_FILE):
        put_host_file(by_path[path])
    unit_running(name="Run unattended security upgrades daily", unit=UPGRADES_TIMER)

    ufw_admits_only(
        name="Firewall: admit only the appliance",
        rules=firewall_rules(settings, port, cluster_peers()),
    )
    _ssh(settings, by_path)
    _harden(settings)


def _ssh(settings: Settings, by_path: dict[str, HostFile]):
    """SSH by key only (opt-in), and fail2ban for sshd."""
    if settings.ssh_hardening:
        sshd = put_host_file(by_path[SSHD_FILE])
    else:
        sshd = file_absent(name=f"Remove {SSHD_FILE}", path=SSHD_FILE)
    server.shell(
        name="Reload sshd for its new config (checked first)",
        commands=["sshd -t && systemctl try-reload-or-restart ssh"],
        _if=sshd.did_change,
    )
    if settings.fail2ban:
        jail = put_host_file(by_path[FAIL2BAN_FILE])
        started = unit_running(name="Run fail2ban", unit=FAIL2BAN_UNIT)
        # One started just now reads the new jail. One started a moment ago by its install
        # may not answer its socket yet (wait for it), or may be dying on Debian's default
        # jail (then reload-or-restart starts it). Never a restart of a running one: its stop
        # waits out TimeoutStopSec (90 s) where systemd cannot kill its cgroup (containers).
        server.shell(
            name="Reload fail2ban for its new jail",
            commands=[
                "for second in $(seq 50); do fail2ban-client ping >/dev/null 2>&1 && break; "
                f"systemctl is-active -q {FAIL2BAN_UNIT} || break; sleep 0.2; done; "
                f"systemctl reload-or-restart {FAIL2BAN_UNIT}"
            ],
            _if=lambda: jail.did_change() and not started.did_change(),
        )
    else:
        file_absent(name=f"Remove {FAIL2BAN_FILE}", path=FAIL2BAN_FILE)
        # Debian's package enables an sshd jail of its own: off means the service stops.
        unit_running(name="Stop fail2ban (fail2ban: false)", unit=FAIL2BAN_UNIT, running=False)


def _harden(settings: Settings):
    """Hardening picked from Lynis's suggestions (operations/hardening.py)."""
    changed = {
        f.path: put_host_file(f) for f in hardening.hardening_files(settings.idle_logout_seconds)
    }
    if not settings.idle_logout_seconds:
        file_absent(
            name=f"Remove {hardening.IDLE_LOGOUT_FILE} (idle_logout_seconds: 0)",
            path=hardening.IDLE_LOGOUT_FILE,
        )
    kernel_parameters_applied(
        name="Apply hardening kernel parameters",
        path=hardening.SYSCTL_FILE,
        parameters=hardening.KERNEL_PARAMETERS,
    )
    hardening.login_defs_set(name="Stricter login defaults", values=hardening.LOGIN_DEFS)
    server.shell(
        name="Reload sshd for its hardening (checked first)",
        commands=["sshd -t && systemctl try-reload-or-restart ssh"],
        _if=changed[hardening.SSHD_FILE].did_change,
    )
