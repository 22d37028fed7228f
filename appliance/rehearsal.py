"""A local Debian 12 rehearsal host: systemd as PID 1 and sshd, in a network namespace, its
life cycle (boot, stop, reboot, a cut network) and the ways in (SSH, a pyinfra inventory).

Every host boots from the cached root file system (appliance/rootfs.py) through an overlay
mount, so each boot starts from the same bare Debian and leaves the cache untouched; what it
holds on this machine (its namespace, folder, IPv4 forwarding) is appliance/leftovers.py's.
Needs root, debootstrap, systemd-nspawn (systemd-container), iproute2 and nftables.

    with RehearsalHost.boot() as rehearsal:
        print(rehearsal.address)  # e.g. 10.213.1.2, root logs in with rehearsal.ssh_key
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from appliance.leftovers import (
    NETNS_FILE,
    OWNER_FILE,
    WORKDIR_PREFIX,
    claim_netns,
    forwarding_on,
    forwarding_restore,
    remove_in_background,
)
from appliance.rootfs import APT_SOURCES, SUITE, RehearsalError, build_rootfs, one_line_sources, run

# Built into a kernel without module support (such as this project's CI machine); listed in
# modules.builtin so that modprobe inside the guest treats them as present, as on a stock kernel.
BUILTIN_MODULES = ("overlay", "br_netfilter", "bridge", "nf_tables", "nf_nat", "vxlan")


@dataclass
class RehearsalHost:
    """One booted rehearsal host. Use `RehearsalHost.boot()` as a context manager."""

    name: str
    index: int
    workdir: Path
    ssh_key: Path
    known_hosts: Path
    process: subprocess.Popen | None = None
    _cleanups: list = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"10.213.{self.index}.2"

    @property
    def gateway(self) -> str:
        return f"10.213.{self.index}.1"

    @property
    def netns(self) -> str:
        return self.name

    @property
    def root(self) -> Path:
        return self.workdir / "merged"

    @classmethod
    def boot(
        cls,
        cache_dir: Path | None = None,
        workdir: Path | None = None,
        suite: str = SUITE,
        extra_packages: str = "",
    ) -> RehearsalHost:
        rootfs = build_rootfs(cache_dir, suite, extra_packages)
        workdir = workdir or Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (workdir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        name, index = claim_netns()
        (workdir / NETNS_FILE).write_text(f"{name}\n")
        host = cls(
            name=name,
            index=index,
            workdir=workdir,
            ssh_key=workdir / "id_ed25519",
            known_hosts=workdir / "known_hosts",
        )
        host._cleanups.append(lambda: run("ip", "netns", "delete", name, check=False))
        try:
            host._setup_network()
            host._mount_root(rootfs)
            host._personalise()
            host.start()
        except BaseException:
            host.destroy()
            raise
        return host

    def __enter__(self) -> RehearsalHost:
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    # -- set-up -------------------------------------------------------------------------

    def _setup_network(self) -> None:
        veth_host, veth_guest = f"{self.name}-h", f"{self.name}-g"
        run("ip", "link", "add", veth_host, "type", "veth", "peer", "name", veth_guest)
        self._cleanups.append(lambda: run("ip", "link", "delete", veth_host, check=False))
        run("ip", "link", "set", veth_guest, "netns", self.netns)
        run("ip", "addr", "add", f"{self.gateway}/30", "dev", veth_host)
        run("ip", "link", "set", veth_host, "up")
        in_ns = ("ip", "netns", "exec", self.netns)
        run(*in_ns, "ip", "link", "set", veth_guest, "name", "eth0")
        run(*in_ns, "ip", "addr", "add", f"{self.address}/30", "dev", "eth0")
        run(*in_ns, "ip", "link", "set", "eth0", "up")
        run(*in_ns, "ip", "link", "set", "lo", "up")
        run(*in_ns, "ip", "route", "add", "default", "via", self.gateway)
        # The guest reaches the package registry through this machine (NAT).
        forwarding_on()
        self._cleanups.append(lambda: forwarding_restore(leaving=self.name))
        table = self.name.replace("-", "_")
        run(
            "nft",
            f"add table ip {table}; "
            f"add chain ip {table} postrouting {{ type nat hook postrouting priority 100 ; }}; "
            f"add rule ip {table} postrouting ip saddr {self.address} "
            f'oifname != "{veth_host}" masquerade',
        )
        self._cleanups.append(lambda: run("nft", f"delete table ip {table}", check=False))

    def _mount_root(self, rootfs: Path) -> None:
        for sub in ("upper", "work", "merged"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        run(
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={rootfs},upperdir={self.workdir / 'upper'},workdir={self.workdir / 'work'}",
            str(self.root),
        )
        self._cleanups.append(lambda: run("umount", "-l", str(self.root), check=False))

    def _personalise(self) -> None:
        root = self.root
        (root / "etc/hostname").write_text(f"{self.name}\n")
        # APT sources as Debian's installer writes them: one file of one-line entries, the
        # security suite included (Lynis looks for it there), none listed twice.
        deb822 = root / APT_SOURCES.relative_to("/")
        if deb822.exists():
            (root / "etc/apt/sources.list").write_text(one_line_sources(deb822.read_text()))
            deb822.unlink()
        run(
            "ssh-keygen",
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "rehearsal",
            "-f",
            str(self.ssh_key),
        )
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        shutil.copy(f"{self.ssh_key}.pub", ssh_dir / "authorized_keys")
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        run("chroot", str(root), "ssh-keygen", "-A")
        modules_dir = root / "lib/modules" / os.uname().release
        if not Path("/proc/modules").exists() and not modules_dir.exists():
            modules_dir.mkdir(parents=True)
            (modules_dir / "modules.builtin").write_text(
                "".join(f"kernel/{name}.ko\n" for name in BUILTIN_MODULES)
            )
            run("chroot", str(root), "depmod", os.uname().release, check=False)
        self.known_hosts.write_text("")

    # -- life cycle -----------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Boot the guest and wait until systemd reports it running (or degraded)."""
        env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="yes")
        log = open(self.workdir / "console.log", "ab")
        self.process = subprocess.Popen(
            [
                "systemd-nspawn",
                "-b",
                "-D",
                str(self.root),
                f"--machine={self.name}",
                "--register=no",
                "--keep-unit",
                f"--network-namespace-path=/run/netns/{self.netns}",
                "--capability=all",
                "--system-call-filter=@keyring bpf",
                "--resolv-conf=copy-host",
                "--console=passive",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RehearsalError(f"systemd-nspawn exited; see {self.workdir / 'console.log'}")
            state = self.ssh("systemctl is-system-running --wait", check=False, timeout=30)
            if state.stdout.strip() in ("running", "degraded"):
                return
            time.sleep(0.2)
        raise RehearsalError(f"no SSH on {self.address} after {timeout:.0f} s")

    def stop(self, timeout: float = 30) -> None:
        """Shut the guest down cleanly (SIGTERM to nspawn is a clean poweroff)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def reboot(self) -> None:
        """Shut the guest down cleanly and boot it again (its disk and address stay)."""
        self.stop()
        self.start()

    def cut_ssh(self, cut: bool = True) -> None:
        """Reset (cut=True) or restore the guest's SSH traffic, as a failing network would:
        a firewall rule in the guest's network namespace answers every SSH packet with a
        reset, so open connections break at once."""
        in_ns = ("ip", "netns", "exec", self.netns, "nft")
        if cut:
            run(
                *in_ns,
                "add table inet rehearsal_cut; "
                "add chain inet rehearsal_cut input { type filter hook input priority -300 ; }; "
                "add rule inet rehearsal_cut input tcp dport 22 reject with tcp reset",
            )
        else:
            run(*in_ns, "delete table inet rehearsal_cut")

    def destroy(self) -> None:
        self.stop()
        for cleanup in reversed(self._cleanups):
            cleanup()
        self._cleanups.clear()
        remove_in_background(self.workdir)

    # -- access -----------------------------------------------------------------------

    def ssh_options(self) -> list[str]:
        return [
            "-i",
            str(self.ssh_key),
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=accept-new",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
        ]

    def ssh(
        self, command: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess:
        """Run a shell command on the guest as root, over real SSH (`input`: its standard
        input), e.g. ``host.ssh("cat > /etc/motd", input="hello\n")``."""
        result = subprocess.run(
            ["ssh", *self.ssh_options(), f"root@{self.address}", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise RehearsalError(f"{command!r} on {self.address} failed: {result.stderr.strip()}")
        return result

    def inventory_data(self) -> dict:
        """pyinfra host data that reaches this guest without touching ~/.ssh."""
        return {
            "ssh_user": "root",
            "ssh_key": str(self.ssh_key),
            "ssh_known_hosts_file": str(self.known_hosts),
            "ssh_strict_host_key_checking": "accept-new",
        }

    def write_inventory(self, path: Path, settings: dict) -> Path:
        """A pyinfra inventory file for this guest with the given appliance settings."""
        return write_inventory(path, {"rehearsal": [self]}, settings)

    def testinfra_hostspec(self) -> str:
        return f"paramiko://root@{self.address}:22?ssh_identity_file={self.ssh_key}"


def write_inventory(path: Path, groups: dict[str, list[RehearsalHost]], settings: dict) -> Path:
    """A pyinfra inventory of rehearsal hosts: one list per group, each host with `settings`."""
    lines = ["# Rehearsal hosts, written by llm-appliance."]
    for group, members in groups.items():
        entries = ", ".join(
            repr((member.address, {**member.inventory_data(), **settings})) for member in members
        )
        lines.append(f"{group} = [{entries}]")
    path.write_text("\n".join(lines) + "\n")
    return path


# Settings for a rehearsal: names under the reserved .test domain, no certificates.
REHEARSAL_SETTINGS = {
    "webui_domain": "chat.rehearsal.test",
    "monitor_domain": "monitor.rehearsal.test",
    "acme_ca": "none",
    "webui_admin_email": "admin@rehearsal.test",
}
