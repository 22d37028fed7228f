"""Debian 12's Netdata 1.37.1 for the alert tests (tests/unit/test_alert_notifications.py,
tests/unit/test_alarms_raised.py): its packages extracted (never installed) under
~/.cache/llm-appliance/netdata-1.37, a local SMTP relay (aiosmtpd, STARTTLS and a login), a
local webhook, and the files the appliance renders for the parent (health_alarm_notify.conf,
msmtprc, the alert Secret's keys) put where 1.37's alarm-notify.sh and msmtp read them.
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
from operations.settings import Settings, load

CACHE = Path.home() / ".cache/llm-appliance/netdata-1.37"
ROOT = CACHE / "root"
# netdata-core: the daemon (/usr/sbin/netdata) and the stock health_alarm_notify.conf; libuv1 and
# libjson-c5: the daemon's libraries a bare Debian 12 lacks (the others: libc, zlib, OpenSSL,
# liblz4, libuuid); msmtp and its libraries.
PACKAGES = (
    "netdata-plugins-bash",
    "netdata-core",
    "libuv1",
    "libjson-c5",
    "msmtp",
    "libgsasl18",
    "libsecret-1-0",
    "libidn12",
    "libntlm0",
    "libgssglue1",
)
ALARM_NOTIFY = ROOT / "usr/lib/netdata/plugins.d/alarm-notify.sh"
PASSWORD = "s3cret-smtp-pass"
TOKEN = "hook-token-42"


@pytest.fixture(scope="module")
def netdata_137():
    """Debian 12's Netdata 1.37.1 (the daemon, alarm-notify.sh) and msmtp 1.8.23, extracted (not
    installed) under ROOT; fetched again when PACKAGES changed (the list is kept in a file)."""
    listed = CACHE / "packages"
    if not listed.is_file() or listed.read_text().split() != list(PACKAGES):
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["apt-get", "download", *PACKAGES], cwd=CACHE, check=True, capture_output=True
        )
        for deb in CACHE.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(ROOT)], check=True)
        listed.write_text(" ".join(PACKAGES))
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def smtp(tmp_path):
    """(read the messages, port) of a running aiosmtpd."""
    port, messages = free_port(), tmp_path / "mail.jsonl"
    cert, key = tmp_path / "relay.crt", tmp_path / "relay.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SMTP_SERVER,
            str(port),
            str(messages),
            PASSWORD,
            str(cert),
            str(key),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout.readline().strip() == "ready"

    def read():
        return (
            [json.loads(line) for line in messages.read_text().splitlines()]
            if messages.exists()
            else []
        )

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


def route_files(
    tmp_path: Path, smtp_port: int, hook_port: int, **more
) -> tuple[Settings, dict[str, str]]:
    """Render the appliance's files for a relay and a webhook on 127.0.0.1 (and the settings in
    `more`) and put them where 1.37's alarm-notify.sh and msmtp read them: health_alarm_notify.conf
    and msmtprc in tmp_path/etc, the Secret's keys in tmp_path/secret, an `msmtp` reading that
    msmtprc first on PATH in tmp_path/bin. Returns the settings and the environment alarm-notify.sh
    runs in."""
    secrets_file = tmp_path / "alert-secrets.env"
    secrets_file.write_text(
        f"SMTP_PASSWORD='{PASSWORD}'\nWEBHOOK_TOKEN='{TOKEN}'\n"
        f"SLACK_WEBHOOK_URL='http://127.0.0.1:{hook_port}/slack'\n"
    )
    settings = load(
        {
            "webui_domain": "chat.example.com",
            "monitor_domain": "monitor.example.com",
            "acme_ca": "none",
            "webui_admin_email": "admin@example.com",
            "alert_email_to": ["ops@example.com", "oncall@example.com"],
            "alert_email_from": "netdata@example.com",
            "alert_smtp_host": "127.0.0.1",
            "alert_smtp_port": smtp_port,
            "alert_smtp_tls": "starttls",
            "alert_smtp_user": "alerts",
            "alert_webhook_url": f"http://127.0.0.1:{hook_port}/netdata",
            "alert_secrets_file": str(secrets_file),
            **more,
        }
    )
    # The Secret as the pod mounts it: one file per key of secret_env.
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir(exist_ok=True)
    for line in alerts.secret_env(settings).splitlines():
        key, _, value = line.partition("=")
        (secret_dir / key).write_text(value)
    etc = tmp_path / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "health_alarm_notify.conf").write_text(
        alerts.health_alarm_notify_conf(settings).replace(alerts.SECRET_DIR, str(secret_dir))
    )
    # The relay's certificate is the test's own: trusted by one line more (in the image, msmtp
    # trusts the system's CAs).
    (etc / "msmtprc").write_text(
        alerts.msmtprc(settings).replace(alerts.SECRET_DIR, str(secret_dir))
        + f"tls_trust_file {tmp_path / 'relay.crt'}\n"
    )
    (etc / "msmtprc").chmod(0o600)
    # msmtp reads /etc/msmtprc in the image; here the same file through --file.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "msmtp").write_text(
        f'#!/bin/sh\nexec {ROOT}/usr/bin/msmtp --file={etc}/msmtprc "$@"\n'
    )
    (bin_dir / "msmtp").chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LD_LIBRARY_PATH": str(ROOT / "usr/lib/x86_64-linux-gnu"),
        "NETDATA_USER_CONFIG_DIR": str(etc),
        "NETDATA_STOCK_CONFIG_DIR": str(ROOT / "usr/lib/netdata/conf.d"),
        "NETDATA_CACHE_DIR": str(tmp_path),
        "NETDATA_REGISTRY_URL": "http://127.0.0.1:9",
    }
    return settings, env
