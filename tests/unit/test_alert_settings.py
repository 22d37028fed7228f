"""The alert routes' settings (operations/settings_upkeep.py, operations/alerts.py): what the
parent's msmtprc says for them, and the refusals of settings that contradict each other."""

import pytest

from operations import alerts
from operations.local_files import read_alert_secrets
from operations.settings import SettingsError, load

EMAIL = {
    "alert_email_to": ["ops@example.com"],
    "alert_email_from": "appliance@example.com",
    "alert_smtp_host": "smtp.example.com",
}


def problems(base_data, **data):
    with pytest.raises(SettingsError) as error:
        load({**base_data, **data})
    return error.value.problems


def msmtp_lines(base_data, **data):
    """The msmtprc's port and TLS lines for these settings."""
    rendered = alerts.msmtprc(load({**base_data, **EMAIL, **data}))
    return [line for line in rendered.splitlines() if line.startswith(("port ", "tls"))]


@pytest.mark.parametrize(
    "data, lines",
    [
        ({}, ["port 587", "tls on", "tls_starttls on"]),
        ({"alert_smtp_tls": "starttls"}, ["port 587", "tls on", "tls_starttls on"]),
        ({"alert_smtp_tls": "tls"}, ["port 465", "tls on", "tls_starttls off"]),
        ({"alert_smtp_tls": "none"}, ["port 587", "tls off", "tls_starttls off"]),
        (
            {"alert_smtp_tls": "tls", "alert_smtp_port": 2465},
            ["port 2465", "tls on", "tls_starttls off"],
        ),
        (
            {"alert_smtp_tls": "starttls", "alert_smtp_port": 2525},
            ["port 2525", "tls on", "tls_starttls on"],
        ),
    ],
)
def test_the_port_follows_the_tls_mode_unless_set(base_data, data, lines):
    assert msmtp_lines(base_data, **data) == lines


@pytest.mark.parametrize(
    "tls, port, message",
    [
        (
            "tls",
            587,
            "alert_smtp_port = 587 with alert_smtp_tls = 'tls': port 587 is the submission "
            "port, where a relay speaks plain SMTP before STARTTLS; use alert_smtp_tls: "
            "starttls, or leave alert_smtp_port out (465 with tls)",
        ),
        (
            "starttls",
            465,
            "alert_smtp_port = 465 with alert_smtp_tls = 'starttls': port 465 is for TLS from "
            "the first byte; use alert_smtp_tls: tls, or leave alert_smtp_port out (587 with "
            "starttls)",
        ),
    ],
)
def test_a_port_that_contradicts_the_tls_mode_is_refused(base_data, tls, port, message):
    assert problems(base_data, **EMAIL, alert_smtp_tls=tls, alert_smtp_port=port) == [message]


@pytest.mark.parametrize(
    "line, value",
    [
        ("SMTP_PASSWORD='two words'", "two words"),
        ('SMTP_PASSWORD="two words"', "two words"),
        ("SMTP_PASSWORD='it'\\''s'", "it's"),
        ("SMTP_PASSWORD=bare", "bare"),
        ("SMTP_PASSWORD='$not # expanded'", "$not # expanded"),
        ('SMTP_PASSWORD="say \\"hi\\""', 'say "hi"'),
    ],
)
def test_secrets_are_read_as_a_shell_reads_them(tmp_path, line, value):
    secrets = tmp_path / "alert-secrets.env"
    secrets.write_text(f"# the relay\n{line}\n")
    assert read_alert_secrets(str(secrets)) == {"SMTP_PASSWORD": value}


@pytest.mark.parametrize(
    "line, reason",
    [
        (
            "SMTP_PASSWORD='topsecretvalue",
            "line 2: SMTP_PASSWORD's value is not one shell word (a quote left open, or a "
            "space outside quotes); write SMTP_PASSWORD='VALUE', a ' in it as '\\''",
        ),
        (
            "SMTP_PASSWORD=topsecret value",
            "line 2: SMTP_PASSWORD's value is not one shell word (a quote left open, or a "
            "space outside quotes); write SMTP_PASSWORD='VALUE', a ' in it as '\\''",
        ),
        (
            'SMTP_PASSWORD="topsecret$value"',
            "line 2: SMTP_PASSWORD's value has $ or ` outside single quotes (or ~ outside "
            "quotes), which a shell would expand; write SMTP_PASSWORD='VALUE'",
        ),
    ],
)
def test_a_line_a_shell_would_not_read_so_is_refused_without_its_value(
    base_data, tmp_path, line, reason
):
    secrets = tmp_path / "alert-secrets.env"
    secrets.write_text(f"# the relay\n{line}\n")
    (problem,) = problems(base_data, alert_secrets_file=str(secrets))
    assert problem == f"alert_secrets_file = {str(secrets)!r} {reason}"
    assert "topsecret" not in problem


