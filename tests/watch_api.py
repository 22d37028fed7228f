"""The smallest Kubernetes API server Traefik's Kubernetes providers run against: cluster-wide
list and watch of the objects it holds, nothing else (tests/integration/test_traefik_acme.py).

    api = WatchAPI(objects).start()   # plain HTTP on 127.0.0.1, a free port
    api.kubeconfig(path)              # a kubeconfig naming it, for Traefik's KUBECONFIG
    api.requests                      # every request's path and query, in order
    api.stop()

What Traefik asks (measured with Traefik 3.7.15; client-go's reflector, k8s.io/client-go
tools/cache/reflector.go, as vendored by traefik v3.7.9): no discovery, no plain list; every
informer opens ``GET /api/v1/PLURAL`` or ``/apis/GROUP/VERSION/PLURAL`` with ``watch=true&
sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true``. The API
server's answer (k8s.io/apiserver pkg/storage/cacher, the WatchList feature): an ADDED event
per object, then a BOOKMARK whose metadata carries the annotation
``k8s.io/initial-events-end: "true"``, then the stream stays open. Without that BOOKMARK the
informers never sync. A watch from a given resourceVersion (after a bookmark, on reconnect)
gets no event: the objects never change here.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

RESOURCE_VERSION = "1"


# The kinds Traefik's kubernetesIngress and kubernetesCRD providers watch (traefik v3.7.9
# pkg/provider/kubernetes/ingress/client.go and crd/client.go), by collection path; a BOOKMARK
# carries the watched kind, as the API server's does.
TRAEFIK_CRDS = ("IngressRoute", "IngressRouteTCP", "IngressRouteUDP", "Middleware",
                "MiddlewareTCP", "ServersTransport", "ServersTransportTCP", "TLSOption", "TLSStore",
                "TraefikService")
KINDS = {
    "/api/v1/services": ("v1", "Service"),
    "/api/v1/secrets": ("v1", "Secret"),
    "/api/v1/configmaps": ("v1", "ConfigMap"),
    "/api/v1/nodes": ("v1", "Node"),
    "/apis/discovery.k8s.io/v1/endpointslices": ("discovery.k8s.io/v1", "EndpointSlice"),
    "/apis/networking.k8s.io/v1/ingresses": ("networking.k8s.io/v1", "Ingress"),
    "/apis/networking.k8s.io/v1/ingressclasses": ("networking.k8s.io/v1", "IngressClass"),
    **{f"/apis/traefik.io/v1alpha1/{kind.lower()}s": ("traefik.io/v1alpha1", kind)
       for kind in TRAEFIK_CRDS},
}


def _collection(item: dict) -> str:
    """The collection path of an object's kind: ``/api/v1/services``."""
    return next(path for path, kind in KINDS.items()
                if kind == (item["apiVersion"], item["kind"]))


class WatchAPI:
    """List and watch of fixed objects on 127.0.0.1 (module docstring)."""

    def __init__(self, objects: list[dict]):
        self.objects: dict[str, list[dict]] = {}
        for item in objects:
            item = {**item, "metadata": {**item["metadata"], "resourceVersion": RESOURCE_VERSION,
                                         "uid": f"uid-{item['metadata']['name']}"}}
            self.objects.setdefault(_collection(item), []).append(item)
        self.requests: list[str] = []
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> "WatchAPI":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": self.url}}],
            "users": [{"name": "test", "user": {"token": "test"}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
        }))
        return path

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urlsplit(self.path)
                query = {key: values[-1] for key, values in parse_qs(url.query).items()}
                api.requests.append(self.path)
                if url.path not in KINDS:
                    self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                     "reason": "NotFound", "code": 404})
                    return
                api_version, kind = KINDS[url.path]
                items = api.objects.get(url.path, [])
                if query.get("watch") != "true":
                    self._send(200, {"kind": f"{kind}List", "apiVersion": api_version, "items": items,
                                     "metadata": {"resourceVersion": RESOURCE_VERSION}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if query.get("sendInitialEvents") == "true":
                    for item in items:
                        self._chunk({"type": "ADDED", "object": item})
                    self._chunk({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api_version,
                        "metadata": {"resourceVersion": RESOURCE_VERSION,
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}})
                # Hold the stream open until the client's timeoutSeconds or the server stops.
                api._closing.wait(float(query.get("timeoutSeconds", 300)))
                self._end()

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _chunk(self, event: dict) -> None:
                data = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _end(self) -> None:
                try:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except OSError:
                    pass

        return Handler
