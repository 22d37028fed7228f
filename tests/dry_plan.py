"""What pyinfra plans for a deploy file, read from its own state: `pyinfra INVENTORY
tests/pyinfra_capture.py --dry` with CAPTURED_DEPLOY naming the deploy file, which writes the
operations and uploads pyinfra planned as JSON (that file's docstring gives the shape):

    dry_plan(Path("local.py"), "uninstall.py", tmp_path / "planned.json")["operations"]
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from appliance.runner import project_environment
from operations.rendering import PROJECT_ROOT


def dry_plan(inventory: Path, deploy: str, out: Path, timeout: float = 300) -> dict:
    """The plan of `deploy` (a deploy file's path in the project) for `inventory`, written to
    `out` on the way; fails the test, with pyinfra's last output, when the dry run fails."""
    run = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(inventory), "tests/pyinfra_capture.py", "--dry"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**project_environment(), "CAPTURED_DEPLOY": deploy, "CAPTURED_OUT": str(out)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(out.read_text())
