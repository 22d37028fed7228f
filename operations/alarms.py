"""The appliance's alarms: Netdata's health.d entries the parent evaluates for every node that
streams to it (health_conf, its /etc/netdata/health.d/llm-appliance.conf), and the README's
table of them (markdown_table). Where they are sent: operations/alerts.py; the probes some of
them read: operations/alert_probes.py.

    [alarm.name for alarm in alarms.alarms(settings)][:2]  # ['llm_disk_free', ...]
"""

from __future__ import annotations

from dataclasses import dataclass

from operations.components import OLLAMA, OPEN_WEBUI
from operations.cron import cron_longest_gap_hours
from operations.names import BACKUP_CRONJOB, NAMESPACE, POSTGRES_CLUSTER
from operations.settings import Settings

# The off-site timer runs hourly and a snapshot takes a while: allowed on top of the longest
# time between two backups (as `appliance status`, appliance/status_table.py OFFSITE_ALLOWANCE_HOURS).
BACKUP_ALLOWANCE_HOURS = 2


@dataclass(frozen=True)
class Alarm:
    """One alarm of health.d: its lines (Netdata's keys, in order), and for the README the
    threshold in words and what to do."""

    name: str
    lines: tuple[tuple[str, str], ...]
    threshold: str
    action: str
    template: bool = True

    def conf(self) -> str:
        keys = (
            ("template" if self.template else "alarm", self.name),
            *self.lines,
            ("to", "sysadmin"),
        )
        return "\n".join(f"{key:>12}: {value}" for key, value in keys) + "\n"


# Where models (Ollama's volume) and PostgreSQL's data live: k3s's local-path volumes under
# /var/lib/rancher, on whichever of these file systems holds it.
DATA_MOUNTS = "/ /var /var/lib /var/lib/rancher /var/lib/rancher/*"


