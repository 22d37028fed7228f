"""Run the pyinfra CLI and record where its time goes: SSH connects, every remote command and
file transfer, each attributed to the fact being read or the operation being run.

    python bench/pyinfra_trace.py TRACE.json -y --json inventory.py deploy.py

The run itself is the real one (real SSH, real host); the trace only wraps pyinfra's own
`Host.connect`, `Host.run_shell_command`, `Host.put_file`/`get_file` and `Host.get_fact` with
timers. TRACE.json gets, besides the pyinfra output on stdout as usual::

    {"started": 0.0, "ended": 1.93, "events": [
        {"kind": "connect", "seconds": 0.21, "fact": null, "operation": null},
        {"kind": "command", "seconds": 0.03, "fact": "Ufw", "operation": "Host layer | Firewall"},
        ...]}

(times in seconds from the trace's start, which is after the interpreter's own start-up.)
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from functools import wraps

STARTED = time.monotonic()
USAGE = """\
usage: python bench/pyinfra_trace.py TRACE_JSON PYINFRA_ARGS...

Runs the pyinfra CLI with PYINFRA_ARGS (e.g. -y --json inventory.py deploy.py) and writes to
TRACE_JSON where its time went: SSH connects, remote commands and file transfers, per fact and
operation. bench/host_layer.py and the readiness test run it through run_traced(); it is not
meant to be run by hand."""


def _install(events: list[dict]) -> None:
    from pyinfra.api import host as host_module

    Host = host_module.Host
    facts_being_read: list[str] = []

    def operation_name(host) -> str | None:
        op_hash = host.current_op_hash or host.executing_op_hash
        if not op_hash:
            return None
        return ", ".join(sorted(host.state.op_meta[op_hash].names))

    def timed(kind: str, method):
        @wraps(method)
        def wrapper(self, *args, **kwargs):
            started = time.monotonic()
            try:
                return method(self, *args, **kwargs)
            finally:
                events.append(
                    {
                        "kind": kind,
                        "at": started - STARTED,
                        "seconds": time.monotonic() - started,
                        "fact": facts_being_read[-1] if facts_being_read else None,
                        "operation": operation_name(self),
                    }
                )

        return wrapper

    get_fact = host_module.get_fact

    @wraps(get_fact)
    def get_fact_named(state, host, cls, *args, **kwargs):
        facts_being_read.append(cls.__name__)
        try:
            return get_fact(state, host, cls, *args, **kwargs)
        finally:
            facts_being_read.pop()

    host_module.get_fact = get_fact_named
    for kind, method in (
        ("connect", "connect"),
        ("command", "run_shell_command"),
        ("put_file", "put_file"),
        ("get_file", "get_file"),
    ):
        setattr(Host, method, timed(kind, getattr(Host, method)))


def run_traced(inventory, folder, timeout: float = 900):
    """Run ``pyinfra -y --json INVENTORY deploy.py`` from the project root under this tracer:
    the run (``appliance.rehearsal.DeployRun``) and its trace, the trace's file in ``folder``.

        run, trace = run_traced(inventory, tmp_path)
        len([e for e in trace["events"] if e["kind"] == "command"])  # 4
    """
    import subprocess
    from pathlib import Path

    from appliance.runner import DeployRun, project_environment

    trace_path = Path(folder) / f"trace-{time.monotonic_ns()}.json"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, __file__, str(trace_path), "-y", "--json", str(inventory), "deploy.py"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=project_environment(),
    )
    run = DeployRun(result.returncode, result.stdout, result.stderr, time.monotonic() - started)
    trace = json.loads(trace_path.read_text()) if trace_path.exists() else {"events": []}
    return run, trace


def arguments(argv: list[str]) -> tuple[str, list[str]]:
    """The trace path and pyinfra's arguments, or the usage and exit 0 (-h, --help) or 2
    (fewer than 2 arguments, a trace path that looks like an option), e.g.
    ``arguments(["t.json", "-y", "inv.py", "deploy.py"]) == ("t.json", ["-y", "inv.py", "deploy.py"])``."""
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        sys.exit(0)
    if len(argv) < 2 or argv[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        sys.exit(2)
    return argv[0], argv[1:]


def main(trace_path: str, pyinfra_args: list[str]) -> None:
    events: list[dict] = []
    _install(events)

    def write() -> None:
        with open(trace_path, "w") as out:
            json.dump({"started": 0.0, "ended": time.monotonic() - STARTED, "events": events}, out)

    atexit.register(write)
    from pyinfra_cli.main import main as pyinfra_main

    sys.argv = ["pyinfra", *pyinfra_args]
    pyinfra_main()


if __name__ == "__main__":
    main(*arguments(sys.argv[1:]))
