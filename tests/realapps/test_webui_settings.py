"""`webui_settings` on the running Open WebUI (the pinned release, on PostgreSQL 18): what the
inventory sets reaches the app, a Secret's value included, and outlasts a restart and a change
in the admin panel (ENABLE_PERSISTENT_CONFIG=False: the environment wins at every start). And
the record of the variables the release reads (operations/open_webui_variables.json) is what
its installed source reads."""

from __future__ import annotations

import dataclasses
import json

from record_webui_variables import RECORD, recording

SETTINGS = {
    "ENABLE_MESSAGE_RATING": False,  # Open WebUI's default: True
    "PENDING_USER_OVERLAY_TITLE": "Ask the IT desk for access",
    "BRAVE_SEARCH_API_KEY": {"secret": "web-search", "key": "brave"},
}
BRAVE_KEY = "brave-test-key-0123456789"


def test_the_variable_record_is_what_the_installed_release_reads(webui_venv):
    package = next(webui_venv.glob("lib/python*/site-packages/open_webui"))
    assert recording(package) == json.loads(RECORD.read_text())


def admin_config(appliance, token: str) -> dict:
    answer = appliance.call("GET", "/api/v1/auths/admin/config", token)
    assert answer.status_code == 200, answer.text
    return answer.json()


def brave_key(appliance, token: str) -> str:
    answer = appliance.call("GET", "/api/v1/retrieval/config", token)
    assert answer.status_code == 200, answer.text
    return answer.json()["web"]["BRAVE_SEARCH_API_KEY"]


def test_webui_settings_reach_the_app_and_outlast_a_restart_and_the_admin_panel(appliance):
    appliance.secrets = dataclasses.replace(
        appliance.secrets, operator={("web-search", "brave"): BRAVE_KEY}
    )
    appliance.deploy(webui_settings=SETTINGS)
    token = appliance.admin_token()
    config = admin_config(appliance, token)
    assert (config["ENABLE_MESSAGE_RATING"], config["PENDING_USER_OVERLAY_TITLE"]) == (
        False,
        "Ask the IT desk for access",
    )
    assert brave_key(appliance, token) == BRAVE_KEY
    # An admin turns rating on in the admin panel: it holds until the next start only.
    changed = appliance.call(
        "POST", "/api/v1/auths/admin/config", token, json={**config, "ENABLE_MESSAGE_RATING": True}
    )
    assert changed.status_code == 200, changed.text
    assert admin_config(appliance, token)["ENABLE_MESSAGE_RATING"] is True
    appliance.deploy()  # a restart with the same inventory
    token = appliance.admin_token()
    config = admin_config(appliance, token)
    assert (config["ENABLE_MESSAGE_RATING"], config["PENDING_USER_OVERLAY_TITLE"]) == (
        False,
        "Ask the IT desk for access",
    )
    assert brave_key(appliance, token) == BRAVE_KEY
