"""Open WebUI: values for the open-webui/helm-charts chart. One replica, no bundled Ollama,
pipelines or Redis; database, secret key and first admin from Secrets; RAG in pgvector with
embeddings from Ollama; nothing fetched from or sent to the internet.

    webui_values(settings)    # the chart's values
    signin_ingress(settings)  # the sign-in's own route, rate-limited
"""

from __future__ import annotations

from operations import middlewares
from operations.components import OLLAMA, OPEN_WEBUI
from operations.names import NAMESPACE, POSTGRES_APP_SECRET, WEBUI_SECRETS
from operations.pins import PINNED_VERSIONS
from operations.rendering import HELM_KEEP, NO_CAPABILITIES
from operations.settings import Settings
from operations.webui_env import SecretKey

# How long a sign-in lasts (Open WebUI's duration syntax, utils/misc.py parse_duration).
SESSION_LIFETIME = "7d"
# Open WebUI's request is the most resident memory read in tests/realapps, after start or after
# the scenarios (0.12.4: 783 to 792 MiB after 25 starts, at most 798 after a chat and a document),
# with 18 MiB beside it; its limit that reading with room for documents being processed. About
# 600 MiB of it is the heap: torch loads at every start whatever RAG_EMBEDDING_ENGINE says
# (routers/retrieval.py imports langchain_text_splitters 1.1.2, whose sentence_transformers.py
# imports sentence_transformers 5.5.1, which imports torch; transformers 5.5.4's tokenizer base,
# which its base.py imports, does not: read in the 0.12.4 wheel's environment with sys.modules;
# transformers 5 has no USE_TORCH switch), and glibc's MALLOC_ARENA_MAX=2 changed
# nothing measurable (783/791 MiB against 783/792).
RESOURCES = {
    "open-webui": {"requests": {"cpu": "200m", "memory": "816Mi"}, "limits": {"memory": "1280Mi"}},
    "open-webui-copy-app-data": {
        "requests": {"cpu": "10m", "memory": "32Mi"},
        "limits": {"memory": "128Mi"},
    },
}


