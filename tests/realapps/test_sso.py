"""Single sign-on (`oidc`) on the running Open WebUI (the pinned release, on PostgreSQL 18)
against a real OpenID Connect provider started here: oidc-provider-mock (PyPI; authlib's
authorization server), on loopback, with a registered client whose secret it checks. The
authorization-code flow is driven as a browser would, with requests: Open WebUI's login
redirects to the provider, the provider's sign-in form answers with a code for the redirect
URI, and Open WebUI's callback trades it for tokens and signs the user in.
"""

from __future__ import annotations

import dataclasses
import stat
import threading
import urllib.parse
from pathlib import Path

import pytest
import requests
import werkzeug.serving
from oidc_provider_mock import app as provider_app

from operations.apps import app_files
from operations.settings import load
from realapps import BASE_SETTINGS, POSTGRES_BIN

REDIRECT_URI = "https://chat.example.com/oauth/oidc/callback"
USERS = {
    "alice": "alice@example.com",
    "mallory": "mallory@elsewhere.example.net",
    "boss": "admin@example.com",
}


@dataclasses.dataclass
class Provider:
    url: str
    client_id: str
    client_secret: str


@pytest.fixture
def provider():
    """oidc-provider-mock on 127.0.0.1 that knows only clients registered with it (so it checks
    the client secret), one client registered for the appliance's redirect URI."""
    server = werkzeug.serving.make_server(
        "127.0.0.1", 0, provider_app(require_client_registration=True), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    client = requests.post(
        f"{url}/oauth2/clients", json={"redirect_uris": [REDIRECT_URI]}, timeout=30
    ).json()
    for sub, email in USERS.items():
        answer = requests.put(
            f"{url}/users/{sub}", json={"email": email, "name": sub.title()}, timeout=30
        )
        assert answer.status_code == 204, answer.text
    yield Provider(url, client["client_id"], client["client_secret"])
    server.shutdown()
    thread.join()


def sso_settings(provider: Provider) -> dict:
    return {
        "oidc": {
            "provider": provider.url,
            "client_id": provider.client_id,
            "client_secret": {"secret": "sso", "key": "client-secret"},
            "allowed_domains": ["example.com"],
            "password_login": False,
        },
        "webui_new_user_role": "user",
    }


def first_cookie(response: requests.Response, name: str) -> str | None:
    """A cookie's value from Set-Cookie (a Secure cookie, which requests keeps from http)."""
    for header in response.raw.headers.getlist("set-cookie"):
        first = header.split(";", 1)[0]
        if first.startswith(f"{name}="):
            return first.split("=", 1)[1]
    return None


def sso_sign_in(appliance, sub: str) -> tuple[str | None, str]:
    """The authorization-code flow for the provider's user `sub`: Open WebUI's session token
    (None when refused) and where its callback sends the browser."""
    login = requests.get(appliance.app.url("/oauth/oidc/login"), allow_redirects=False, timeout=60)
    assert login.status_code == 302, login.text
    session = first_cookie(login, "owui-session")
    authorize = login.headers["location"]
    code = requests.post(authorize, data={"sub": sub}, allow_redirects=False, timeout=60)
    assert code.status_code == 302, code.text
    back = urllib.parse.urlsplit(code.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI
    callback = requests.get(
        appliance.app.url(f"/oauth/oidc/callback?{back.query}"),
        headers={"Cookie": f"owui-session={session}"},
        allow_redirects=False,
        timeout=60,
    )
    assert callback.status_code in (302, 307), callback.text
    return first_cookie(callback, "token"), callback.headers["location"]


def who(appliance, token: str) -> tuple[str, str]:
    answer = appliance.call("GET", "/api/v1/auths/", token)
    assert answer.status_code == 200, answer.text
    return answer.json()["email"], answer.json()["role"]


def world_readable_files_holding(folder: Path, text: bytes) -> list[str]:
    return [
        str(path)
        for path in folder.rglob("*")
        if path.is_file()
        and not path.is_symlink()
        and path.stat().st_mode & stat.S_IROTH
        and text in path.read_bytes()
    ]


def command_lines_holding(text: bytes) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes():
                found.append(str(cmdline))
        except OSError:  # the process ended
            pass
    return found


def test_users_sign_in_through_the_provider_with_the_set_role_and_domain(appliance, provider):
    appliance.secrets = dataclasses.replace(
        appliance.secrets, operator={("sso", "client-secret"): provider.client_secret}
    )
    appliance.deploy(**sso_settings(provider))
    config = appliance.call("GET", "/api/config").json()
    assert config["oauth"]["providers"] == {"oidc": "SSO"}
    assert config["features"]["enable_login_form"] is False
    assert (
        appliance.sign_in("admin@example.com", appliance.secrets.admin_password).status_code == 403
    )

    token, landed = sso_sign_in(appliance, "alice")
    assert landed == "https://chat.example.com/auth"
    assert who(appliance, token) == ("alice@example.com", "user")
    # The first admin (webui_admin_email) signs in through the provider and stays admin.
    token, _ = sso_sign_in(appliance, "boss")
    assert who(appliance, token) == ("admin@example.com", "admin")
    # Outside the allowed domains: sent back to the sign-in page with an error, no session.
    token, landed = sso_sign_in(appliance, "mallory")
    assert token is None
    assert landed.startswith("https://chat.example.com/auth?error=")

    secret = provider.client_secret.encode()
    assert secret not in appliance.app.log_path.read_bytes()
    assert command_lines_holding(secret) == []
    assert world_readable_files_holding(appliance.home, secret) == []
    assert world_readable_files_holding(appliance.server.on_host(appliance.data_dir), secret) == []
    server = appliance.server
    dump = server.chroot(
        f"{POSTGRES_BIN}/pg_dump",
        "-h",
        str(server.folder / "socket"),
        "-p",
        str(server.port),
        "-U",
        "postgres",
        "openwebui",
        user="postgres",
    ).stdout
    assert "oidc" in dump and provider.client_secret not in dump  # nor in a backup
    # What the apps layer writes: the inventory holds the Secret's name, not its value.
    settings = load({**BASE_SETTINGS, **sso_settings(provider)})
    rendered = "".join(host_file.content for host_file in app_files(settings))
    assert "secretKeyRef" in rendered and provider.client_secret not in rendered + repr(settings)
