"""What the fact batching (operations/fact_batch.py) reads of pyinfra's own run state, which
pyinfra does not document as API; read at pyinfra 3.10.0 (pyproject: pyinfra>=3.10,<4). A
pyinfra release that changes one of these breaks this module alone:

- ``State.current_stage`` (pyinfra/api/state.py: a ``StateStage``, Setup to Disconnect, that
  ``set_stage`` only moves forward) and ``State.ops``, ``{Host: {op_hash:
  StateOperationHostData}}``, whose ``operation_meta`` is an ``OperationMeta``
  (pyinfra/api/operation.py: ``is_complete()`` once it ran, ``did_change()`` when it
  succeeded with commands);
- ``StringCommand.get_raw_value()`` (pyinfra/api/command.py): a command as the shell gets it,
  masked values unmasked.
"""

from __future__ import annotations


def run_generation(host) -> tuple:
    """What makes a fact read stale: the stage of the run and how many of the host's operations
    have changed it so far, e.g. ``(StateStage.Prepare, 0)`` while the deploy is planned."""
    state = host.state
    changed = sum(
        1
        for data in state.ops.get(host, {}).values()
        if data.operation_meta.is_complete() and data.operation_meta.did_change()
    )
    return state.current_stage, changed


def command_text(command) -> str:
    """A fact's command as the shell runs it: a ``StringCommand``'s raw value, or the text."""
    return command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
