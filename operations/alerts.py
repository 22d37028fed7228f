"""Alerts to the operator: Netdata's own alarm notifications, configured on the parent.

Part of the monitoring component (operations/monitoring.py merges parent_values). The parent
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

The alarms themselves: operations/alarms.py; the probes they read: operations/alert_probes.py.

    alerts.routes(settings)  # ('email', 'webhook')
"""

from __future__ import annotations

import re
import shlex

from operations.alarms import health_conf
from operations.alert_probes import netdata_config
from operations.components import NETDATA
from operations.local_files import read_alert_secrets
from operations.names import ALERT_SECRET, K3S_BINARY, MONITORING_NAMESPACE
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


def parent_values(settings: Settings) -> dict:
    """The parent's part of the chart's values: configs and the Secret's volume (optional: a
    parent without alert secrets starts all the same)."""
    configs = {
        "health": netdata_config(
            "/etc/netdata/health_alarm_notify.conf", health_alarm_notify_conf(settings)
        ),
        "llm-appliance-alarms": netdata_config(
            "/etc/netdata/health.d/llm-appliance.conf", health_conf(settings)
        ),
    }
    if settings.alert_email_to:
        configs["msmtprc"] = netdata_config("/etc/msmtprc", msmtprc(settings))
    secret = {"secretName": ALERT_SECRET, "optional": True, "defaultMode": 0o440}
    return {
        "configs": configs,
        "extraVolumes": [{"name": "alert-secrets", "secret": secret}],
        "extraVolumeMounts": [{"name": "alert-secrets", "mountPath": SECRET_DIR, "readOnly": True}],
    }
