"""The settings table's rows for keeping the appliance up, in the README's order: backups (local
archives and off-site restic snapshots), alert notifications (e-mail, webhook, ntfy, Slack's
secret), and the host's hardening and unattended reboots. operations/settings_table.py
assembles them.
"""

from __future__ import annotations

from operations.local_files import alert_secrets_file, local_file
from operations.parsers import (
    boolean,
    clock_time,
    cron_schedule,
    email,
    emails,
    host_name,
    http_url,
    login,
    one_of,
    port,
    positive_int,
    restic_repository,
    seconds_or_off,
)
from operations.setting import Setting

UPKEEP_SETTINGS = (
    Setting(
        "backup_schedule",
        "30 3 * * *",
        "cron",
        "When Open WebUI's database and uploads are backed up (cron, the server's UTC).",
        cron_schedule,
    ),
    Setting(
        "backup_retention_days", 7, "days", "How long backups are kept on the server.", positive_int
    ),
    Setting(
        "backup_repository",
        None,
        "restic repository",
        "Off-site copies with restic, to a repository such as sftp:user@host:/path, "
        "s3:host/bucket, rest:https://host/ or b2:bucket:path, or an absolute path (a "
        "mounted NAS). Unset: backups stay on the server only.",
        restic_repository,
    ),
    Setting(
        "backup_credentials_file",
        None,
        "path on this machine",
        "The repository's credentials: for sftp: an SSH private key, otherwise restic's "
        "KEY='VALUE' variables (unset: those variables from this machine's environment).",
        local_file,
    ),
    Setting(
        "backup_keep_daily",
        7,
        "count",
        "Off-site: daily snapshots kept (restic forget).",
        positive_int,
    ),
    Setting("backup_keep_weekly", 4, "count", "Off-site: weekly snapshots kept.", positive_int),
    Setting("backup_keep_monthly", 6, "count", "Off-site: monthly snapshots kept.", positive_int),
    Setting(
        "alert_email_to",
        (),
        "list of e-mails",
        "Who gets Netdata's alarms by e-mail, through alert_smtp_host; empty: no e-mail.",
        emails,
    ),
    Setting(
        "alert_email_from",
        None,
        "e-mail",
        "Sender of the alarm e-mails; required with alert_email_to.",
        email,
    ),
    Setting(
        "alert_smtp_host",
        None,
        "host name or IP",
        "SMTP relay the alarm e-mails go through; required with alert_email_to.",
        host_name,
    ),
    Setting(
        "alert_smtp_port",
        None,
        "port",
        "The relay's port; unset: 465 with alert_smtp_tls tls, 587 otherwise (587 with tls "
        "or 465 with starttls is refused).",
        port,
    ),
    Setting(
        "alert_smtp_tls",
        "starttls",
        "choice",
        "starttls (plain SMTP, then STARTTLS; port 587), tls (TLS from the start; port 465), "
        "or none (a relay on a network you trust only).",
        one_of("starttls", "tls", "none"),
    ),
    Setting(
        "alert_smtp_user",
        None,
        "login",
        "Login at the relay (its password: SMTP_PASSWORD in alert_secrets_file); unset: no login.",
        login,
    ),
    Setting(
        "alert_webhook_url",
        None,
        "URL",
        "Generic webhook: every alarm POSTed as JSON (a bearer token: WEBHOOK_TOKEN in "
        "alert_secrets_file; with one, https unless to a loopback address or NAME.NAMESPACE.svc).",
        http_url("https://hooks.example.com/netdata"),
    ),
    Setting(
        "alert_ntfy_url",
        None,
        "URL",
        "ntfy topic the alarms go to, e.g. https://ntfy.sh/my-appliance (an access token: "
        "NTFY_ACCESS_TOKEN in alert_secrets_file; with one, https as for alert_webhook_url).",
        http_url("https://ntfy.sh/my-appliance"),
    ),
    Setting(
        "alert_secrets_file",
        None,
        "path on this machine",
        "KEY='VALUE' lines with the alert routes' secrets: SMTP_PASSWORD, SLACK_WEBHOOK_URL "
        "(Slack's incoming webhook; turns Slack on), NTFY_ACCESS_TOKEN, WEBHOOK_TOKEN. "
        "Stored in the Secret monitoring/netdata-alert-secrets, never in a manifest.",
        alert_secrets_file,
    ),
    Setting(
        "ssh_hardening",
        False,
        "bool",
        "SSH by key only: no passwords, root only with a key (refused if the inventory "
        "logs in with a password).",
        boolean,
    ),
    Setting(
        "fail2ban", True, "bool", "Ban addresses that keep failing SSH logins (fail2ban).", boolean
    ),
    Setting(
        "idle_logout_seconds",
        900,
        "seconds",
        "Log out shells idle this long (TMOUT in /etc/profile.d, read-only, as the CIS "
        "benchmark asks: 900 or less); 0: never (the file is removed).",
        seconds_or_off,
        takes_effect="every deploy; shells read it when they start",
    ),
    Setting(
        "unattended_reboot",
        False,
        "bool",
        "Let unattended-upgrades reboot the host when an update needs it.",
        boolean,
    ),
    Setting(
        "unattended_reboot_time",
        "04:00",
        "HH:MM",
        "When unattended-upgrades may reboot, if unattended_reboot is on.",
        clock_time,
    ),
)
