"""`appliance status`'s table: what it shows for each host (``status_components``: on a server
the cluster as a whole and its layers' components, operations/readiness.py, then the host's
disk, memory, pending reboot, backups and Netdata's alarms) and the rows it prints (``table``).

    for line in table(status_components(read, settings, "server", first_server=True)):
        print(line)
"""

from __future__ import annotations

from operations.component_state import FAILED, READY, WARNING, Component
from operations.cron import cron_longest_gap_hours
from operations.health import REBOOT_REQUIRED
from operations.k3s_applied import ADDON_FAILURES, addon_failure
from operations.names import BACKUP_DIR, OFFSITE_UNIT
from operations.read_parser import Cluster
from operations.readiness import apps_components, k3s_components, read_errors
from operations.settings import Settings

# The off-site timer runs hourly and a snapshot can take a while: allowed on top of the
# longest time between two backups (backup_schedule) before the last snapshot counts as late.
OFFSITE_ALLOWANCE_HOURS = 2


def offsite_component(read: dict, settings: Settings) -> Component:
    """The last off-site snapshot: failed when the off-site unit's last run failed, when there
    is none, or when it is older than the longest time between two backups plus
    OFFSITE_ALLOWANCE_HOURS (26 h with the daily default)."""
    offsite = read.get("offsite") or {"time": None, "failed": {}}
    gap = cron_longest_gap_hours(settings.backup_schedule)
    limit = None if gap is None else gap + OFFSITE_ALLOWANCE_HOURS
    age = None if offsite["time"] is None else (read["now"] - offsite["time"]) / 3600
    failed = offsite["failed"]
    if failed:
        state = FAILED
        detail = "; ".join(f"{unit}.service: {what}" for unit, what in failed.items())
    elif age is None:
        state, detail = FAILED, f"none yet in {settings.backup_repository}"
    elif limit is not None and age > limit:
        state, detail = FAILED, f"{age:.0f} h ago, later than {limit:g} h (backup_schedule)"
    else:
        state, detail = READY, f"{age:.0f} h ago"
    return Component(
        "off-site snapshot",
        state,
        detail,
        look=f"journalctl -u {next(iter(failed), OFFSITE_UNIT)} -n 20",
    )


def reboot_component(read: dict, settings: Settings) -> list[Component]:
    """A pending reboot (REBOOT_REQUIRED) as a warning naming the packages that asked for
    it, and when it happens: none when no reboot is pending."""
    packages = read.get("reboot")
    if packages is None:
        return []
    when = (
        f"unattended-upgrades reboots at {settings.unattended_reboot_time} (unattended_reboot)"
        if settings.unattended_reboot
        else "reboot when convenient (unattended_reboot is off)"
    )
    return [
        Component(
            "reboot",
            WARNING,
            f"needed for {', '.join(packages) or 'an update'}: {when}",
            look=f"cat {REBOOT_REQUIRED}.pkgs",
        )
    ]


def alarms_component(read: dict) -> list[Component]:
    """Netdata's raised alarms (``read["alarms"]``): failed with a CRITICAL one, a warning
    with WARNING ones, ready with none; nothing while Netdata's API does not answer (its
    workloads' own rows say why)."""
    alarms = read.get("alarms")
    if alarms is None:
        return []
    look = "https://<monitor_domain>/ (Netdata); `appliance alerts test` tries the routes"
    if not alarms:
        return [Component("netdata alarms", READY, "none raised", look=look)]
    state = FAILED if any(alarm["status"] == "CRITICAL" for alarm in alarms) else WARNING
    detail = "; ".join(f"{alarm['status']} {alarm['name']} on {alarm['host']}" for alarm in alarms)
    return [Component("netdata alarms", state, detail, look=look)]


def host_components(read: dict, settings: Settings, backups: bool) -> list[Component]:
    """The host's free disk (under /var/lib/rancher) and memory, a pending reboot
    (reboot_component), and the newest backup's age when the host keeps backups: details,
    never a failure; then, with a backup_repository, the last off-site snapshot
    (offsite_component)."""

    def gib(kib):
        return "unknown" if kib is None else f"{kib / 1024**2:.1f} GiB free"

    components = [
        Component("disk", READY, f"{gib(read.get('disk_free_kib'))} under /var/lib/rancher"),
        Component(
            "memory", READY, gib(read.get("memory_available_kib")).replace("free", "available")
        ),
        *reboot_component(read, settings),
    ]
    if backups:
        backup = read.get("backup")
        components.append(
            Component(
                "last backup",
                READY if backup else WARNING,
                f"{(read['now'] - backup['time']) / 3600:.0f} h ago: {backup['path']}"
                if backup
                else f"none yet in {BACKUP_DIR}",
                look="appliance backup INVENTORY",
            )
        )
        if settings.backup_repository:
            components.append(offsite_component(read, settings))
    return components


def refused_manifests(cluster: Cluster) -> list[Component]:
    """The appliance's manifests (Addons named llm-appliance-*) whose last outcome in k3s is a
    failure: a failure Event (ADDON_FAILURES) newer than the last AppliedManifest. k3s tries a
    refused file again at every scan (pkg/deploy/controller.go), so its failure Event stays
    fresh while it lasts: waiting with k3s's message, failed once k3s met it ADDON_RETRIES
    times (addon_failure)."""
    components = []
    for addon in cluster.of("Addon", ("kube-system",)):
        name = addon["metadata"]["name"]
        outcomes = [
            event
            for event in cluster.event_objects("Addon", "kube-system", name)
            if event.get("reason") in (*ADDON_FAILURES, "AppliedManifest")
        ]
        if (
            name.startswith("llm-appliance-")
            and outcomes
            and outcomes[-1]["reason"] != "AppliedManifest"
        ):
            state, detail = addon_failure(outcomes[-1])
            components.append(
                Component(
                    f"manifest {name}",
                    state,
                    detail,
                    targets=(("Addon", "kube-system", name),),
                    look=f"k3s kubectl --namespace kube-system describe addon {name}",
                )
            )
    return components


def server_components(read: dict) -> list[Component]:
    """What a server's read shows of the cluster as a whole: a list kubectl could not read
    (read_errors) and any manifest of the appliance k3s refuses (refused_manifests)."""
    return read_errors(read) + refused_manifests(Cluster(read))


def status_components(
    read: dict, settings: Settings, role: str, first_server: bool
) -> list[Component]:
    """What `appliance status` shows for one host: on a server, server_components, then its
    layers' components (the apps on the first server only; agents have no kubeconfig), then
    the host's details."""
    components = []
    if role == "server":
        components += server_components(read)
    if "k3s" in settings.layers and role == "server":
        components += k3s_components(read, settings)
    if "apps" in settings.layers and first_server:
        components += apps_components(read, settings) + alarms_component(read)
    return components + host_components(read, settings, "apps" in settings.layers and first_server)


def table(components: list[Component]) -> list[str]:
    """Components as aligned text rows: component, state, running, pinned, detail."""
    rows = [("component", "state", "running", "pinned", "detail")] + [
        (c.name, c.state, c.running or "-", c.pinned or "-", c.detail) for c in components
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[4]
        for row in rows
    ]
