"""Integration tests: a real Debian 12 host booted here (systemd-nspawn), real SSH, real pyinfra.

Needs root and the packages in README.md's install command. The root file system is built once
(~1 minute) and cached under ~/.cache/llm-appliance (LLM_APPLIANCE_CACHE overrides).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost
from appliance.runner import project_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]


HERE = Path(__file__).resolve().parent
NOT_ROOT = pytest.mark.skip(
    reason="needs root: boots a rehearsal host with systemd-nspawn (run pytest as root)"
)


def pytest_collection_modifyitems(items):
    """Mark this folder's tests `rehearsal` (the hook sees every collected test: tag only
    ours), and skip them, saying why, when not root."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.rehearsal)
            if os.geteuid() != 0:
                item.add_marker(NOT_ROOT)


@pytest.fixture(scope="module")
def rehearsal():
    """A freshly booted rehearsal host for one test module."""
    with RehearsalHost.boot() as host:
        yield host


@pytest.fixture(scope="module")
def inventory(rehearsal, tmp_path_factory):
    """Write the rehearsal host's inventory with given settings; returns its path."""
    folder = tmp_path_factory.mktemp("inventory")

    def write(name: str = "rehearsal.py", **settings) -> Path:
        return rehearsal.write_inventory(folder / name, {**REHEARSAL_SETTINGS, **settings})

    return write


@pytest.fixture(scope="module")
def shipped_suite():
    """Run tests/host (the testinfra suite users run) against an inventory's hosts."""

    def run(inventory: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/host",
                "-p",
                "no:cacheprovider",
                f"--inventory={inventory}",
                "-q",
                *args,
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            env=project_environment(),
        )

    return run
