"""Tests against the real Open WebUI (the pinned release, from PyPI) and PostgreSQL 18 with
pgvector, run on this machine. Needs root (debootstrap, chroot); the venv (~3.3 GB) and the
PostgreSQL root are built once and cached under ~/.cache/llm-appliance (LLM_APPLIANCE_CACHE
overrides), printing their progress.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import realapps
from realapps import OllamaStandIn, PostgresServer, appliance_on, pinned_webui_version, venv

HERE = Path(__file__).resolve().parent
NOT_ROOT = pytest.mark.skip(
    reason="needs root: builds a PostgreSQL 18 root with debootstrap and runs it with chroot "
    "(run pytest as root)"
)


def pytest_collection_modifyitems(items):
    """Mark this folder's tests `realapps` and skip them, saying why, when not root."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.realapps)
            if os.geteuid() != 0:
                item.add_marker(NOT_ROOT)


@pytest.fixture(scope="session", autouse=True)
def progress_on_the_terminal(request):
    """Progress lines (building the venv, each start) shown while pytest captures output."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")

    def show(line: str) -> None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    realapps.show = show


@pytest.fixture(scope="session")
def webui_venv() -> Path:
    """The pinned Open WebUI release's venv (built once, cached)."""
    return venv(pinned_webui_version())


@pytest.fixture(scope="session")
def ollama():
    """The labelled stand-in of Ollama's /api/embed, on loopback."""
    stand_in = OllamaStandIn.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture
def postgres():
    """A PostgreSQL 18 server with the appliance's database (made as the Cluster makes it)."""
    with PostgresServer.start() as server:
        server.database = server.create_appliance_database("app-test-password-1")
        yield server


@pytest.fixture
def appliance(postgres, webui_venv, ollama, tmp_path):
    """The appliance's Open WebUI against a fresh database, not yet deployed."""
    with appliance_on(postgres, webui_venv, ollama, tmp_path / "home") as made:
        yield made
