"""The host layer deployed for real to a fresh rehearsal host, twice, then proved by the suite."""

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.runner import project_environment, run_pyinfra

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def converged(rehearsal, inventory):
    """The first deploy of the host layer and the no-op re-run after it."""
    path = inventory(layers="host")
    first = run_pyinfra(path, "deploy.py")
    second = run_pyinfra(path, "deploy.py")
    return path, first, second


def test_first_deploy_converges(converged):
    _, first, _ = converged
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.totals["error"] == 0
    for step in ("Install the packages", "Apply kernel parameters", "Firewall"):
        assert any(step in name for name in first.changed), (step, first.changed)


def test_first_deploy_leaves_no_pending_update(converged, rehearsal):
    # The rehearsal host's image lacks the security suite's updates; the install applies them.
    simulated = rehearsal.ssh("apt-get -s upgrade").stdout.splitlines()
    assert [line for line in simulated if line.startswith("Inst ")] == []


def test_second_deploy_changes_nothing(converged):
    _, _, second = converged
    assert second.returncode == 0, second.stderr[-3000:]
    assert second.totals == {"success": 0, "error": 0, "no_change": second.totals["no_change"]}
    assert second.totals["no_change"] >= 8


def test_shipped_testinfra_suite_passes(converged, shipped_suite):
    path, _, _ = converged
    result = shipped_suite(path, "-m", "host")
    assert result.returncode == 0, result.stdout[-3000:]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))
    assert passed >= 20 and "failed" not in result.stdout


def _reachable(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def test_firewall_admits_only_appliance_ports(converged, rehearsal):
    # Listeners on a port the appliance serves and on one it does not.
    for port in (80, 8081):
        rehearsal.ssh(
            f"systemd-run --unit=listen-{port} python3 -m http.server {port} --bind 0.0.0.0"
        )
    rehearsal.ssh("for i in $(seq 50); do ss -Htln | grep -q ':8081 ' && break; sleep 0.1; done")
    try:
        assert _reachable(rehearsal.address, 22)
        assert _reachable(rehearsal.address, 80)
        assert not _reachable(rehearsal.address, 8081)
        assert not _reachable(rehearsal.address, 6443)
    finally:
        rehearsal.ssh("systemctl stop listen-80 listen-8081", check=False)


def test_drift_is_detected_and_repaired(converged, rehearsal, shipped_suite):
    path, _, _ = converged
    # A per-network-namespace parameter: other rehearsal hosts (sharing this machine's kernel)
    # cannot undo the drift.
    rehearsal.ssh("ufw --force delete allow 443/tcp && sysctl -qw net.ipv4.ip_forward=0")
    drifted = shipped_suite(path, "-m", "host")
    assert drifted.returncode != 0
    failed = re.findall(r"^FAILED (\S+)", drifted.stdout, re.M)
    assert len(failed) == 2, drifted.stdout[-3000:]
    assert "test_firewall_admits_exactly_the_appliance" in failed[0] + failed[1]
    assert any(
        re.search(r"test_kernel_parameter_is_live\[.*net.ipv4.ip_forward\]", f) for f in failed
    )

    repair = run_pyinfra(path, "deploy.py")
    assert repair.returncode == 0 and repair.totals["error"] == 0
    assert repair.changed == [
        "Host layer | Apply kernel parameters",
        "Host layer | Firewall: admit only the appliance",
    ]
    repaired = shipped_suite(path, "-m", "host")
    assert repaired.returncode == 0, repaired.stdout[-3000:]


def test_setting_change_converges_declaratively(converged, rehearsal, inventory):
    with_admins = inventory("admins.py", layers="host", admin_cidrs=["192.0.2.0/24"])
    added = run_pyinfra(with_admins, "deploy.py")
    assert added.returncode == 0
    assert added.changed == ["Host layer | Firewall: admit only the appliance"]
    rules = rehearsal.ssh("ufw show added").stdout
    assert "ufw allow from 192.0.2.0/24 to any port 6443 proto tcp" in rules

    removed = run_pyinfra(converged[0], "deploy.py")
    assert removed.returncode == 0
    assert removed.changed == ["Host layer | Firewall: admit only the appliance"]
    assert "6443" not in rehearsal.ssh("ufw show added").stdout


def test_admin_cidrs_in_any_notation_rerun_without_change(
    converged, rehearsal, inventory, shipped_suite
):
    # Host masks, an upper-case uncompressed IPv6 network and a plain network: ufw stores them
    # normalised, and the deploy compares in that form (issue: the firewall flapped).
    mixed = inventory(
        "mixed.py",
        layers="host",
        admin_cidrs=[
            "198.51.100.7/32",
            "2001:db8::7/128",
            "2001:DB8:0:0:0:0:0:0/64",
            "192.0.2.0/24",
        ],
    )
    added = run_pyinfra(mixed, "deploy.py")
    assert added.returncode == 0, added.stderr[-3000:]
    assert added.changed == ["Host layer | Firewall: admit only the appliance"]
    for _ in range(2):
        again = run_pyinfra(mixed, "deploy.py")
        assert again.returncode == 0, again.stderr[-3000:]
        assert again.totals["success"] == 0, again.changed
        rules = rehearsal.ssh("ufw show added").stdout.splitlines()
        for rule in (
            "ufw allow from 198.51.100.7 to any port 6443 proto tcp",
            "ufw allow from 2001:db8::7 to any port 6443 proto tcp",
            "ufw allow from 2001:db8::/64 to any port 6443 proto tcp",
            "ufw allow from 192.0.2.0/24 to any port 6443 proto tcp",
        ):
            assert rule in rules, rules
    suite = shipped_suite(mixed, "-m", "host")
    assert suite.returncode == 0, suite.stdout[-3000:]

    back = run_pyinfra(converged[0], "deploy.py")
    assert back.changed == ["Host layer | Firewall: admit only the appliance"]
    assert "6443" not in rehearsal.ssh("ufw show added").stdout


def appliance(*arguments: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *arguments],
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=timeout,
    )


