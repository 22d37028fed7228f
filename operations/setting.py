"""One setting of the appliance (`Setting`): its name, default, type, one-line doc, parser and
when a changed value takes effect; the rows of the settings table (operations/settings_table.py)
are made of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

REQUIRED = object()


EVERY_DEPLOY = "every deploy"


@dataclass(frozen=True)
class Setting:
    """One setting. ``takes_effect`` says when a changed value reaches the running appliance
    (the settings table's column): every deploy, or, where a program keeps its first value,
    what keeps it, e.g. ``Setting("k3s_cluster_cidr", ..., takes_effect="first install: ...")``.
    """

    name: str
    default: Any
    type: str
    doc: str
    parse: Callable[[Any], Any] = field(repr=False)
    takes_effect: str = EVERY_DEPLOY
    # False where the value may hold a secret by mistake: a refusal names the part, not the value.
    echoed: bool = True

    @property
    def required(self) -> bool:
        return self.default is REQUIRED
