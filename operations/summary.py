"""The run summary printed at the end of a deploy: URLs, where the credentials are, the models
present, and what changed. It changes nothing, so a converged host still reports no change."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import operation
from pyinfra.api.operation import OperationMeta

from operations.gpu import cluster_gpu_line
from operations.health import latest_read
from operations.settings import Settings


def changed_operations() -> list[str]:
    """Names of this run's operations that changed this host so far."""
    state = host.state
    names = []
    for op_hash in state.get_op_order():
        data = state.ops[host].get(op_hash)
        if data and data.operation_meta.is_complete() and data.operation_meta.did_change():
            names.append(", ".join(sorted(state.op_meta[op_hash].names)))
    return names


def summary_lines(
    settings: Settings,
    inventory_hint: str,
    first_server: bool,
    models: set[str] | None,
    changed: list[str],
    gpu_line: str,
    password_made: bool = False,
) -> list[str]:
    """The summary's lines; ``changed``: the names of the operations that changed the host,
    ``password_made``: whether this run made the off-site repository's password."""
    lines = []
    if "apps" in settings.layers and first_server:
        lines += [
            f"Open WebUI:  https://{settings.webui_domain}/  "
            f"(admin {settings.admin_email}; password: appliance admin-password {inventory_hint})",
            f"Monitoring:  https://{settings.monitor_domain}/  "
            f"(user admin; password: appliance monitor-password {inventory_hint})",
        ]
        missing = [model for model in settings.models if model not in (models or set())]
        lines.append(
            f"Models:      {', '.join(settings.models)}"
            + (f" (still missing: {', '.join(missing)})" if missing else " (all present)")
        )
        lines.append(f"Ollama:      {gpu_line}")
    if "k3s" in settings.layers and first_server:
        lines.append(f"Kubernetes:  appliance kubeconfig {inventory_hint}")
    if password_made:
        lines.append(
            f"Off-site:    a new repository password was made on the server: store it "
            f"away from the server now (appliance backup-password {inventory_hint}); "
            "a restore onto a new server needs it"
        )
    if changed:
        shown = "; ".join(name.split(" | ")[-1] for name in changed[:6])
        more = f" and {len(changed) - 6} more" if len(changed) > 6 else ""
        lines.append(f"Changed:     {len(changed)} operations: {shown}{more}")
    else:
        lines.append("Changed:     nothing (the host was converged)")
    return lines


@operation()
def summary_printed(
    settings: Settings,
    inventory_hint: str,
    first_server: bool,
    new_password: OperationMeta | None = None,
):
    """
    Print the run summary when the deploy reaches it; yields no command. ``new_password``: the
    operation that makes the off-site repository's password (operations/offsite.py install),
    whose own result says whether this run made one.

    .. code:: python

        summary_printed(settings=settings, inventory_hint="inventories/prod.py", first_server=True)
    """
    if not host.state.is_executing:
        return
    # The run's newest cluster read: the gates' last one, or the plan's when nothing waited.
    models = (
        set(latest_read(settings)["models"]) if "apps" in settings.layers and first_server else None
    )
    gpu_line = cluster_gpu_line() if "apps" in settings.layers and first_server else ""
    made = bool(new_password and new_password.is_complete() and new_password.did_change())
    lines = summary_lines(
        settings,
        inventory_hint,
        first_server,
        models,
        changed_operations(),
        gpu_line,
        password_made=made,
    )
    logger.info("\n".join(f"{host.print_prefix}{line}" for line in lines))
    yield from ()
