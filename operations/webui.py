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
from operations.rendering import HELM_KEEP
from operations.settings import PINNED_VERSIONS, Settings

# How long a sign-in lasts (Open WebUI's duration syntax, utils/misc.py parse_duration).
SESSION_LIFETIME = "7d"
# Open WebUI's request follows its resident memory after start (0.12.4: 785 to 792 MiB over
# 21 starts, tests/realapps), its limit the most read after the scenarios (798 MiB) with room
# for documents being processed.
RESOURCES = {
    "open-webui": {"requests": {"cpu": "200m", "memory": "832Mi"}, "limits": {"memory": "1280Mi"}},
    "open-webui-copy-app-data": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                 "limits": {"memory": "128Mi"}},
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
            middlewares.reference(NAMESPACE, name) for name in middleware_names),
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
        "metadata": {"name": "open-webui-signin", "namespace": NAMESPACE,
                     "annotations": _router_annotations(settings, middlewares.SECURITY_HEADERS,
                                                        middlewares.SIGNIN_RATE_LIMIT)},
        "spec": {
            "ingressClassName": "traefik",
            "rules": [{
                "host": settings.webui_domain,
                "http": {"paths": [{
                    "path": middlewares.SIGNIN_PATH,
                    "pathType": "Exact",
                    "backend": {"service": {"name": OPEN_WEBUI.service,
                                            "port": {"number": OPEN_WEBUI.port}}},
                }]},
            }],
        },
    }


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
        {"name": "DEFAULT_USER_ROLE", "value": "pending"},
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
        "copyAppData": {
            "command": ["sh", "-c", "cp -R -n /app/backend/data/. /tmp/app-data/"],
            "resources": RESOURCES["open-webui-copy-app-data"],
        },
        "extraEnvVars": environment,
    }
