"""The custom facts parse what the real commands print (outputs recorded on Debian 12)."""

from operations.facts import (
    DiskSpace,
    K3sNetworks,
    KernelModules,
    ListeningTcpPorts,
    SshServerPort,
    Ufw,
)


def test_listening_ports():
    output = [
        'LISTEN 0      4096         0.0.0.0:22        0.0.0.0:* users:(("sshd",pid=45,fd=3))',
        'LISTEN 0      4096            [::]:22           [::]:* users:(("sshd",pid=45,fd=4))',
        'LISTEN 0      4096       127.0.0.1:6443      0.0.0.0:* users:(("k3s-server",pid=9,fd=7),("k3s-server",pid=9,fd=8))',
        'LISTEN 0      5                  *:80              *:* users:(("python3",pid=77,fd=3))',
    ]
    assert ListeningTcpPorts().process(output) == {
        22: {"sshd"}, 6443: {"k3s-server"}, 80: {"python3"}
    }


def test_ufw_inactive_and_active():
    inactive = ["Status: inactive", "--", "Added user rules (see 'ufw status' for running firewall):", "(None)"]
    assert Ufw().process(inactive) == {"active": False, "incoming": None, "outgoing": None, "rules": []}
    active = [
        "Status: active", "Logging: on (low)",
        "Default: deny (incoming), allow (outgoing), deny (routed)", "New profiles: skip", "--",
        "Added user rules (see 'ufw status' for running firewall):",
        "ufw allow 22/tcp", "ufw allow from 192.0.2.0/24 to any port 6443 proto tcp",
    ]
    assert Ufw().process(active) == {
        "active": True, "incoming": "deny", "outgoing": "allow", "routed": "deny",
        "rules": ["allow 22/tcp", "allow from 192.0.2.0/24 to any port 6443 proto tcp"],
    }


def test_disk_space_of_a_path_not_yet_created():
    output = ["/dev/vda         263174212 23034516  83428056      22% /", "0"]
    assert DiskSpace().process(output) == {"mount": "/", "free_kib": 83428056, "used_by_path_kib": 0}


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
        "cluster-cidr": "10.42.0.0/16", "service-cidr": "10.43.0.0/16"}
    assert K3sNetworks().process([]) == {}
