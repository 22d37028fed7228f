"""`webui_settings` and `oidc`: what is refused (one line naming the setting, the name and the
fix), what Open WebUI's container gets, and the Secrets the apps layer waits for. The running
app's side is in tests/realapps (test_webui_settings.py, test_sso.py)."""

from __future__ import annotations

import pytest

from operations.apps import missing_secret_problems
from operations.pins import PINNED_VERSIONS
from operations.policies import apps_policies
from operations.settings import SettingsError, load
from operations.webui import webui_values
from operations.webui_env import MANAGED, RECORD, VARIABLES, SecretKey
from record_webui_variables import read_names

SSO = {
    "provider": "https://login.example.com/realms/staff/",
    "client_id": "appliance",
    "client_secret": {"secret": "sso", "key": "client-secret"},
}
# The variables open-webui chart 16.0.0 sets itself for the appliance's values
# (templates/workload-manager.yaml at tag open-webui-16.0.0; tests/realapps chart_environment).
CHART_VARIABLES = {
    "WEBUI_URL",
    "OLLAMA_BASE_URLS",
    "ENABLE_OLLAMA_API",
    "ENABLE_OPENAI_API",
    "ENABLE_WEBSOCKET_SUPPORT",
    "WEBSOCKET_MANAGER",
}


@pytest.fixture(scope="session")
def refusal(base_data):
    def refusal(**settings) -> str:
        with pytest.raises(SettingsError) as refused:
            load({**base_data, **settings})
        return str(refused.value)

    return refusal


@pytest.fixture(scope="session")
def environment(base_data):
    def environment(**settings) -> list[dict]:
        return webui_values(load({**base_data, **settings}))["extraEnvVars"]

    return environment


def test_the_record_is_of_the_pinned_release():
    assert RECORD["open_webui"] == PINNED_VERSIONS["open-webui app"] == "0.12.4"
    assert RECORD["unread"] == []
    assert {"DEFAULT_MODELS", "OPENID_PROVIDER_URL", "ENABLE_PERSISTENT_CONFIG"} <= VARIABLES


def test_the_record_holds_names_read_outside_config_and_env(refusal, base_data):
    """Open WebUI 0.12.4 reads some settings where it uses them: utils/mfa.py
    MFA_ENCRYPTION_KEY, utils/automations.py AUTOMATION_POLL_INTERVAL, and
    utils/security_headers.py's names through a loop over its dict `header_setters`."""
    assert {"MFA_ENCRYPTION_KEY", "AUTOMATION_POLL_INTERVAL", "HSTS", "XFRAME_OPTIONS"} <= VARIABLES
    assert dict(
        load(
            {**base_data, "webui_settings": {"MFA_ENCRYPTION_KEY": {"secret": "mfa", "key": "key"}}}
        ).webui_settings
    ) == {"MFA_ENCRYPTION_KEY": SecretKey("mfa", "key")}
    assert refusal(webui_settings={"XFRAME_OPTIONS": "DENY"}) == (
        "webui_settings: sets XFRAME_OPTIONS, which the appliance sets itself: Traefik's "
        "security-headers Middleware sets this header (operations/middlewares.py)"
    )


def test_the_recorder_reads_literals_helpers_and_dict_key_loops():
    source = """import os
A = os.getenv('A', '1')
B = os.environ['B']
def _int_env(key, default):
    return int(os.environ.get(key, default))
C = _int_env('C', 3)
def headers():
    setters = {'D': str, 'E': str}
    for env_var, setter in setters.items():
        os.environ.get(env_var)
    os.getenv(f'F_{A}')
"""
    assert read_names(source) == ({"A", "B", "C", "D", "E"}, ["11: os.getenv(f'F_{A}')"])


def test_an_unknown_name_is_refused_with_the_closest_one(refusal):
    assert refusal(webui_settings={"DEFAULT_MODEL": "llama3.2:3b"}) == (
        "webui_settings: sets DEFAULT_MODEL, which Open WebUI 0.12.4 does not read; did you "
        "mean DEFAULT_MODELS?"
    )
    assert refusal(webui_settings={"SMTP_PASSWORD": "x"}) == (
        "webui_settings: sets SMTP_PASSWORD, which Open WebUI 0.12.4 does not read; see "
        "open_webui/config.py and env.py of that release"
    )


