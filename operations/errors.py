"""Stopping a run before it changes anything: one message, a line per problem, exit status 1.

pyinfra does not wrap ``SystemExit``, so the user sees the message and no traceback::

    stop(["webui_domain: missing; set it in the inventory"], "the settings need fixing")
"""

from __future__ import annotations

import sys

import click


def stop(problems: list[str], where: str) -> None:
    """Print the problems as one message and end the run (exit status 1)."""
    lines = "\n".join(f"    - {problem}" for problem in problems)
    click.echo(
        click.style(f"--> llm-appliance: stopped before changing anything: {where}", "red", bold=True)
        + f"\n{lines}",
        err=True,
    )
    sys.exit(1)
