"""Traefik Middlewares of the public surface: security headers on every answer of Open WebUI
and Netdata, and a rate limit on Open WebUI's sign-in.

    security_headers(settings, namespace)  # Middleware `security-headers` in that namespace
    signin_rate_limit()                    # Middleware `signin-rate-limit` in namespace llm
    reference(namespace, name)             # how an Ingress annotation names a Middleware

Option names are Traefik's (traefik v3.7.9, the newest 3.7 tag readable here; the tests run
the 3.7.15 binary): pkg/config/dynamic/middlewares.go `Headers` and `RateLimit`.
"""

from __future__ import annotations

from operations.names import NAMESPACE
from operations.settings import Settings

SECURITY_HEADERS = "security-headers"
SIGNIN_RATE_LIMIT = "signin-rate-limit"
# Open WebUI 0.12.4's password sign-in: routers/auths.py `@router.post('/signin')`, the auths
# router mounted at /api/v1/auths (main.py `app.include_router(auths.router, ...)`).
SIGNIN_PATH = "/api/v1/auths/signin"
# One year, the usual HSTS max-age: browsers then never try plain HTTP for the name.
HSTS_SECONDS = 31536000
# Sign-in attempts Traefik passes to Open WebUI: `burst` at once, then AVERAGE per PERIOD.
SIGNIN_BURST = 5
SIGNIN_AVERAGE = 4
SIGNIN_PERIOD = "1m"


def reference(namespace: str, name: str) -> str:
    """A Middleware of the kubernetescrd provider as the Ingress annotation
    `traefik.ingress.kubernetes.io/router.middlewares` names it: NAMESPACE-NAME@kubernetescrd."""
    return f"{namespace}-{name}@kubernetescrd"


def _middleware(namespace: str, name: str, spec: dict) -> dict:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def security_headers(settings: Settings, namespace: str) -> dict:
    """The `headers` Middleware both web faces answer through (Traefik's secure headers:
    pkg/middlewares/headers/secure.go hands these options to unrolled/secure, which adds them
    to every answer, the backend's and Traefik's own 401 alike).

    HSTS only with Let's Encrypt's production CA: a browser refuses any click-through on a
    certificate error for an HSTS name, and staging's and Traefik's default certificates are
    errors (acme_ca staging, none). unrolled/secure sends it only on TLS requests, which are
    all the routers see (port 80 redirects before any router). No includeSubDomains or preload:
    the names below webui_domain are not the appliance's to promise.

    Framing: Open WebUI frames its own pages (0.12.4's frontend, HTMLToken.svelte, an iframe of
    /api/v1/files/ID/content/html), so same-origin only, not DENY: `frame-ancestors 'self'` for
    browsers that read CSP, X-Frame-Options SAMEORIGIN for those that do not. The CSP holds
    frame-ancestors alone: Open WebUI's pages run inline scripts and load models' HTML, which
    a script or style policy would break. Referrer: the full URL (a chat's id) goes to the
    appliance itself only, nothing to the sites that answers link to."""
    spec = {
        "contentTypeNosniff": True,
        "customFrameOptionsValue": "SAMEORIGIN",
        "contentSecurityPolicy": "frame-ancestors 'self'",
        "referrerPolicy": "same-origin",
    }
    if settings.acme_ca == "production":
        spec["stsSeconds"] = HSTS_SECONDS
    return _middleware(namespace, SECURITY_HEADERS, {"headers": spec})


def signin_rate_limit() -> dict:
    """The `rateLimit` Middleware of the sign-in route (webui.signin_ingress): SIGNIN_BURST
    attempts at once, then SIGNIN_AVERAGE per SIGNIN_PERIOD; beyond, Traefik answers 429 with
    Retry-After itself (pkg/middlewares/ratelimiter/rate_limiter.go ServeHTTP,
    serveDelayError), and Open WebUI never sees the attempt.

    Why this and not fail2ban on Traefik's access log: both count per client address, and the
    address Traefik sees may be everyone's. k3s's ServiceLB DNATs port 443 to the Service's
    cluster IP and MASQUERADEs it (k3s pkg/cloudprovider/servicelb.go sets DEST_IPS to the
    Service's ClusterIPs; klipper-lb `entry`: `iptables -t nat -I POSTROUTING -d $dest_ip -j
    MASQUERADE`), and an office's users sit behind one NAT address anyway. A ban on that
    address locks every user out of everything (fail2ban bans the address at the host's
    firewall), for the ban's whole time; a rate limit on the sign-in path slows only sign-ins,
    while every signed-in session (7 days, webui.SESSION_LIFETIME) and every other path goes
    on. It needs no log shipped out of the Traefik pod, no host packages, and lives in the
    cluster with the route it guards.

    The figures: Traefik forgets a source's bucket after 1 + 1/rate seconds without a request
    (rate_limiter.go New `ttl`; in_memory_limiter.go Allow makes a full new bucket), so a
    guesser who pauses that long gets a new burst: at most about SIGNIN_BURST per 16 s, under
    20 attempts a minute from one address, against Open WebUI's own limit of 15 per 3 minutes
    per e-mail (routers/auths.py `signin_rate_limiter`), which this one caps across accounts.
    Five people may sign in at once; a sixth waits 15 s. Tokens are per Traefik pod (in memory,
    no Redis): k3s runs one."""
    return _middleware(
        NAMESPACE,
        SIGNIN_RATE_LIMIT,
        {"rateLimit": {"average": SIGNIN_AVERAGE, "period": SIGNIN_PERIOD, "burst": SIGNIN_BURST}},
    )
