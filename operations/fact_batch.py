"""Fact batching: the facts a layer reads, read in one shell round trip (``Batch``) and kept
until an operation changes the host (``read_fact``): the deploy's one cache of facts. What it
reads of pyinfra's own run state is in operations/pyinfra_internals.py.

    batch_reads(host, fact_key(Ufw), fact_key(KernelModules, names=("overlay",)))
    read_fact(host, Ufw)   # the batch is read now, in one round trip; Ufw's part is returned
"""

from __future__ import annotations

import weakref
from typing import Any

from pyinfra.api import FactBase

from operations.pyinfra_internals import command_text, run_generation

BATCH_MARK = "@@llm-appliance-fact@@"


class Batch(FactBase):
    """
    Several facts read in one shell round trip: each part's command runs in its own subshell
    and its output is processed by its own fact class, as if read alone (a part whose command
    fails, or whose required program is missing, gets its fact's default).

    .. code:: python

        host.get_fact(Batch, parts=((FileState, (("path", "/etc/hostname"),)),
                                    (KernelModules, (("names", ("overlay",)),))))
        # the output lines; Batch().values(parts, lines) gives each part's fact value:
        # {(FileState, (("path", "/etc/hostname"),)): {...}, (KernelModules, ...): {"overlay"}}
    """

    default = list

    def command(self, parts):
        pieces = []
        for index, (fact_class, arguments) in enumerate(parts):
            fact = fact_class()
            command = command_text(fact.command(**dict(arguments)))
            required = fact.requires_command(**dict(arguments))
            if required:
                command = f"command -v {required} >/dev/null 2>&1 && {{ {command}\n}}"
            pieces.append(f'( {command}\n) 2>/dev/null; echo "{BATCH_MARK} {index} $?"')
        return "; ".join(pieces)

    def values(self, parts, output):
        values: dict[tuple, Any] = {}
        lines: list[str] = []
        for line in output:
            if line.startswith(BATCH_MARK):
                _, index, status = line.split()
                fact_class, arguments = parts[int(index)]
                fact = fact_class()
                ok = status == "0" and lines
                values[parts[int(index)]] = fact.process(lines) if ok else fact.default()
                lines = []
            else:
                lines.append(line)
        return values

    def process(self, output):
        # pyinfra hands process() the output only; values() splits it by part.
        return list(output)


def fact_key(fact_class, **arguments) -> tuple:
    """A hashable key for a fact and its arguments (lists become tuples)."""
    return fact_class, tuple(
        sorted(
            (name, tuple(value) if isinstance(value, list) else value)
            for name, value in arguments.items()
        )
    )


_READS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batch_reads(host, *reads: tuple) -> None:
    """
    Declare facts (``fact_key``s) that ``read_fact`` reads together, in one round trip, when
    any of them is first needed, and again after an operation changed the host.

    .. code:: python

        batch_reads(host, fact_key(Ufw), fact_key(KernelModules, names=("overlay",)))
    """
    _READS.setdefault(host, {"batches": [], "values": {}})["batches"].append(tuple(reads))


def read_fact(host, fact_class, fresh: bool = False, **arguments):
    """
    A fact of the host as ``host.get_fact`` gives it, read at most once until an operation
    changes the host (a fact class whose ``kept_for_the_run`` is True: until a ``fresh`` read);
    declared with ``batch_reads``, read in one round trip with the others. ``fresh``: read now,
    and keep that read.

    .. code:: python

        read_fact(host, KernelModules, names=("overlay", "br_netfilter"))  # {"overlay"}
    """
    key = fact_key(fact_class, **arguments)
    reads = _READS.setdefault(host, {"batches": [], "values": {}})
    cached = reads["values"].get(key)
    if cached and cached[0] == _generation(host, fact_class) and not fresh:
        return cached[1]
    batch = next((batch for batch in reads["batches"] if key in batch), None)
    if batch:
        values = Batch().values(batch, host.get_fact(Batch, parts=batch))
        for (part_class, part_arguments), value in values.items():
            reads["values"][(part_class, part_arguments)] = (_generation(host, part_class), value)
        if key in values:
            return values[key]
    value = host.get_fact(fact_class, **arguments)
    reads["values"][key] = (_generation(host, fact_class), value)
    return value


def _generation(host, fact_class) -> tuple | None:
    """What a read of ``fact_class`` stays good for: the run (None) for a fact class whose
    ``kept_for_the_run`` is True, else the run's generation (pyinfra_internals.run_generation)."""
    return None if getattr(fact_class, "kept_for_the_run", False) else run_generation(host)
