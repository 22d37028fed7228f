"""The rehearsal host's pure parts: what `appliance rehearse` prints while it builds."""

import os
import re

import pytest

from appliance import leftovers, rootfs
from appliance.rootfs import RehearsalError, debootstrap_stage

# Lines as debootstrap 1.0.128 prints them (a run on Debian 12, abridged); \x20 is the space it
# prints at the end of three of them, written out so that no editor strips it.
DEBOOTSTRAP_OUTPUT = """\
I: Retrieving InRelease\x20
I: Checking Release signature
I: Valid Release signature (key id 4D64FEC119C2029067D6E791F8D2585B8783D481)
I: Retrieving Packages\x20
I: Validating Packages\x20
I: Retrieving adduser 3.134
I: Validating adduser 3.134
W: Cannot check Release signature; keyring file not available
I: Extracting adduser...
I: Extracting apt...
I: Installing core packages...
I: Unpacking required packages...
I: Configuring required packages...
I: Base system installed successfully.
"""


def test_debootstrap_stages():
    assert [debootstrap_stage(line) for line in DEBOOTSTRAP_OUTPUT.splitlines()] == [
        "Retrieving",
        "Checking",
        "Valid",
        "Retrieving",
        "Validating",
        "Retrieving",
        "Validating",
        None,
        "Extracting",
        "Extracting",
        "Installing",
        "Unpacking",
        "Configuring",
        "Base",
    ]
    assert debootstrap_stage("") is None


@pytest.fixture
def fake_debootstrap(tmp_path, monkeypatch):
    """A `debootstrap` on PATH that prints the lines above, then exits with $FAKE_STATUS."""
    (tmp_path / "output").write_text(DEBOOTSTRAP_OUTPUT)
    script = tmp_path / "debootstrap"
    script.write_text(f"#!/bin/sh\ncat {tmp_path / 'output'}\nexit ${{FAKE_STATUS:-0}}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")


def test_debootstrap_prints_each_stage_as_it_starts(fake_debootstrap, capsys):
    """Each stage once (a package's Retrieving and Validating lines alternate), not every line."""
    rootfs._debootstrap("bookworm", "--variant=minbase", "bookworm", "/tmp/x")
    printed = re.sub(r"\(\d+ s\)", "(N s)", capsys.readouterr().err)
    assert printed.splitlines() == [
        "building the bookworm root file system of the rehearsal hosts with debootstrap "
        "(once; minutes)",
        "  debootstrap: Retrieving InRelease (N s)",
        "  debootstrap: Checking Release signature (N s)",
        "  debootstrap: Valid Release signature (key id 4D64FEC119C2029067D6E791F8D2585B8783D481) (N s)",
        "  debootstrap: Validating Packages (N s)",
        "  debootstrap: Extracting adduser... (N s)",
        "  debootstrap: Installing core packages... (N s)",
        "  debootstrap: Unpacking required packages... (N s)",
        "  debootstrap: Configuring required packages... (N s)",
        "  debootstrap: Base system installed successfully. (N s)",
    ]


def test_a_failed_debootstrap_names_its_last_lines(fake_debootstrap, monkeypatch):
    monkeypatch.setenv("FAKE_STATUS", "1")
    with pytest.raises(RehearsalError) as error:
        rootfs._debootstrap("bookworm", "bookworm", "/tmp/x")
    assert str(error.value).startswith("debootstrap failed (1): I: Retrieving InRelease")
    assert str(error.value).endswith("I: Base system installed successfully.")


def test_debootstrap_prints_its_last_line_while_a_stage_goes_quiet(tmp_path, monkeypatch, capsys):
    """dpkg configures for minutes without an `I:` line: its last line, at least every
    PROGRESS_SECONDS."""
    script = tmp_path / "debootstrap"
    script.write_text(
        "#!/bin/sh\necho 'I: Configuring required packages...'\n"
        "echo 'Setting up libc6:amd64 (2.36-9) ...'\nsleep 2.5\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr(rootfs, "PROGRESS_SECONDS", 1)
    rootfs._debootstrap("bookworm", "bookworm", "/tmp/x")
    printed = capsys.readouterr().err.splitlines()
    assert printed[1] == "  debootstrap: Configuring required packages... (0 s)"
    assert len(printed) >= 3 and all(
        re.fullmatch(r"  debootstrap: Setting up libc6:amd64 \(2\.36-9\) \.\.\. \(\d s\)", line)
        for line in printed[2:]
    ), printed


def test_a_stopped_hosts_folder_is_removed_without_waiting(tmp_path):
    folder = tmp_path / "llm-appliance-rehearsal-abc"
    (folder / "upper/usr/share/doc").mkdir(parents=True)
    for number in range(200):
        (folder / f"upper/usr/share/doc/file{number}").write_text("x" * 100)
    remover = leftovers.remove_in_background(folder)
    assert not folder.exists()  # at once: whatever finds rehearsals no longer finds it
    assert remover.wait(timeout=60) == 0
    assert list(tmp_path.iterdir()) == []
    assert leftovers.remove_in_background(folder) is None


def test_a_folder_being_removed_is_a_leftover_to_clean(tmp_path):
    removing = tmp_path / "llm-appliance-rehearsal-abc.removing"
    removing.mkdir()
    (removing / "owner.pid").write_text(f"{os.getpid()}\n")  # its owner still runs
    (removing / "netns").write_text("lla7\n")
    assert leftovers._workdir_state(removing, {}) == (None, False)
    live = tmp_path / "llm-appliance-rehearsal-def"
    live.mkdir()
    (live / "owner.pid").write_text(f"{os.getpid()}\n")
    (live / "netns").write_text("lla8\n")
    assert leftovers._workdir_state(live, {}) == ("lla8", True)
