"""The appliance command's failures against a real host where k3s is missing: each names the
host's own error line (not pyinfra's `No hosts remaining!`), and leaves nothing behind."""

import io
import subprocess
import sys
import tarfile

import pytest

from appliance.runner import project_environment


def appliance(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *arguments],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=300,
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    return (result.stdout + result.stderr).strip().splitlines()[-1]


def test_backup_names_the_hosts_own_error(rehearsal, inventory):
    result = appliance("backup", str(inventory()))
    assert result.returncode == 1
    assert last_line(result) == (
        "Error: the backup failed: sh: 1: /usr/local/bin/k3s: not found (is the apps layer deployed?)"
    )
    assert "No hosts remaining" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_failed_restore_names_the_error_and_removes_its_job_files(rehearsal, inventory, tmp_path):
    archive = tmp_path / "llm-appliance-20261124-033000.tar"
    with tarfile.open(archive, "w") as tar:
        for name, content in (("database.dump", b"PGDMP\x01"), ("webui-data.tar", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    result = appliance("restore", str(inventory()), str(archive), "--yes")
    assert result.returncode == 1
    assert last_line(result) == "Error: the restore failed: sh: 1: /usr/local/bin/k3s: not found"
    # The Job's manifest was written, then removed when the restore failed.
    assert rehearsal.ssh("ls /var/lib/llm-appliance").stdout.split() == []


def test_restore_uploads_nothing_that_is_not_a_backup(rehearsal, inventory, tmp_path):
    notes = tmp_path / "notes.tar"
    notes.write_text("not an archive\n")
    result = appliance("restore", str(inventory()), str(notes), "--yes")
    assert result.returncode == 1
    assert last_line(result).endswith(
        "is not an appliance backup: it is not a tar archive; "
        "give an archive that `appliance backup` made "
        "(files/backup.sh)"
    )
    assert "notes.tar" not in rehearsal.ssh("ls /var/backups/llm-appliance || true").stdout


@pytest.mark.parametrize(
    "command, what",
    [
        ("admin-password", "the Secret llm/open-webui-secrets"),
        ("monitor-password", "the Secret monitoring/netdata-basic-auth"),
        ("backup-password", "/etc/llm-appliance/backup/restic-password"),
    ],
)
def test_a_secret_read_from_an_unreachable_host_names_the_connection(command, what, tmp_path):
    """Nothing listens on port 1 of this machine: the command says so, not that nothing is
    deployed there, and names what it could not read in the user's words, not pyinfra's fact
    (it said operations.facts.KubernetesSecretValue)."""
    inventory = tmp_path / "gone.py"
    inventory.write_text(
        "hosts = [('127.0.0.1', {'ssh_port': 1, 'webui_domain': 'chat.example.com', "
        "'monitor_domain': 'monitor.example.com', 'acme_ca': 'none', "
        "'webui_admin_email': 'admin@example.com'})]\n"
    )
    result = appliance(command, str(inventory))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: could not read {what} on 127.0.0.1: Could not connect ([Errno None] Unable to "
        "connect to port 1 on 127.0.0.1)\n"
    )


def test_verify_of_the_k3s_layers_on_a_host_without_k3s_is_one_early_line(rehearsal, inventory):
    """It ran the whole suite: 217 lines, every k3s and apps check failing on `k3s: command not
    found`, the GPU checks as ERRORs."""
    result = appliance("verify", str(inventory()))  # every layer, the default
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: k3s is not installed on {rehearsal.address}: verify with --layers host\n"
    )
    # The host layer alone is verified as before (nothing deployed here: its checks fail).
    host_only = appliance(
        "verify", str(inventory()), "--layers", "host", "-q", "-k", "test_apt_waits_for_its_lock"
    )
    assert "k3s is not installed" not in host_only.stdout + host_only.stderr