def test_appliance_verify_runs_the_suite(converged, rehearsal):
    path, _, _ = converged
    result = appliance("verify", str(path), "-q")
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ passed", result.stdout)
    # OpenSSH with the inventory's known hosts: no "Unknown ssh-ed25519 host key" warnings.
    assert "host key" not in (result.stdout + result.stderr).lower()
    # The suite's shared SSH connection closed with it: only this very check's is open.
    open_sessions = rehearsal.ssh("ss -Htn state established '( sport = :22 )'").stdout
    assert len(open_sessions.splitlines()) == 1, open_sessions


def test_appliance_verify_checks_with_the_deploy_data(converged):
    """A host deployed without SSH hardening fails the suite told (--data) that it has it."""
    path, _, _ = converged
    check = ("-q", "-k", "test_ssh_accepts_keys_only_when_hardened")
    assert appliance("verify", str(path), *check).returncode == 0
    told = appliance("verify", str(path), "--data", "ssh_hardening=true", *check)
    assert told.returncode == 1 and "1 failed" in told.stdout, told.stdout[-2000:]


def test_suite_usage_runs_exactly_as_the_readme_shows_it(converged, rehearsal):
    """README.md's `pytest tests/host --hosts=...` line, with this host's address, key and an
    SSH config naming its known hosts (strict checking: the key must be known)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    (line,) = [
        line for line in readme.splitlines() if line.startswith("pytest tests/host --hosts=")
    ]
    config = rehearsal.workdir / "ssh_config"
    config.write_text(
        f"Host {rehearsal.address}\n    UserKnownHostsFile {rehearsal.known_hosts}\n"
        "    StrictHostKeyChecking yes\n"
    )
    command = shlex.split(
        line.replace("203.0.113.10", rehearsal.address)
        .replace("=ssh_config", f"={config}")
        .replace("=id_ed25519", f"={rehearsal.ssh_key}")
    )
    assert command[0] == "pytest"
    result = subprocess.run(
        [sys.executable, "-m", *command],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"\d+ passed", result.stdout) and "error" not in result.stdout.lower()


def test_unreachable_host_is_one_line(tmp_path):
    """Nothing listens on port 1 of this machine: the suite stops at once, in one line."""
    inventory = tmp_path / "gone.py"
    inventory.write_text(
        "hosts = [('127.0.0.1', {'ssh_port': 1, 'webui_domain': 'chat.example.com', "
        "'monitor_domain': 'monitor.example.com', 'acme_ca': 'none', "
        "'webui_admin_email': 'admin@example.com'})]\n"
    )
    result = appliance("verify", str(inventory), timeout=120)
    assert result.returncode != 0
    lines = (result.stdout + result.stderr).strip().splitlines()
    assert lines == [
        "ERROR: cannot reach 127.0.0.1 over SSH: ssh: connect to host 127.0.0.1 "
        "port 1: Connection refused"
    ]


def test_appliance_rehearse_converges_a_fresh_host():
    result = appliance("rehearse")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "the host layer converged and its testinfra suite passed" in result.stdout
    assert "host key" not in (result.stdout + result.stderr).lower()
