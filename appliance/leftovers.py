"""What rehearsal hosts hold on this machine, and its removal: their names (network namespace
lla<N>, with its veth and nft table; folder <tmp>/llm-appliance-rehearsal-*, holding the PID of
the process that owns it), IPv4 forwarding (on while one runs, the value found put back by the
last one out), a stopped host's folder deleted in the background, and what killed runs left
(`appliance rehearse --clean`).

    clean_leftovers()  # ['lla3: container (PID 4242) stopped', 'lla3: veth removed', ...]
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from appliance.rootfs import RehearsalError, run

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


def claim_netns() -> tuple[str, int]:
    """A free network namespace name and its subnet index (10.213.INDEX.0/30)."""
    for index in range(1, 255):
        name = f"lla{index}"
        if run("ip", "netns", "add", name, check=False).returncode == 0:
            return name, index
    raise RehearsalError("no free rehearsal network namespace (lla1..lla254 all exist)")


@contextmanager
def _state_lock():
    """Serialise the rehearsal hosts of every process on this machine (forwarding state)."""
    STATE_DIR.mkdir(mode=0o700, exist_ok=True)
    with open(STATE_DIR / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def forwarding_on() -> None:
    """Turn IPv4 forwarding on, the first host in remembering the value it found."""
    with _state_lock():
        saved = STATE_DIR / "ip_forward"
        if not saved.exists():
            saved.write_text(FORWARDING.read_text())
        FORWARDING.write_text("1\n")


def forwarding_restore(leaving: str | None = None) -> None:
    """The last host out (no other rehearsal namespace left) restores the value found."""
    with _state_lock():
        saved = STATE_DIR / "ip_forward"
        if saved.exists() and not [ns for ns in rehearsal_namespaces() if ns != leaving]:
            FORWARDING.write_text(saved.read_text())
            saved.unlink()


def rehearsal_namespaces() -> list[str]:
    """The network namespaces of rehearsal hosts on this machine, live or left over."""
    listed = run("ip", "netns", "list", check=False).stdout.splitlines()
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
            if run(*command, check=False).returncode == 0:
                removed.append(f"{name}: {what} removed")
    for workdir, _ in left:
        merged = workdir / "merged"
        if merged.is_mount():
            run("umount", "-l", str(merged), check=False)
            removed.append(f"{merged}: unmounted")
        shutil.rmtree(workdir, ignore_errors=True)
        removed.append(f"{workdir}: removed")
    forwarding_restore()
    return removed


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
    return subprocess.Popen(
        ["rm", "-rf", "--one-file-system", str(doomed)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
