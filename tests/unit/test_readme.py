"""README.md stays true: its settings table is the one the code generates."""

import re
from pathlib import Path

from operations.settings import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_settings_table_matches_code():
    text = README.read_text()
    block = re.search(r"<!-- settings-table:.*?-->\n(.*?)\n<!-- /settings-table -->", text, re.S)
    assert block, "README.md has lost its settings table markers"
    # Regenerate: python -c 'from operations.settings import markdown_table as t; print(t())'
    assert block.group(1) == markdown_table()


def test_ci_runs_the_readme_commands():
    ci = (README.parent / ".ci/run").read_text()
    install = re.search(r"```sh\n(apt-get update .*)\n```", README.read_text()).group(1)
    assert install in ci
    assert "\npytest\n" in ci
