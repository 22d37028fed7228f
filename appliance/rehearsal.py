"""A local Debian 12 rehearsal host: systemd as PID 1 and sshd, in a network namespace.

The root file system is built once with debootstrap and cached; every host boots from it
through an overlay mount, so each boot starts from the same bare Debian and leaves the cache
untouched. Needs root, debootstrap, systemd-nspawn (systemd-container), iproute2 and nftables.

    with RehearsalHost.boot() as rehearsal:
        print(rehearsal.address)  # e.g. 10.213.1.2, root logs in with rehearsal.ssh_key
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SUITE = "bookworm"
PACKAGES = (
    "systemd,systemd-sysv,openssh-server,python3,sudo,iproute2,procps,kmod,dbus,ca-certificates"
)
# Built into a kernel without module support (such as this project's CI machine); listed in
# modules.builtin so that modprobe inside the guest treats them as present, as on a stock kernel.
BUILTIN_MODULES = ("overlay", "br_netfilter", "bridge", "nf_tables", "nf_nat", "vxlan")
HOST_TOOLS = ("debootstrap", "systemd-nspawn", "ip", "nft", "ssh", "ssh-keygen")
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
APT_REGISTRY_CONF = Path("/etc/apt/apt.conf.d/99artifact-registry")
# Bumped whenever the build steps below change, so that a stale cache is rebuilt.
BUILD_REVISION = "1"
# Every host's names: its network namespace (and veth, nft table) lla<N>, its folder
# <tmp>/llm-appliance-rehearsal-*, holding the PID of the process that owns it.
NETNS_RE = re.compile(r"^lla\d+$")
WORKDIR_PREFIX = "llm-appliance-rehearsal-"
OWNER_FILE, NETNS_FILE = "owner.pid", "netns"
# A stopped host's folder while `rm -rf` deletes it (see remove_in_background).
REMOVING_SUFFIX = ".removing"
# What this machine's IPv4 forwarding was before the first host turned it on (for the NAT);
# the last host out puts it back.
FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")
STATE_DIR = Path("/run/llm-appliance-rehearsal")


class RehearsalError(RuntimeError):
    """The rehearsal host could not be built, booted or reached."""


def cache_root() -> Path:
    """Where the tests keep what they build once (~/.cache/llm-appliance; LLM_APPLIANCE_CACHE
    overrides), e.g. Path('/root/.cache/llm-appliance')."""
    base = os.environ.get("LLM_APPLIANCE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llm-appliance"
    )
    return Path(base)


def default_cache_dir() -> Path:
    return cache_root() / "rehearsal"


def _run(*command: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if check and result.returncode != 0:
        raise RehearsalError(
            f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
        )
    return result


def check_requirements() -> None:
    """Fail with one line naming what is missing on this machine."""
    if os.geteuid() != 0:
        raise RehearsalError("the rehearsal host needs root (debootstrap, systemd-nspawn, netns)")
    missing = [tool for tool in HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        raise RehearsalError(
            f"missing tools: {', '.join(missing)}; install them with "
            "`apt-get install -y debootstrap systemd-container iproute2 nftables openssh-client`"
        )


def _mirror() -> str:
    """The Debian mirror this machine's apt uses (how the package registry is reached)."""
    for line in APT_SOURCES.read_text().splitlines() if APT_SOURCES.exists() else ():
        if line.startswith("URIs:") and "security" not in line:
            return line.split(":", 1)[1].strip()
    return "http://deb.debian.org/debian"


def one_line_sources(deb822: str) -> str:
    """APT's deb822 sources as one-line entries, e.g. a stanza of `URIs: http://d.example/debian`,
    `Suites: a a-updates`, `Components: main` gives `deb http://d.example/debian a main` and
    `deb http://d.example/debian a-updates main` (with `[signed-by=...]` where it names one)."""
    entries = []
    for stanza in deb822.split("\n\n"):
        fields = dict(
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in stanza.splitlines())
            if value and not key.startswith("#")
        )
        if "URIs" not in fields:
            continue
        options = f"[signed-by={fields['Signed-By']}] " if "Signed-By" in fields else ""
        for kind in fields.get("Types", "deb").split():
            for uri in fields["URIs"].split():
                for suite in fields["Suites"].split():
                    entries.append(f"{kind} {options}{uri} {suite} {fields['Components']}\n")
    return "".join(entries)


