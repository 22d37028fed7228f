"""The shipped suite's own reading of a host, through testinfra: each value read with the
host's own programs and parsed here, never with the deploy's facts or parsers (operations/),
so that a wrong parser in the deploy cannot hide what it got wrong.

Each function takes testinfra's ``host`` and returns plain values, e.g.

    ufw_state(host)  # {"active": True, "incoming": "deny", "outgoing": "allow",
                     #  "rules": ["allow 22/tcp", "allow from 10.42.0.0/16"]}
"""

from __future__ import annotations

import ipaddress
import json
import re


def ufw_address(address: str) -> str:
    """An address or network as ``ufw show added`` prints it: no host mask (/32, /128),
    IPv6 compressed in lower case, host bits cleared (ufw 0.36.2 src/util.py
    normalize_address, through Python's ipaddress as ufw does).

        >>> ufw_address("203.0.113.7/32"), ufw_address("2001:DB8:0:0:0:0:0:0/32")
        ('203.0.113.7', '2001:db8::/32')
    """
    network = ipaddress.ip_network(address, strict=False)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def ufw_state(host) -> dict:
    """ufw as its own program reports it (as root): ``ufw status verbose``'s first lines
    ("Status: active", "Default: deny (incoming), allow (outgoing), disabled (routed)":
    ufw 0.36.2 src/frontend.py get_status, src/backend_iptables.py get_status) and the rules
    of ``ufw show added`` (src/frontend.py get_show_added: "ufw " and each rule as its
    command, UFWCommandRule.get_command), without the "ufw " prefix."""
    with host.sudo():
        status = host.check_output("ufw status verbose")
        added = host.check_output("ufw show added")
    default = re.search(r"^Default: (\w+) \(incoming\), (\w+) \(outgoing\)", status, re.MULTILINE)
    return {
        "active": status.splitlines()[0].strip() == "Status: active",
        "incoming": default and default.group(1),
        "outgoing": default and default.group(2),
        "rules": [
            line.removeprefix("ufw ") for line in added.splitlines()[1:] if line.startswith("ufw ")
        ],
    }


def ssh_port(host) -> int | None:
    """The port of the SSH server the suite's own connection came in on (the fourth field of
    sshd's ``SSH_CONNECTION``: client address, client port, server address, server port;
    ssh(1) ENVIRONMENT); None on a connection that is not SSH."""
    fields = host.check_output('echo "$SSH_CONNECTION"').split()
    return int(fields[3]) if len(fields) == 4 else None


def primary_address(host) -> str | None:
    """The IPv4 address the host's own traffic leaves from: the ``prefsrc`` of its route to a
    documentation address (``ip -json route get``, iproute2's JSON form); None without an
    IPv4 route."""
    result = host.run("ip -4 -json route get 192.0.2.1")
    if result.rc != 0 or not result.stdout.strip():
        return None
    (route,) = json.loads(result.stdout)
    return route.get("prefsrc")


def systemd_unit(host, unit: str) -> dict:
    """``systemctl show``'s UnitFileState, ActiveState and ConditionResult of ``unit``."""
    shown = host.check_output(
        f"systemctl show {unit} --property=UnitFileState,ActiveState,ConditionResult"
    )
    return dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)


def kernel_module_present(host, name: str) -> bool:
    """Loaded or built into the running kernel: /sys/module/NAME exists for both (the
    kernel's sysfs-module ABI: a built-in module with parameters or a version, every loaded
    one), else listed in modules.builtin of the running kernel."""
    return (
        host.run(
            f'test -d /sys/module/{name} || grep -qs "/{name}.ko" '
            f'"/lib/modules/$(uname -r)/modules.builtin"'
        ).rc
        == 0
    )
