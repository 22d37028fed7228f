"""Nothing a rehearsal makes outlives it: a closed terminal (SIGHUP) during `appliance rehearse
--keep` removes the host as Ctrl-C does, `--clean` removes what a killed run left behind, and
the last host out puts this machine's IPv4 forwarding back as it found it."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from appliance.leftovers import FORWARDING, STATE_DIR, _nspawn_of, _processes, rehearsal_namespaces
from appliance.rehearsal import RehearsalHost
from appliance.runner import project_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def start_rehearse(until: str) -> tuple[subprocess.Popen, str, Path]:
    """`appliance rehearse --keep` in a session of its own, read until a line starts with
    `until`; returns the process, its host's name and its folder."""
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "rehearse", "--keep"],
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=project_environment(),
        start_new_session=True,
    )
    assert process.stdout is not None  # stdout=PIPE
    up = None
    for line in process.stdout:
        up = re.match(r"rehearsal host \S+ \((lla\d+), (\S+)\) is up", line) or up
        if line.startswith(until):
            assert up, f"{until!r} before the line naming the host"
            return process, up.group(1), Path(up.group(2))
    raise AssertionError(f"rehearse ended ({process.wait()}) before {until!r}")


def traces(name: str, workdir: Path) -> list[str]:
    """What is left of a rehearsal host on this machine."""

    def succeeds(*command):
        return subprocess.run(command, capture_output=True).returncode == 0

    found = {
        "container": _nspawn_of(name, _processes()) is not None,
        "network namespace": name in rehearsal_namespaces(),
        "veth": succeeds("ip", "link", "show", f"{name}-h"),
        "nft table": succeeds("nft", "list", "table", "ip", name),
        "mount": (workdir / "merged").is_mount(),
        "folder": workdir.exists(),
    }
    return [what for what, there in found.items() if there]


def test_closing_the_terminal_removes_the_kept_host():
    """SIGHUP (and SIGTERM, the same handler) stops it within seconds: it took 17 to 30 s, as
    long as Ctrl-C, most of it deleting the host's folder, which now goes on in the background
    (appliance/leftovers.py, remove_in_background)."""
    process, name, workdir = start_rehearse(until="Ctrl-C stops and removes the host.")
    assert traces(name, workdir) == [
        "container",
        "network namespace",
        "veth",
        "nft table",
        "mount",
        "folder",
    ]
    started = time.monotonic()
    process.send_signal(signal.SIGHUP)
    output, _ = process.communicate(timeout=120)
    stopped = time.monotonic() - started
    assert process.returncode == 128 + signal.SIGHUP, output
    assert traces(name, workdir) == []
    assert "Traceback" not in output
    assert stopped < 12, f"{stopped:.1f} s to stop"
    removing = workdir.with_name(workdir.name + ".removing")
    for _ in range(600):  # the folder's removal, meanwhile in the background
        if not removing.exists():
            break
        time.sleep(0.1)
    assert not removing.exists()


def test_clean_removes_what_a_killed_run_left():
    process, name, workdir = start_rehearse(until="rehearsal host")
    os.killpg(process.pid, signal.SIGKILL)  # no clean-up can run: the run and its deploy die
    process.communicate(timeout=60)
    assert traces(name, workdir) == [
        "container",
        "network namespace",
        "veth",
        "nft table",
        "mount",
        "folder",
    ]
    clean = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "rehearse", "--clean"],
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=120,
    )
    assert clean.returncode == 0, clean.stderr
    assert f"{name}: network namespace removed" in clean.stdout.splitlines()
    assert f"{workdir}: removed" in clean.stdout.splitlines()
    assert traces(name, workdir) == []


def test_the_last_host_out_restores_forwarding():
    before = FORWARDING.read_text()
    first = RehearsalHost.boot()
    second = RehearsalHost.boot()
    try:
        assert FORWARDING.read_text() == "1\n"
        first.destroy()
        assert FORWARDING.read_text() == "1\n"  # the second host still needs it
    finally:
        first.destroy()
        second.destroy()
    if rehearsal_namespaces():  # other runs' hosts are up: the last of them restores it
        assert FORWARDING.read_text() == "1\n" and (STATE_DIR / "ip_forward").exists()
    else:
        assert FORWARDING.read_text() == before and not (STATE_DIR / "ip_forward").exists()
