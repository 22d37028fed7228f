"""The rehearsal hosts' Debian root file system: built once with debootstrap (printing its
stages), cached under ~/.cache/llm-appliance/rehearsal, never changed after; and what building
it needs on this machine (root and the tools of README.md's install command).

    build_rootfs()  # Path('/root/.cache/llm-appliance/rehearsal/bookworm-1f2e3d4c5b6a')
    build_rootfs(suite="forky", base_packages="", extra_packages="postgresql-18")
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SUITE = "bookworm"
PACKAGES = (
    "systemd,systemd-sysv,openssh-server,python3,sudo,iproute2,procps,kmod,dbus,ca-certificates"
)
HOST_TOOLS = ("debootstrap", "systemd-nspawn", "ip", "nft", "ssh", "ssh-keygen")
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
APT_REGISTRY_CONF = Path("/etc/apt/apt.conf.d/99artifact-registry")
# Bumped whenever the build steps below change, so that a stale cache is rebuilt.
BUILD_REVISION = "1"


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


def run(*command: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
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


def build_rootfs(
    cache_dir: Path | None = None,
    suite: str = SUITE,
    extra_packages: str = "",
    base_packages: str = PACKAGES,
) -> Path:
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
        _debootstrap(
            suite,
            "--variant=minbase",
            f"--include={packages}",
            suite,
            str(partial),
            _mirror(),
            *script,
        )
        for source in (APT_SOURCES, APT_REGISTRY_CONF):
            if source.exists():
                target = partial / source.relative_to("/")
                # This machine's sources name its own release; the guest gets its suite's.
                target.write_text(source.read_text().replace(SUITE, suite))
        # A pristine image: each booted host gets its own machine id and host keys.
        (partial / "etc/machine-id").write_text("")
        for key_file in (partial / "etc/ssh").glob("ssh_host_*"):
            key_file.unlink()
        run("chroot", str(partial), "apt-get", "clean")
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
    print(
        f"building the {suite} root file system of the rehearsal hosts with debootstrap "
        "(once; minutes)",
        file=sys.stderr,
        flush=True,
    )
    started = time.monotonic()
    seen: set[str] = set()
    output: list[str] = []
    printed = [started]
    done = threading.Event()

    def report(line: str) -> None:
        printed[0] = time.monotonic()
        text = line.split(None, 1)[1] if debootstrap_stage(line) else line
        print(
            f"  debootstrap: {text.strip()} ({printed[0] - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )

    def heartbeat() -> None:
        while not done.wait(1):
            if output and time.monotonic() - printed[0] >= PROGRESS_SECONDS:
                report(output[-1])
            if time.monotonic() - started > timeout:
                process.kill()

    process = subprocess.Popen(
        ["debootstrap", *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watcher = threading.Thread(target=heartbeat, daemon=True)
    watcher.start()
    assert process.stdout is not None  # stdout=PIPE
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
        raise RehearsalError(
            f"debootstrap failed ({process.returncode}): {''.join(output).strip()[-2000:]}"
        )
