"""Firewall rules in ufw's own stored form, so that wanted and present rules compare equal.

ufw keeps the rules it was given as ``### tuple ###`` lines in ``/etc/ufw/user.rules`` (IPv4)
and ``/etc/ufw/user6.rules`` (IPv6), one per address family, with every address normalised:
host masks dropped (``/32``, ``/128``), IPv6 compressed and lower-cased, ``0.0.0.0/0`` and
``::/0`` meaning any. Read from ufw 0.36.2 (Debian 12's ``ufw_0.36.2-1``):
``src/util.py`` ``normalize_address`` (the address form), ``src/backend_iptables.py``
``_read_rules``/``_write_rules`` (the tuple's fields) and ``src/parser.py``
``UFWCommandRule.get_command`` (the rule as ``ufw show added`` prints it).

    >>> FirewallRule("allow", "tcp", "6443", stored_address("198.51.100.7/32")).command
    'allow from 198.51.100.7 to any port 6443 proto tcp'
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

ANY_ADDRESSES = ("0.0.0.0/0", "::/0")


def stored_address(address: str) -> str:
    """An address or network as ufw stores it: no host mask, IPv6 compressed in lower case,
    ``any`` for every address. Host bits of a network are cleared, as the kernel's match does.

        >>> stored_address("2001:DB8:0:0:0:0:0:0/32"), stored_address("198.51.100.7/32")
        ('2001:db8::/32', '198.51.100.7')
    """
    if address == "any" or address in ANY_ADDRESSES:
        return "any"
    network = ipaddress.ip_network(address, strict=False)
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


class FirewallRule(NamedTuple):
    """One incoming ufw rule, its addresses in ufw's stored form (see ``stored_address``).

    >>> FirewallRule("allow", "tcp", "22").command
    'allow 22/tcp'
    """

    action: str  # allow, deny, reject or limit, with ufw's "_log"/"_log-all" when logging
    protocol: str = "any"  # tcp, udp, ... or any
    port: str = "any"  # destination port or range ("2379:2381"), or any
    source: str = "any"
    destination: str = "any"
    source_port: str = "any"
    interface: str = ""  # ufw's "in_eth0" when the rule names an interface
    application: str = ""  # ufw application profile of the destination, if any
    source_application: str = ""

    @classmethod
    def from_tuple(cls, line: str) -> FirewallRule | None:
        """A rule from a ``### tuple ###`` line of ufw's rule files; None for outgoing and
        routed rules, which the appliance does not write.

            >>> FirewallRule.from_tuple("### tuple ### allow tcp 22 ::/0 any ::/0 in").command
            'allow 22/tcp'
        """
        fields = line.split("### tuple ###", 1)[1].split(" comment=", 1)[0].split()
        if len(fields) not in (7, 9) or ":" in fields[0]:  # route:allow ... is a routed rule
            return None
        action, protocol, port, destination, source_port, source = fields[:6]
        direction = fields[-1]
        if not direction.startswith("in"):
            return None
        applications = (
            [name.replace("%20", " ") for name in fields[6:8]] if len(fields) == 9 else []
        )
        application, source_application = [
            "" if name == "-" else name for name in applications or ("-", "-")
        ]
        return cls(
            action,
            protocol,
            port,
            stored_address(source),
            stored_address(destination),
            source_port,
            direction if "_" in direction else "",
            application,
            source_application,
        )

    @property
    def command(self) -> str:
        """The rule as ``ufw`` takes it after ``ufw`` or ``ufw delete``, and as ``ufw show
        added`` prints it (ufw 0.36.2 ``UFWCommandRule.get_command``, without comments)."""
        action, _, log = self.action.partition("_")
        words = [action] + ([log] if log else [])
        simple = (
            self.source == self.destination == "any"
            and self.source_port == "any"
            and not self.source_application
            and not self.interface
        )
        if simple and self.port != "any":
            if self.application:
                words.append(
                    f"'{self.application}'" if " " in self.application else self.application
                )
            else:
                words.append(self.port + (f"/{self.protocol}" if self.protocol != "any" else ""))
            return " ".join(words)
        if self.interface:
            words += ["in", "on", self.interface.partition("_")[2]]
        for direction, address, port, app in (
            ("from", self.source, self.source_port, self.source_application),
            ("to", self.destination, self.port, self.application),
        ):
            if address != "any" or port != "any" or app:
                words += [direction, address]
                if app:
                    words += ["app", f"'{app}'" if " " in app else app]
                elif port != "any":
                    words += ["port", port]
        if "from" not in words and "to" not in words and not self.interface:
            words += ["to", "any"]
        if self.protocol != "any" and not self.application and not self.source_application:
            words += ["proto", self.protocol]
        return " ".join(words)