def build_rootfs(cache_dir: Path | None = None, suite: str = SUITE, extra_packages: str = "",
                 base_packages: str = PACKAGES) -> Path:
    """The cached Debian root file system, built with debootstrap on first use (minutes,
    printing its stages).
    A suite newer than this machine's debootstrap knows (forky on Debian 12) is built with
    sid's script, e.g. build_rootfs(suite="forky", base_packages="", extra_packages="postgresql-18")."""
    check_requirements()
    cache_dir = cache_dir or default_cache_dir()
    packages = ",".join(filter(None, [base_packages, extra_packages]))
    key = hashlib.sha256(f"{suite}|{packages}|{BUILD_REVISION}".encode()).hexdigest()[:12]
    rootfs = cache_dir / f"{suite}-{key}"
    if (rootfs / "etc/os-release").exists():
        return rootfs
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{rootfs.name}.", dir=cache_dir))
    try:
        scripts = Path("/usr/share/debootstrap/scripts")
        script = () if (scripts / suite).exists() else (str(scripts / "sid"),)
        _debootstrap(suite, "--variant=minbase", f"--include={packages}", suite, str(partial),
                     _mirror(), *script)
        for source in (APT_SOURCES, APT_REGISTRY_CONF):
            if source.exists():
                target = partial / source.relative_to("/")
                # This machine's sources name its own release; the guest gets its suite's.
                target.write_text(source.read_text().replace(SUITE, suite))
        # A pristine image: each booted host gets its own machine id and host keys.
        (partial / "etc/machine-id").write_text("")
        for key_file in (partial / "etc/ssh").glob("ssh_host_*"):
            key_file.unlink()
        _run("chroot", str(partial), "apt-get", "clean")
        partial.chmod(0o755)  # mkdtemp's 0700 would shut the root's own users out of /
        partial.rename(rootfs)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return rootfs


# The longest debootstrap goes without a line of progress (while it retrieves packages).
PROGRESS_SECONDS = 15


def debootstrap_stage(line: str) -> str | None:
    """The stage a line of debootstrap's output starts, or None: its informational lines are
    ``I: VERB ...`` (debootstrap 1.0.128, functions: info), e.g. ``debootstrap_stage("I:
    Retrieving adduser 3.134")`` gives 'Retrieving', and a warning or a blank line gives None."""
    words = line.split()
    return words[1].rstrip(".") if len(words) > 1 and words[0] == "I:" else None


