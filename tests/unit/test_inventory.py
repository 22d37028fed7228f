"""appliance/inventory.py reads the group data pyinfra itself reads when the deploy runs."""

import json
import subprocess
import sys

from appliance.inventory import inventory_hosts


def test_group_data_in_the_cwd_and_beside_the_inventory_as_pyinfra_reads_them(tmp_path):
    (tmp_path / "inv/group_data").mkdir(parents=True)
    (tmp_path / "cwd/group_data").mkdir(parents=True)
    (tmp_path / "inv/mine.py").write_text('hosts = ["203.0.113.9"]\n')
    (tmp_path / "cwd/group_data/all.py").write_text(
        'webui_settings = {"ENABLE_SIGNUP": "true"}\nboth = "cwd"\n'
    )
    (tmp_path / "inv/group_data/all.py").write_text('both = "inventory folder"\n')
    expected = {"webui_settings": {"ENABLE_SIGNUP": "true"}, "both": "inventory folder"}

    (node,) = inventory_hosts(tmp_path / "inv/mine.py", cwd=tmp_path / "cwd")
    assert {key: node.data.get(key) for key in expected} == expected
    # pyinfra 3.10's own loader, run from the same folder, sees the same data.
    shown = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(tmp_path / "inv/mine.py"), "debug-inventory"],
        cwd=tmp_path / "cwd",
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(
        (shown.stderr + shown.stdout).split("--> Data:\n", 1)[1].split("\n--> ", 1)[0]
    )
    assert {key: data.get(key) for key in expected} == expected