def alarms(settings: Settings) -> list[Alarm]:
    """The appliance's alarms. Contexts, dimensions and labels are those of Netdata v2.11.0:
    disk.space (GiB; src/collectors/diskspace.plugin), system.memory_some_pressure (dimensions
    "some 10/60/300", percent; src/collectors/proc.plugin/proc_pressure.c), mem.oom_kill
    (/proc/vmstat oom_kill: every kernel OOM kill, a container's at its limit too;
    proc_vmstat.c), k8s_state.* (src/go/plugin/go.d/collector/k8s_state/charts.go, collect.go,
    update_pod_state.go: container restarts as a running total, terminated reason OOMKilled,
    readiness, node condition Ready, a CronJob's
    last_completed_ago in seconds; a container's waiting and terminated reasons are set only
    while it is in that state and never cleared, so each stays 1 after the container runs
    again, until its pod goes), filecheck.file_modification_time_ago (seconds),
    httpcheck.status (percent per outcome with `percentage`). Lookups as health.d takes them
    (src/health/health_config.c; the incremental_sum grouping:
    src/web/api/queries/query-group-over-time.c; several `chart labels` must all match, the
    words after one `key=` being its values, any of which may match: src/health/REFERENCE.md,
    src/database/rrdlabels.c's label-pattern unit test). Container names: `ollama` (the recorded
    render of otwld/ollama-helm 1.77.0, tests/data/charts/ollama.json), `postgres`
    (CloudNativePG's PostgresContainerName, read in a stored source of cloudnative-pg, not at the
    pinned operator's tag)."""
    gap = cron_longest_gap_hours(settings.backup_schedule) or 24 * 366
    late = gap + BACKUP_ALLOWANCE_HOURS
    found = [
        Alarm(
            "llm_disk_free",
            (
                ("on", "disk.space"),
                ("chart labels", f"mount_point={DATA_MOUNTS}"),
                ("calc", "$avail"),
                ("units", "GiB"),
                ("every", "1m"),
                ("warn", "$this < 20"),
                ("crit", "$this < 5"),
                ("delay", "up 1m down 15m multiplier 1.5 max 1h"),
                (
                    "info",
                    "free space on the file system that holds the models and PostgreSQL's data",
                ),
            ),
            "warning under 20 GiB free, critical under 5 GiB",
            "`appliance status` shows what is free; remove models no longer in ollama_models "
            f"(`k3s kubectl -n {NAMESPACE} exec {OLLAMA.workload.ref} -- ollama rm NAME`), old archives in "
            "/var/backups/llm-appliance, or grow the disk. PostgreSQL stops writing when full.",
        ),
        Alarm(
            "llm_memory_pressure",
            (
                ("on", "system.memory_some_pressure"),
                ("lookup", "average -10m unaligned of some*60"),
                ("units", "%"),
                ("every", "1m"),
                ("warn", "$this > 10"),
                ("crit", "$this > 30"),
                ("delay", "down 15m multiplier 1.5 max 1h"),
                ("info", "share of time tasks waited for memory (PSI some, 10 minutes)"),
            ),
            "warning above 10 % of time stalled on memory over 10 min, critical above 30 %",
            "A model too large for the RAM, or several loaded at once: use a smaller model, "
            "fewer ollama_models, or more RAM (`appliance check` says what fits).",
            template=False,
        ),
        Alarm(
            "llm_oom_kill",
            (
                ("on", "mem.oom_kill"),
                ("lookup", "sum -30m unaligned"),
                ("units", "kills"),
                ("every", "1m"),
                ("warn", "$this > 0"),
                ("delay", "down 10m"),
                ("info", "processes the kernel killed for want of memory in the last 30 minutes"),
            ),
            "warning at any OOM kill in 30 min",
            "`k3s kubectl get pods -A` shows which container restarted (`describe pod`: "
            "Last State OOMKilled); see llm_ollama_restarted for Ollama.",
            template=False,
        ),
        Alarm(
            "llm_ollama_restarted",
            (
                ("on", "k8s_state.pod_container_restarts"),
                ("chart labels", f"k8s_namespace={NAMESPACE} k8s_container_name=ollama"),
                ("lookup", "incremental_sum -30m unaligned of restarts"),
                ("units", "restarts"),
                ("every", "1m"),
                ("crit", "$this > 0"),
                ("delay", "down 10m"),
                (
                    "info",
                    "restarts of Ollama in the last 30 minutes (an OOM kill while loading a model)",
                ),
            ),
            "critical at any restart of Ollama in 30 min",
            f"`k3s kubectl -n {NAMESPACE} describe pod -l {OLLAMA.workload.selector}`: Last State "
            "OOMKilled means the model does not fit Ollama's memory limit; choose a smaller "
            "model or add RAM.",
        ),
        # k8s_state keeps a container's last terminated reason at 1 until the pod goes (the
        # docstring): the alarm counts the reason turning to OOMKilled in the window, not the
        # reason itself, so it clears 10 minutes later though the pod lives on.
        Alarm(
            "llm_container_oom_killed",
            (
                ("on", "k8s_state.pod_container_terminated_state_reason"),
                ("lookup", "incremental_sum -10m unaligned of OOMKilled"),
                ("units", "containers"),
                ("every", "1m"),
                ("warn", "$this > 0"),
                ("delay", "down 10m"),
                ("info", "a container's last end turned to OOMKilled in the last 10 minutes"),
            ),
            "warning when a container's last end turned to OOMKilled in 10 min",
            "`k3s kubectl get pods -A`; raise that component's memory limit only if the "
            "memory budget (README) allows.",
        ),
        # A crash loop read from the restarts, not the waiting reason CrashLoopBackOff, which
        # k8s_state keeps at 1 after the container runs again (the docstring). The kubelet
        # restarts a crashing container after a back-off of 10 s doubling up to 5 min
        # (Kubernetes pkg/kubelet: backOffPeriod, MaxContainerBackOff; read on its main branch,
        # not at k3s's v1.36): 6 restarts or more in 30 minutes, so 3 is a loop at any stage.
        Alarm(
            "llm_container_crashloop",
            (
                ("on", "k8s_state.pod_container_restarts"),
                ("lookup", "incremental_sum -30m unaligned of restarts"),
                ("units", "restarts"),
                ("every", "1m"),
                ("crit", "$this >= 3"),
                ("delay", "down 5m"),
                ("info", "a container restarted 3 times or more in the last 30 minutes"),
            ),
            "critical at 3 restarts of a container in 30 min",
            "`appliance status` names the component; its pod's previous logs (`k3s kubectl "
            "logs --previous`) say why it exits.",
        ),
        Alarm(
            "llm_node_not_ready",
            (
                ("on", "k8s_state.node_condition"),
                ("lookup", "max -2m unaligned of Ready"),
                ("units", "status"),
                ("every", "30s"),
                ("crit", "$this < 1"),
                ("info", "the node has not been Ready for 2 minutes"),
            ),
            "critical when a node is not Ready for 2 min",
            "`k3s kubectl describe node NAME` (Conditions); on the node, "
            "`journalctl -u k3s -n 50` (k3s-agent on an agent).",
        ),
        Alarm(
            "llm_postgres_down",
            (
                ("on", "k8s_state.pod_container_readiness_state"),
                ("chart labels", f"k8s_namespace={NAMESPACE} k8s_container_name=postgres"),
                ("lookup", "max -1m unaligned of ready"),
                ("units", "ready"),
                ("every", "30s"),
                ("crit", "$this < 1"),
                ("info", f"PostgreSQL ({POSTGRES_CLUSTER}) has not been ready for 1 minute"),
            ),
            "critical when PostgreSQL is not ready for 1 min",
            f"`k3s kubectl -n {NAMESPACE} get cluster {POSTGRES_CLUSTER}` and its pods' logs; "
            "Open WebUI cannot sign anyone in meanwhile.",
        ),
        Alarm(
            "llm_webui_health",
            (
                ("on", "httpcheck.status"),
                ("lookup", "average -2m unaligned percentage of success"),
                ("units", "%"),
                ("every", "30s"),
                ("crit", "$this < 75"),
                (
                    "info",
                    f"https://{settings.webui_domain}/health answered under 75 % of checks in 2 minutes",
                ),
            ),
            "critical when under 75 % of checks succeed over 2 min",
            "`appliance status` (Open WebUI, Traefik, certificate); "
            f"`k3s kubectl -n {NAMESPACE} logs {OPEN_WEBUI.workload.ref}`.",
        ),
        Alarm(
            "llm_backup_late",
            (
                ("on", "k8s_state.cronjob_last_completed_time_ago"),
                ("chart labels", f"k8s_cronjob_name={BACKUP_CRONJOB}"),
                ("calc", "$last_completed_ago / 3600"),
                ("units", "hours"),
                ("every", "5m"),
                ("warn", f"$this > {late:g}"),
                ("crit", f"$this > {gap + late:g}"),
                ("info", "hours since the backup CronJob last completed"),
            ),
            f"warning after {late:g} h without a backup, critical after {gap + late:g} h "
            "(backup_schedule's longest gap + 2 h)",
            "`k3s kubectl -n llm get jobs` and the failed Job's logs; `appliance backup "
            "INVENTORY` runs one now.",
        ),
    ]
    if settings.backup_repository:
        found.append(
            Alarm(
                "llm_offsite_late",
                (
                    ("on", "filecheck.file_modification_time_ago"),
                    ("calc", "$mtime_ago / 3600"),
                    ("units", "hours"),
                    ("every", "5m"),
                    ("warn", f"$this > {late:g}"),
                    ("crit", f"$this > {gap + late:g}"),
                    ("info", "hours since the last off-site snapshot"),
                ),
                f"warning after {late:g} h without an off-site snapshot, critical after "
                f"{gap + late:g} h",
                "`journalctl -u llm-appliance-offsite -n 50`; "
                "`appliance status` shows the unit's last error.",
            )
        )
    return found


def health_conf(settings: Settings) -> str:
    """The parent's /etc/netdata/health.d/llm-appliance.conf."""
    return (
        "# Managed by llm-appliance (operations/alerts.py): changes here are overwritten.\n\n"
        + "\n".join(alarm.conf() for alarm in alarms(settings))
    )


def markdown_table(settings: Settings) -> str:
    """The alarms table in README.md (a test keeps the two the same)."""
    rows = ["| alarm | threshold | what to do |", "| --- | --- | --- |"]
    rows += [
        f"| `{alarm.name}` | {alarm.threshold} | {alarm.action} |" for alarm in alarms(settings)
    ]
    return "\n".join(rows)
