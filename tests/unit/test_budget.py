"""The memory budget of the rendered appliance, and README's table of it."""

import re
from pathlib import Path

from click.testing import CliRunner

from appliance.budget import budget, markdown_table, mebibytes, platform_request_gib
from appliance.cli import main
from operations.settings import PLATFORM_MEMORY_GIB

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def rendered_budget(tmp_path):
    result = CliRunner().invoke(
        main, ["render", str(PROJECT_ROOT / "inventories/prod.py"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    return budget(tmp_path)


def test_platform_fits_its_budget(tmp_path):
    entries = rendered_budget(tmp_path)
    components = {entry.component for entry in entries}
    assert {"traefik", "cloudnative-pg", "postgres", "ollama", "open-webui"} <= components
    assert platform_request_gib(entries) <= PLATFORM_MEMORY_GIB


def test_quantities():
    assert mebibytes("1Gi") == 1024 and mebibytes("384Mi") == 384 and mebibytes("512Ki") == 0.5
    assert round(mebibytes("1G"), 1) == 953.7


def test_readme_budget_table_matches(tmp_path):
    text = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"<!-- budget-table:.*?-->\n(.*?)\n<!-- /budget-table -->", text, re.S)
    assert block, "README.md has lost its budget table markers"
    # Regenerate: python bench/memory_budget.py --markdown
    assert block.group(1) == markdown_table(rendered_budget(tmp_path))