def _secret_env(name: str, secret: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _router_annotations(settings: Settings, *middleware_names: str) -> dict:
    """Traefik's router annotations of an Ingress to Open WebUI: HTTPS only, the
    `letsencrypt` resolver's certificate, and the Middlewares of namespace llm, in order."""
    annotations = {
        "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
        "traefik.ingress.kubernetes.io/router.tls": "true",
        "traefik.ingress.kubernetes.io/router.middlewares": ",".join(
            middlewares.reference(NAMESPACE, name) for name in middleware_names
        ),
    }
    if settings.acme_ca != "none":
        annotations["traefik.ingress.kubernetes.io/router.tls.certresolver"] = "letsencrypt"
    return annotations


def signin_ingress(settings: Settings) -> dict:
    """An Ingress of Open WebUI's sign-in path alone (pathType Exact, Traefik's `Path` rule),
    through the security headers and the sign-in rate limit. The chart's Ingress takes every
    other path; Traefik tries the longer rule first (its default priority is the rule's length,
    traefik v3.7.9 pkg/server/router/router.go), so sign-ins take this one."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "open-webui-signin",
            "namespace": NAMESPACE,
            "annotations": _router_annotations(
                settings, middlewares.SECURITY_HEADERS, middlewares.SIGNIN_RATE_LIMIT
            ),
        },
        "spec": {
            "ingressClassName": "traefik",
            "rules": [
                {
                    "host": settings.webui_domain,
                    "http": {
                        "paths": [
                            {
                                "path": middlewares.SIGNIN_PATH,
                                "pathType": "Exact",
                                "backend": {
                                    "service": {
                                        "name": OPEN_WEBUI.service,
                                        "port": {"number": OPEN_WEBUI.port},
                                    }
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }


def _env(name: str, value: str | SecretKey) -> dict:
    if isinstance(value, SecretKey):
        return _secret_env(name, value.secret, value.key)
    return {"name": name, "value": value}


def sso_environment(settings: Settings) -> list[dict]:
    """Open WebUI 0.12.4's OpenID Connect client, from the `oidc` setting; [] without it.
    Read in open_webui/config.py (0.12.4): the `oidc` provider is registered
    when OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET and OPENID_PROVIDER_URL are set (authlib's
    `server_metadata_url`, `redirect_uri=OPENID_REDIRECT_URI`); ENABLE_OAUTH defaults to True.
    utils/oauth.py (0.12.4) OAuthManager: handle_login sends the provider
    server_metadata['redirect_uri'] (else a URL built from each request's Host: the URI to
    register would depend on the name a browser used); handle_callback refuses an e-mail
    whose domain is not in OAUTH_ALLOWED_DOMAINS ('*': any), makes a new user only with
    ENABLE_OAUTH_SIGNUP, with the role of get_user_role (DEFAULT_USER_ROLE without role management), and with
    OAUTH_MERGE_ACCOUNTS_BY_EMAIL takes over the existing account of the same e-mail (so the
    first admin signs in through the provider and stays admin). routers/auths.py: signin
    answers 403 without ENABLE_PASSWORD_AUTH; main.py: ENABLE_LOGIN_FORM is /api/config's
    features.enable_login_form, which the sign-in page reads. The oauth.*
    values are read from the environment at every start: ENABLE_OAUTH_PERSISTENT_CONFIG
    defaults to False (models/config.py Config.persistent_enabled_for)."""
    sso = settings.oidc
    if sso is None:
        return []
    password = str(sso.password_login)
    return [
        {"name": "OPENID_PROVIDER_URL", "value": sso.provider},
        {"name": "OAUTH_CLIENT_ID", "value": sso.client_id},
        _env("OAUTH_CLIENT_SECRET", sso.client_secret),
        {
            "name": "OPENID_REDIRECT_URI",
            "value": f"https://{settings.webui_domain}/oauth/oidc/callback",
        },
        {"name": "OAUTH_ALLOWED_DOMAINS", "value": ",".join(sso.allowed_domains) or "*"},
        {"name": "ENABLE_OAUTH_SIGNUP", "value": "True"},
        {"name": "OAUTH_MERGE_ACCOUNTS_BY_EMAIL", "value": "True"},
        {"name": "ENABLE_LOGIN_FORM", "value": password},
        {"name": "ENABLE_PASSWORD_AUTH", "value": password},
    ]


def secrets_named(settings: Settings) -> list[tuple[str, str]]:
    """The operator's Secrets Open WebUI's environment refers to, as (setting, Secret name):
    ``[("oidc client_secret", "sso")]``; each must exist in the namespace before the pod
    starts (a missing one holds it in CreateContainerConfigError)."""
    named = [
        (f"webui_settings {name}", value.secret)
        for name, value in settings.webui_settings.items()
        if isinstance(value, SecretKey)
    ]
    if settings.oidc:
        named.append(("oidc client_secret", settings.oidc.client_secret.secret))
    return named


def webui_values(settings: Settings) -> dict:
    """Values for open-webui/helm-charts: one replica with no bundled Ollama, pipelines or
    Redis; database, secret key and first admin from Secrets; RAG in pgvector with embeddings
    from Ollama; nothing fetched from or sent to the internet."""
    health = {"httpGet": {"path": "/health", "port": "http"}}
    environment = [
        # The deploy's values win at every start: Open WebUI otherwise keeps the values of its
        # first start in its `config` table and ignores later ones (README: "What a deploy
        # sets in Open WebUI").
        {"name": "ENABLE_PERSISTENT_CONFIG", "value": "False"},
        {"name": "WEBUI_URL", "value": f"https://{settings.webui_domain}"},
        _secret_env("DATABASE_URL", POSTGRES_APP_SECRET, "uri"),
        _secret_env("WEBUI_SECRET_KEY", WEBUI_SECRETS, "secret-key"),
        {"name": "WEBUI_ADMIN_EMAIL", "value": settings.admin_email},
        _secret_env("WEBUI_ADMIN_PASSWORD", WEBUI_SECRETS, "admin-password"),
        {"name": "WEBUI_ADMIN_NAME", "value": "Administrator"},
        {"name": "ENABLE_SIGNUP", "value": str(settings.webui_signup)},
        {"name": "DEFAULT_USER_ROLE", "value": settings.webui_new_user_role},
        {"name": "VECTOR_DB", "value": "pgvector"},
        # Created at bootstrap by the superuser (postgres_cluster).
        {"name": "PGVECTOR_CREATE_EXTENSION", "value": "false"},
        {"name": "RAG_EMBEDDING_ENGINE", "value": "ollama"},
        {"name": "RAG_EMBEDDING_MODEL", "value": settings.webui_embedding_model},
        {"name": "RAG_OLLAMA_BASE_URL", "value": OLLAMA.url},
        {"name": "OFFLINE_MODE", "value": "true"},
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        {"name": "ENABLE_VERSION_UPDATE_CHECK", "value": "False"},
        {"name": "ENABLE_COMMUNITY_SHARING", "value": "False"},
        {"name": "SCARF_NO_ANALYTICS", "value": "true"},
        {"name": "DO_NOT_TRACK", "value": "true"},
        {"name": "ANONYMIZED_TELEMETRY", "value": "false"},
        # The web face (Open WebUI 0.12.4). CORS: only the appliance's own origin may read
        # answers with the user's credentials; the default `*` lets any website do so, since
        # the app runs CORSMiddleware with allow_credentials=True (config.py CORS_ALLOW_ORIGIN,
        # main.py). Cookies: sent over HTTPS only (Traefik terminates TLS, so the browser
        # always speaks HTTPS) and not on cross-site subrequests or form posts; `lax`, not
        # `strict`, so that following a link to the appliance from mail or chat still arrives
        # signed in. The session cookie's variables are the defaults of the sign-in cookie's
        # (env.py WEBUI_SESSION_COOKIE_*, WEBUI_AUTH_COOKIE_*; the sign-in cookie `token` is
        # set in utils/auth.py create_signin_response); both are set, so neither hangs on that
        # fallback. Sessions: a signed token lasts 7 days instead of 4 weeks (config.py
        # JWT_EXPIRES_IN, `auth.jwt_expiry`), so a stolen one is good for a week at most.
        {"name": "CORS_ALLOW_ORIGIN", "value": f"https://{settings.webui_domain}"},
        {"name": "WEBUI_SESSION_COOKIE_SECURE", "value": "true"},
        {"name": "WEBUI_SESSION_COOKIE_SAME_SITE", "value": "lax"},
        {"name": "WEBUI_AUTH_COOKIE_SECURE", "value": "true"},
        {"name": "WEBUI_AUTH_COOKIE_SAME_SITE", "value": "lax"},
        {"name": "JWT_EXPIRES_IN", "value": SESSION_LIFETIME},
        *sso_environment(settings),
        # Last: the operator's own (operations/webui_env.py refuses every name above).
        *(_env(name, value) for name, value in settings.webui_settings.items()),
    ]
    return {
        # The pinned release over the chart's appVersion: values.yaml `image.tag`, which
        # templates/_helpers.tpl `open-webui.tag` prefers to .Chart.AppVersion for both the
        # container and the copy-app-data init container (chart open-webui-16.0.0).
        "image": {"tag": PINNED_VERSIONS["open-webui app"]},
        "ollama": {"enabled": False},
        "pipelines": {"enabled": False},
        "tika": {"enabled": False},
        "terminals": {"enabled": False},
        # Socket.IO in memory: one replica needs no Redis.
        "websocket": {"enabled": True, "manager": "", "redis": {"enabled": False}},
        "replicaCount": 1,
        "workload": {"kind": OPEN_WEBUI.workload.kind},
        "strategy": {"type": "Recreate"},
        "ollamaUrls": [OLLAMA.url],
        "enableOpenaiApi": False,
        # Uploads and the data folder outlive the release (templates/pvc.yaml puts
        # persistence.annotations on the claim).
        "persistence": {"enabled": True, "size": "5Gi", "annotations": HELM_KEEP},
        "ingress": {
            "enabled": True,
            "class": "traefik",
            "host": settings.webui_domain,
            # TLS comes from Traefik's resolver (annotations), not from a certificate Secret.
            "tls": False,
            "annotations": _router_annotations(settings, middlewares.SECURITY_HEADERS),
        },
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 3},
        "readinessProbe": {**health, "periodSeconds": 10},
        "startupProbe": {**health, "periodSeconds": 5, "failureThreshold": 120},
        "resources": RESOURCES["open-webui"],
        # Both containers, Open WebUI's and copy-app-data (templates/workload-manager.yaml puts
        # containerSecurityContext on each).
        "containerSecurityContext": NO_CAPABILITIES,
        "copyAppData": {
            "command": ["sh", "-c", "cp -R -n /app/backend/data/. /tmp/app-data/"],
            "resources": RESOURCES["open-webui-copy-app-data"],
        },
        "extraEnvVars": environment,
    }
