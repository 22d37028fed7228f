"""Alerts to the operator: Netdata's own alarm notifications, configured on the parent.

Part of the monitoring component (operations/monitoring.py merges these values). The parent
evaluates the alarms (health.d) for every node that streams to it and runs alarm-notify.sh,
which reads ``health_alarm_notify.conf`` (a bash file it sources: the stock one, then this
one; Netdata v2.11.0 src/health/notifications/alarm-notify.sh.in). Routes: e-mail through
an SMTP relay (msmtp, the Netdata image's sendmail: v2.11.0 packaging/docker/Dockerfile builds
FROM netdata/base:v3, whose base/Dockerfile.v3 in netdata/helper-images installs msmtp and
msmtp-mta; src/health/notifications/email/README.md), Slack, ntfy, and a generic webhook
(alarm-notify.sh's `custom` method, whose sender this file defines). Their secrets are keys
of the Secret ALERT_SECRET, mounted read-only into the parent at SECRET_DIR (group-readable by
the netdata user through the pod's fsGroup, 201), and read there when a notification is sent:
never in values, the manifests, or a command line of ours.

The probes the alarms need run on one Netdata instance each: the certificate (x509check) and
Open WebUI's /health (httpcheck) from the k8s-state pod, the off-site snapshot's time
(filecheck) from the children, which see the host's /var/lib/llm-appliance.

    alerts.routes(settings)  # ('email', 'webhook')
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

import yaml

from operations.components import NETDATA, OLLAMA, OPEN_WEBUI
from operations.cron import cron_longest_gap_hours
from operations.markers import OFFSITE_LAST_FILE
from operations.names import (
    ALERT_SECRET,
    BACKUP_CRONJOB,
    K3S_BINARY,
    MONITORING_NAMESPACE,
    NAMESPACE,
    POSTGRES_CLUSTER,
)
from operations.parsers import read_alert_secrets
from operations.settings import Settings

SECRET_DIR = "/run/secrets/llm-appliance-alerts"
# Where the chart's image keeps alarm-notify.sh (Netdata v2.11.0 packaging/docker/Dockerfile
# copies /usr/libexec/netdata; src/health/notifications/*/README.md run it from there).
ALARM_NOTIFY = "/usr/libexec/netdata/plugins.d/alarm-notify.sh"
# The pod that sends the notifications (netdata/helmchart's parent Deployment).
PARENT = next(workload for workload in NETDATA.workloads if workload.name == "netdata-parent")
# The variable `appliance alerts test` sets so that alarm-notify.sh tries one route only.
ROUTE_VARIABLE = "LLM_APPLIANCE_ALERT_ROUTE"
# Each route: alarm-notify.sh's method name (its SEND_<METHOD> switch).
METHODS = {"email": "EMAIL", "slack": "SLACK", "ntfy": "NTFY", "webhook": "CUSTOM"}
# The roles the stock health_alarm_notify.conf gives recipients (1.37 and v2.11.0 alike); the
# stock alarms notify sysadmin, webmaster (certificates, HTTP checks), dba...
ROLES = ("sysadmin", "domainadmin", "dba", "webmaster", "proxyadmin", "sitemgr")
# The children mount the host's folder of the appliance's state here (filecheck reads it).
HOST_STATE_MOUNT = "/host/var/lib/llm-appliance"
# The off-site timer runs hourly and a snapshot takes a while: allowed on top of the longest
# time between two backups (as `appliance status`, appliance/status_table.py OFFSITE_ALLOWANCE_HOURS).
BACKUP_ALLOWANCE_HOURS = 2


def routes(settings: Settings) -> tuple[str, ...]:
    """The routes the settings configure, in METHODS order: ``('email', 'slack')``."""
    secrets = read_alert_secrets(settings.alert_secrets_file) if settings.alert_secrets_file else {}
    wanted = {
        "email": bool(settings.alert_email_to),
        "slack": "SLACK_WEBHOOK_URL" in secrets,
        "ntfy": bool(settings.alert_ntfy_url),
        "webhook": bool(settings.alert_webhook_url),
    }
    return tuple(route for route in METHODS if wanted[route])


def test_command(configured: tuple[str, ...]) -> str:
    """The shell command, on the first server, that runs Netdata's own test (`alarm-notify.sh
    test`: a WARNING, a CRITICAL and a CLEAR to the role sysadmin; exit status 0 when a method
    sent; v2.11.0 alarm-notify.sh.in) in the parent, once per route with ROUTE_VARIABLE
    naming it, and prints "route NAME answered" or "route NAME failed" for each."""
    kubectl = f"{K3S_BINARY} kubectl --namespace {MONITORING_NAMESPACE}"
    return (
        f"for route in {' '.join(configured)}; do if {kubectl} exec {PARENT.ref} "
        f"--container netdata -- env {ROUTE_VARIABLE}=$route {ALARM_NOTIFY} test >/dev/null 2>&1; "
        'then echo "route $route answered"; else echo "route $route failed"; fi; done'
    )


def route_answers(output: str) -> dict[str, str]:
    """What test_command printed, by route: ``{"email": "answered", "webhook": "failed"}``."""
    return dict(re.findall(r"^route (\w+) (answered|failed)$", output, re.M))


def secret_env(settings: Settings) -> str:
    """What the Secret ALERT_SECRET holds: the file alert_secrets_file names, as KEY=VALUE
    lines (kubectl's --from-env-file form, values unquoted), and with WEBHOOK_TOKEN its
    Authorization header as WEBHOOK_HEADER; "" without a file."""
    if not settings.alert_secrets_file:
        return ""
    secrets = read_alert_secrets(settings.alert_secrets_file)
    if "WEBHOOK_TOKEN" in secrets:
        # The header the webhook's curl reads from its file (-H @FILE).
        secrets["WEBHOOK_HEADER"] = f"Authorization: Bearer {secrets['WEBHOOK_TOKEN']}"
    return "".join(f"{key}={value}\n" for key, value in secrets.items())


def _secret(key: str) -> str:
    """Bash that reads one key of the mounted Secret when alarm-notify.sh sources the file."""
    return f'"$(cat {SECRET_DIR}/{key} 2>/dev/null)"'


# The generic webhook: one JSON object per alarm event, POSTed with curl through alarm-notify.sh's
# docurl (it adds --connect-timeout 5 and prints the HTTP status). The token, when there is one,
# goes in a header read from a file (curl's -H @FILE), so it is on no command line.
CUSTOM_SENDER = r"""
json_string() {
  local text="${1//\\/\\\\}"
  text="${text//\"/\\\"}"
  text="${text//$'\n'/\\n}"
  printf '"%s"' "${text//$'\r'/}"
}
custom_sender() {
  local url payload httpcode header sent=0
  payload="{\"host\": $(json_string "${host}"), \"alarm\": $(json_string "${name}"), \"chart\": $(json_string "${chart}"), \"status\": $(json_string "${status}"), \"old_status\": $(json_string "${old_status}"), \"value\": $(json_string "${value_string}"), \"info\": $(json_string "${info}"), \"when\": ${when:-0}}"
  header=()
  if [ -s __SECRET_DIR__/WEBHOOK_HEADER ]; then
    header=(-H "@__SECRET_DIR__/WEBHOOK_HEADER")
  fi
  for url in ${to_custom}; do
    httpcode=$(docurl -X POST -H "Content-Type: application/json" "${header[@]}" --data-binary "${payload}" "${url}")
    if [ "${httpcode}" -ge 200 ] 2>/dev/null && [ "${httpcode}" -lt 300 ]; then
      info "sent webhook notification to '${url}' for ${notification_description}"
      sent=$((sent + 1))
    else
      error "failed to send webhook notification to '${url}' for ${notification_description}, with HTTP response status code ${httpcode}."
    fi
  done
  [ ${sent} -gt 0 ]
}
""".replace("__SECRET_DIR__", SECRET_DIR)  # noqa: E501 - a shell script's lines, kept whole


def health_alarm_notify_conf(settings: Settings) -> str:
    """The parent's /etc/netdata/health_alarm_notify.conf, sourced by alarm-notify.sh after the
    stock one: every configured route on for every role, the others off. With ROUTE_VARIABLE set
    (``appliance alerts test``) only that route stays on."""
    configured = routes(settings)
    lines = [
        "# Managed by llm-appliance (operations/alerts.py): changes here are overwritten.",
        *(f'SEND_{method}="NO"' for method in METHODS.values()),
    ]
    # A route is configured by its setting (routes); e-mail's sender is set whenever its
    # recipients are (settings.load refuses alert_email_to without alert_email_from).
    if "email" in configured and settings.alert_email_from:
        lines += [
            'SEND_EMAIL="YES"',
            f"EMAIL_SENDER={shlex.quote(settings.alert_email_from)}",
            f"DEFAULT_RECIPIENT_EMAIL={shlex.quote(' '.join(settings.alert_email_to))}",
            # msmtp, reading /etc/msmtprc, whichever name the image gives it.
            'sendmail="$(command -v sendmail 2>/dev/null || command -v msmtp 2>/dev/null)"',
        ]
    if "slack" in configured:
        # "#": no channel attribute, the webhook's own channel (alarm-notify.sh send_slack).
        lines += [
            'SEND_SLACK="YES"',
            f"SLACK_WEBHOOK_URL={_secret('SLACK_WEBHOOK_URL')}",
            'DEFAULT_RECIPIENT_SLACK="#"',
        ]
    if settings.alert_ntfy_url:
        lines += [
            'SEND_NTFY="YES"',
            f"DEFAULT_RECIPIENT_NTFY={shlex.quote(settings.alert_ntfy_url)}",
            f"NTFY_ACCESS_TOKEN={_secret('NTFY_ACCESS_TOKEN')}",
        ]
    if settings.alert_webhook_url:
        lines += [
            'SEND_CUSTOM="YES"',
            f"DEFAULT_RECIPIENT_CUSTOM={shlex.quote(settings.alert_webhook_url)}",
            CUSTOM_SENDER.strip(),
        ]
    # The stock file has given each role its recipients already (role_recipients_METHOD[ROLE]
    # = the DEFAULT_RECIPIENT_METHOD it had then, e.g. root): every role gets ours.
    lines += (
        [
            f"for role in {' '.join(ROLES)}; do",
            *(
                f'  role_recipients_{METHODS[route].lower()}[$role]="${{DEFAULT_RECIPIENT_{METHODS[route]}}}"'
                for route in configured
            ),
            "done",
        ]
        if configured
        else []
    )
    lines += [
        f'case "${{{ROUTE_VARIABLE}:-}}" in',
        *(
            f"  {route}) {' '.join(f'SEND_{m}=NO' for r, m in METHODS.items() if r != route)} ;;"
            for route in METHODS
        ),
        "esac",
    ]
    return "\n".join(lines) + "\n"


def msmtprc(settings: Settings) -> str:
    """/etc/msmtprc in the parent: the SMTP relay, its password read from the Secret by msmtp's
    passwordeval when it logs in (msmtp 1.8 documentation, msmtprc.txt)."""
    tls = {"starttls": ("on", "on"), "tls": ("on", "off"), "none": ("off", "off")}[
        settings.alert_smtp_tls
    ]
    lines = [
        "# Managed by llm-appliance (operations/alerts.py)",
        "account default",
        f"host {settings.alert_smtp_host}",
        f"port {settings.alert_smtp_port}",
        f"from {settings.alert_email_from}",
        f"tls {tls[0]}",
        f"tls_starttls {tls[1]}",
    ]
    if settings.alert_smtp_user:
        lines += [
            "auth on",
            f"user {settings.alert_smtp_user}",
            f'passwordeval "cat {SECRET_DIR}/SMTP_PASSWORD"',
        ]
    return "\n".join(lines) + "\n"


# -- the alarms ----------------------------------------------------------------------------------


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


def _config(path: str, data: str) -> dict:
    return {"enabled": True, "path": path, "data": data}


def _jobs(*jobs: dict) -> str:
    return yaml.safe_dump({"jobs": list(jobs)}, sort_keys=False)


def parent_values(settings: Settings) -> dict:
    """The parent's part of the chart's values: configs and the Secret's volume (optional: a
    parent without alert secrets starts all the same)."""
    configs = {
        "health": _config(
            "/etc/netdata/health_alarm_notify.conf", health_alarm_notify_conf(settings)
        ),
        "llm-appliance-alarms": _config(
            "/etc/netdata/health.d/llm-appliance.conf", health_conf(settings)
        ),
    }
    if settings.alert_email_to:
        configs["msmtprc"] = _config("/etc/msmtprc", msmtprc(settings))
    secret = {"secretName": ALERT_SECRET, "optional": True, "defaultMode": 0o440}
    return {
        "configs": configs,
        "extraVolumes": [{"name": "alert-secrets", "secret": secret}],
        "extraVolumeMounts": [{"name": "alert-secrets", "mountPath": SECRET_DIR, "readOnly": True}],
    }


def k8s_state_values(settings: Settings) -> dict:
    """The k8s-state pod's part: besides k8s_state, the certificate of webui_domain (x509check)
    and its /health through Traefik (httpcheck), from inside the cluster, once (the children
    run on every node)."""
    url = f"https://{settings.webui_domain}"
    return {
        "configs": {
            "go.d": _config(
                "/etc/netdata/go.d.conf",
                yaml.safe_dump(
                    {
                        "default_run": False,
                        "modules": {"k8s_state": True, "x509check": True, "httpcheck": True},
                    },
                    sort_keys=False,
                ),
            ),
            "go.d-x509check": _config(
                "/etc/netdata/go.d/x509check.conf",
                _jobs({"name": "webui", "source": f"{url}:443", "update_every": 60}),
            ),
            # The certificate is x509check's concern: /health is checked even when it is not valid.
            "go.d-httpcheck": _config(
                "/etc/netdata/go.d/httpcheck.conf",
                _jobs(
                    {
                        "name": "webui_health",
                        "url": f"{url}/health",
                        "status_accepted": [200],
                        "timeout": 5,
                        "update_every": 10,
                        "tls_skip_verify": True,
                    }
                ),
            ),
        }
    }


def child_values(settings: Settings) -> dict:
    """The children's part, with off-site backups: the last snapshot's time (filecheck), from
    the host's folder mounted read-only."""
    if not settings.backup_repository:
        return {}
    folder = OFFSITE_LAST_FILE.rsplit("/", 1)[0]
    return {
        "configs": {
            "go.d-filecheck": _config(
                "/etc/netdata/go.d/filecheck.conf",
                _jobs(
                    {
                        "name": "offsite",
                        "update_every": 60,
                        "files": {
                            "include": [f"{HOST_STATE_MOUNT}/{OFFSITE_LAST_FILE.rsplit('/', 1)[1]}"]
                        },
                    }
                ),
            )
        },
        "extraVolumes": [
            {"name": "appliance-state", "hostPath": {"path": folder, "type": "DirectoryOrCreate"}}
        ],
        "extraVolumeMounts": [
            {"name": "appliance-state", "mountPath": HOST_STATE_MOUNT, "readOnly": True}
        ],
    }


def markdown_table(settings: Settings) -> str:
    """The alarms table in README.md (a test keeps the two the same)."""
    rows = ["| alarm | threshold | what to do |", "| --- | --- | --- |"]
    rows += [
        f"| `{alarm.name}` | {alarm.threshold} | {alarm.action} |" for alarm in alarms(settings)
    ]
    return "\n".join(rows)
