"""Firewall rules in ufw's stored form (ufw 0.36.2): the deploy's and ufw's rules compare equal."""

import pytest

from operations.firewall import FirewallRule, stored_address
from operations.host import firewall_rules
from operations.settings import load


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("198.51.100.7/32", "198.51.100.7"),
        ("2001:db8::7/128", "2001:db8::7"),
        ("2001:DB8:0:0:0:0:0:0/64", "2001:db8::/64"),
        ("2001:0db8:0000:0000:0000:0000:0000:0000/32", "2001:db8::/32"),
        ("192.0.2.0/24", "192.0.2.0/24"),
        ("0.0.0.0/0", "any"),
        ("::/0", "any"),
    ],
)
def test_stored_address(written, stored):
    assert stored_address(written) == stored


@pytest.mark.parametrize(
    ("tuple_line", "command"),
    [
        # `### tuple ###` lines ufw wrote and the rule `ufw show added` printed for each.
        ("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in", "allow 22/tcp"),
        ("### tuple ### allow any 53 0.0.0.0/0 any 0.0.0.0/0 in", "allow 53"),
        ("### tuple ### allow any any 0.0.0.0/0 any 10.42.0.0/16 in", "allow from 10.42.0.0/16"),
        (
            "### tuple ### allow tcp 6443 0.0.0.0/0 any 198.51.100.7 in",
            "allow from 198.51.100.7 to any port 6443 proto tcp",
        ),
        (
            "### tuple ### deny udp 2379:2381 10.0.0.1 any 0.0.0.0/0 in",
            "deny to 10.0.0.1 port 2379:2381 proto udp",
        ),
        (
            "### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in_eth0",
            "limit in on eth0 to any port 22 proto tcp",
        ),
        ("### tuple ### allow_log tcp 80 0.0.0.0/0 any 0.0.0.0/0 in", "allow log 80/tcp"),
        ("### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in", "allow OpenSSH"),
        (
            "### tuple ### allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 WWW%20Full - in",
            "allow 'WWW Full'",
        ),
        ("### tuple ### allow tcp 22 ::/0 any ::/0 in comment=6b657973", "allow 22/tcp"),
    ],
)
def test_rule_from_tuple_as_ufw_prints_it(tuple_line, command):
    assert FirewallRule.from_tuple(tuple_line).command == command


def test_outgoing_and_routed_rules_are_not_incoming_rules():
    assert FirewallRule.from_tuple("### tuple ### allow any 53 0.0.0.0/0 any 0.0.0.0/0 out") is None
    assert (
        FirewallRule.from_tuple("### tuple ### route:allow any any 0.0.0.0/0 any 0.0.0.0/0 in")
        is None
    )


def test_wanted_rules_equal_what_ufw_stores_for_host_masks_and_ipv6():
    settings = load(
        {
            "webui_domain": "chat.example.com",
            "monitor_domain": "monitor.example.com",
            "acme_email": "admin@example.com",
            "admin_cidrs": [
                "198.51.100.7/32",
                "2001:db8::7/128",
                "2001:DB8:0:0:0:0:0:0/64",
                "192.0.2.0/24",
            ],
        }
    )
    stored = [
        FirewallRule.from_tuple(f"### tuple ### allow tcp 6443 {any_} any {source} in")
        for any_, source in (
            ("0.0.0.0/0", "198.51.100.7"),
            ("::/0", "2001:db8::7"),
            ("::/0", "2001:db8::/64"),
            ("0.0.0.0/0", "192.0.2.0/24"),
        )
    ]
    assert firewall_rules(settings, 22)[3:7] == stored
    assert [rule.command for rule in firewall_rules(settings, 22)] == [
        "allow 22/tcp",
        "allow 80/tcp",
        "allow 443/tcp",
        "allow from 198.51.100.7 to any port 6443 proto tcp",
        "allow from 2001:db8::7 to any port 6443 proto tcp",
        "allow from 2001:db8::/64 to any port 6443 proto tcp",
        "allow from 192.0.2.0/24 to any port 6443 proto tcp",
        "allow from 10.42.0.0/16",
        "allow from 10.43.0.0/16",
    ]
