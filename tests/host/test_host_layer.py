"""The host layer's promises, one check each (see operations/host.py)."""

import pytest

from operations import host as host_layer
from operations.facts import KernelModules, SshServerPort, TimeSyncService, Ufw

pytestmark = pytest.mark.host


def test_supported_operating_system(host):
    from operations.settings import SUPPORTED_OS

    distribution = host.system_info.distribution.capitalize()
    assert host.system_info.release in SUPPORTED_OS.get(distribution, ()), (
        f"{distribution} {host.system_info.release}"
    )


def test_kernel_parameters_are_persisted(host):
    drop_in = host.file(host_layer.SYSCTL_FILE)
    assert drop_in.user == "root" and drop_in.mode == 0o644
    for key, value in host_layer.KERNEL_PARAMETERS.items():
        assert f"{key} = {value}" in drop_in.content_string


@pytest.mark.parametrize("key", sorted(host_layer.KERNEL_PARAMETERS))
def test_kernel_parameter_is_live(host, key):
    assert str(host.sysctl(key)) == host_layer.KERNEL_PARAMETERS[key]


def test_kernel_modules_load_at_boot(host):
    listed = host.file(host_layer.MODULES_FILE).content_string.split()
    assert set(host_layer.KERNEL_MODULES) <= set(listed)


def test_kernel_modules_are_present(fact):
    assert fact(KernelModules, names=host_layer.KERNEL_MODULES) == set(host_layer.KERNEL_MODULES)


@pytest.mark.parametrize("package", host_layer.HOST_PACKAGES)
def test_package_installed(host, package):
    assert host.package(package).is_installed


def test_apt_waits_for_its_lock(host):
    assert 'DPkg::Lock::Timeout "600";' in host.check_output("apt-config dump")


def test_fail2ban_guards_ssh(host, settings, fact):
    if not settings.fail2ban:
        pytest.skip("fail2ban is off in the settings")
    assert host.service("fail2ban").is_running and host.service("fail2ban").is_enabled
    status = host.check_output("fail2ban-client status sshd")
    assert "Currently banned" in status
    jail = host.file(host_layer.FAIL2BAN_FILE).content_string
    assert f"port = {fact(SshServerPort)}" in jail


def test_ssh_accepts_keys_only_when_hardened(host, settings):
    effective = host.check_output("sshd -T").splitlines()
    assert ("passwordauthentication no" in effective) == settings.ssh_hardening
    if settings.ssh_hardening:
        assert "kbdinteractiveauthentication no" in effective
        assert "permitrootlogin without-password" in effective  # a key, never a password


def test_clock_is_synchronised(host, fact):
    service = fact(TimeSyncService)
    assert service["UnitFileState"] == "enabled"
    if host.run("systemd-detect-virt --container").rc == 0:
        # timesyncd skips itself in a container (ConditionVirtualization): the clock is the
        # container host's. On a VM or server it must run.
        assert service["ActiveState"] == "active" or service["ConditionResult"] == "no"
    else:
        assert service["ActiveState"] == "active"


def test_security_updates_are_automatic(host):
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert 'APT::Periodic::Update-Package-Lists "1";' in config
    timer = host.service("apt-daily-upgrade.timer")
    assert timer.is_enabled and timer.is_running


def test_automatic_reboot_follows_setting(host, settings):
    config = host.check_output("apt-config dump")
    expected = "true" if settings.unattended_reboot else "false"
    assert f'Unattended-Upgrade::Automatic-Reboot "{expected}";' in config


def test_firewall_denies_incoming_by_default(fact):
    ufw = fact(Ufw)
    assert ufw["active"]
    assert (ufw["incoming"], ufw["outgoing"]) == ("deny", "allow")


def test_firewall_admits_exactly_the_appliance(fact, settings, cluster_peers):
    ssh_port = fact(SshServerPort)
    expected = host_layer.firewall_rules(settings, ssh_port, cluster_peers)
    assert sorted(fact(Ufw)["rules"]) == sorted(expected)


def test_firewall_keeps_ssh_open(fact):
    assert f"allow {fact(SshServerPort)}/tcp" in fact(Ufw)["rules"]
