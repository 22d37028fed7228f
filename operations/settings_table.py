"""The settings table: every appliance setting's name, default, type, one-line doc, parser and
when a changed value takes effect, one `Setting` (operations/setting.py) each in `SETTINGS`, in
the README's order: the platform's (operations/settings_platform.py), the apps'
(settings_apps.py), then backups', alerts' and the host's upkeep (settings_upkeep.py).
README.md's settings reference is `markdown_table()` (a test keeps the two the same);
operations/settings.py's `load` validates host data against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from operations.setting import REQUIRED
from operations.settings_apps import APP_SETTINGS
from operations.settings_platform import PLATFORM_SETTINGS
from operations.settings_upkeep import UPKEEP_SETTINGS

SETTINGS = (*PLATFORM_SETTINGS, *APP_SETTINGS, *UPKEEP_SETTINGS)
SETTINGS_BY_NAME = MappingProxyType({setting.name: setting for setting in SETTINGS})


def markdown_table() -> str:
    """The settings reference in README.md (a test keeps the two the same)."""

    def shown(value: Any) -> str:
        if value is REQUIRED:
            return "required"
        if isinstance(value, (tuple, list)):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        return f"`{value!r}`"

    rows = [
        "| setting | default | type | what it does | takes effect |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{s.name}` | {shown(s.default)} | {s.type} | {s.doc} | {s.takes_effect} |"
        for s in SETTINGS
    ]
    return "\n".join(rows)
