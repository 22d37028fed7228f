"""Open WebUI's own environment variables, kept in the inventory: the `webui_settings` setting.

Open WebUI 0.12.4 reads its settings from environment variables (most in open_webui/config.py
and env.py, `NAME = os.getenv('NAME', default)`, a few where they are used, such as
utils/mfa.py's MFA_ENCRYPTION_KEY). Which names it reads is recorded from every module of the
package in open_webui_variables.json (tests/record_webui_variables.py; tests/realapps checks the
record against the installed package), so that a name it does not read is refused, with the
closest one, instead of being ignored in silence. Names the appliance sets itself are refused,
naming the setting to use (`MANAGED`). A secret is given by reference to a Kubernetes Secret
in the appliance's namespace, which the operator makes on the server (README "Inside an
organisation"); its value never passes through the inventory, pyinfra or the manifests.

    webui_settings({"DEFAULT_MODELS": "llama3.2:3b",
                    "BING_SEARCH_V7_SUBSCRIPTION_KEY": {"secret": "search", "key": "bing"}})
    # {'DEFAULT_MODELS': 'llama3.2:3b', 'BING_SEARCH_V7_SUBSCRIPTION_KEY': SecretKey('search', 'bing')}
"""

from __future__ import annotations

import difflib
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from operations.errors import Invalid

RECORD = json.loads((Path(__file__).with_name("open_webui_variables.json")).read_text())
# Every variable the recorded release reads, e.g. "DEFAULT_MODELS".
VARIABLES = frozenset(RECORD["variables"])

