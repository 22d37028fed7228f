#!/usr/bin/python3
"""A stand-in for Traefik on a rehearsal host, where k3s cannot run, started by the stand-in k3s
(guest_k3s.py) under the process name `traefik` (as `ss` shows Traefik's). It answers from what
the stand-in API server on 127.0.0.1:6443 holds, read at each request:

- port 80 (Traefik's web entry point): with the Traefik Deployment's redirect arguments
  (``--entryPoints.web.http.redirections.entryPoint.to=:443`` and ``.scheme=https``), a
  redirect to https (301 for a GET with ``.permanent=true``, else 302: traefik v3.7.9
  pkg/middlewares/redirect/redirect.go moveHandler.ServeHTTP); without them 404;
- port 443 (TLS, a self-signed certificate like Traefik's default): the Ingress whose rule
  names the request's host; 401 with WWW-Authenticate when a basicAuth Middleware its
  ``traefik.ingress.kubernetes.io/router.middlewares`` annotation names (NAMESPACE-NAME@
  kubernetescrd) is served and the request has no Authorization; 200 when the rule's backend
  Service is served; 404 when no Ingress routes the host or its Service is missing.
"""

import ctypes
import http.server
import json
import os
import ssl
import subprocess
import threading
import urllib.request

CERTIFICATE = "/run/standin-traefik"
API = "http://127.0.0.1:6443"
REDIRECT = (
    "--entryPoints.web.http.redirections.entryPoint.to=:443",
    "--entryPoints.web.http.redirections.entryPoint.scheme=https",
)
PERMANENT = "--entryPoints.web.http.redirections.entryPoint.permanent=true"
MIDDLEWARES = "traefik.ingress.kubernetes.io/router.middlewares"


def get(path: str):
    """An object or list from the API server; None when it answers with an error."""
    try:
        with urllib.request.urlopen(API + path, timeout=5) as answer:
            return json.load(answer)
    except (OSError, ValueError):  # urllib.error.URLError and HTTPError are OSErrors
        return None


def items(path: str) -> list:
    return (get(path) or {}).get("items", [])


def route(host: str, authorization: str | None) -> tuple[int, dict]:
    """(status, headers) Traefik answers on websecure for ``host``."""
    for ingress in items("/apis/networking.k8s.io/v1/ingresses"):
        namespace = ingress["metadata"]["namespace"]
        rules = [rule for rule in ingress["spec"].get("rules", []) if rule.get("host") == host]
        if not rules:
            continue
        annotations = ingress["metadata"].get("annotations") or {}
        for reference in filter(None, annotations.get(MIDDLEWARES, "").split(",")):
            middleware_namespace, _, name = reference.strip().partition("@")[0].partition("-")
            middleware = (
                get(
                    f"/apis/traefik.io/v1alpha1/namespaces/{middleware_namespace}"
                    f"/middlewares/{name}"
                )
                or {}
            )
            if "basicAuth" in middleware.get("spec", {}) and not authorization:
                realm = middleware["spec"]["basicAuth"].get("realm", "traefik")
                return 401, {"WWW-Authenticate": f'Basic realm="{realm}"'}
        backend = rules[0]["http"]["paths"][0]["backend"]["service"]["name"]
        if get(f"/api/v1/namespaces/{namespace}/services/{backend}"):
            return 200, {}
    return 404, {}


def redirect(host: str, path: str) -> tuple[int, dict]:
    """(status, headers) Traefik answers on web."""
    traefik = get("/apis/apps/v1/namespaces/kube-system/deployments/traefik") or {}
    containers = traefik.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [{}])
    arguments = containers[0].get("args", [])
    if not set(REDIRECT) <= set(arguments):
        return 404, {}
    return (301 if PERMANENT in arguments else 302), {"Location": f"https://{host}{path}"}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        if self.server.server_port == 80:
            status, headers = redirect(host, self.path)
        else:
            status, headers = route(host, self.headers.get("Authorization"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def serve(port, context=None):
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Handler)
    if context:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


if __name__ == "__main__":
    ctypes.CDLL(None).prctl(15, b"traefik", 0, 0, 0)  # PR_SET_NAME
    os.makedirs(CERTIFICATE, mode=0o700, exist_ok=True)
    if not os.path.exists(f"{CERTIFICATE}/cert.pem"):
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=TRAEFIK DEFAULT CERT",
                "-keyout",
                f"{CERTIFICATE}/key.pem",
                "-out",
                f"{CERTIFICATE}/cert.pem",
            ],
            check=True,
            capture_output=True,
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{CERTIFICATE}/cert.pem", f"{CERTIFICATE}/key.pem")
    serve(80)
    serve(443, context)
    threading.Event().wait()
