"""`ssh_hardening: true` deployed for real on a rehearsal host, then tried over real SSH: a
password that logged in before is refused, a key still logs in, and the shipped check agrees."""

import re
import secrets
import subprocess

import paramiko
import pytest

from appliance.runner import run_pyinfra

USER = "alice"


def log_in(address: str, **credentials) -> str:
    """Log in over SSH as USER and return `id -un`'s answer; raises when refused."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            address,
            username=USER,
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
            **credentials,
        )
        _, stdout, _ = client.exec_command("id -un")
        return stdout.read().decode().strip()
    finally:
        client.close()


@pytest.fixture(scope="module")
def hardened(rehearsal, inventory):
    """A user with a password and a key; proved to log in with both, then the host layer with
    ssh_hardening deployed (the inventory logs in as root with its key)."""
    password = secrets.token_urlsafe(16)
    rehearsal.ssh(
        f"useradd --create-home --shell /bin/sh {USER} && chpasswd && "
        f"install -d -m 700 -o {USER} -g {USER} /home/{USER}/.ssh && "
        f"install -m 600 -o {USER} -g {USER} /root/.ssh/authorized_keys /home/{USER}/.ssh/",
        input=f"{USER}:{password}\n",
    )
    assert log_in(rehearsal.address, password=password) == USER
    path = inventory("hardened.py", layers="host", ssh_hardening=True)
    run = run_pyinfra(path, "deploy.py")
    assert run.returncode == 0, run.stderr[-3000:]
    assert any("Reload sshd" in name for name in run.changed), run.changed
    return path, password


def test_password_login_is_refused(hardened, rehearsal):
    _, password = hardened
    with pytest.raises(paramiko.AuthenticationException):
        log_in(rehearsal.address, password=password)


def test_key_login_is_accepted(hardened, rehearsal):
    key = paramiko.Ed25519Key.from_private_key_file(str(rehearsal.ssh_key))
    assert log_in(rehearsal.address, pkey=key) == USER


def test_sshd_offers_keys_only(hardened, rehearsal):
    # What the server offers a client that has no key: publickey alone.
    result = subprocess.run(
        [
            "ssh",
            "-o",
            "BatchMode=yes",
            "-o",
            "PreferredAuthentications=none",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            f"{USER}@{rehearsal.address}",
            "true",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 255
    assert "Permission denied (publickey)." in result.stderr


def test_shipped_check_agrees(hardened, shipped_suite):
    path, _ = hardened
    result = shipped_suite(
        path,
        "-m",
        "host",
        "-k",
        "test_ssh_accepts_keys_only_when_hardened or test_fail2ban_guards_ssh",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert re.search(r"^2 passed", result.stdout.splitlines()[-1]), result.stdout[-3000:]