def _debootstrap(suite: str, *arguments: str, timeout: float = 1800) -> None:
    """Run debootstrap (for `suite`, with these arguments), printing a line (to stderr) with
    the seconds since it started the first time it enters a stage (Retrieving, Validating,
    Extracting, Installing, Unpacking, Configuring...; it retrieves and validates each package
    in turn), and, whatever it prints meanwhile (minutes of dpkg while it configures), its last
    line at least every `PROGRESS_SECONDS`: a silent wait looks like a hang. Killed after
    `timeout` seconds; fails with the end of its output."""
    print(f"building the {suite} root file system of the rehearsal hosts with debootstrap "
          "(once; minutes)", file=sys.stderr, flush=True)
    started = time.monotonic()
    seen, output, printed = set(), [], [started]
    done = threading.Event()

    def report(line: str) -> None:
        printed[0] = time.monotonic()
        text = line.split(None, 1)[1] if debootstrap_stage(line) else line
        print(f"  debootstrap: {text.strip()} ({printed[0] - started:.0f} s)", file=sys.stderr,
              flush=True)

    def heartbeat() -> None:
        while not done.wait(1):
            if output and time.monotonic() - printed[0] >= PROGRESS_SECONDS:
                report(output[-1])
            if time.monotonic() - started > timeout:
                process.kill()

    process = subprocess.Popen(["debootstrap", *arguments], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    watcher = threading.Thread(target=heartbeat, daemon=True)
    watcher.start()
    try:
        for line in process.stdout:
            if line.strip():
                output.append(line)
            stage = debootstrap_stage(line)
            if stage and stage not in seen:
                seen.add(stage)
                report(line)
        process.wait()
    finally:
        done.set()
        watcher.join()
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        raise RehearsalError(f"debootstrap failed ({process.returncode}): "
                             f"{''.join(output).strip()[-2000:]}")


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
        cls, cache_dir: Path | None = None, workdir: Path | None = None, suite: str = SUITE,
        extra_packages: str = "",
    ) -> RehearsalHost:
        rootfs = build_rootfs(cache_dir, suite, extra_packages)
        workdir = workdir or Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
        (workdir / OWNER_FILE).write_text(f"{os.getpid()}\n")
        name, index = _claim_netns()
        (workdir / NETNS_FILE).write_text(f"{name}\n")
        host = cls(
            name=name,
            index=index,
            workdir=workdir,
            ssh_key=workdir / "id_ed25519",
            known_hosts=workdir / "known_hosts",
        )
        host._cleanups.append(lambda: _run("ip", "netns", "delete", name, check=False))
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
        _run("ip", "link", "add", veth_host, "type", "veth", "peer", "name", veth_guest)
        self._cleanups.append(lambda: _run("ip", "link", "delete", veth_host, check=False))
        _run("ip", "link", "set", veth_guest, "netns", self.netns)
        _run("ip", "addr", "add", f"{self.gateway}/30", "dev", veth_host)
        _run("ip", "link", "set", veth_host, "up")
        in_ns = ("ip", "netns", "exec", self.netns)
        _run(*in_ns, "ip", "link", "set", veth_guest, "name", "eth0")
        _run(*in_ns, "ip", "addr", "add", f"{self.address}/30", "dev", "eth0")
        _run(*in_ns, "ip", "link", "set", "eth0", "up")
        _run(*in_ns, "ip", "link", "set", "lo", "up")
        _run(*in_ns, "ip", "route", "add", "default", "via", self.gateway)
        # The guest reaches the package registry through this machine (NAT).
        _forwarding_on()
        self._cleanups.append(lambda: _forwarding_restore(leaving=self.name))
        table = self.name.replace("-", "_")
        _run(
            "nft",
            f"add table ip {table}; "
            f"add chain ip {table} postrouting {{ type nat hook postrouting priority 100 ; }}; "
            f"add rule ip {table} postrouting ip saddr {self.address} "
            f'oifname != "{veth_host}" masquerade',
        )
        self._cleanups.append(lambda: _run("nft", f"delete table ip {table}", check=False))

    def _mount_root(self, rootfs: Path) -> None:
        for sub in ("upper", "work", "merged"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        _run(
            "mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={rootfs},upperdir={self.workdir / 'upper'},workdir={self.workdir / 'work'}",
            str(self.root),
        )
        self._cleanups.append(lambda: _run("umount", "-l", str(self.root), check=False))

    def _personalise(self) -> None:
        root = self.root
        (root / "etc/hostname").write_text(f"{self.name}\n")
        # APT sources as Debian's installer writes them: one file of one-line entries, the
        # security suite included (Lynis looks for it there), none listed twice.
        deb822 = root / APT_SOURCES.relative_to("/")
        if deb822.exists():
            (root / "etc/apt/sources.list").write_text(one_line_sources(deb822.read_text()))
            deb822.unlink()
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rehearsal", "-f", str(self.ssh_key))
        ssh_dir = root / "root/.ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        shutil.copy(f"{self.ssh_key}.pub", ssh_dir / "authorized_keys")
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        _run("chroot", str(root), "ssh-keygen", "-A")
        modules_dir = root / "lib/modules" / os.uname().release
        if not Path("/proc/modules").exists() and not modules_dir.exists():
            modules_dir.mkdir(parents=True)
            (modules_dir / "modules.builtin").write_text(
                "".join(f"kernel/{name}.ko\n" for name in BUILTIN_MODULES)
            )
            _run("chroot", str(root), "depmod", os.uname().release, check=False)
        self.known_hosts.write_text("")

    # -- life cycle -----------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Boot the guest and wait until systemd reports it running (or degraded)."""
        env = dict(os.environ, SYSTEMD_NSPAWN_API_VFS_WRITABLE="yes")
        log = open(self.workdir / "console.log", "ab")
        self.process = subprocess.Popen(
            [
                "systemd-nspawn", "-b", "-D", str(self.root), f"--machine={self.name}",
                "--register=no", "--keep-unit", f"--network-namespace-path=/run/netns/{self.netns}",
                "--capability=all", "--system-call-filter=@keyring bpf",
                "--resolv-conf=copy-host", "--console=passive",
            ],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
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
            _run(*in_ns, "add table inet rehearsal_cut; "
                 "add chain inet rehearsal_cut input { type filter hook input priority -300 ; }; "
                 "add rule inet rehearsal_cut input tcp dport 22 reject with tcp reset")
        else:
            _run(*in_ns, "delete table inet rehearsal_cut")

    def destroy(self) -> None:
        self.stop()
        for cleanup in reversed(self._cleanups):
            cleanup()
        self._cleanups.clear()
        remove_in_background(self.workdir)

    # -- access -----------------------------------------------------------------------

    def ssh_options(self) -> list[str]:
        return [
            "-i", str(self.ssh_key), "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
        ]

    def ssh(self, command: str, check: bool = True, timeout: float = 120,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command on the guest as root, over real SSH (`input`: its standard
        input), e.g. ``host.ssh("cat > /etc/motd", input="hello\n")``."""
        result = subprocess.run(
            ["ssh", *self.ssh_options(), f"root@{self.address}", command],
            capture_output=True, text=True, timeout=timeout, input=input,
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


def remove_in_background(folder: Path) -> subprocess.Popen | None:
    """Remove a stopped host's folder without waiting for it: renamed at once (FOLDER.removing,
    which `--clean` takes for a leftover), then deleted by `rm -rf` in a session of its own,
    which outlives this process. Deleting what a deploy put in the overlay's upper layer took
    28 s of a 33 s stop after SIGTERM (strace, on a loaded 2-core machine), and Ctrl-C or
    SIGTERM need not wait for it. Returns the `rm` process (None: nothing to remove)."""
    if not folder.exists():
        return None
    doomed = folder.with_name(folder.name + REMOVING_SUFFIX)
    folder.rename(doomed)
    # --one-file-system: never into a mount still there (the root's overlay is unmounted).
    return subprocess.Popen(["rm", "-rf", "--one-file-system", str(doomed)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


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


@dataclass
class DeployRun:
    """A finished `pyinfra ... --json` run: exit status, output, and totals per result."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def operations(self) -> list[dict]:
        return json.loads(self.stdout)["results"]["operations"]

    @property
    def totals(self) -> dict[str, int]:
        totals = {"success": 0, "error": 0, "no_change": 0}
        for operation in self.operations:
            for result in totals:
                totals[result] += len(operation[result])
        return totals

    @property
    def changed(self) -> list[str]:
        """Names of the operations that changed a host."""
        return [operation["name"] for operation in self.operations if operation["success"]]


def project_environment() -> dict[str, str]:
    """The environment for a subprocess that must import this checkout's code, whichever
    checkout `pip install -e` pointed at last."""
    project_root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONPATH=f"{project_root}{os.pathsep}{path}" if path else project_root)


def run_pyinfra(inventory: Path, *args: str, timeout: float = 900) -> DeployRun:
    """Run pyinfra from the project root, as a user would, with JSON results on stdout.
    A `--dry` run detects changes (pyinfra skips that with `-y`); any other run executes."""
    project_root = Path(__file__).resolve().parent.parent
    started = time.monotonic()
    confirm = [] if "--dry" in args else ["-y"]
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", *confirm, "--json", str(inventory), *args],
        cwd=project_root, capture_output=True, text=True, timeout=timeout,
        env=project_environment(),
    )
    return DeployRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)


