"""`appliance restore` checks an archive on this machine before uploading anything: it must be
what files/backup.sh makes (a tar of a custom-format pg_dump and of Open WebUI's data)."""

import io
import tarfile

import pytest
from click.testing import CliRunner

from appliance.cli import main
from operations.backup import archive_problem


def make_archive(path, members: dict[str, bytes]):
    with tarfile.open(path, "w") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        "hosts = [('192.0.2.7', {'webui_domain': 'chat.example.com', "
        "'monitor_domain': 'monitor.example.com', 'acme_ca': 'none', "
        "'webui_admin_email': 'admin@example.com'})]\n"
    )
    return path


def test_an_archive_of_backup_sh_passes(tmp_path):
    archive = make_archive(
        tmp_path / "good.tar", {"database.dump": b"PGDMP\x01\x0e", "webui-data.tar": b"\0" * 1024}
    )
    assert archive_problem(archive) is None


@pytest.mark.parametrize(
    "members, problem",
    [
        (None, "it is not a tar archive"),
        ({"notes.txt": b"x"}, "it holds ['notes.txt'], not ['database.dump', 'webui-data.tar']"),
        (
            {"database.dump": b"-- SQL", "webui-data.tar": b""},
            "its database.dump is not a pg_dump archive (custom format)",
        ),
    ],
)
def test_other_files_are_refused_saying_why(tmp_path, members, problem):
    path = tmp_path / "other.tar"
    if members is None:
        path.write_text("a text file\n")
    else:
        make_archive(path, members)
    assert archive_problem(path) == problem


def test_restore_refuses_a_foreign_file_before_connecting(tmp_path, inventory):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a backup\n")
    result = CliRunner().invoke(main, ["restore", str(inventory), str(notes), "--yes"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {notes} is not an appliance backup: it is not a tar "
        "archive; give an archive that `appliance backup` made "
        "(files/backup.sh)\n"
    )


def test_restore_without_a_terminal_needs_yes(tmp_path, inventory):
    archive = make_archive(
        tmp_path / "good.tar", {"database.dump": b"PGDMP", "webui-data.tar": b""}
    )
    result = CliRunner().invoke(main, ["restore", str(inventory), str(archive)])
    assert result.exit_code == 2
    assert "--yes is missing, and there is no terminal to ask on" in result.output


@pytest.fixture
def offsite_inventory(tmp_path):
    path = tmp_path / "offsite.py"
    path.write_text(
        "hosts = [('192.0.2.7', {'webui_domain': 'chat.example.com', "
        "'monitor_domain': 'monitor.example.com', 'acme_ca': 'none', "
        "'webui_admin_email': 'admin@example.com', "
        "'backup_repository': '/mnt/nas/restic'})]\n"
    )
    return path


@pytest.mark.parametrize(
    "arguments, code, message",
    [
        (
            [],
            2,
            "Error: give an ARCHIVE (appliance backup --fetch made it), or --from-repository "
            "to rebuild a lost server",
        ),
        (
            ["backup.tar", "--from-repository"],
            2,
            "Error: give an ARCHIVE or --from-repository, not both",
        ),
        (
            ["--from-repository", "HEAD~1"],
            2,
            "Error: --from-repository 'HEAD~1': give a snapshot ID (hex, as `restic snapshots` shows it) "
            "or nothing for the latest",
        ),
        (
            ["--from-repository"],
            2,
            "Error: --yes is missing, and there is no terminal to ask on: a restore from the repository "
            "replaces the server's k3s datastore and Open WebUI's data; confirm with --yes",
        ),
        (
            ["--from-repository", "--yes"],
            2,
            "Error: --password-file is missing, and there is no terminal to ask on: give the file "
            "holding the repository's password",
        ),
    ],
)
def test_restore_from_the_repository_refuses_before_connecting(
    offsite_inventory, arguments, code, message
):
    result = CliRunner().invoke(main, ["restore", str(offsite_inventory), *arguments])
    assert result.exit_code == code
    assert result.output.splitlines()[-1] == message
    assert "Traceback" not in result.output


def test_restore_from_the_repository_needs_a_repository(inventory):
    result = CliRunner().invoke(main, ["restore", str(inventory), "--from-repository", "--yes"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: 192.0.2.7: backup_repository is not set in {inventory}; set "
        "it as it was on the lost server\n"
    )


def test_restore_from_the_repository_reads_the_deploys_data(inventory):
    """A repository given with --data, as the deploy had it, counts: the restore goes on to ask
    for the password (and stops there, without a terminal), instead of refusing."""
    result = CliRunner().invoke(
        main,
        [
            "restore",
            str(inventory),
            "--from-repository",
            "--yes",
            "--data",
            "backup_repository=/srv/offsite-restic",
        ],
    )
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        "Error: --password-file is missing, and there is no terminal to ask on: give the file "
        "holding the repository's password"
    )
