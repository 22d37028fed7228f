"""The custom facts parse what the real commands print (outputs recorded on Debian 12)."""

from operations.fact_batch import BATCH_MARK, Batch, fact_key
from operations.facts import K3sNetworks
from operations.host_facts import (
    DiskSpace,
    FileState,
    InstalledPackages,
    KernelModules,
    ListeningTcpPorts,
    SshServerPort,
    Ufw,
)


def test_listening_ports():
    output = [
        'LISTEN 0      4096         0.0.0.0:22        0.0.0.0:* users:(("sshd",pid=45,fd=3))',
        'LISTEN 0      4096            [::]:22           [::]:* users:(("sshd",pid=45,fd=4))',
        "LISTEN 0      4096       127.0.0.1:6443      0.0.0.0:* "
        'users:(("k3s-server",pid=9,fd=7),("k3s-server",pid=9,fd=8))',
        'LISTEN 0      5                  *:80              *:* users:(("python3",pid=77,fd=3))',
    ]
    assert ListeningTcpPorts().process(output) == {
        22: {"sshd"},
        6443: {"k3s-server"},
        80: {"python3"},
    }


# What the Ufw fact's command printed on a Debian 12 host (ufw 0.36.2) after
# `ufw allow 22/tcp`, `ufw allow from 10.42.0.0/16`, `ufw allow from 198.51.100.7/32 to any
# port 6443 proto tcp`, `ufw allow from 2001:DB8:0:0::/64 to any port 6443 proto tcp` and
# `ufw allow from 2001:db8::7/128`, then `ufw enable`.
UFW_FILES = [
    "IPV6=yes",
    'DEFAULT_INPUT_POLICY="DROP"',
    'DEFAULT_OUTPUT_POLICY="ACCEPT"',
    "ENABLED=yes",
    "/etc/ufw/user.rules:### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in",
    "/etc/ufw/user.rules:### tuple ### allow any any 0.0.0.0/0 any 10.42.0.0/16 in",
    "/etc/ufw/user.rules:### tuple ### allow tcp 6443 0.0.0.0/0 any 198.51.100.7 in",
    "/etc/ufw/user6.rules:### tuple ### allow tcp 22 ::/0 any ::/0 in",
    "/etc/ufw/user6.rules:### tuple ### allow tcp 6443 ::/0 any 2001:db8::/64 in",
    "/etc/ufw/user6.rules:### tuple ### allow any any ::/0 any 2001:db8::7 in",
    "LOADED=yes",
]


def test_ufw_read_from_its_files():
    state = Ufw().process(UFW_FILES)
    assert (state["active"], state["incoming"], state["outgoing"]) == (True, "deny", "allow")
    assert [rule.command for rule in state["rules"]] == [
        "allow 22/tcp",
        "allow from 10.42.0.0/16",
        "allow from 198.51.100.7 to any port 6443 proto tcp",
        "allow from 2001:db8::/64 to any port 6443 proto tcp",
        "allow from 2001:db8::7",
    ]


def test_ufw_enabled_but_not_loaded_is_inactive():
    state = Ufw().process(UFW_FILES[:-1])
    assert state["active"] is False


def test_ufw_ignores_ipv6_rules_when_ipv6_is_off():
    state = Ufw().process(["IPV6=no", *UFW_FILES[1:]])
    assert [rule.command for rule in state["rules"]] == [
        "allow 22/tcp",
        "allow from 10.42.0.0/16",
        "allow from 198.51.100.7 to any port 6443 proto tcp",
    ]


def test_ufw_default_policies_as_ufw_reads_them():
    state = Ufw().process(['DEFAULT_INPUT_POLICY="reject"', 'DEFAULT_OUTPUT_POLICY="DROP"'])
    assert (state["incoming"], state["outgoing"], state["rules"]) == ("reject", "deny", [])


def test_installed_packages_from_dpkg_query():
    # dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' curl fail2ban ufw (half-configured)
    assert InstalledPackages().process(["curl ii ", "fail2ban ii ", "ufw iF "]) == {
        "curl",
        "fail2ban",
    }


def test_file_state():
    assert FileState().process(["644 root root", "da39a3ee5e6b4b0d3255bfef95601890afd80709"]) == {
        "mode": "644",
        "user": "root",
        "group": "root",
        "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    }


def test_batch_gives_each_part_its_own_fact_value():
    parts = (
        fact_key(KernelModules, names=("overlay",)),
        fact_key(FileState, path="/nowhere"),
        fact_key(SshServerPort),
    )
    command = Batch().command(parts=parts)
    assert command.count(BATCH_MARK) == 3
    output = [
        "overlay",
        f"{BATCH_MARK} 0 0",
        f"{BATCH_MARK} 1 0",
        "192.0.2.10 51234 192.0.2.7 2222",
        f"{BATCH_MARK} 2 1",
    ]
    assert Batch().values(parts, output) == {parts[0]: {"overlay"}, parts[1]: None, parts[2]: None}


def test_disk_space_of_a_path_not_yet_created():
    output = ["/dev/vda         263174212 23034516  83428056      22% /", "0"]
    assert DiskSpace().process(output) == {
        "mount": "/",
        "free_kib": 83428056,
        "used_by_path_kib": 0,
    }


def test_kernel_modules_command_reads_sys_module_and_builtins():
    command = KernelModules().command(names=("overlay", "br_netfilter"))
    assert "/sys/module/$name" in command and "modules.builtin" in command
    assert "/proc/modules" not in command
    assert KernelModules().process(["overlay", ""]) == {"overlay"}


def test_ssh_server_port():
    assert SshServerPort().process(["192.0.2.10 51234 192.0.2.7 2222"]) == 2222
    assert SshServerPort().process([""]) is None


def test_k3s_networks_from_the_config():
    assert K3sNetworks().process(["cluster-cidr: 10.42.0.0/16", "service-cidr: 10.43.0.0/16"]) == {
        "cluster-cidr": "10.42.0.0/16",
        "service-cidr": "10.43.0.0/16",
    }
    assert K3sNetworks().process([]) == {}