_THE_INVENTORY_WINS = (
    "the appliance keeps it False, so that the inventory is what Open WebUI "
    "runs with at every start; keep lasting values in webui_settings"
)
_OLLAMA = "the appliance's Ollama (ollama_models, webui_embedding_model)"
_OFFLINE = "the appliance sends nothing to the internet"
_WEB_FACE = "the appliance's hardened sessions and cookies (README: Open WebUI's web face)"
_OIDC_ON = "on whenever oidc is set"
# Open WebUI's own security headers (utils/security_headers.py): Traefik's security-headers
# Middleware sets the same headers over the backend's (unrolled/secure v1.0.9, the one Traefik
# v3.7.9 vendors, ModifyResponseHeaders: Header.Set), HSTS only with acme_ca production.
_HEADERS = "Traefik's security-headers Middleware sets this header (operations/middlewares.py)"
# Variables the appliance sets itself (operations/webui.py, the chart's own), each with the
# setting that sets it or why it is fixed: a webui_settings entry would fight the deploy.
MANAGED = MappingProxyType(
    {
        "ENABLE_PERSISTENT_CONFIG": _THE_INVENTORY_WINS,
        "ENABLE_OAUTH_PERSISTENT_CONFIG": _THE_INVENTORY_WINS,
        "WEBUI_URL": "use the setting webui_domain",
        "CORS_ALLOW_ORIGIN": "use the setting webui_domain",
        "DATABASE_URL": "the appliance's PostgreSQL (Secret postgres-app)",
        "DATA_DIR": "the appliance's data volume",
        "WEBUI_SECRET_KEY": "generated once on the server (Secret open-webui-secrets)",
        "WEBUI_ADMIN_EMAIL": "use the setting webui_admin_email",
        "WEBUI_ADMIN_PASSWORD": "generated once on the server (`appliance admin-password`)",
        "WEBUI_ADMIN_NAME": "the first admin's fixed name",
        "ENABLE_SIGNUP": "use the setting webui_signup",
        "DEFAULT_USER_ROLE": "use the setting webui_new_user_role",
        "VECTOR_DB": "the appliance's PostgreSQL with pgvector",
        "PGVECTOR_CREATE_EXTENSION": "the appliance's PostgreSQL with pgvector",
        "RAG_EMBEDDING_ENGINE": _OLLAMA,
        "RAG_EMBEDDING_MODEL": "use the setting webui_embedding_model",
        "RAG_OLLAMA_BASE_URL": _OLLAMA,
        "OLLAMA_BASE_URL": _OLLAMA,
        "OLLAMA_BASE_URLS": _OLLAMA,
        "ENABLE_OLLAMA_API": _OLLAMA,
        "ENABLE_OPENAI_API": _OLLAMA,
        "OFFLINE_MODE": _OFFLINE,
        "ENABLE_VERSION_UPDATE_CHECK": _OFFLINE,
        "ENABLE_COMMUNITY_SHARING": _OFFLINE,
        "ENABLE_WEBSOCKET_SUPPORT": "one replica with Socket.IO in memory",
        "WEBSOCKET_MANAGER": "one replica with Socket.IO in memory",
        "WEBUI_SESSION_COOKIE_SECURE": _WEB_FACE,
        "WEBUI_SESSION_COOKIE_SAME_SITE": _WEB_FACE,
        "WEBUI_AUTH_COOKIE_SECURE": _WEB_FACE,
        "WEBUI_AUTH_COOKIE_SAME_SITE": _WEB_FACE,
        "JWT_EXPIRES_IN": _WEB_FACE,
        "OPENID_PROVIDER_URL": "use the setting oidc (its provider)",
        "OAUTH_CLIENT_ID": "use the setting oidc (its client_id)",
        "OAUTH_CLIENT_SECRET": "use the setting oidc (its client_secret)",
        "OAUTH_ALLOWED_DOMAINS": "use the setting oidc (its allowed_domains)",
        "ENABLE_LOGIN_FORM": "use the setting oidc (its password_login)",
        "ENABLE_PASSWORD_AUTH": "use the setting oidc (its password_login)",
        "OPENID_REDIRECT_URI": "https://webui_domain/oauth/oidc/callback, from the setting webui_domain",
        "ENABLE_OAUTH_SIGNUP": _OIDC_ON,
        "OAUTH_MERGE_ACCOUNTS_BY_EMAIL": _OIDC_ON,
        "HSTS": _HEADERS,
        "XFRAME_OPTIONS": _HEADERS,
        "CONTENT_SECURITY_POLICY": _HEADERS,
        "REFERRER_POLICY": _HEADERS,
        "XCONTENT_TYPE": _HEADERS,
    }
)
# A Secret's name (a DNS subdomain) and a key of its data, as Kubernetes validates them.
SECRET_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SECRET_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")
SECRET_EXAMPLE = '{"secret": "sso", "key": "client-secret"}'


@dataclass(frozen=True)
class SecretKey:
    """One key of a Secret in the appliance's namespace, e.g. SecretKey('sso', 'client-secret')."""

    secret: str
    key: str


@dataclass(frozen=True)
class Oidc:
    """Single sign-on through an OpenID Connect provider (the `oidc` setting, parsed):
    Oidc('https://login.example.com/.well-known/openid-configuration', 'appliance',
    SecretKey('sso', 'client-secret'), ('example.com',), True)."""

    provider: str  # the discovery document's URL (discovery_url)
    client_id: str
    client_secret: SecretKey
    allowed_domains: tuple[str, ...]  # () for any
    password_login: bool


def secret_key(value: Any) -> SecretKey:
    """A reference {"secret": NAME, "key": KEY}, as written in the inventory, or Invalid."""
    if not isinstance(value, Mapping) or set(value) != {"secret", "key"}:
        raise Invalid(f"is not a Secret reference; write {SECRET_EXAMPLE}")
    name, key = value["secret"], value["key"]
    if not isinstance(name, str) or len(name) > 253 or not SECRET_NAME_RE.match(name):
        raise Invalid(
            f"names the Secret {name!r}, which is not a Kubernetes name; use lower-case "
            "letters, digits and '-', e.g. sso"
        )
    if not isinstance(key, str) or not SECRET_KEY_RE.match(key):
        raise Invalid(
            f"names the key {key!r}, which is not a Secret key; use letters, digits, "
            "'-', '_' or '.', e.g. client-secret"
        )
    return SecretKey(name, key)


