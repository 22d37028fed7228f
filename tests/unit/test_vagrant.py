"""The Vagrant rehearsal: the Vagrantfile parses, and the inventory reads Vagrant's SSH settings."""

import shutil
import subprocess
from pathlib import Path

import pytest

from appliance.inventory import inventory_hosts
from appliance.vagrant import RECORDED_ENV, parse_ssh_config
from operations.memory import refusal
from operations.settings import SettingsError, load
from operations.sizing import REFERENCE_MEM_TOTAL_KIB

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).with_name("data") / "vagrant-ssh-config.txt"


def test_vagrantfile_parses():
    ruby = shutil.which("ruby")
    if ruby is None:
        pytest.fail("ruby is missing: install it with README.md's install command")
    result = subprocess.run(
        [ruby, "-c", str(PROJECT_ROOT / "vagrant/Vagrantfile")], capture_output=True, text=True
    )
    assert result.returncode == 0 and "Syntax OK" in result.stdout, result.stderr


def test_vagrantfile_sizes_the_reference_server():
    text = (PROJECT_ROOT / "vagrant/Vagrantfile").read_text()
    assert 'config.vm.box = "bento/ubuntu-24.04"' in text
    assert text.count("cpus = 4") == 2 and text.count("memory = 8192") == 2
    assert '"virtualbox"' in text and '"libvirt"' in text and "private_network" in text


def test_ssh_config_parsed():
    data = parse_ssh_config(RECORDED.read_text())
    assert data["ssh_hostname"] == "127.0.0.1" and data["ssh_port"] == 2222
    assert data["ssh_user"] == "vagrant" and data["ssh_key"].endswith("virtualbox/private_key")
    assert data["_sudo"] is True


def test_vagrant_inventory_resolves_and_validates(monkeypatch):
    monkeypatch.setenv(RECORDED_ENV, str(RECORDED))
    (node,) = inventory_hosts(PROJECT_ROOT / "inventories/vagrant.py")
    assert (node.name, node.data["ssh_port"], node.data["ssh_hostname"]) == (
        "vagrant",
        2222,
        "127.0.0.1",
    )
    # The recorded key was on the machine that ran `vagrant up`; not a file here.
    with pytest.raises(SettingsError) as missing:
        load(node.data)
    assert [problem.split(" is not a file")[0] for problem in missing.value.problems] == [
        "ssh_key = '/home/operator/llm-appliance/vagrant/.vagrant/machines/default/virtualbox/"
        "private_key'"
    ]
    settings = load({key: value for key, value in node.data.items() if key != "ssh_key"})
    assert settings.acme_ca == "none"
    # The VM has 8 GiB, as the reference box: its models fit there.
    assert refusal(settings, REFERENCE_MEM_TOTAL_KIB) is None


def test_without_vagrant_the_inventory_says_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.delenv(RECORDED_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH where no vagrant lives
    with pytest.raises(SystemExit) as stopped:
        inventory_hosts(PROJECT_ROOT / "inventories/vagrant.py")
    assert str(stopped.value).startswith(
        "inventories/vagrant.py: Vagrant is not installed; install it and VirtualBox or libvirt "
        "(https://developer.hashicorp.com/vagrant/install), then run `vagrant up` in "
    )
