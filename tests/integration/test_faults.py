"""Faults, for real, on a rehearsal host: a deploy killed part way, a reboot, a network cut.
Each time the appliance ends up converged, and the shipped testinfra suite proves it."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.runner import project_environment, run_pyinfra

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def host_inventory(inventory):
    return inventory("faults.py", layers="host")


def wait_for(rehearsal, command, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if rehearsal.ssh(command, check=False).returncode == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"{command!r} never succeeded")


def assert_converged(path, shipped_suite):
    again = run_pyinfra(path, "deploy.py")
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.totals["success"] == 0 and again.totals["error"] == 0, again.changed
    suite = shipped_suite(path, "-m", "host")
    assert suite.returncode == 0, suite.stdout[-3000:]


def test_deploy_killed_during_package_install_then_rerun_converges(
    rehearsal, host_inventory, shipped_suite
):
    deploy = subprocess.Popen(
        [sys.executable, "-m", "pyinfra", "-y", str(host_inventory), "deploy.py"],
        cwd=PROJECT_ROOT,
        env=project_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(rehearsal, "pgrep -x dpkg")  # packages are being unpacked
    finally:
        deploy.kill()
        deploy.wait()
    rerun = run_pyinfra(host_inventory, "deploy.py")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_converged(host_inventory, shipped_suite)


def test_reboot_keeps_the_host_correct(rehearsal, host_inventory, shipped_suite):
    rehearsal.reboot()
    assert_converged(host_inventory, shipped_suite)


def test_network_cut_fails_clearly_and_rerun_converges(rehearsal, host_inventory, shipped_suite):
    # Work for the deploy to do: packages to install again.
    rehearsal.ssh(
        "DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq unattended-upgrades fail2ban"
    )
    deploy = subprocess.Popen(
        [sys.executable, "-m", "pyinfra", "-y", str(host_inventory), "deploy.py"],
        cwd=PROJECT_ROOT,
        env=project_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(rehearsal, "pgrep -x apt-get")
        rehearsal.cut_ssh()
        _, stderr = deploy.communicate(timeout=300)
    finally:
        if deploy.poll() is None:
            deploy.kill()
        rehearsal.cut_ssh(cut=False)
    assert deploy.returncode != 0
    assert "Connection reset by peer" in stderr and "Traceback" not in stderr
    wait_for(rehearsal, "! pgrep -x apt-get && ! pgrep -x dpkg", timeout=300)
    rerun = run_pyinfra(host_inventory, "deploy.py")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert_converged(host_inventory, shipped_suite)
