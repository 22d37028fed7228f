#!/usr/bin/python3
"""A stand-in for Traefik on a rehearsal host, where k3s cannot run: it answers as the
appliance's Traefik does, under the process name `traefik` (as `ss` shows Traefik's):
port 80 redirects to HTTPS, port 443 (TLS, a self-signed certificate like Traefik's default)
answers Open WebUI's /health with 200."""

import ctypes
import http.server
import os
import ssl
import subprocess
import threading

CERTIFICATE = "/run/standin-traefik"


class Redirect(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(301)
        self.send_header("Location", f"https://{self.headers.get('Host', '127.0.0.1')}{self.path}")
        self.end_headers()


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b'{"status":true}\n')


def serve(port, handler, context=None):
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), handler)
    if context:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


if __name__ == "__main__":
    ctypes.CDLL(None).prctl(15, b"traefik", 0, 0, 0)  # PR_SET_NAME
    os.makedirs(CERTIFICATE, mode=0o700, exist_ok=True)
    if not os.path.exists(f"{CERTIFICATE}/cert.pem"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=TRAEFIK DEFAULT CERT", "-keyout", f"{CERTIFICATE}/key.pem",
                        "-out", f"{CERTIFICATE}/cert.pem"], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(f"{CERTIFICATE}/cert.pem", f"{CERTIFICATE}/key.pem")
    serve(80, Redirect)
    serve(443, Health, context)
    threading.Event().wait()
