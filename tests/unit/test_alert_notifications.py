"""The alert routes for real: Netdata's own alarm-notify.sh, run as `appliance alerts test` runs
it (`alarm-notify.sh test`), with the health_alarm_notify.conf and msmtprc the appliance
renders, against a local SMTP server (aiosmtpd, with a login) and a local webhook (the generic
one, and Slack's incoming webhook).

Netdata here is Debian 12's 1.37.1 (packages netdata-plugins-bash, netdata-core for the stock
health_alarm_notify.conf, msmtp and its libraries, fetched once with `apt-get download` into
~/.cache/llm-appliance/netdata-1.37); the chart runs v2.11.0. What 1.37 cannot show: ntfy
(1.37's alarm-notify.sh has no ntfy method), and 2.x's logging (systemd-cat-native instead of
stderr). The methods used here (email through sendmail -t, custom) read the same variables in
both (alarm-notify.sh.in at v2.11.0: send_email, send_custom).
"""

from __future__ import annotations

import subprocess

from netdata137 import ALARM_NOTIFY, PASSWORD, TOKEN, free_port, route_files
from operations import alerts


def _run(tmp_path, smtp_port, hook_port, route=None, command=None):
    """Run `alarm-notify.sh test` with the appliance's files (route_files), or `command` as the
    first server runs it."""
    _, env = route_files(tmp_path, smtp_port, hook_port)
    bin_dir = tmp_path / "bin"
    if route:
        env[alerts.ROUTE_VARIABLE] = route
    if command:
        # `kubectl exec POD -- COMMAND` runs COMMAND in the pod: here, COMMAND itself.
        (bin_dir / "k3s").write_text(
            '#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n'
        )
        (bin_dir / "k3s").chmod(0o755)
        command = command.replace(alerts.K3S_BINARY, str(bin_dir / "k3s")).replace(
            alerts.ALARM_NOTIFY, f"bash {ALARM_NOTIFY}"
        )
        return subprocess.run(
            ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120
        )
    return subprocess.run(
        ["bash", str(ALARM_NOTIFY), "test"], env=env, capture_output=True, text=True, timeout=40
    )


def test_every_route_answers_the_test(netdata_137, smtp, webhook, tmp_path):
    (mailbox, smtp_port), (received, state, hook_port) = smtp, webhook
    result = _run(tmp_path, smtp_port, hook_port)
    assert result.returncode == 0, result.stderr
    # Slack: its incoming webhook's JSON, without a channel (the webhook's own).
    assert len(state["slack"]) == 3 and "channel" not in state["slack"][0]
    assert "`test.chart`" in state["slack"][0]["text"]
    # alarm-notify.sh test sends WARNING, CRITICAL, CLEAR: three e-mails, three POSTs.
    messages = mailbox()
    assert [sorted(m["to"]) for m in messages] == [["oncall@example.com", "ops@example.com"]] * 3
    assert {m["from"] for m in messages} == {"netdata@example.com"}
    assert "test_alarm" in messages[0]["content"]
    assert [body["status"] for _, body in received] == ["WARNING", "CRITICAL", "CLEAR"]
    assert received[0][1]["alarm"] == "test_alarm"
    assert received[0][0]["Authorization"] == f"Bearer {TOKEN}"
    assert received[0][0]["Content-Type"] == "application/json"


def test_one_route_at_a_time(netdata_137, smtp, webhook, tmp_path):
    (mailbox, smtp_port), (received, state, hook_port) = smtp, webhook
    assert _run(tmp_path, smtp_port, hook_port, route="webhook").returncode == 0
    assert (len(mailbox()), len(received), len(state["slack"])) == (0, 3, 0)
    assert _run(tmp_path, smtp_port, hook_port, route="email").returncode == 0
    assert (len(mailbox()), len(received)) == (3, 3)


def test_a_route_that_does_not_answer_fails(netdata_137, smtp, webhook, tmp_path):
    (mailbox, smtp_port), (_, state, hook_port) = smtp, webhook
    state["status"] = 500
    assert _run(tmp_path, smtp_port, hook_port, route="webhook").returncode == 1
    # No relay listening: msmtp fails, so does the route. (A wrong password is not tried:
    # msmtp 1.8.23 then waits on aiosmtpd 1.4.6 past any timeout.)
    result = _run(tmp_path, free_port(), hook_port, route="email")
    assert result.returncode == 1
    assert mailbox() == []
    assert "failed to send email" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


def test_appliance_alerts_test_says_which_route_answered(netdata_137, smtp, webhook, tmp_path):
    """The command `appliance alerts test` runs on the server, with kubectl exec's pod being
    this machine: each route tried alone, its answer read from alarm-notify.sh's exit status."""
    (mailbox, smtp_port), (received, state, hook_port) = smtp, webhook
    state["status"] = 503
    command = alerts.test_command(("email", "webhook"))
    result = _run(tmp_path, smtp_port, hook_port, command=command)
    assert alerts.route_answers(result.stdout) == {"email": "answered", "webhook": "failed"}
    assert (len(mailbox()), len(received)) == (3, 3)
