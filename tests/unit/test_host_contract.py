"""The host layer's files and packages, as `appliance render` and the deploy give them, against
values written out here (README: "What the host layer does"), not read from operations/host.py."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main
from operations import host as host_layer
from operations.firewall import FirewallRule
from operations.settings import load



@pytest.fixture(scope="module")
def rendered(base_data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("host")
    (folder / "inventory.py").write_text(f"hosts = [('203.0.113.10', {{**{dict(base_data)!r}, 'layers': 'host'}})]\n")
    result = CliRunner().invoke(main, ["render", str(folder / "inventory.py"), "--out", str(folder / "out")])
    assert result.exit_code == 0, result.output
    return folder / "out"


def settings_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith(("#", "//"))]


def test_kernel_parameters(rendered):
    assert settings_lines(rendered / "etc/sysctl.d/90-llm-appliance.conf") == [
        "net.ipv4.ip_forward = 1",
        "net.ipv6.conf.all.forwarding = 1",
        "net.bridge.bridge-nf-call-iptables = 1",
        "net.bridge.bridge-nf-call-ip6tables = 1",
        "fs.inotify.max_user_instances = 8192",
        "fs.inotify.max_user_watches = 524288",
        "vm.overcommit_memory = 1",
        "vm.panic_on_oom = 0",
        "kernel.panic = 10",
        "kernel.panic_on_oops = 1",
    ]


def test_kernel_modules(rendered):
    assert settings_lines(rendered / "etc/modules-load.d/llm-appliance.conf") == ["overlay", "br_netfilter"]


def test_security_updates_daily_without_reboot(rendered):
    assert settings_lines(rendered / "etc/apt/apt.conf.d/20auto-upgrades") == [
        'APT::Periodic::Update-Package-Lists "1";',
        'APT::Periodic::Unattended-Upgrade "1";',
    ]
    assert settings_lines(rendered / "etc/apt/apt.conf.d/52llm-appliance-unattended-upgrades") == [
        'Unattended-Upgrade::Automatic-Reboot "false";',
        'Unattended-Upgrade::Automatic-Reboot-Time "04:00";',
    ]
    assert settings_lines(rendered / "etc/apt/apt.conf.d/50llm-appliance-lock-timeout") == [
        'DPkg::Lock::Timeout "600";']


def test_rendered_host_files_are_exactly_these(rendered):
    found = sorted(str(path.relative_to(rendered)) for path in rendered.rglob("*") if path.is_file())
    assert found == [
        "etc/apt/apt.conf.d/20auto-upgrades",
        "etc/apt/apt.conf.d/50llm-appliance-lock-timeout",
        "etc/apt/apt.conf.d/52llm-appliance-unattended-upgrades",
        "etc/fail2ban/jail.d/llm-appliance.conf",
        "etc/modprobe.d/llm-appliance-hardening.conf",
        "etc/modules-load.d/llm-appliance.conf",
        "etc/profile.d/llm-appliance-idle-logout.sh",
        "etc/profile.d/llm-appliance.sh",
        "etc/security/limits.d/llm-appliance.conf",
        "etc/ssh/sshd_config.d/20-llm-appliance-hardening.conf",
        "etc/sysctl.d/80-llm-appliance-hardening.conf",
        "etc/sysctl.d/90-llm-appliance.conf",
        "etc/systemd/coredump.conf.d/llm-appliance.conf",
    ]


@pytest.mark.parametrize("fail2ban, packages", [
    (True, ["ca-certificates", "curl", "iproute2", "kmod", "systemd-timesyncd", "ufw",
            "unattended-upgrades", "acct", "apt-listchanges", "libpam-pwquality",
            "libpam-tmpdir", "fail2ban", "python3-systemd"]),
    (False, ["ca-certificates", "curl", "iproute2", "kmod", "systemd-timesyncd", "ufw",
             "unattended-upgrades", "acct", "apt-listchanges", "libpam-pwquality",
             "libpam-tmpdir"]),
])
def test_packages(base_data, fail2ban, packages):
    assert host_layer.host_packages(load({**base_data, "fail2ban": fail2ban})) == packages


@pytest.mark.parametrize("first_server, restic", [
    (True, ["restic", "sqlite3", "openssh-client"]),
    (False, []),
])
def test_offsite_packages_go_in_the_same_transaction_on_the_first_server(base_data, first_server, restic):
    settings = load({**base_data, "backup_repository": "/mnt/nas/restic"})
    assert host_layer.host_packages(settings, first_server) == [
        "ca-certificates", "curl", "iproute2", "kmod", "systemd-timesyncd", "ufw",
        "unattended-upgrades", "acct", "apt-listchanges", "libpam-pwquality",
        "libpam-tmpdir", "fail2ban", "python3-systemd", *restic]


def test_firewall_admits_only_the_appliance(base_data):
    settings = load({**base_data, "admin_cidrs": ["198.51.100.0/24", "2001:db8::/32", "203.0.113.7/32"]})
    rules = host_layer.firewall_rules(settings, 2222, ("203.0.113.11",))
    assert [rule.command for rule in rules] == [
        "allow 2222/tcp",
        "allow 80/tcp",
        "allow 443/tcp",
        "allow from 198.51.100.0/24 to any port 6443 proto tcp",
        "allow from 2001:db8::/32 to any port 6443 proto tcp",
        "allow from 203.0.113.7 to any port 6443 proto tcp",
        "allow from 10.42.0.0/16",
        "allow from 10.43.0.0/16",
        "allow from 203.0.113.11",
    ]
    assert [rule for rule in host_layer.firewall_rules(load(base_data), 22) if rule.port == "6443"] == []


def test_hardening_files(rendered):
    assert settings_lines(rendered / "etc/sysctl.d/80-llm-appliance-hardening.conf") == [
        "dev.tty.ldisc_autoload = 0",
        "kernel.core_uses_pid = 1",
        "kernel.ctrl-alt-del = 0",
        "kernel.kptr_restrict = 2",
        "kernel.perf_event_paranoid = 3",
        "kernel.unprivileged_bpf_disabled = 1",
        "net.ipv4.conf.all.send_redirects = 0",
        "net.ipv4.conf.default.send_redirects = 0",
        "net.ipv4.conf.default.accept_source_route = 0",
        "net.ipv4.conf.all.log_martians = 1",
        "net.ipv4.conf.default.log_martians = 1",
    ]
    assert settings_lines(rendered / "etc/modprobe.d/llm-appliance-hardening.conf") == [
        "install dccp /bin/false", "install sctp /bin/false", "install rds /bin/false",
        "install tipc /bin/false", "install firewire-core /bin/false",
        "install firewire-ohci /bin/false",
    ]
    assert settings_lines(rendered / "etc/systemd/coredump.conf.d/llm-appliance.conf") == [
        "[Coredump]", "Storage=none", "ProcessSizeMax=0"]
    assert settings_lines(rendered / "etc/security/limits.d/llm-appliance.conf") == [
        "* soft core 0", "* hard core 0"]
    assert settings_lines(rendered / "etc/profile.d/llm-appliance.sh") == ["ulimit -c 0"]
    assert settings_lines(rendered / "etc/profile.d/llm-appliance-idle-logout.sh") == [
        'if ! readonly -p | grep -q "TMOUT="; then',
        "    TMOUT=900",
        "    readonly TMOUT",
        "    export TMOUT",
        "fi",
    ]
    # ClientAliveCountMax does nothing without ClientAliveInterval (sshd_config(5)).
    assert settings_lines(rendered / "etc/ssh/sshd_config.d/20-llm-appliance-hardening.conf") == [
        "X11Forwarding no", "Compression no", "LogLevel VERBOSE", "ClientAliveInterval 15",
        "ClientAliveCountMax 2"]


def test_idle_logout_follows_its_setting(base_data):
    def profile_files(**data):
        return {f.path: f.content for f in host_layer.host_files(load({**base_data, **data}), 22)
                if f.path.startswith("/etc/profile.d/")}

    assert "    TMOUT=1800\n" in profile_files(idle_logout_seconds=1800)[
        "/etc/profile.d/llm-appliance-idle-logout.sh"]
    assert list(profile_files(idle_logout_seconds=0)) == ["/etc/profile.d/llm-appliance.sh"]


def test_ufw_denies_incoming_allows_outgoing_and_admits_the_rules_first(base_data):
    rules = host_layer.firewall_rules(load(base_data), 2222)
    assert host_layer.ufw_commands(None, rules) == [
        "ufw default deny incoming",
        "ufw default allow outgoing",
        "ufw allow 2222/tcp",
        "ufw allow 80/tcp",
        "ufw allow 443/tcp",
        "ufw allow from 10.42.0.0/16",
        "ufw allow from 10.43.0.0/16",
        "ufw --force enable",
    ]


def test_ufw_puts_back_what_was_changed_by_hand_and_leaves_a_converged_host_alone(base_data):
    rules = host_layer.firewall_rules(load(base_data), 22)
    converged = {"active": True, "incoming": "deny", "outgoing": "allow", "rules": rules}
    assert host_layer.ufw_commands(converged, rules) == []
    opened = FirewallRule("allow", "tcp", "11434")
    assert host_layer.ufw_commands(
        {"active": False, "incoming": "allow", "outgoing": "deny", "rules": [*rules[1:], opened]}, rules,
    ) == [
        "ufw default deny incoming",
        "ufw default allow outgoing",
        "ufw allow 22/tcp",
        "ufw delete allow 11434/tcp",
        "ufw --force enable",
    ]


APT = "DEBIAN_FRONTEND=noninteractive apt-get -y"
APT_OPTIONS = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"


def test_a_first_install_applies_the_pending_updates_in_the_same_transaction():
    assert host_layer.apt_commands(["ufw", "fail2ban"], first_install=True) == [
        f"{APT} update",
        f"{APT} {APT_OPTIONS} --no-install-recommends upgrade ufw fail2ban",
    ]


def test_a_package_added_later_upgrades_nothing_else():
    # e.g. backup_repository set on a running appliance: restic only, no system upgrade.
    assert host_layer.apt_commands(["restic", "sqlite3"], first_install=False) == [
        f"{APT} update",
        f"{APT} {APT_OPTIONS} --no-install-recommends install restic sqlite3",
    ]
    assert host_layer.apt_commands([], first_install=True) == []
