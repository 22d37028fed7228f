"""Stopping a run before it changes anything: one message, a line per problem, exit status 1;
and paramiko's tracebacks kept out of pyinfra's output.

pyinfra does not wrap ``SystemExit``, so the user sees the message and no traceback::

    stop(["webui_domain: missing; set it in the inventory"], "the settings need fixing")
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import NoReturn

import click


class Invalid(ValueError):
    """Raised by a setting's parser: what is wrong with the value and how to fix it (the caller
    names the setting and the value), one argument per thing wrong: settings.load reports
    ``Invalid("sets A, ...", "sets B, ...")`` as two lines."""


class WrongType(Invalid):
    """A value of another type than the parser reads (a number where a path goes):
    ``WrongType("expected a string, got int")``. settings.load adds what to write, from the
    setting's type in the settings table ("write a path on this machine in quotes")."""


def stop(problems: list[str], where: str) -> NoReturn:
    """Print the problems as one message and end the run (exit status 1)."""
    lines = "\n".join(f"    - {problem}" for problem in problems)
    click.echo(
        click.style(
            f"--> llm-appliance: stopped before changing anything: {where}", "red", bold=True
        )
        + f"\n{lines}",
        err=True,
    )
    sys.exit(1)


class ParamikoTracebackFilter(logging.Filter):
    """Drops the lines of a Python traceback from paramiko's transport logging, keeps the rest.

    A host that answers on its SSH port but not as an SSH server (a closed connection, another
    service) makes paramiko's transport thread log "Exception (client): ..." and then the
    traceback, one record per line (paramiko 4.0 transport.py Transport.run: ``self._log(ERROR,
    util.tb_strings())``, and _log logs each item of a list; util.py tb_strings splits
    ``traceback.format_exception`` on newlines). The exception line says what went wrong; the
    traceback says nothing more to a sysadmin. Other records stay: a connection cut mid-run is
    told only by paramiko's "Socket exception: Connection reset by peer (104)" (pyinfra then
    says "Error: executed 0 commands").

    A traceback runs from "Traceback (most recent call last):" through its indented frame lines
    to the exception's own line; chained ones are joined by a blank line and a sentence.
    """

    CHAIN_LINES = frozenset(
        {
            "",
            "During handling of the above exception, another exception occurred:",
            "The above exception was the direct cause of the following exception:",
        }
    )

    def __init__(self):
        super().__init__()
        self._inside = threading.local()  # paramiko logs from one thread per transport

    def filter(self, record):
        line = record.getMessage()
        if line == "Traceback (most recent call last):":
            self._inside.traceback = True
            return False
        if getattr(self._inside, "traceback", False):
            if not line.startswith(" "):  # the exception's own line ends the traceback
                self._inside.traceback = False
            return False
        return line not in self.CHAIN_LINES