def secrets_file(tmp_path, text):
    path = tmp_path / "alert-secrets.env"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "url, token, message",
    [
        (
            "alert_webhook_url",
            "WEBHOOK_TOKEN",
            "alert_webhook_url = 'http://hooks.example.com/appliance' with WEBHOOK_TOKEN in "
            "alert_secrets_file: the token would cross the network unencrypted; use "
            "https://hooks.example.com/appliance (http:// only to a loopback address or a "
            "Service in the cluster, NAME.NAMESPACE.svc)",
        ),
        (
            "alert_ntfy_url",
            "NTFY_ACCESS_TOKEN",
            "alert_ntfy_url = 'http://hooks.example.com/appliance' with NTFY_ACCESS_TOKEN in "
            "alert_secrets_file: the token would cross the network unencrypted; use "
            "https://hooks.example.com/appliance (http:// only to a loopback address or a "
            "Service in the cluster, NAME.NAMESPACE.svc)",
        ),
    ],
)
def test_a_token_over_plain_http_is_refused(base_data, tmp_path, url, token, message):
    secrets = secrets_file(tmp_path, f"{token}='not-a-real-token'\n")
    data = {url: "http://hooks.example.com/appliance", "alert_secrets_file": secrets}
    assert problems(base_data, **data) == [message]


@pytest.mark.parametrize(
    "url, token",
    [
        ("https://hooks.example.com/appliance", "WEBHOOK_TOKEN='t'\n"),
        ("http://hooks.example.com/appliance", ""),
        ("http://127.0.0.1:8080/netdata", "WEBHOOK_TOKEN='t'\n"),
        ("http://[::1]:8080/netdata", "WEBHOOK_TOKEN='t'\n"),
        ("http://localhost/netdata", "WEBHOOK_TOKEN='t'\n"),
        ("http://hooks.monitoring.svc/netdata", "WEBHOOK_TOKEN='t'\n"),
        ("http://hooks.monitoring.svc.cluster.local:8080/netdata", "WEBHOOK_TOKEN='t'\n"),
    ],
)
def test_a_token_over_http_that_stays_inside_is_accepted(base_data, tmp_path, url, token):
    data = {"alert_webhook_url": url, "alert_secrets_file": secrets_file(tmp_path, token)}
    assert load({**base_data, **data}).alert_webhook_url == url


@pytest.mark.parametrize(
    "url, refused",
    [
        ("http://hooks.slack.com/services/T0/B0/not-real", True),
        ("https://hooks.slack.com/services/T0/B0/not-real", False),
        # The tests' stand-in of Slack (tests/unit/test_alert_notifications.py) listens here.
        ("http://127.0.0.1:8080/services/T0/B0/not-real", False),
    ],
)
def test_slacks_webhook_url_is_refused_over_plain_http_off_the_host(tmp_path, url, refused):
    """The URL is Slack's secret, so the rule of the tokens over http applies to it."""
    path = secrets_file(tmp_path, f"SLACK_WEBHOOK_URL='{url}'\n")
    if refused:
        with pytest.raises(ValueError) as error:
            read_alert_secrets(path)
        assert str(error.value) == (
            "gives SLACK_WEBHOOK_URL a value that is not an https URL; use the incoming "
            "webhook's URL, https://hooks.slack.com/services/..."
        )
        assert "not-real" not in str(error.value)
    else:
        assert read_alert_secrets(path) == {"SLACK_WEBHOOK_URL": url}


def test_a_login_without_a_secrets_file_is_told_to_set_one(base_data):
    assert problems(base_data, **EMAIL, alert_smtp_user="bob") == [
        "alert_smtp_user = 'bob' has no password, and alert_secrets_file is not set; set "
        "alert_secrets_file to a file on this machine with the line SMTP_PASSWORD='...'"
    ]


def test_a_login_whose_secrets_file_lacks_the_password_is_told_to_add_it(base_data, tmp_path):
    secrets = tmp_path / "alert-secrets.env"
    secrets.write_text("WEBHOOK_TOKEN='t'\n")
    assert problems(base_data, **EMAIL, alert_smtp_user="bob", alert_secrets_file=str(secrets)) == [
        "alert_smtp_user = 'bob' has no password; put SMTP_PASSWORD='...' in "
        f"{str(secrets)!r}, the file alert_secrets_file names"
    ]


@pytest.mark.parametrize(
    "name, line",
    [
        (
            "alert_webhook_url",
            "alert_webhook_url = 'hooks.example.com/netdata' is not an http(s) URL; use one like "
            "https://hooks.example.com/netdata",
        ),
        (
            "alert_ntfy_url",
            "alert_ntfy_url = 'hooks.example.com/netdata' is not an http(s) URL; use one like "
            "https://ntfy.sh/my-appliance",
        ),
    ],
)
def test_a_url_that_is_not_one_is_shown_an_example_of_its_own_kind(base_data, name, line):
    assert problems(base_data, **{name: "hooks.example.com/netdata"}) == [line]


def test_what_an_e_mail_route_lacks_is_told_as_a_fix(base_data):
    assert problems(base_data, alert_email_to=["ops@example.com"]) == [
        "alert_email_from: missing while alert_email_to is set; set alert_email_from to the "
        "sender address, e.g. netdata@example.com",
        "alert_smtp_host: missing while alert_email_to is set; set alert_smtp_host to the SMTP "
        "relay's name or address, e.g. smtp.example.com",
    ]
