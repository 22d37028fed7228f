"""The suite's markers select what they say: `rehearsal` tags only the tests that boot a
rehearsal host, `realapps` only those that run the real Open WebUI and PostgreSQL (both need
root); without root those are skipped with the reason."""

import subprocess
import sys
from pathlib import Path

from appliance.runner import project_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def pytest_run(*args: str, prefix: tuple[str, ...] = ()) -> str:
    result = subprocess.run(
        [*prefix, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def collected(marker: str) -> set[str]:
    lines = pytest_run("--collect-only", "-q", "-m", marker).splitlines()
    return {line.split("::")[0].split("/")[1] for line in lines if "::" in line}


def test_each_marker_selects_its_folder():
    assert collected("not rehearsal and not realapps") == {"unit"}
    assert collected("rehearsal") == {"integration"}
    assert collected("realapps") == {"realapps"}


def test_without_root_rehearsal_tests_are_skipped_with_the_reason():
    # A user namespace: the same files, but os.geteuid() is 65534 (nobody), as for a user.
    output = pytest_run(
        "-q",
        "tests/integration/test_faults.py",
        "tests/unit/test_facts.py",
        "tests/realapps/test_webui.py",
        prefix=("unshare", "--user"),
    )
    assert (
        "SKIPPED [3] tests/integration/test_faults.py: needs root: boots a rehearsal host "
        "with systemd-nspawn (run pytest as root)"
    ) in output
    assert (
        "SKIPPED [18] tests/realapps/test_webui.py: needs root: builds a PostgreSQL 18 root "
        "with debootstrap and runs it with chroot (run pytest as root)"
    ) in output
    assert "error" not in output.lower()
