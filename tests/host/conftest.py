"""The shipped testinfra suite: proves a deployed host is what the appliance promises.

Against the hosts of an inventory (their settings are read from it too):

    pytest tests/host --inventory inventories/prod.py

or against any host testinfra reaches, with default settings:

    pytest tests/host --hosts=ssh://root@203.0.113.7

Checks are marked by layer (`-m host`); run only the layers you deployed.
"""

from __future__ import annotations

import pytest

from operations.settings import SETTINGS, Settings, load


def pytest_addoption(parser):
    parser.addoption(
        "--inventory",
        help="pyinfra inventory: its hosts are tested, with their appliance settings",
    )


def _hostspec(address: str, data: dict) -> str:
    spec = f"paramiko://{data.get('ssh_user') or 'root'}@{address}:{data.get('ssh_port') or 22}"
    return spec + (f"?ssh_identity_file={data['ssh_key']}" if data.get("ssh_key") else "")


def pytest_configure(config):
    inventory = config.getoption("--inventory")
    config.appliance_settings = {}
    config.appliance_roles = {}
    config.appliance_specs = {}
    if not inventory:
        return
    from appliance.inventory import inventory_hosts

    from operations.cluster import node_role

    nodes = inventory_hosts(inventory)
    groups = {node.name: node.groups for node in nodes}
    addresses = {node.name: node.address for node in nodes}
    for node in nodes:
        config.appliance_specs[node.address] = _hostspec(node.address, node.data)
        config.appliance_settings[node.address] = load(node.data)
        config.appliance_roles[node.address] = node_role(node.name, groups, addresses).role
    # testinfra parametrises its `host` fixture from this option.
    config.option.hosts = ",".join(config.appliance_specs.values())


@pytest.fixture
def settings(host, request) -> Settings:
    """The appliance settings of the host under test (defaults without --inventory)."""
    by_address = request.config.appliance_settings
    address = host.backend.hostname
    if address in by_address:
        return by_address[address]
    defaults = {s.name: s.default for s in SETTINGS if not s.required}
    return Settings(**defaults, webui_domain=None, monitor_domain=None, acme_email=None)


@pytest.fixture
def k3s_role(host, request) -> str:
    """"server" or "agent" (from the inventory's k3s_agents group; "server" without one)."""
    return request.config.appliance_roles.get(host.backend.hostname, "server")


@pytest.fixture
def kubectl(host, k3s_role):
    """Run kubectl on a server and return its output (agents have no kubeconfig)."""
    if k3s_role != "server":
        pytest.skip("kubectl runs on servers")
    return lambda arguments: host.check_output(f"k3s kubectl {arguments}")


@pytest.fixture
def cluster_peers(host, request) -> tuple[str, ...]:
    """The other inventory hosts' primary addresses, which the firewall admits (as the deploy
    reads them: operations.host.cluster_peers)."""
    import testinfra

    from operations.facts import PrimaryAddress

    peers = []
    for address, spec in request.config.appliance_specs.items():
        if address != host.backend.hostname:
            fact = PrimaryAddress()
            peer = testinfra.get_host(spec)
            peers.append(fact.process(peer.check_output(fact.command()).splitlines()))
    return tuple(peer for peer in peers if peer)


@pytest.fixture
def fact(host):
    """Read one of the deploy's own pyinfra facts through testinfra: one definition for both."""

    def read(fact_class, **arguments):
        instance = fact_class()
        return instance.process(host.check_output(instance.command(**arguments)).splitlines())

    return read
