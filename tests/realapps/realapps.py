"""The real Open WebUI and PostgreSQL 18 with pgvector, run here for the tests.

Open WebUI comes from PyPI (the release the appliance pins over its chart, with the
`postgres` extra) in a venv built once and cached under ~/.cache/llm-appliance/open-webui;
PostgreSQL 18 with pgvector from a Debian forky root built once with debootstrap (cached
beside the rehearsal roots) and run through chroot, no boot. Open WebUI's environment is
derived from the apps layer's rendered values (`webui_values`), never a list of its own.
Needs root (debootstrap, chroot).

    with PostgresServer.start(tmp_path) as server:
        database = server.create_appliance_database()
        with WebUI.start(venv("0.12.4"), webui_environment(settings, database, ...), data) as app:
            app.get("/health")
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.server
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import requests

from appliance.rootfs import build_rootfs, cache_root
from operations.components import OLLAMA
from operations.names import POSTGRES_APP_SECRET, WEBUI_SECRETS
from operations.pins import PINNED_VERSIONS
from operations.postgres import postgres_cluster
from operations.settings import Settings, load
from operations.webui import webui_values

# The machine's CPU build of torch, installed before Open WebUI so that pip does not pull the
# CUDA build (3.3 GB instead of 7.7 GB; see the machine's python page).
TORCH = "torch==2.13.0"
POSTGRES_PACKAGES = "postgresql-18,postgresql-18-pgvector"
POSTGRES_BIN = "/usr/lib/postgresql/18/bin"
# Bumped whenever the venv's build steps change, so that a stale cache is rebuilt.
VENV_REVISION = "1"
# The settings of the tests' appliance (what an inventory holds).
BASE_SETTINGS = {
    "webui_domain": "chat.example.com",
    "monitor_domain": "mon.example.com",
    "acme_email": "admin@example.com",
}
MEMORY: list[
    tuple[str, float]
] = []  # (moment, MiB) of every Open WebUI started in this run, for the memory test


def progress(message: str) -> None:
    """One line of progress, e.g. progress('venv: ...'); on pytest's terminal while it captures
    output (conftest.py points `show` there)."""
    show(f"[real apps] {message}")


def show(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def pinned_webui_version() -> str:
    """The Open WebUI release the appliance runs (the image tag over the pinned chart), e.g.
    '0.12.4'."""
    return PINNED_VERSIONS["open-webui app"]


# -- the cached venv ----------------------------------------------------------------------------


def venv(version: str) -> Path:
    """The venv with `open-webui[postgres]==version`, built on first use (~2-4 minutes, 3.3 GB)
    under a lock, so that concurrent runs build it once; e.g. venv('0.12.4') / 'bin/open-webui'."""
    key = hashlib.sha256(f"{version}|{TORCH}|{VENV_REVISION}|{sys.version_info[:2]}".encode())
    folder = cache_root() / "open-webui" / f"{version}-{key.hexdigest()[:12]}"
    done = folder / ".complete"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{folder}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return folder
        shutil.rmtree(folder, ignore_errors=True)
        started = time.monotonic()
        progress(f"building the Open WebUI {version} venv in {folder} (once; a few minutes)")
        _check([sys.executable, "-m", "venv", str(folder)], 300)
        pip = [
            str(folder / "bin/python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        progress(f"venv: {TORCH} (the CPU build on this machine's disk)")
        _check([*pip, TORCH], 1800)
        progress(f"venv: open-webui[postgres]=={version} from PyPI")
        _check([*pip, f"open-webui[postgres]=={version}"], 2700)
        size = int(_check(["du", "-sb", str(folder)], 300).split()[0])
        seconds = time.monotonic() - started
        (folder / ".build.json").write_text(json.dumps({"seconds": round(seconds), "bytes": size}))
        done.write_text("")
        progress(f"venv ready: {seconds:.0f} s, {size / 1e9:.2f} GB")
        return folder


def venv_build_figures(folder: Path) -> dict:
    """What building a venv took, e.g. {'seconds': 129, 'bytes': 3300000000}."""
    return json.loads((folder / ".build.json").read_text())


def _check(command: list[str], timeout: int, **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(
            f"{command[0]} ... {command[-1]} failed ({result.returncode}): "
            f"{(result.stdout + result.stderr)[-3000:]}"
        )
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- PostgreSQL 18 with pgvector, in a chroot ------------------------------------------------


@dataclass
class Database:
    """One application database, as CloudNativePG's `postgres-app` Secret describes it."""

    name: str
    user: str
    password: str
    port: int

    @property
    def uri(self) -> str:
        """The Secret's `uri`, on loopback, e.g. postgresql://openwebui:...@127.0.0.1:5433/openwebui."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.name}"

    def environment(self) -> dict:
        """libpq's variables, as the backup and restore Jobs get them."""
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": self.name,
        }


