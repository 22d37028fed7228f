"""Rendering: what `appliance render` writes is what the deploy puts on the host."""

import re
from pathlib import Path

from click.testing import CliRunner

from appliance.cli import main
from operations import host as host_layer
from operations.names import HOST_SYSCTL_FILE
from operations.settings import load

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETTINGS = load(
    {
        "webui_domain": "chat.example.com",
        "monitor_domain": "mon.example.com",
        "acme_email": "admin@example.com",
        "admin_cidrs": ["192.0.2.0/24"],
    }
)


def test_sysctl_drop_in_holds_every_parameter():
    sysctl = {f.path: f.content for f in host_layer.host_files(SETTINGS)}[HOST_SYSCTL_FILE]
    lines = [line for line in sysctl.splitlines() if line and not line.startswith("#")]
    assert lines == [f"{k} = {v}" for k, v in host_layer.KERNEL_PARAMETERS.items()]
    for cis in (
        "vm.overcommit_memory = 1",
        "vm.panic_on_oom = 0",
        "kernel.panic = 10",
        "kernel.panic_on_oops = 1",
    ):
        assert cis in lines


def test_unattended_upgrades_never_reboot_by_default():
    files = {f.path: f.content for f in host_layer.host_files(SETTINGS)}
    conf = files["/etc/apt/apt.conf.d/52llm-appliance-unattended-upgrades"]
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in conf
    rebooting = load(
        {
            "webui_domain": "chat.example.com",
            "monitor_domain": "mon.example.com",
            "acme_ca": "none",
            "webui_admin_email": "admin@example.com",
            "unattended_reboot": True,
            "unattended_reboot_time": "03:30",
        }
    )
    conf = {f.path: f.content for f in host_layer.host_files(rebooting)}[
        "/etc/apt/apt.conf.d/52llm-appliance-unattended-upgrades"
    ]
    assert 'Automatic-Reboot "true";' in conf and 'Automatic-Reboot-Time "03:30";' in conf


def test_firewall_rules():
    assert [rule.command for rule in host_layer.firewall_rules(SETTINGS, 2222)] == [
        "allow 2222/tcp",
        "allow 80/tcp",
        "allow 443/tcp",
        "allow from 192.0.2.0/24 to any port 6443 proto tcp",
        "allow from 10.42.0.0/16",
        "allow from 10.43.0.0/16",
    ]


def test_render_writes_host_paths(tmp_path):
    result = CliRunner().invoke(
        main, ["render", str(PROJECT_ROOT / "inventories/prod.py"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    # Written out, not computed by the plans under test: the apps layer's ensure-secret.sh too,
    # which the deploy uploads (render left it out before the layers' plans, issue 25).
    manifests = "var/lib/rancher/k3s/server/manifests/llm-appliance-"
    assert written == [
        "etc/apt/apt.conf.d/20auto-upgrades",
        "etc/apt/apt.conf.d/50llm-appliance-lock-timeout",
        "etc/apt/apt.conf.d/52llm-appliance-unattended-upgrades",
        "etc/fail2ban/jail.d/llm-appliance.conf",
        "etc/modprobe.d/llm-appliance-hardening.conf",
        "etc/modules-load.d/llm-appliance.conf",
        "etc/profile.d/llm-appliance-idle-logout.sh",
        "etc/profile.d/llm-appliance.sh",
        "etc/rancher/k3s/config.yaml",
        "etc/security/limits.d/llm-appliance.conf",
        "etc/ssh/sshd_config.d/20-llm-appliance-hardening.conf",
        "etc/sysctl.d/80-llm-appliance-hardening.conf",
        "etc/sysctl.d/90-llm-appliance.conf",
        "etc/systemd/coredump.conf.d/llm-appliance.conf",
        "usr/local/lib/llm-appliance/ensure-secret.sh",
        *(
            f"{manifests}{name}.yaml"
            for name in (
                "backup",
                "monitoring",
                "namespaces",
                "network-policies",
                "ollama-models",
                "ollama",
                "open-webui",
                "postgres-operator",
                "postgres",
                "traefik",
            )
        ),
    ]
    assert (tmp_path / "usr/local/lib/llm-appliance/ensure-secret.sh").read_text() == (
        PROJECT_ROOT / "files/ensure-secret.sh"
    ).read_text()
    assert (
        tmp_path / "usr/local/lib/llm-appliance/ensure-secret.sh"
    ).stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "etc/sysctl.d/90-llm-appliance.conf").stat().st_mode & 0o777 == 0o644
    # A value used twice is written twice: no YAML anchors or aliases for a reader to chase.
    anchored = [
        p.name for p in tmp_path.rglob("*.yaml") if re.search(r"[&*]id\d{3}", p.read_text())
    ]
    assert anchored == []


def test_render_names_files_an_earlier_render_left(tmp_path):
    """Rendered with off-site backups, then without: the six off-site files (restic.env, two
    timers, their services, the script) stay in the folder
    (render writes, it does not delete) and the second render says so; a render into the
    folder it filled alone says nothing."""
    inventory = str(PROJECT_ROOT / "inventories/prod.py")
    render = ["render", inventory, "--out", str(tmp_path)]
    first = CliRunner().invoke(main, [*render, "--data", "backup_repository=/srv/restic"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, render)
    assert again.exit_code == 0, again.output
    warning = [line for line in again.output.splitlines() if line.startswith("warning: ")]
    assert warning == [
        f"warning: 6 file(s) in {tmp_path} are not from this render, and the deploy would not "
        f"put them ({tmp_path}/etc/llm-appliance/backup/restic.env, "
        f"{tmp_path}/etc/systemd/system/llm-appliance-offsite-check.service, "
        f"{tmp_path}/etc/systemd/system/llm-appliance-offsite-check.timer, ...): an earlier "
        "render's? Render into an empty folder to see only this one's"
    ]
    fresh = CliRunner().invoke(main, ["render", inventory, "--out", str(tmp_path / "fresh")])
    assert "warning" not in fresh.output


def test_check_offline_reports_every_bad_setting(tmp_path):
    inventory = tmp_path / "bad.py"
    inventory.write_text(
        "hosts = [('203.0.113.7', {'webui_domain': 'chat_example', 'monitor_domian': 'x'})]\n"
    )
    result = CliRunner().invoke(main, ["check", str(inventory), "--offline"])
    assert result.exit_code == 1
    assert (
        "203.0.113.7: monitor_domian: unknown setting; did you mean 'monitor_domain'?"
        in result.output
    )
    assert "203.0.113.7: webui_domain = 'chat_example' is not a fully qualified" in result.output
    assert "Traceback" not in result.output


def test_check_offline_accepts_the_example_inventories():
    for name in ("prod.py",):
        result = CliRunner().invoke(
            main, ["check", str(PROJECT_ROOT / "inventories" / name), "--offline"]
        )
        assert result.exit_code == 0, result.output
