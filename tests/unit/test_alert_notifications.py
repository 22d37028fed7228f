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

import json
import socket
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from operations import alerts
from operations.settings import load

CACHE = Path.home() / ".cache/llm-appliance/netdata-1.37"
ROOT = CACHE / "root"
PACKAGES = ("netdata-plugins-bash", "netdata-core", "msmtp", "libgsasl18", "libsecret-1-0",
            "libidn12", "libntlm0", "libgssglue1")
ALARM_NOTIFY = ROOT / "usr/lib/netdata/plugins.d/alarm-notify.sh"
PASSWORD = "s3cret-smtp-pass"
TOKEN = "hook-token-42"


@pytest.fixture(scope="module")
def netdata_137():
    """Debian 12's Netdata 1.37 alarm-notify.sh and msmtp 1.8.23, extracted (not installed)."""
    if not ALARM_NOTIFY.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", *PACKAGES], cwd=CACHE, check=True,
                       capture_output=True)
        for deb in CACHE.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(ROOT)], check=True)
    return ROOT


# aiosmtpd in a process of its own (the suite's gevent patches would reach its asyncio thread):
# STARTTLS with the certificate in argv[4] (key argv[5]), then the login alerts/PASSWORD; it
# writes each message it accepts as a JSON line to the file in argv[2].
SMTP_SERVER = """
import json, ssl, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

class Mailbox:
    async def handle_DATA(self, server, session, envelope):
        with open(sys.argv[2], "a") as out:
            out.write(json.dumps({"from": envelope.mail_from, "to": envelope.rcpt_tos,
                                  "content": envelope.content.decode(errors="replace")}) + "\\n")
        return "250 OK"

def login(server, session, envelope, mechanism, auth_data):
    return AuthResult(success=(auth_data.login, auth_data.password) == (b"alerts", sys.argv[3].encode()))

tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(sys.argv[4], sys.argv[5])
controller = Controller(Mailbox(), hostname="127.0.0.1", port=int(sys.argv[1]), authenticator=login,
                        tls_context=tls, require_starttls=True, auth_required=True)
controller.start()
print("ready", flush=True)
time.sleep(3600)
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def smtp(tmp_path):
    """(read the messages, port) of a running aiosmtpd."""
    port, messages = _free_port(), tmp_path / "mail.jsonl"
    cert, key = tmp_path / "relay.crt", tmp_path / "relay.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server = subprocess.Popen([sys.executable, "-c", SMTP_SERVER, str(port), str(messages), PASSWORD,
                               str(cert), str(key)], stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "ready"

    def read():
        return [json.loads(line) for line in messages.read_text().splitlines()] if messages.exists() else []

    yield read, port
    server.kill()
    server.wait()


@pytest.fixture()
def webhook():
    """A local webhook: keeps each POST's headers and JSON body; answers `status` (200). Posts
    to /slack (alarm-notify.sh's send_slack: a form field `payload` holding JSON) go to
    state["slack"]."""
    received, state = [], {"status": 200, "slack": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/slack":
                form = urllib.parse.parse_qs(body.decode())
                state["slack"].append(json.loads(form["payload"][0]))
            else:
                received.append((dict(self.headers), json.loads(body)))
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield received, state, server.server_address[1]
    server.shutdown()


def _run(tmp_path, smtp_port, hook_port, route=None, command=None):
    """Render the appliance's files for a relay and a webhook on 127.0.0.1, put them where
    1.37's alarm-notify.sh and msmtp read them, and run `alarm-notify.sh test`."""
    secrets_file = tmp_path / "alert-secrets.env"
    secrets_file.write_text(f"SMTP_PASSWORD='{PASSWORD}'\nWEBHOOK_TOKEN='{TOKEN}'\n"
                            f"SLACK_WEBHOOK_URL='http://127.0.0.1:{hook_port}/slack'\n")
    settings = load({
        "webui_domain": "chat.example.com", "monitor_domain": "monitor.example.com",
        "acme_ca": "none", "webui_admin_email": "admin@example.com",
        "alert_email_to": ["ops@example.com", "oncall@example.com"],
        "alert_email_from": "netdata@example.com", "alert_smtp_host": "127.0.0.1",
        "alert_smtp_port": smtp_port, "alert_smtp_tls": "starttls", "alert_smtp_user": "alerts",
        "alert_webhook_url": f"http://127.0.0.1:{hook_port}/netdata",
        "alert_secrets_file": str(secrets_file),
    })
    # The Secret as the pod mounts it: one file per key of secret_env.
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir(exist_ok=True)
    for line in alerts.secret_env(settings).splitlines():
        key, _, value = line.partition("=")
        (secret_dir / key).write_text(value)
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "health_alarm_notify.conf").write_text(
        alerts.health_alarm_notify_conf(settings).replace(alerts.SECRET_DIR, str(secret_dir)))
    # The relay's certificate is the test's own: trusted by one line more (in the image, msmtp
    # trusts the system's CAs).
    (etc / "msmtprc").write_text(alerts.msmtprc(settings).replace(alerts.SECRET_DIR, str(secret_dir))
                                 + f"tls_trust_file {tmp_path / 'relay.crt'}\n")
    (etc / "msmtprc").chmod(0o600)
    # msmtp reads /etc/msmtprc in the image; here the same file through --file.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "msmtp").write_text(
        f'#!/bin/sh\nexec {ROOT}/usr/bin/msmtp --file={etc}/msmtprc "$@"\n')
    (bin_dir / "msmtp").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path),
        "LD_LIBRARY_PATH": str(ROOT / "usr/lib/x86_64-linux-gnu"),
        "NETDATA_USER_CONFIG_DIR": str(etc),
        "NETDATA_STOCK_CONFIG_DIR": str(ROOT / "usr/lib/netdata/conf.d"),
        "NETDATA_CACHE_DIR": str(tmp_path), "NETDATA_REGISTRY_URL": "http://127.0.0.1:9",
    }
    if route:
        env[alerts.ROUTE_VARIABLE] = route
    if command:
        # `kubectl exec POD -- COMMAND` runs COMMAND in the pod: here, COMMAND itself.
        (bin_dir / "k3s").write_text('#!/bin/sh\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n')
        (bin_dir / "k3s").chmod(0o755)
        command = (command.replace(alerts.K3S_BINARY, str(bin_dir / "k3s"))
                   .replace(alerts.ALARM_NOTIFY, f"bash {ALARM_NOTIFY}"))
        return subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True,
                              timeout=120)
    return subprocess.run(["bash", str(ALARM_NOTIFY), "test"], env=env, capture_output=True,
                          text=True, timeout=40)


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
    result = _run(tmp_path, _free_port(), hook_port, route="email")
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