@dataclass
class PostgresServer:
    """A PostgreSQL 18 server with pgvector, its files in a folder of the cached forky root
    (the root's own tools, the host's cannot talk to 18), run through chroot on loopback."""

    root: Path
    folder: Path  # inside the root, e.g. /srv/llm-appliance-tests/pg-5433
    port: int
    database: Database | None = None  # the appliance's, once created

    @classmethod
    def start(cls) -> PostgresServer:
        """Initialise and start a new server; its root is built on first use (~1 minute)."""
        root = build_rootfs(suite="forky", base_packages="", extra_packages=POSTGRES_PACKAGES)
        (root / "dev/shm").chmod(0o1777)  # PostgreSQL's dynamic shared memory
        port = free_port()
        progress(f"PostgreSQL 18 + pgvector on 127.0.0.1:{port} (the root in {root})")
        server = cls(root, Path(f"/srv/llm-appliance-tests/pg-{port}-{os.getpid()}"), port)
        shutil.rmtree(server.on_host(server.folder), ignore_errors=True)
        server.on_host(server.folder / "socket").mkdir(parents=True)
        server.chroot("chown", "-R", "postgres:postgres", str(server.folder))
        server.chroot(
            f"{POSTGRES_BIN}/initdb",
            "--username=postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-D",
            str(server.folder / "data"),
            user="postgres",
        )
        server.pg_ctl("start")
        return server

    def pg_ctl(self, action: str, check: bool = True) -> subprocess.CompletedProcess:
        """pg_ctl ACTION (start, stop: fast, every session ended) on this server, waiting
        until it is done."""
        return self.chroot(
            f"{POSTGRES_BIN}/pg_ctl",
            "-D",
            str(self.folder / "data"),
            "-w",
            "-m",
            "fast",
            "-l",
            str(self.folder / "server.log"),
            "-o",
            f"-p {self.port} -k {self.folder / 'socket'} -c listen_addresses=127.0.0.1",
            action,
            user="postgres",
            check=check,
        )

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.pg_ctl("stop", check=False)
        shutil.rmtree(self.on_host(self.folder), ignore_errors=True)

    def on_host(self, inside: Path) -> Path:
        """A path inside the root, as this machine sees it."""
        return self.root / Path(inside).relative_to("/")

    def make_folder(self, name: str) -> Path:
        """A folder inside the root (for Open WebUI's data and backups); its path inside."""
        inside = self.folder / name
        self.on_host(inside).mkdir(parents=True, exist_ok=True)
        return inside

    def chroot(
        self,
        *command: str,
        user: str = "root",
        check: bool = True,
        stdin: str = "",
        environment: dict | None = None,
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["chroot", f"--userspec={user}:{user}", str(self.root), *command],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
            env={
                "PATH": f"{POSTGRES_BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8",
                **(environment or {}),
            },
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{command[0]} in the PostgreSQL root failed ({result.returncode}): "
                f"{(result.stdout + result.stderr)[-3000:]}"
            )
        return result

    def superuser_sql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser (over the server's socket, the text on stdin)."""
        return self.chroot(
            "psql",
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-h",
            str(self.folder / "socket"),
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            stdin=sql,
            user="postgres",
        ).stdout

    def create_appliance_database(self, password: str, extension: bool = True) -> Database:
        """The application database as the appliance's Cluster bootstraps it (postgres_cluster():
        initdb's database and owner, then postInitApplicationSQL by the superuser: CREATE
        EXTENSION vector). extension=False leaves that step out, as a hand-made database would."""
        initdb = postgres_cluster()["spec"]["bootstrap"]["initdb"]
        database = Database(initdb["database"], initdb["owner"], password, self.port)
        self.superuser_sql(
            f"CREATE ROLE {database.user} LOGIN PASSWORD '{password}';\n"
            f"CREATE DATABASE {database.name} OWNER {database.user};\n"
        )
        if extension:
            self.superuser_sql("\n".join(initdb["postInitApplicationSQL"]), database.name)
        return database

    def run_script(
        self, script: Path, *arguments: str, environment: dict, check: bool = True
    ) -> subprocess.CompletedProcess:
        """Run one of the appliance's files/*.sh inside the root, as its Job runs it."""
        inside = self.make_folder("scripts") / script.name
        shutil.copy(script, self.on_host(inside))
        return self.chroot("/bin/sh", str(inside), *arguments, environment=environment, check=check)


# -- Open WebUI's environment, derived from the rendered values --------------------------------


def chart_environment(values: dict) -> dict:
    """The variables open-webui chart 16.0.0 adds itself before `extraEnvVars`, for these
    values: templates/workload-manager.yaml at tag open-webui-16.0.0 (the container's `env:`).
    A branch the appliance's values do not take raises, so that a change of values is noticed
    here rather than tested against the wrong environment.

    >>> chart_environment(webui_values(settings))["ENABLE_OPENAI_API"]
    'False'
    """
    unmodelled = {
        "ollama.enabled": values.get("ollama", {}).get("enabled", True),
        "ollamaUrlsFromExtraEnv": values.get("ollamaUrlsFromExtraEnv", False),
        "enableOpenaiApi": values.get("enableOpenaiApi", True),
        "tika.enabled": values.get("tika", {}).get("enabled", False),
        "terminals.enabled": values.get("terminals", {}).get("enabled", False),
        "persistence.provider": values.get("persistence", {}).get("provider", "local") != "local",
        "websocket.manager": values.get("websocket", {}).get("manager") == "redis",
        "databaseUrl": values.get("databaseUrl", ""),
        "sso.enabled": values.get("sso", {}).get("enabled", False),
        "logging": values.get("logging", {}),
        "commonEnvVars": values.get("commonEnvVars", []),
        "extraEnvFrom": values.get("extraEnvFrom", []),
    }
    taken = [name for name, value in unmodelled.items() if value]
    if taken:
        raise NotImplementedError(f"values take chart branches not modelled here: {taken}")
    environment = {}
    extra = {entry["name"] for entry in values["extraEnvVars"]}
    if values["ingress"]["enabled"] and "WEBUI_URL" not in extra:
        scheme = "https" if values["ingress"].get("tls") else "http"
        environment["WEBUI_URL"] = f"{scheme}://{values['ingress']['host']}"
    if values.get("ollamaUrls"):
        environment["OLLAMA_BASE_URLS"] = ";".join(values["ollamaUrls"]).removesuffix("/")
    else:
        environment["ENABLE_OLLAMA_API"] = "False"
    environment["ENABLE_OPENAI_API"] = "False"
    websocket = values.get("websocket", {}).get("enabled", False)
    environment["ENABLE_WEBSOCKET_SUPPORT"] = "True" if websocket else "False"
    if websocket and values["websocket"].get("manager"):
        environment["WEBSOCKET_MANAGER"] = values["websocket"]["manager"]
    return environment


@dataclass(frozen=True)
class SecretValues:
    """Test values for the Secrets the rendered values refer to (made by the host in a deploy)."""

    database_uri: str
    secret_key: str = "test-secret-key-0123456789abcdef"
    admin_password: str = "Admin-test-password-1"
    # The Secrets the operator makes for webui_settings and oidc: {(Secret, key): value}.
    operator: dict = field(default_factory=dict)

    def value(self, secret: str, key: str) -> str:
        """The value of a secretKeyRef, e.g. value('open-webui-secrets', 'secret-key')."""
        values = {
            (POSTGRES_APP_SECRET, "uri"): self.database_uri,
            (WEBUI_SECRETS, "secret-key"): self.secret_key,
            (WEBUI_SECRETS, "admin-password"): self.admin_password,
            **self.operator,
        }
        return values[(secret, key)]


def webui_environment(settings: Settings, secrets: SecretValues, ollama_url: str) -> dict:
    """Open WebUI's environment in the pod the deploy makes, from webui_values(settings): the
    chart's own variables, then extraEnvVars (a later entry wins, as in a pod), Secret
    references resolved to the test values and Ollama's in-cluster URL pointed at ollama_url.

    >>> webui_environment(settings, SecretValues(db.uri), "http://127.0.0.1:11434")["VECTOR_DB"]
    'pgvector'
    """
    values = webui_values(settings)
    environment = chart_environment(values)
    for entry in values["extraEnvVars"]:
        if "valueFrom" in entry:
            reference = entry["valueFrom"]["secretKeyRef"]
            environment[entry["name"]] = secrets.value(reference["name"], reference["key"])
        else:
            environment[entry["name"]] = entry["value"]
    return {name: value.replace(OLLAMA.url, ollama_url) for name, value in environment.items()}


# -- Ollama's /api/embed, stood in for -------------------------------------------------------

EMBEDDING_DIMENSIONS = 64


def embedding(text: str) -> list[float]:
    """A labelled stand-in for a model's embedding: words hashed into 64 dimensions, normalised,
    so that texts sharing words are near each other; e.g. embedding('tulips') != embedding('x')."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


# The answer the stand-in gives every chat request.
CHAT_ANSWER = "Tulips bloom in spring (a stand-in's answer, not a model's)."


@dataclass
class OllamaStandIn:
    """Answers Ollama's /api/embed, /api/chat (one fixed answer, CHAT_ANSWER), /api/tags
    (listing `chat_models`) and /api/ps (nothing loaded) on loopback; it is NOT Ollama (the one
    piece that cannot run here): it says so in every answer, records the models embedded with
    (`models`), and every request Open WebUI sends it as (path, body) in `received`."""

    url: str
    models: list = field(default_factory=list)
    received: list = field(default_factory=list)
    chat_models: tuple = ("llama3.2:3b",)
    _server: http.server.ThreadingHTTPServer | None = None

    @classmethod
    def start(cls) -> OllamaStandIn:
        stand_in = cls("")
        handler = type("Handler", (_StandInHandler,), {"stand_in": stand_in})
        stand_in._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        stand_in.url = f"http://127.0.0.1:{stand_in._server.server_address[1]}"
        threading.Thread(target=stand_in._server.serve_forever, daemon=True).start()
        return stand_in

    def stop(self) -> None:
        assert self._server is not None, "stopped before it started"
        self._server.shutdown()
        self._server.server_close()


class _StandInHandler(http.server.BaseHTTPRequestHandler):
    stand_in: OllamaStandIn

    def _answer(self, body: dict | list, stream: bool = False) -> None:
        """One JSON object, or (stream) Ollama's newline-delimited objects."""
        data = (
            "".join(json.dumps(part) + "\n" for part in body) if stream else json.dumps(body)
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson" if stream else "application/json")
        self.send_header("X-Stand-In", "llm-appliance tests: not Ollama")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            self._answer(
                {
                    "models": [
                        {
                            "name": model,
                            "model": model,
                            "size": 1,
                            "digest": "0" * 64,
                            "modified_at": "2026-12-01T00:00:00Z",
                            "details": {},
                        }
                        for model in self.stand_in.chat_models
                    ]
                }
            )
        elif self.path == "/api/ps":
            self._answer({"models": []})
        else:
            self._answer({"version": "stand-in"})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        self.stand_in.received.append((self.path, request))
        if self.path == "/api/embed":
            self.stand_in.models.append(request["model"])
            texts = request["input"] if isinstance(request["input"], list) else [request["input"]]
            self._answer({"model": request["model"], "embeddings": [embedding(t) for t in texts]})
        elif self.path == "/api/chat":
            done = {
                "model": request["model"],
                "created_at": "2026-12-01T00:00:00Z",
                "message": {"role": "assistant", "content": CHAT_ANSWER},
                "done": True,
                "done_reason": "stop",
            }
            if request.get("stream", True):  # Ollama streams unless told not to
                self._answer(
                    [
                        {**done, "done": False},
                        {**done, "message": {"role": "assistant", "content": ""}},
                    ],
                    stream=True,
                )
            else:
                self._answer(done)
        else:
            self.send_error(404, "the stand-in answers /api/embed and /api/chat only")

    def log_message(self, *args) -> None:
        pass


# -- Open WebUI itself ------------------------------------------------------------------------

# The process state of Open WebUI's containers (operations/rendering.py NO_CAPABILITIES): uid 0
# with no capability in any set, the bounding set empty so that an exec gains none, and
# no_new_privs (allowPrivilegeEscalation: false) so that a setuid binary gains nothing either
# (util-linux setpriv(1) sets it up, then execs the command).
WITHOUT_CAPABILITIES = (
    "setpriv",
    "--no-new-privs",
    "--bounding-set=-all",
    "--inh-caps=-all",
    "--ambient-caps=-all",
    "--",
)


@dataclass
class WebUI:
    """One running `open-webui serve` on loopback, its log in log_path."""

    process: subprocess.Popen
    port: int
    log_path: Path
    started_seconds: float = 0.0

    @classmethod
    def start(
        cls,
        venv_folder: Path,
        environment: dict,
        data_dir: Path,
        home: Path,
        trace: Path | None = None,
        timeout: int = 600,
        wrapper: tuple[str, ...] = (),
    ) -> WebUI:
        """Start it and wait for /health; trace=PATH records every connect() with strace;
        `wrapper` is a command that execs Open WebUI's (WITHOUT_CAPABILITIES)."""
        port = free_port()
        home.mkdir(parents=True, exist_ok=True)
        log_path = home / f"open-webui-{port}.log"
        command = [
            *wrapper,
            str(venv_folder / "bin/open-webui"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        if trace:
            command = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(trace), *command]
        began = time.monotonic()
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=home,
                env={
                    "PATH": f"{venv_folder}/bin:/usr/bin:/bin",
                    "HOME": str(home),
                    "LANG": "C.UTF-8",
                    "DATA_DIR": str(data_dir),
                    **environment,
                },
            )
        app = cls(process, port, log_path)
        while time.monotonic() - began < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"Open WebUI exited ({process.returncode}): {app.log_tail()}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(app.url("/health"), timeout=5).status == 200:
                    app.started_seconds = time.monotonic() - began
                    progress(
                        f"Open WebUI up in {app.started_seconds:.0f} s, "
                        f"{app.rss_mib():.0f} MiB resident"
                    )
                    return app
            time.sleep(1)
        app.stop()
        raise RuntimeError(f"Open WebUI did not answer /health in {timeout} s: {app.log_tail()}")

    def __enter__(self) -> WebUI:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def rss_mib(self) -> float:
        """Resident memory of the server and its children, in MiB."""
        pids = [str(self.process.pid)]
        children = subprocess.run(
            ["pgrep", "-s", str(self.process.pid)], capture_output=True, text=True
        ).stdout.split()
        total_kib = 0
        for pid in set(pids + children):
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{pid}/status").read_text()
                rss = re.search(r"VmRSS:\s+(\d+)", status)  # proc(5): none in a zombie's
                total_kib += int(rss.group(1)) if rss else 0
        return total_kib / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


# -- the appliance's Open WebUI, deployed and re-deployed ---------------------------------------


@dataclass
class Appliance:
    """The appliance's Open WebUI and its database, as a deploy makes them: deploy() starts
    Open WebUI with the environment rendered from settings (a re-deploy: stop, then start with
    the new environment, the pod's Recreate strategy)."""

    server: PostgresServer
    venv: Path
    ollama: OllamaStandIn
    home: Path
    secrets: SecretValues
    data_dir: Path  # inside the PostgreSQL root, so that backup.sh in there sees it
    settings: dict = field(default_factory=lambda: dict(BASE_SETTINGS))
    app: WebUI | None = None

    def environment(self, **overrides) -> dict:
        return webui_environment(
            load({**self.settings, **overrides}), self.secrets, self.ollama.url
        )

    def deploy(
        self,
        venv: Path | None = None,
        trace: Path | None = None,
        wrapper: tuple[str, ...] = (),
        **settings,
    ) -> WebUI:
        self.stop()
        self.settings.update(settings)
        self.app = WebUI.start(
            venv or self.venv,
            self.environment(),
            self.server.on_host(self.data_dir),
            self.home,
            trace=trace,
            wrapper=wrapper,
        )
        MEMORY.append(("after start", self.app.rss_mib()))
        return self.app

    def stop(self) -> None:
        if self.app:
            MEMORY.append(("after use", self.app.rss_mib()))
            self.app.stop()
            self.app = None

    # -- Open WebUI's HTTP API --------------------------------------------------------------

    def call(self, method: str, path: str, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        assert self.app is not None, "Open WebUI is not running: deploy() first"
        return requests.request(method, self.app.url(path), headers=headers, timeout=120, **kwargs)

    def sign_in(self, email: str, password: str) -> requests.Response:
        return self.call(
            "POST", "/api/v1/auths/signin", json={"email": email, "password": password}
        )

    def admin_token(self) -> str:
        """A session of the first admin: the account made at the first start."""
        answer = self.sign_in(BASE_SETTINGS["acme_email"], self.secrets.admin_password)
        assert answer.status_code == 200, answer.text
        return answer.json()["token"]


@contextlib.contextmanager
def appliance_on(
    server: PostgresServer,
    venv_folder: Path,
    ollama,
    home: Path,
    secrets: SecretValues | None = None,
    data: str = "webui-data",
):
    assert server.database is not None, "create_appliance_database() first"
    appliance = Appliance(
        server,
        venv_folder,
        ollama,
        home,
        secrets or SecretValues(server.database.uri),
        server.make_folder(data),
    )
    try:
        yield appliance
    finally:
        appliance.stop()
        progress(f"Open WebUI's log: {home}")
