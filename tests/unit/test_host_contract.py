"""The host layer's files and packages, as `appliance render` and the deploy give them, against
values written out here and in tests/host/expected.py, the expected host the shipped suite
checks on a real one (README: "What the host layer does"), never read from operations/."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main
from host import expected
from operations import host as host_layer
from operations.firewall import FirewallRule
from operations.settings import load


@pytest.fixture(scope="module")
def rendered(base_data, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("host")
    (folder / "inventory.py").write_text(
        f"hosts = [('203.0.113.10', {{**{dict(base_data)!r}, 'layers': 'host'}})]\n"
    )
    result = CliRunner().invoke(
        main, ["render", str(folder / "inventory.py"), "--out", str(folder / "out")]
    )
    assert result.exit_code == 0, result.output
    return folder / "out"


def settings_lines(path: Path) -> list[str]:
    return [
        line for line in path.read_text().splitlines() if line and not line.startswith(("#", "//"))
    ]


def test_kernel_parameters(rendered):
    assert settings_lines(rendered / expected.KERNEL_PARAMETERS_FILE.lstrip("/")) == [
        f"{key} = {value}" for key, value in expected.KERNEL_PARAMETERS.items()
    ]


def test_kernel_modules(rendered):
    assert settings_lines(rendered / expected.KERNEL_MODULES_FILE.lstrip("/")) == list(
        expected.KERNEL_MODULES
    )


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
        'DPkg::Lock::Timeout "600";'
    ]


def test_rendered_host_files_are_exactly_these(rendered):
    found = sorted(
        str(path.relative_to(rendered)) for path in rendered.rglob("*") if path.is_file()
    )
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


@pytest.mark.parametrize(
    "fail2ban, packages",
    [
        (True, [*expected.PACKAGES, *expected.HARDENING_PACKAGES, *expected.FAIL2BAN_PACKAGES]),
        (False, [*expected.PACKAGES, *expected.HARDENING_PACKAGES]),
    ],
)
def test_packages(base_data, fail2ban, packages):
    assert host_layer.host_packages(load({**base_data, "fail2ban": fail2ban})) == packages


@pytest.mark.parametrize(
    "first_server, restic",
    [
        (True, ["restic", "sqlite3", "openssh-client"]),
        (False, []),
    ],
)
def test_offsite_packages_go_in_the_same_transaction_on_the_first_server(
    base_data, first_server, restic
):
    settings = load({**base_data, "backup_repository": "/mnt/nas/restic"})
    assert host_layer.host_packages(settings, first_server) == [
        *expected.PACKAGES,
        *expected.HARDENING_PACKAGES,
        *expected.FAIL2BAN_PACKAGES,
        *restic,
    ]


def test_firewall_admits_only_the_appliance(base_data):
    settings = load(
        {**base_data, "admin_cidrs": ["198.51.100.0/24", "2001:db8::/32", "203.0.113.7/32"]}
    )
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
    assert [
        rule for rule in host_layer.firewall_rules(load(base_data), 22) if rule.port == "6443"
    ] == []


def test_hardening_files(rendered):
    assert settings_lines(rendered / expected.HARDENING_PARAMETERS_FILE.lstrip("/")) == [
        f"{key} = {value}" for key, value in expected.HARDENING_PARAMETERS.items()
    ]
    assert settings_lines(rendered / "etc/modprobe.d/llm-appliance-hardening.conf") == [
        f"install {module} /bin/false" for module in expected.BLOCKED_MODULES
    ]
    assert settings_lines(rendered / "etc/systemd/coredump.conf.d/llm-appliance.conf") == [
        "[Coredump]",
        "Storage=none",
        "ProcessSizeMax=0",
    ]
    assert settings_lines(rendered / "etc/security/limits.d/llm-appliance.conf") == [
        "* soft core 0",
        "* hard core 0",
    ]
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
        "X11Forwarding no",
        "Compression no",
        "LogLevel VERBOSE",
        "ClientAliveInterval 15",
        "ClientAliveCountMax 2",
    ]


def test_idle_logout_follows_its_setting(base_data):
    def profile_files(**data):
        return {
            f.path: f.content
            for f in host_layer.host_files(load({**base_data, **data}), 22)
            if f.path.startswith("/etc/profile.d/")
        }

    assert (
        "    TMOUT=1800\n"
        in profile_files(idle_logout_seconds=1800)["/etc/profile.d/llm-appliance-idle-logout.sh"]
    )
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
        {"active": False, "incoming": "allow", "outgoing": "deny", "rules": [*rules[1:], opened]},
        rules,
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


def test_the_deploy_installs_where_and_what_the_shipped_suite_expects(base_data):
    """The names and paths the shipped suite looks for on a host (tests/host/expected.py),
    as the deploy writes them."""
    from operations import gpu, k3s, names
    from operations.sizing import SUPPORTED_OS

    assert SUPPORTED_OS == expected.SUPPORTED_OS
    assert host_layer.FAIL2BAN_FILE == expected.FAIL2BAN_FILE
    assert (names.K3S_BINARY, k3s.CONFIG_FILE, k3s.KUBECONFIG_FILE) == (
        expected.K3S_BINARY,
        expected.K3S_CONFIG_FILE,
        expected.KUBECONFIG_FILE,
    )
    admins = load({**base_data, "admin_cidrs": ["192.0.2.0/24"]})
    assert [
        rule.port for rule in host_layer.firewall_rules(admins, 22) if rule.source == "192.0.2.0/24"
    ] == [expected.API_SERVER_PORT]
    assert (
        names.NAMESPACE,
        names.POSTGRES_CLUSTER,
        names.POSTGRES_APP_SECRET,
        names.WEBUI_SECRETS,
        names.BACKUP_CRONJOB,
    ) == (
        expected.NAMESPACE,
        expected.POSTGRES_CLUSTER,
        expected.POSTGRES_APP_SECRET,
        expected.WEBUI_SECRETS,
        expected.BACKUP_CRONJOB,
    )
    assert (
        gpu.TOOLKIT_PACKAGES,
        gpu.NVIDIA_RUNTIME_BINARY,
        gpu.CONTAINERD_CONFIG,
        gpu.RUNTIME_CLASS,
        gpu.GPU_NODE_LABEL,
    ) == (
        expected.TOOLKIT_PACKAGES,
        expected.NVIDIA_RUNTIME_BINARY,
        expected.CONTAINERD_CONFIG,
        expected.RUNTIME_CLASS,
        expected.GPU_NODE_LABEL,
    )
