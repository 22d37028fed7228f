"""The Vagrant rehearsal VM as pyinfra host data, from `vagrant ssh-config` (never hard-coded:
the port and key differ per machine and provider)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

VAGRANT_DIR = Path(__file__).resolve().parent.parent / "vagrant"
# A file with recorded `vagrant ssh-config` output, used instead of running Vagrant (tests).
RECORDED_ENV = "APPLIANCE_VAGRANT_SSH_CONFIG"


def parse_ssh_config(text: str) -> dict:
    """pyinfra's SSH data from one host of `vagrant ssh-config` output."""
    options: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and value:
            options.setdefault(key.lower(), value.strip().strip('"'))
    return {
        "ssh_hostname": options["hostname"],
        "ssh_port": int(options.get("port", 22)),
        "ssh_user": options.get("user", "vagrant"),
        "ssh_key": options["identityfile"],
        # Vagrant makes a new VM (and host key) at each `vagrant up`.
        "ssh_strict_host_key_checking": "no",
        "ssh_known_hosts_file": "/dev/null",
        "_sudo": True,
    }


def vagrant_ssh_data() -> dict:
    recorded = os.environ.get(RECORDED_ENV)
    if recorded:
        return parse_ssh_config(Path(recorded).read_text())
    if shutil.which("vagrant") is None:
        raise SystemExit(
            "inventories/vagrant.py: Vagrant is not installed; install it and VirtualBox or "
            "libvirt (https://developer.hashicorp.com/vagrant/install), then run `vagrant up` "
            f"in {VAGRANT_DIR}"
        )
    result = subprocess.run(
        ["vagrant", "ssh-config"], cwd=VAGRANT_DIR, capture_output=True, text=True
    )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(
            f"inventories/vagrant.py: `vagrant ssh-config` failed in {VAGRANT_DIR} ({last}); "
            "run `vagrant up` there first"
        )
    return parse_ssh_config(result.stdout)
