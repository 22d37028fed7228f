"""Off-site backups as the deploy renders them (operations/offsite.py), offline."""

import pytest

from operations import offsite
from operations.settings import SettingsError, load
from operations.summary import summary_lines

BASE = {"webui_domain": "chat.example.com", "monitor_domain": "mon.example.com",
        "acme_email": "admin@example.com"}


def test_restic_env_names_the_repository_the_password_file_and_the_policy():
    settings = load({**BASE, "backup_repository": "sftp:backup@nas.example.com:/srv/restic",
                     "backup_keep_daily": 10})
    assert offsite.environment(settings).splitlines() == [
        "RESTIC_REPOSITORY='sftp:backup@nas.example.com:/srv/restic'",
        "RESTIC_PASSWORD_FILE='/etc/llm-appliance/backup/restic-password'",
        "KEEP_DAILY='10'",
        "KEEP_WEEKLY='4'",
        "KEEP_MONTHLY='6'",
        "BACKUP_DIR='/var/backups/llm-appliance'",
        "BACKUP_SSH_KEY='/etc/llm-appliance/backup/ssh-key'",
        "CREDENTIALS_FILE='/etc/llm-appliance/backup/credentials.env'",
        "LAST='/var/lib/llm-appliance/offsite-last'",
        "RESTORING='/var/lib/llm-appliance/restoring-from-repository'",
        "RESTORED='/var/lib/llm-appliance/restored-from-repository'",
    ]
    modes = {f.path: f.mode for f in offsite.offsite_files(settings)}
    assert modes == {
        "/etc/llm-appliance/backup/restic.env": "600",
        "/usr/local/bin/llm-appliance-offsite": "755",
        "/etc/systemd/system/llm-appliance-offsite.service": "644",
        "/etc/systemd/system/llm-appliance-offsite.timer": "644",
        "/etc/systemd/system/llm-appliance-offsite-check.service": "644",
        "/etc/systemd/system/llm-appliance-offsite-check.timer": "644",
    }


def test_timers_snapshot_hourly_and_check_weekly():
    settings = load({**BASE, "backup_repository": "/mnt/nas/restic"})
    files = {f.path: f.content for f in offsite.offsite_files(settings)}
    assert "OnCalendar=hourly" in files["/etc/systemd/system/llm-appliance-offsite.timer"]
    assert "OnCalendar=weekly" in files["/etc/systemd/system/llm-appliance-offsite-check.timer"]
    assert ("ExecStart=/usr/local/bin/llm-appliance-offsite check"
            in files["/etc/systemd/system/llm-appliance-offsite-check.service"])


def test_credentials_come_from_the_named_file_or_the_environment(tmp_path):
    key = tmp_path / "key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    sftp = load({**BASE, "backup_repository": "sftp:b@nas.example.com:/r",
                 "backup_credentials_file": str(key)})
    assert offsite.credentials(sftp) == ("/etc/llm-appliance/backup/ssh-key",
                                         "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    s3 = load({**BASE, "backup_repository": "s3:s3.example.com/bucket"})
    environ = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "HOME": "/root"}
    assert offsite.credentials(s3, environ) == (
        "/etc/llm-appliance/backup/credentials.env",
        "AWS_ACCESS_KEY_ID='id'\nAWS_SECRET_ACCESS_KEY='secret'\n")
    assert offsite.credentials(s3, {"HOME": "/root"}) is None


@pytest.mark.parametrize("repository", ["ftp://nas/restic", "restic", "sftp:nas.example.com"])
def test_a_repository_restic_cannot_use_is_refused(repository):
    with pytest.raises(SettingsError, match="backup_repository"):
        load({**BASE, "backup_repository": repository})


def test_summary_tells_to_store_the_new_password_once():
    settings = load({**BASE, "backup_repository": "/mnt/nas/restic", "layers": "host"})
    made = [f"Off-site backups | {offsite.PASSWORD_MADE}"]
    assert summary_lines(settings, "INVENTORY", True, None, made, "")[0] == (
        "Off-site:    a new repository password was made on the server: store it away from the "
        "server now (appliance backup-password INVENTORY); a restore onto a new server needs it")
    assert not any(line.startswith("Off-site")
                   for line in summary_lines(settings, "INVENTORY", True, None, ["Host layer | x"], ""))
