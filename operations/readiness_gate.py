"""The readiness gate: ``gate`` ends the k3s and apps layers with ``ready_gate``, the operation
that waits, printing a line per component as its state changes, until k3s has applied the
manifests the layer wrote (their Addons' checksums) and every component is ready
(operations/readiness.py), and stops the run naming the component, its state, last events and
log tail, and the command to look further. A layer whose plan-time read is healthy, whose
manifests k3s applied as they will be written, and whose operations change nothing gets no
gate: a re-run of a converged appliance reads once and waits for nothing.

    gate("apps", settings, changes, host_files)
"""

from __future__ import annotations

import shlex
import time
from datetime import datetime, timezone

from pyinfra import host, logger
from pyinfra.api import operation
from pyinfra.api.command import StringCommand

from operations.component_state import FAILED, READY, WAITING, WARNING, Component
from operations.health import LogTail, latest_read
from operations.k3s_applied import written_manifests
from operations.read_parser import Cluster
from operations.readiness import layer_components
from operations.settings import Settings

# How long the gate waits for Let's Encrypt once everything else is ready.
CERTIFICATE_WAIT_SECONDS = 180
POLL_SECONDS = 10


def report(component: Component, cluster: Cluster) -> list[str]:
    """What explains a component that is not ready: state, last events, log tail, command."""
    lines = [f"{component.name}: {component.state}, {component.detail}"]
    for target in component.targets:
        lines += [f"  event: {event}" for event in cluster.events(*target)]
    if component.logs:
        namespace, logged = component.logs
        tail = host.get_fact(LogTail, namespace=namespace, target=logged)
        lines += [f"  log: {line}" for line in tail]
    if component.look:
        lines.append(f"  look further: {component.look}")
    return lines


@operation()
def ready_gate(
    layer: str,
    settings: Settings,
    timeout_minutes: int,
    manifests: tuple[tuple[str, str], ...] = (),
):
    """
    Wait until k3s applied the layer's ``manifests`` as written (written_manifests) and the
    layer's components are ready (reads only: no change), printing a line per component as its
    state changes; on a failure or the timeout, print what explains it and fail the run.

    .. code:: python

        ready_gate(name="Wait until the apps are ready", layer="apps", settings=settings,
                   timeout_minutes=30, manifests=written_manifests(host_files))
    """
    if not host.state.is_executing:
        yield f"echo 'llm-appliance: waits until the {layer} layer is ready'"
        return
    problems = wait_until_ready(layer, settings, timeout_minutes, manifests)
    if problems:
        host.log_styled("\n".join(problems), fg="red", log_func=logger.error)
        yield StringCommand(
            "echo",
            shlex.quote(f"llm-appliance: the {layer} layer is not ready (see above)"),
            ">&2;",
            "exit",
            "1",
        )


def rfc3339(seconds: int) -> str:
    """A Unix time as Kubernetes writes times: ``rfc3339(0)`` is '1970-01-01T00:00:00Z'."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_until_ready(
    layer: str,
    settings: Settings,
    timeout_minutes: int,
    manifests: tuple[tuple[str, str], ...] = (),
) -> list[str]:
    """Poll until ready; [] when ready, else the lines that explain why not."""
    import gevent

    started = time.monotonic()
    seen: dict[str, str] = {}
    since = None
    while True:
        read = latest_read(settings, fresh=True)
        since = since or rfc3339(read["now"])
        components = layer_components(layer, read, settings, manifests, since)
        for component in components:
            line = f"{component.state}: {component.detail}"
            if seen.get(component.name) != line and (
                component.name in seen or component.state != READY
            ):
                logger.info(f"{host.print_prefix}{layer}: {component.name}: {line}")
            seen[component.name] = line
        failed = [c for c in components if c.state == FAILED]
        waiting = [c for c in components if c.state == WAITING]
        warnings = [c for c in components if c.state == WARNING]
        elapsed = time.monotonic() - started
        cluster = Cluster(read)
        if failed:
            return [f"{layer}: failed"] + [line for c in failed for line in report(c, cluster)]
        if not waiting and (not warnings or elapsed > CERTIFICATE_WAIT_SECONDS):
            for warning in warnings:
                host.log_styled(
                    f"warning: {warning.name}: {warning.detail}",
                    fg="yellow",
                    log_func=logger.warning,
                )
            return []
        if elapsed > timeout_minutes * 60:
            return [f"{layer}: not ready after {timeout_minutes} min (ready_timeout_minutes)"] + [
                line for c in waiting for line in report(c, cluster)
            ]
        gevent.sleep(POLL_SECONDS)


def gate_needed(components: list[Component], will_change: bool) -> bool:
    """Whether a layer needs its gate: some operation will change the host, or a component of
    the plan-time read (with the manifests to write: one k3s has not applied as they will be
    written counts as waiting) is not ready."""
    return will_change or not all(c.state in (READY, WARNING) for c in components)


def gate(layer: str, settings: Settings, changes, host_files=()) -> None:
    """End a layer with its readiness gate, unless the plan-time read is healthy, k3s applied
    every manifest among ``host_files`` (the layer's rendering.HostFiles) as it will be
    written, and none of the layer's operations (``changes``) will change anything."""
    manifests = written_manifests(host_files)
    components = layer_components(layer, latest_read(settings), settings, manifests)
    if not gate_needed(components, any(op.will_change for op in changes)):
        return
    ready_gate(
        name=f"Wait until the {layer} layer is ready (up to {settings.ready_timeout_minutes} min)",
        layer=layer,
        settings=settings,
        timeout_minutes=settings.ready_timeout_minutes,
        manifests=manifests,
    )
