"""The host layer's promises, one check each (see operations/host.py).

What the host must have is written out here, not read from the code that deploys it: a check
that took its expectation from the deploy could not tell a user that the deploy is wrong.
"""

import pytest

from host.expected import (
    BLOCKED_MODULES,
    FAIL2BAN_FILE,
    FAIL2BAN_PACKAGES,
    HARDENING_PACKAGES,
    HARDENING_PARAMETERS,
    KERNEL_MODULES,
    KERNEL_MODULES_FILE,
    KERNEL_PARAMETERS,
    KERNEL_PARAMETERS_FILE,
    PACKAGES,
    SUPPORTED_OS,
)
from host.readings import kernel_module_present, ssh_port, systemd_unit, ufw_address, ufw_state

pytestmark = pytest.mark.host


def test_supported_operating_system(host):
    distribution = host.system_info.distribution.capitalize()
    assert host.system_info.release in SUPPORTED_OS.get(distribution, ()), (
        f"{distribution} {host.system_info.release}"
    )


def test_kernel_parameters_are_persisted(host):
    drop_in = host.file(KERNEL_PARAMETERS_FILE)
    assert drop_in.user == "root" and drop_in.mode == 0o644
    for key, value in KERNEL_PARAMETERS.items():
        assert f"{key} = {value}" in drop_in.content_string


@pytest.mark.parametrize("key", sorted(KERNEL_PARAMETERS))
def test_kernel_parameter_is_live(host, key):
    assert str(host.sysctl(key)) == KERNEL_PARAMETERS[key]


def test_kernel_modules_load_at_boot(host):
    listed = host.file(KERNEL_MODULES_FILE).content_string.split()
    assert set(KERNEL_MODULES) <= set(listed)


@pytest.mark.parametrize("module", KERNEL_MODULES)
def test_kernel_module_is_present(host, module):
    assert kernel_module_present(host, module)


@pytest.mark.parametrize("package", PACKAGES)
def test_package_installed(host, package):
    assert host.package(package).is_installed


@pytest.mark.parametrize("key", sorted(HARDENING_PARAMETERS))
def test_hardening_parameter_is_live(host, key):
    assert str(host.sysctl(key)) == HARDENING_PARAMETERS[key]


@pytest.mark.parametrize("package", HARDENING_PACKAGES)
def test_hardening_package_installed(host, package):
    assert host.package(package).is_installed


@pytest.mark.parametrize("module", BLOCKED_MODULES)
def test_unused_module_never_loads(host, module):
    shown = host.check_output(f"modprobe --show-depends {module} 2>&1; true")
    assert shown.strip() == "install /bin/false"


def test_logins_are_stricter(host):
    defs = {
        line.split()[0]: line.split()[1]
        for line in host.file("/etc/login.defs").content_string.splitlines()
        if line.strip() and not line.startswith("#") and len(line.split()) > 1
    }
    assert (defs["UMASK"], defs["SHA_CRYPT_MIN_ROUNDS"], defs["SHA_CRYPT_MAX_ROUNDS"]) == (
        "027",
        "5000",
        "50000",
    )
    assert host.check_output("bash -lc 'ulimit -c'") == "0"


def test_idle_shells_log_out_as_set(host, settings):
    """TMOUT in a login shell: read-only where idle_logout_seconds is above 0 (the CIS
    benchmark's form), unset at 0."""
    shown = host.check_output(
        "bash -lc 'echo \"TMOUT=$TMOUT\"; readonly -p | grep -c TMOUT=; true'"
    )
    if settings.idle_logout_seconds:
        assert shown.split() == [f"TMOUT={settings.idle_logout_seconds}", "1"]
    else:
        assert shown.split() == ["TMOUT=", "0"]


def test_sshd_drops_clients_that_stop_answering(host):
    """ClientAliveCountMax does nothing without ClientAliveInterval (sshd_config(5)); sshd -T
    prints the values it runs with."""
    with host.sudo():  # sshd -T reads the host keys
        running = host.check_output("sshd -T | grep -E '^clientalive(interval|countmax) '")
    assert sorted(running.splitlines()) == ["clientalivecountmax 2", "clientaliveinterval 15"]


@pytest.mark.parametrize("package", FAIL2BAN_PACKAGES)
def test_fail2ban_package_installed(host, settings, package):
    if not settings.fail2ban:
        pytest.skip("fail2ban is off in the settings")
    assert host.package(package).is_installed


def test_apt_waits_for_its_lock(host):
    assert 'DPkg::Lock::Timeout "600";' in host.check_output("apt-config dump")


def test_fail2ban_guards_ssh(host, settings):
    service = host.service("fail2ban")
    if not settings.fail2ban:
        # Off means off, though the package may stay installed with its own sshd jail.
        assert not service.is_running and not service.is_enabled
        return
    assert service.is_running and service.is_enabled
    status = host.check_output("fail2ban-client status sshd")
    assert "Currently banned" in status
    jail = host.file(FAIL2BAN_FILE).content_string
    assert f"port = {ssh_port(host)}" in jail
    # The jail as the running fail2ban holds it: 5 failures within 10 minutes, banned 1 hour.
    assert [
        host.check_output(f"fail2ban-client get sshd {key}")
        for key in ("maxretry", "findtime", "bantime")
    ] == ["5", "600", "3600"]


def test_ssh_accepts_keys_only_when_hardened(host, settings):
    effective = host.check_output("sshd -T").splitlines()
    assert ("passwordauthentication no" in effective) == settings.ssh_hardening
    if settings.ssh_hardening:
        assert {
            "kbdinteractiveauthentication no",
            "permitemptypasswords no",
            "maxauthtries 4",
            "x11forwarding no",
            "permitrootlogin without-password",
        } <= set(effective)


def test_clock_is_synchronised(host):
    service = systemd_unit(host, "systemd-timesyncd.service")
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


def test_firewall_denies_incoming_by_default(host):
    ufw = ufw_state(host)
    assert ufw["active"]
    assert (ufw["incoming"], ufw["outgoing"]) == ("deny", "allow")


def test_firewall_admits_exactly_the_appliance(host, settings, cluster_peers):
    # README "What the host layer does": SSH on the port in use, 80, 443, the API to
    # admin_cidrs only, the pod and service networks, and the cluster's other nodes; compared
    # as `ufw show added` prints them (readings.ufw_address: /32 and /128 dropped, IPv6
    # compressed).
    expected = [
        f"allow {ssh_port(host)}/tcp",
        "allow 80/tcp",
        "allow 443/tcp",
        *(
            f"allow from {ufw_address(cidr)} to any port 6443 proto tcp"
            for cidr in settings.admin_cidrs
        ),
        *(
            f"allow from {ufw_address(source)}"
            for source in (settings.k3s_cluster_cidr, settings.k3s_service_cidr, *cluster_peers)
        ),
    ]
    assert sorted(ufw_state(host)["rules"]) == sorted(expected)


def test_firewall_keeps_ssh_open(host):
    assert f"allow {ssh_port(host)}/tcp" in ufw_state(host)["rules"]