def test_a_name_the_appliance_sets_is_refused_naming_the_setting(refusal):
    assert refusal(webui_settings={"ENABLE_SIGNUP": True}) == (
        "webui_settings: sets ENABLE_SIGNUP, which the appliance sets itself: use the setting "
        "webui_signup"
    )
    assert refusal(webui_settings={"OAUTH_CLIENT_SECRET": "x"}) == (
        "webui_settings: sets OAUTH_CLIENT_SECRET, which the appliance sets itself: use the "
        "setting oidc (its client_secret)"
    )
    assert "keeps it False" in refusal(webui_settings={"ENABLE_PERSISTENT_CONFIG": True})


def test_every_bad_name_is_reported_in_one_run_one_line_each(refusal):
    assert refusal(
        webui_settings={
            "DEFAULT_MODEL": "llama3.2:3b",
            "DEFAULT_MODELS": "a:1",
            "ENABLE_SIGNUP": True,
            "RAG_FILE_MAX_SIZE": [20],
        }
    ).splitlines() == [
        "webui_settings: sets DEFAULT_MODEL, which Open WebUI 0.12.4 does not read; did you "
        "mean DEFAULT_MODELS?",
        "webui_settings: sets ENABLE_SIGNUP, which the appliance sets itself: use the setting "
        "webui_signup",
        "webui_settings: gives RAG_FILE_MAX_SIZE a list; give a string, number or true/false "
        "(JSON as a string where Open WebUI reads JSON), or a Secret "
        '{"secret": "sso", "key": "client-secret"}',
    ]


def test_every_variable_the_appliance_sets_is_managed(environment):
    """A variable the appliance sets that webui_settings would accept would fight the deploy."""
    rendered = {entry["name"] for entry in environment(oidc=SSO)} | CHART_VARIABLES
    assert sorted(name for name in rendered if name in VARIABLES and name not in MANAGED) == []
    assert sorted(name for name in MANAGED if name not in VARIABLES) == []


def test_values_and_secret_references_reach_the_container(environment):
    rendered = environment(
        webui_settings={
            "DEFAULT_MODELS": "llama3.2:3b",
            "ENABLE_MESSAGE_RATING": False,
            "RAG_FILE_MAX_SIZE": 20,
            "BRAVE_SEARCH_API_KEY": {"secret": "web-search", "key": "brave"},
        }
    )
    assert rendered[-4:] == [
        {"name": "DEFAULT_MODELS", "value": "llama3.2:3b"},
        {"name": "ENABLE_MESSAGE_RATING", "value": "false"},
        {"name": "RAG_FILE_MAX_SIZE", "value": "20"},
        {
            "name": "BRAVE_SEARCH_API_KEY",
            "valueFrom": {"secretKeyRef": {"name": "web-search", "key": "brave"}},
        },
    ]


def test_a_value_of_another_shape_is_refused(refusal):
    assert refusal(webui_settings={"DEFAULT_MODELS": ["a:1"]}) == (
        "webui_settings: gives DEFAULT_MODELS a list; give a string, number or true/false "
        "(JSON as a string where Open WebUI reads JSON), or a Secret "
        '{"secret": "sso", "key": "client-secret"}'
    )
    assert refusal(
        webui_settings={"BRAVE_SEARCH_API_KEY": {"secret": "Web Search", "key": "k"}}
    ) == (
        "webui_settings: gives BRAVE_SEARCH_API_KEY a value that names the Secret 'Web Search', "
        "which is not a Kubernetes name; use lower-case letters, digits and '-', e.g. sso"
    )


def test_oidc_reaches_the_container(environment):
    rendered = environment(
        oidc={
            **SSO,
            "allowed_domains": ["example.com", "Corp.Example.net"],
            "password_login": False,
        },
        webui_new_user_role="user",
    )
    assert {"name": "DEFAULT_USER_ROLE", "value": "user"} in rendered
    assert [
        entry
        for entry in rendered
        if entry["name"] in MANAGED
        and "OAUTH" in entry["name"]
        or entry["name"].startswith(("OPENID", "ENABLE_LOGIN", "ENABLE_PASSWORD"))
    ] == [
        {
            "name": "OPENID_PROVIDER_URL",
            "value": "https://login.example.com/realms/staff/.well-known/openid-configuration",
        },
        {"name": "OAUTH_CLIENT_ID", "value": "appliance"},
        {
            "name": "OAUTH_CLIENT_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "sso", "key": "client-secret"}},
        },
        {"name": "OPENID_REDIRECT_URI", "value": "https://chat.example.com/oauth/oidc/callback"},
        {"name": "OAUTH_ALLOWED_DOMAINS", "value": "example.com,corp.example.net"},
        {"name": "ENABLE_OAUTH_SIGNUP", "value": "True"},
        {"name": "OAUTH_MERGE_ACCOUNTS_BY_EMAIL", "value": "True"},
        {"name": "ENABLE_LOGIN_FORM", "value": "False"},
        {"name": "ENABLE_PASSWORD_AUTH", "value": "False"},
    ]
    assert {"name": "OAUTH_ALLOWED_DOMAINS", "value": "*"} in environment(oidc=SSO)
    assert not [entry for entry in environment() if "OAUTH" in entry["name"]]


