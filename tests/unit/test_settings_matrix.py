"""The settings-change matrix (tests/settings_matrix.py), offline: every setting has a row, and
each row's change reaches the files the deploy writes, and no other file.

The same rows run against a rehearsal host in tests/integration/test_settings_reach_the_host.py.
"""

from pathlib import Path

import pytest

from appliance.inventory import InventoryHost
from appliance.render import rendered_files
from operations.settings import load
from operations.settings_table import SETTINGS, SETTINGS_BY_NAME
from settings_matrix import (
    BASE,
    ROWS,
    WEBUI,
    Live,
    Planned,
    Refused,
    Rendered,
    batched,
    changed,
    webui_env,
)


def render(data: dict) -> dict[str, str]:
    """Every file the deploy writes with these settings, as `appliance render` writes them, for
    one host at the address the rows expect."""
    node = InventoryHost("10.213.9.2", data, ())
    return {
        host_file.path: host_file.content for host_file in rendered_files(node, load(data), [node])
    }


BEFORE = render(BASE)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_has_a_row():
    missing = [s.name for s in SETTINGS if s.name not in {row.setting for row in ROWS}]
    assert not missing, (
        f"no row in the settings-change matrix for {missing}: add a Row to ROWS in "
        "tests/settings_matrix.py that changes the setting and proves where the change lands "
        "(Rendered for a file the deploy writes, Live for the host's state, Planned for an "
        "operation); its docstring has an example"
    )
    assert len(ROWS) == len(SETTINGS), "one row per setting"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.setting)
def test_the_change_reaches_the_files_it_should_and_no_other(row):
    assert row.proofs, f"{row.setting}: a row needs at least one proof"
    assert BASE.get(row.setting) != row.after
    after = render(changed(row))
    for proof in row.of(Rendered):
        assert (proof.read(BEFORE.get(proof.path)), proof.read(after.get(proof.path))) == (
            proof.before,
            proof.after,
        ), (row.setting, proof)
    # Open WebUI takes its settings from this environment at every start, not from its database.
    if WEBUI in after:
        assert webui_env("ENABLE_PERSISTENT_CONFIG")(after[WEBUI]) == "False"
    differing = {
        path for path in BEFORE.keys() | after.keys() if BEFORE.get(path) != after.get(path)
    }
    assert differing == {proof.path for proof in row.of(Rendered)}, row.setting
    # A setting that changes no file must change the host's state or the plan.
    assert row.of(Rendered) or row.of(Live) or row.of(Planned)
    if row.host_test:
        assert (PROJECT_ROOT / row.host_test).is_file(), row.host_test
    # A setting the appliance refuses to change later says so in the settings table.
    if row.of(Refused):
        assert SETTINGS_BY_NAME[row.setting].takes_effect.startswith("first install"), row.setting


def test_changes_batched_on_one_host_stay_valid():
    """The rehearsal test deploys many changes at once: together they are valid settings."""
    load(batched([row for row in ROWS if not row.alone and not row.of(Refused)]))