def _value(name: str, value: Any) -> str | SecretKey:
    if isinstance(value, bool):  # Open WebUI reads booleans as `.lower() == 'true'`
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, Mapping):
        try:
            return secret_key(value)
        except Invalid as error:
            raise Invalid(f"gives {name} a value that {error}") from None
    # The type as the inventory's JSON or Python writes it, not Python's name (NoneType).
    shown = "no value (null)" if value is None else f"a {type(value).__name__}"
    raise Invalid(
        f"gives {name} {shown}; give a string, number or true/false "
        f"(JSON as a string where Open WebUI reads JSON), or a Secret {SECRET_EXAMPLE}"
    )


def webui_settings(value: Any) -> Mapping[str, str | SecretKey]:
    """The `webui_settings` mapping, checked: NAME -> value as Open WebUI reads it (a string) or
    a SecretKey. Raises Invalid, one reason per name, for every name the pinned release does
    not read (with the closest one), the appliance sets (with the setting to use) or gives a
    value of another shape."""
    if not isinstance(value, Mapping):
        raise Invalid(
            'must map Open WebUI variables to values, e.g. {"DEFAULT_MODELS": "llama3.2:3b"}'
        )
    checked, wrong = {}, []
    for name, item in value.items():
        if not str(name).strip():
            wrong.append(
                "has an empty name; give each value the name of an Open WebUI variable, "
                "e.g. DEFAULT_MODELS"
            )
        elif name in MANAGED:
            wrong.append(f"sets {name}, which the appliance sets itself: {MANAGED[name]}")
        elif name not in VARIABLES:
            # 0.8: a typo (DEFAULT_MODEL for DEFAULT_MODELS), not another program's name (at
            # 0.6, SMTP_PASSWORD, which 0.12.4 does not read, would be offered YACY_PASSWORD).
            # Every name Open WebUI reads is upper case: default_models is matched as such.
            upper = str(name).upper()
            close = difflib.get_close_matches(upper, VARIABLES, n=1, cutoff=0.8)
            case = "" if upper == str(name) else " (names are upper case)"
            hint = (
                f"did you mean {close[0]}?{case}"
                if close
                else "see open_webui/config.py and env.py of that release"
            )
            wrong.append(
                f"sets {name}, which Open WebUI {RECORD['open_webui']} does not read; {hint}"
            )
        else:
            try:
                checked[name] = _value(name, item)
            except Invalid as error:
                wrong.append(str(error))
    if wrong:
        raise Invalid(*wrong)
    return MappingProxyType(checked)


# OpenID Connect discovery (OpenID Connect Discovery 1.0, section 4): where a provider
# describes itself. Open WebUI 0.12.4 hands OPENID_PROVIDER_URL to authlib as
# `server_metadata_url` (config.py, oidc_oauth_register), so it must name this document.
DISCOVERY_PATH = "/.well-known/openid-configuration"


def discovery_url(value: Any) -> str:
    """The provider's discovery document, from its issuer URL or that document's URL:
    ``discovery_url("https://login.example.com/realms/staff")`` gives
    'https://login.example.com/realms/staff/.well-known/openid-configuration'."""
    text = value.strip() if isinstance(value, str) else ""
    parsed = urllib.parse.urlsplit(text)
    if (
        parsed.scheme not in ("https", "http")
        or not parsed.hostname
        or parsed.query
        or parsed.fragment
    ):
        raise Invalid(
            "is not the URL of an OpenID Connect provider; give its issuer URL, e.g. "
            "https://login.example.com/realms/staff"
        )
    return text if text.endswith(DISCOVERY_PATH) else text.rstrip("/") + DISCOVERY_PATH