def test_oidc_refusals_name_the_part_and_never_show_the_secret(refusal):
    assert refusal(oidc={"provider": "https://login.example.com"}) == (
        'oidc: lacks client_id, client_secret; give at least {"provider": '
        '"https://login.example.com/realms/staff", "client_id": "appliance", "client_secret": '
        '{"secret": "sso", "key": "client-secret"}}'
    )
    assert refusal(oidc={**SSO, "client_secret": "the-real-secret-value"}) == (
        'oidc: its client_secret is not a Secret reference; write {"secret": "sso", "key": '
        '"client-secret"}'
    )
    assert refusal(oidc={**SSO, "provider": "login.example.com"}) == (
        "oidc: its provider 'login.example.com' is not the URL of an OpenID Connect provider; "
        "give its issuer URL, e.g. https://login.example.com/realms/staff"
    )
    assert refusal(oidc={**SSO, "allowed_domain": "example.com"}) == (
        "oidc: has allowed_domain, which it does not take; its parts are provider, client_id, "
        "client_secret, allowed_domains, password_login"
    )


def test_open_webui_may_reach_the_provider_on_its_port_only_with_oidc(base_data):
    def egress_ports(**settings) -> list[int]:
        policy = next(
            p
            for p in apps_policies(load({**base_data, **settings}))
            if p["metadata"]["name"] == "open-webui"
        )
        return [port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]]

    assert egress_ports() == [11434, 5432]
    assert egress_ports(oidc=SSO) == [11434, 5432, 443]
    assert egress_ports(oidc={**SSO, "provider": "http://sso.corp.example.net:8080/"}) == [
        11434,
        5432,
        8080,
    ]


def test_the_apps_layer_needs_the_secrets_the_settings_name(base_data):
    settings = load(
        {
            **base_data,
            "oidc": SSO,
            "webui_settings": {"BRAVE_SEARCH_API_KEY": {"secret": "web-search", "key": "brave"}},
        }
    )
    read = {
        "objects": [
            {
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"namespace": "llm", "name": "web-search"},
            }
        ]
    }
    assert missing_secret_problems(settings, read) == [
        "oidc client_secret: the Secret llm/sso does not exist; make it on the server (the "
        "value on standard input): sudo k3s kubectl -n llm create secret generic sso "
        "--from-file=KEY=/dev/stdin"
    ]
    read["objects"].append(
        {"kind": "Secret", "type": "Opaque", "metadata": {"namespace": "llm", "name": "sso"}}
    )
    assert missing_secret_problems(settings, read) == []


def test_a_null_an_empty_name_and_a_lower_case_name_are_told_the_fix(refusal):
    assert refusal(webui_settings={"DEFAULT_MODELS": None}) == (
        "webui_settings: gives DEFAULT_MODELS no value (null); give a string, number or "
        "true/false (JSON as a string where Open WebUI reads JSON), or a Secret "
        '{"secret": "sso", "key": "client-secret"}'
    )
    assert refusal(webui_settings={"": "x"}) == (
        "webui_settings: has an empty name; give each value the name of an Open WebUI "
        "variable, e.g. DEFAULT_MODELS"
    )
    assert refusal(webui_settings={"default_models": "llama3.2:3b"}) == (
        "webui_settings: sets default_models, which Open WebUI 0.12.4 does not read; did you "
        "mean DEFAULT_MODELS? (names are upper case)"
    )
    assert refusal(webui_settings={"default_model": "llama3.2:3b"}) == (
        "webui_settings: sets default_model, which Open WebUI 0.12.4 does not read; did you "
        "mean DEFAULT_MODELS? (names are upper case)"
    )