def _claim_netns() -> tuple[str, int]:
    """A free network namespace name and its subnet index (10.213.INDEX.0/30)."""
    for index in range(1, 255):
        name = f"lla{index}"
        if _run("ip", "netns", "add", name, check=False).returncode == 0:
            return name, index
    raise RehearsalError("no free rehearsal network namespace (lla1..lla254 all exist)")


@contextmanager
def _state_lock():
    """Serialise the rehearsal hosts of every process on this machine (forwarding state)."""
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    with open(STATE_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _forwarding_on() -> None:
    """Turn IPv4 forwarding on, the first host in remembering the value it found."""
    with _state_lock():
        saved = STATE_DIR / "ip_forward"
        if not saved.exists():
            saved.write_text(FORWARDING.read_text())
        FORWARDING.write_text("1\n")


def _forwarding_restore(leaving: str | None = None) -> None:
    """The last host out (no other rehearsal namespace left) restores the value found."""
    with _state_lock():
        saved = STATE_DIR / "ip_forward"
        if saved.exists() and not [ns for ns in rehearsal_namespaces() if ns != leaving]:
            FORWARDING.write_text(saved.read_text())
            saved.unlink()


def rehearsal_namespaces() -> list[str]:
    """The network namespaces of rehearsal hosts on this machine, live or left over."""
    listed = _run("ip", "netns", "list", check=False).stdout.splitlines()
    return [line.split()[0] for line in listed if line and NETNS_RE.match(line.split()[0])]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _processes() -> dict[int, tuple[int, list[str]]]:
    """Every process on this machine: PID -> (parent PID, command line)."""
    table = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        table[int(proc.name)] = (parent, argv)
    return table


def _nspawn_of(name: str, processes: dict) -> tuple[int, int] | None:
    """The (PID, parent PID) of the systemd-nspawn process running rehearsal host `name`."""
    for pid, (parent, argv) in processes.items():
        if argv[0].endswith("systemd-nspawn") and f"--machine={name}" in argv:
            return pid, parent
    return None


def _workdir_state(workdir: Path, processes: dict) -> tuple[str | None, bool]:
    """A run's namespace name and whether its owner still runs. Runs from before the owner
    file: live while their container's parent is a Python process (an orphaned container
    belongs to init), or for the first 10 minutes while they set up."""
    if workdir.name.endswith(REMOVING_SUFFIX):
        return None, False  # stopped; its removal was cut short, or is still under way
    netns, hostname = workdir / NETNS_FILE, workdir / "upper/etc/hostname"
    name = next((f.read_text().strip() for f in (netns, hostname) if f.exists()), None)
    owner = workdir / OWNER_FILE
    if owner.exists():
        return name, _alive(int(owner.read_text()))
    nspawn = _nspawn_of(name, processes) if name else None
    if nspawn:
        parent = processes.get(nspawn[1], (0, [""]))[1]
        return name, nspawn[1] != 1 and "python" in parent[0]
    return name, time.time() - workdir.stat().st_mtime < 600


def _orphaned(name: str, processes: dict) -> bool:
    """Whether a rehearsal namespace that no run folder claims is left over: its container's
    parent is gone (init adopted it), or, with no container, the namespace is older than the
    10 minutes a run takes to set up (its /run/netns file's age)."""
    nspawn = _nspawn_of(name, processes)
    if nspawn:
        return nspawn[1] == 1
    netns = Path("/run/netns") / name
    return not netns.exists() or time.time() - netns.stat().st_mtime > 600


def clean_leftovers() -> list[str]:
    """Remove what earlier rehearsals left behind (a run killed before it could clean up):
    containers, mounts, network namespaces, veths, nft tables and folders of runs whose owner
    is gone. Live rehearsals, of this process or others, are left alone. Returns a line per
    thing removed, e.g. 'lla3: container (PID 4242) stopped'."""
    processes = _processes()
    left, live = [], set()
    for workdir in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*"):
        name, alive = _workdir_state(workdir, processes)
        if alive:
            live.add(name)
        else:
            left.append((workdir, name))
    removed = []
    claimed = {name for _, name in left if name}
    names = set(rehearsal_namespaces()) | claimed
    for name in sorted(names - live):
        if name not in claimed and not _orphaned(name, processes):
            continue  # no folder of ours names it: another program's live run (or its set-up)
        nspawn = _nspawn_of(name, processes)
        if nspawn:
            os.kill(nspawn[0], signal.SIGTERM)  # a clean poweroff of the guest
            for _ in range(100):
                if not _alive(nspawn[0]):
                    break
                time.sleep(0.1)
            else:
                os.kill(nspawn[0], signal.SIGKILL)
            removed.append(f"{name}: container (PID {nspawn[0]}) stopped")
        for what, command in (
            ("veth", ("ip", "link", "delete", f"{name}-h")),
            ("nft table", ("nft", f"delete table ip {name}")),
            ("network namespace", ("ip", "netns", "delete", name)),
        ):
            if _run(*command, check=False).returncode == 0:
                removed.append(f"{name}: {what} removed")
    for workdir, _ in left:
        merged = workdir / "merged"
        if merged.is_mount():
            _run("umount", "-l", str(merged), check=False)
            removed.append(f"{merged}: unmounted")
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(f"{workdir}: removed")
    _forwarding_restore()
    return removed
