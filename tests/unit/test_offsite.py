"""Off-site backups as the deploy renders them (operations/offsite.py), offline."""

import pytest

from operations import offsite
from operations.settings import SettingsError, load
from operations.summary import summary_lines


def test_restic_env_names_the_repository_the_password_file_and_the_policy(base_data):
    settings = load(
        {
            **base_data,
            "backup_repository": "sftp:backup@nas.example.com:/srv/restic",
            "backup_keep_daily": 10,
        }
    )
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
        "SFTP_USER='backup'",
        "SFTP_HOST='nas.example.com'",
        "SFTP_PORT=''",
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


def test_timers_snapshot_hourly_and_check_weekly(base_data):
    settings = load({**base_data, "backup_repository": "/mnt/nas/restic"})
    files = {f.path: f.content for f in offsite.offsite_files(settings)}
    assert "OnCalendar=hourly" in files["/etc/systemd/system/llm-appliance-offsite.timer"]
    assert "OnCalendar=weekly" in files["/etc/systemd/system/llm-appliance-offsite-check.timer"]
    assert (
        "ExecStart=/usr/local/bin/llm-appliance-offsite check"
        in files["/etc/systemd/system/llm-appliance-offsite-check.service"]
    )


def test_credentials_come_from_the_named_file_or_the_environment(base_data, tmp_path):
    key = tmp_path / "key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    sftp = load(
        {
            **base_data,
            "backup_repository": "sftp:b@nas.example.com:/r",
            "backup_credentials_file": str(key),
        }
    )
    assert offsite.credentials(sftp) == (
        "/etc/llm-appliance/backup/ssh-key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
    )
    s3 = load({**base_data, "backup_repository": "s3:s3.example.com/bucket"})
    environ = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "secret", "HOME": "/root"}
    assert offsite.credentials(s3, environ) == (
        "/etc/llm-appliance/backup/credentials.env",
        "AWS_ACCESS_KEY_ID='id'\nAWS_SECRET_ACCESS_KEY='secret'\n",
    )
    assert offsite.credentials(s3, {"HOME": "/root"}) is None


def test_credentials_from_the_environment_read_back_as_they_were_in_the_shell(base_data, tmp_path):
    """offsite.sh sources the file (`set -a; . FILE`): a secret with a quote, a dollar sign or
    a backquote comes back as it was, and runs nothing (it was written inside '...' as is)."""
    import subprocess

    s3 = load({**base_data, "backup_repository": "s3:s3.example.com/bucket"})
    secret = 'it\'s $(touch pwned) `id` \\ "x"'
    environ = {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": secret}
    _, content = offsite.credentials(s3, environ)
    env_file = tmp_path / "credentials.env"
    env_file.write_text(content)
    read = subprocess.run(
        ["sh", "-c", f'set -a; . "{env_file}"; printf %s "$AWS_SECRET_ACCESS_KEY"'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert read == 'it\'s $(touch pwned) `id` \\ "x"'
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("repository", ["ftp://nas/restic", "restic", "sftp:nas.example.com"])
def test_a_repository_restic_cannot_use_is_refused(base_data, repository):
    with pytest.raises(SettingsError, match="backup_repository"):
        load({**base_data, "backup_repository": repository})


@pytest.fixture(scope="session")
def sftp_environment(base_data):
    def sftp_environment(repository: str) -> list[str]:
        settings = load({**base_data, "backup_repository": repository})
        return [
            line for line in offsite.environment(settings).splitlines() if line.startswith("SFTP_")
        ]

    return sftp_environment


# Every sftp form restic's manual documents (restic v0.18.0 doc/030_preparing_a_new_repo.rst,
# SFTP), with the login ssh gets from files/offsite.sh.
@pytest.mark.parametrize(
    "repository, login",
    [
        ("sftp:user@host:/srv/restic-repo", ["user", "host", ""]),
        ("sftp:host:srv/restic-repo", ["", "host", ""]),  # relative: in the user's home
        ("sftp:user@domain@host:/srv/restic-repo", ["user@domain", "host", ""]),
        ("sftp://user@[::1]:2222//srv/restic-repo", ["user", "::1", "2222"]),
        ("sftp://user@host:2222/restic-repo", ["user", "host", "2222"]),
        ("sftp://host//srv/restic-repo", ["", "host", ""]),
    ],
)
def test_every_documented_sftp_form_gives_ssh_its_user_host_and_port(
    sftp_environment, repository, login
):
    assert sftp_environment(repository) == [
        f"SFTP_USER='{login[0]}'",
        f"SFTP_HOST='{login[1]}'",
        f"SFTP_PORT='{login[2]}'",
    ]


@pytest.mark.parametrize(
    "repository, fix",
    [
        (
            "sftp://host",
            "names no path; use sftp://user@host:port//absolute/path (two slashes before "
            "an absolute path, one before a path in the user's home)",
        ),
        (
            "sftp:host",
            "names no path; use sftp:user@host:/path (or sftp:user@host:path in the user's "
            "home, or sftp://user@host:port//absolute/path)",
        ),
        (
            "sftp:user@[::1]:/srv",
            "puts an IPv6 address in sftp:user@host:path, which restic cuts at "
            "its first ':'; use sftp://user@host:port//absolute/path with the address in brackets",
        ),
        (
            "sftp:backup@2001:db8::1:/srv/restic",
            "puts an IPv6 address in sftp:user@host:path, which "
            "restic cuts at its first ':'; use sftp://backup@[2001:db8::1]//srv/restic",
        ),
        (
            "sftp:backup@nas.example.com:2222/srv/restic",
            "puts port 2222 where restic's "
            "sftp:user@host:path reads a folder and connects to port 22; use "
            "sftp://backup@nas.example.com:2222//srv/restic",
        ),
        (
            "sftp://user:secret@host//srv",
            "holds a password, which restic never uses: the off-site "
            "copies log in with the SSH key backup_credentials_file names; remove ':' and what follows "
            "it up to '@'",
        ),
        (
            "sftp://host:ssh//srv",
            "has port 'ssh', which is not a TCP port (1-65535); use "
            "sftp://user@host:port//absolute/path",
        ),
        (
            "sftp:host:~/restic",
            "starts its path with '~', which restic refuses (SFTP servers do not "
            "expand it); give a path without '~/' for one in the user's home",
        ),
        (
            "sftp::/srv",
            "names no host restic and ssh can use; use sftp:user@host:/path or "
            "sftp://user@host:port//absolute/path",
        ),
    ],
)
def test_an_sftp_form_that_cannot_work_is_refused_naming_the_fix(base_data, repository, fix):
    with pytest.raises(SettingsError) as refused:
        load({**base_data, "backup_repository": repository})
    assert str(refused.value) == f"backup_repository = {repository!r} {fix}"


def test_summary_tells_to_store_the_new_password_once(base_data):
    settings = load({**base_data, "backup_repository": "/mnt/nas/restic", "layers": "host"})
    made = [f"Off-site backups | {offsite.PASSWORD_MADE}"]
    assert summary_lines(settings, "INVENTORY", True, None, made, "", password_made=True)[0] == (
        "Off-site:    a new repository password was made on the server: store it away from the "
        "server now (appliance backup-password INVENTORY); a restore onto a new server needs it"
    )
    assert not any(
        line.startswith("Off-site")
        for line in summary_lines(settings, "INVENTORY", True, None, ["Host layer | x"], "")
    )
