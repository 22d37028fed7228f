"""The rules between the alert routes' settings (Netdata's notifications, operations/alerts.py),
for settings.load's cross-checks: an e-mail route's sender and relay, the relay's password,
port and TLS mode, and tokens that would cross the network unencrypted. Each problem is one
line naming the setting, its value and the fix:

    alert_problems({... "alert_smtp_tls": "tls", "alert_smtp_port": 587 ...}, set())
    # ["alert_smtp_port = 587 with alert_smtp_tls = 'tls': port 587 is the submission port, ..."]
"""

from __future__ import annotations

from operations.local_files import read_alert_secrets
from operations.parsers import stays_inside


def alert_problems(values: dict, bad: set[str]) -> list[str]:
    """The alert settings' problems in `values` (the parsed settings by name; the `bad` ones
    are reported already). Sets alert_smtp_port, when unset, to its TLS mode's port."""
    problems = []
    if values["alert_email_to"]:
        for name, what in (
            ("alert_email_from", "the sender address, e.g. netdata@example.com"),
            ("alert_smtp_host", "the SMTP relay's name or address, e.g. smtp.example.com"),
        ):
            if values[name] is None and name not in bad:
                problems.append(
                    f"{name}: missing while alert_email_to is set; set {name} to {what}"
                )
    secrets = (
        read_alert_secrets(values["alert_secrets_file"]) if values["alert_secrets_file"] else {}
    )
    if (
        values["alert_smtp_user"]
        and "SMTP_PASSWORD" not in secrets
        and "alert_secrets_file" not in bad
    ):
        user = values["alert_smtp_user"]
        problems.append(
            f"alert_smtp_user = {user!r} has no password; put SMTP_PASSWORD='...' in "
            f"{values['alert_secrets_file']!r}, the file alert_secrets_file names"
            if values["alert_secrets_file"]
            else f"alert_smtp_user = {user!r} has no password, and alert_secrets_file is not "
            "set; set alert_secrets_file to a file on this machine with the line "
            "SMTP_PASSWORD='...'"
        )
    problems += _smtp_port(values, bad)
    for name, key in (
        ("alert_webhook_url", "WEBHOOK_TOKEN"),
        ("alert_ntfy_url", "NTFY_ACCESS_TOKEN"),
    ):
        url = values[name]
        if url and key in secrets and not stays_inside(url):
            problems.append(
                f"{name} = {url!r} with {key} in alert_secrets_file: the token would cross the "
                f"network unencrypted; use https://{url.removeprefix('http://')} (http:// only "
                "to a loopback address or a Service in the cluster, NAME.NAMESPACE.svc)"
            )
    if values["alert_smtp_user"] and values["alert_smtp_tls"] == "none":
        # msmtp 1.8.23 (Debian 12; the image's sendmail) then refuses: "cannot use a secure
        # authentication method" (tests/unit/test_alert_notifications.py).
        problems.append(
            f"alert_smtp_user = {values['alert_smtp_user']!r} with alert_smtp_tls = 'none': msmtp "
            "never sends a password unencrypted; use alert_smtp_tls starttls or tls"
        )
    return problems


# The ports whose TLS mode is fixed (RFC 8314): 465 speaks TLS from the first byte (submissions),
# 587 plain SMTP until STARTTLS (submission). msmtp with the other mode on them waits for a
# greeting that never comes, or sends a TLS hello to a plain-text server.
SMTP_PORTS = {"tls": 465, "starttls": 587}


def _smtp_port(values: dict, bad: set[str]) -> list[str]:
    """Sets alert_smtp_port, when unset, to its TLS mode's port (SMTP_PORTS; 587 for none), and
    refuses a port given with the other mode's."""
    tls, port = values["alert_smtp_tls"], values["alert_smtp_port"]
    if port is None:
        if "alert_smtp_port" not in bad:
            values["alert_smtp_port"] = SMTP_PORTS.get(tls, 587)
        return []
    other = next((mode for mode, fixed in SMTP_PORTS.items() if fixed == port), None)
    if tls not in SMTP_PORTS or other in (None, tls):
        return []
    what = (
        "the submission port, where a relay speaks plain SMTP before STARTTLS"
        if other == "starttls"
        else "for TLS from the first byte"
    )
    return [
        f"alert_smtp_port = {port} with alert_smtp_tls = {tls!r}: port {port} is {what}; use "
        f"alert_smtp_tls: {other}, or leave alert_smtp_port out ({SMTP_PORTS[tls]} with {tls})"
    ]
