"""The shipped testinfra suite: proves a deployed host is what the appliance promises.

Against the hosts of an inventory (their settings, SSH user, key and known hosts are read from
it too; `--data` overrides a setting as pyinfra's does):

    pytest tests/host --inventory inventories/mine.py --data ssh_hardening=true

or against any host testinfra reaches, with default settings (OpenSSH's own configuration
applies: give a key with --ssh-identity-file, known hosts and more with --ssh-config):

    pytest tests/host --hosts=ssh://root@203.0.113.10 --ssh-identity-file ~/.ssh/id_ed25519 -m host

Checks are marked by layer (`-m host`); run only the layers you deployed. A host that cannot
be reached stops the run at once, with one line saying why.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from operations.settings import Settings, SettingsError, load
from operations.settings_table import SETTINGS


def pytest_addoption(parser):
    parser.addoption(
        "--inventory",
        help="pyinfra inventory: its hosts are tested, with their appliance settings",
    )
    parser.addoption(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="with --inventory: override a setting, as pyinfra's --data does (repeatable)",
    )


def ssh_config(address: str, data: dict, control_dir: Path) -> str:
    """An OpenSSH client configuration that logs in to an inventory host as pyinfra does: its
    user, port and key, its known hosts file and host key policy (pyinfra's default:
    accept-new), never asking a question; one connection shared by every check (its socket
    in `control_dir`, closed when the run ends)."""
    options = {
        "ControlPath": f"{control_dir}/%C",
        "User": data.get("ssh_user") or "root",
        "Port": data.get("ssh_port") or 22,
        "IdentityFile": data.get("ssh_key"),
        "UserKnownHostsFile": data.get("ssh_known_hosts_file"),
        "StrictHostKeyChecking": data.get("ssh_strict_host_key_checking") or "accept-new",
        "BatchMode": "yes",
        "LogLevel": "ERROR",
    }
    lines = [f"Host {address}"]
    lines += [f"    {key} {value}" for key, value in options.items() if value is not None]
    return "\n".join(lines) + "\n"


def pytest_configure(config):
    inventory = config.getoption("--inventory")
    config.appliance_settings = {}
    config.appliance_roles = {}
    config.appliance_specs = {}
    if not inventory:
        return
    from appliance.inventory import inventory_hosts, parse_data
    from operations.cluster import node_role

    nodes = inventory_hosts(inventory, parse_data(config.getoption("--data")))
    groups = {node.name: node.groups for node in nodes}
    addresses = {node.name: node.address for node in nodes}
    config.appliance_ssh_dir = Path(tempfile.mkdtemp(prefix="llm-appliance-suite-"))
    for node in nodes:
        config_file = config.appliance_ssh_dir / f"{node.name}.ssh_config"
        config_file.write_text(ssh_config(node.address, node.data, config.appliance_ssh_dir))
        # OpenSSH (testinfra's ssh backend) reads the known hosts file, as pyinfra does.
        config.appliance_specs[node.address] = f"ssh://{node.address}?ssh_config={config_file}"
        try:
            config.appliance_settings[node.address] = load(node.data)
        except SettingsError as error:  # one line per problem, as the deploy gives them
            raise pytest.UsageError(
                f"{inventory}: the settings of {node.name} need fixing: "
                + "; ".join(error.problems)
            ) from None
        config.appliance_roles[node.address] = node_role(node.name, groups, addresses).role
    # testinfra parametrises its `host` fixture from this option.
    config.option.hosts = ",".join(config.appliance_specs.values())


def pytest_unconfigure(config):
    folder = getattr(config, "appliance_ssh_dir", None)
    if folder:
        for config_file in folder.glob("*.ssh_config"):
            address = config_file.read_text().split()[1]  # "Host ADDRESS"
            subprocess.run(
                ["ssh", "-F", str(config_file), "-O", "exit", address], capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)


def pytest_sessionstart(session):
    """Stop at once, in one line, when a host cannot be reached (rather than one traceback
    per check)."""
    import testinfra

    option = session.config.option
    for spec in (option.hosts or "").split(","):
        if not spec:
            continue
        host = testinfra.get_host(
            spec, ssh_config=option.ssh_config, ssh_identity_file=option.ssh_identity_file
        )
        try:
            result = host.run("true")
            reason = result.stderr if result.rc != 0 else ""
        except Exception as error:  # each backend raises its own kind
            cause = error.args[0] if error.args else error  # ssh: the failed CommandResult
            reason = getattr(cause, "stderr", None) or str(cause)
        if reason:
            last = (reason.strip().splitlines() or ["no answer"])[-1]
            raise pytest.UsageError(f"cannot reach {host.backend.hostname} over SSH: {last}")


@pytest.fixture
def settings(host, request) -> Settings:
    """The appliance settings of the host under test (defaults without --inventory)."""
    by_address = request.config.appliance_settings
    address = host.backend.hostname
    if address in by_address:
        return by_address[address]
    # None for the settings without a default (load() would ask an inventory for them).
    defaults: dict[str, Any] = {s.name: None if s.required else s.default for s in SETTINGS}
    return Settings(**defaults)


@pytest.fixture
def k3s_role(host, request) -> str:
    """ "server" or "agent" (from the inventory's k3s_agents group; "server" without one)."""
    return request.config.appliance_roles.get(host.backend.hostname, "server")


@pytest.fixture
def kubectl(host, k3s_role):
    """Run kubectl on a server and return its output (agents have no kubeconfig)."""
    if k3s_role != "server":
        pytest.skip("kubectl runs on servers")

    def run(arguments: str) -> str:
        result = host.run(f"k3s kubectl {arguments}")
        if result.rc != 0:
            pytest.fail(
                f"k3s kubectl {arguments} failed: {(result.stderr or result.stdout).strip()[-300:]}"
                " (is the k3s layer deployed? after a deploy of some layers, verify those, "
                "e.g. appliance verify INVENTORY --layers host)",
                pytrace=False,
            )
        return result.stdout.rstrip("\r\n")  # as testinfra's check_output

    return run


@pytest.fixture
def cluster_peers(host, request) -> tuple[str, ...]:
    """The other inventory hosts' primary addresses, which the firewall admits (each read by
    readings.primary_address)."""
    import testinfra

    from host.readings import primary_address

    peers = [
        primary_address(testinfra.get_host(spec))
        for address, spec in request.config.appliance_specs.items()
        if address != host.backend.hostname
    ]
    return tuple(peer for peer in peers if peer)


@pytest.fixture
def fact(host):
    """Read one of the deploy's own pyinfra facts through testinfra: one definition for both."""

    def read(fact_class, **arguments):
        instance = fact_class()
        return instance.process(host.check_output(instance.command(**arguments)).splitlines())

    return read
