"""What Open WebUI does with the appliance's values, proven against the running application:
the pinned release from PyPI on PostgreSQL 18 with pgvector, its environment rendered by the
apps layer (`webui_values`), Ollama's /api/embed answered by a labelled stand-in."""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import requests

from operations.settings import load
from operations.settings_table import SETTINGS_BY_NAME
from operations.webui import RESOURCES
from realapps import (
    BASE_SETTINGS,
    CHAT_ANSWER,
    MEMORY,
    WITHOUT_CAPABILITIES,
    PostgresServer,
    SecretValues,
    appliance_on,
    progress,
    venv,
    webui_environment,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ADMIN = "admin@example.com"
DOCUMENT = "Tulips bloom in spring in the gardens of Keukenhof near Lisse."
# The upgrade starts from the release the appliance pinned before (chart 16.0.0's appVersion).
PREVIOUS_WEBUI = "0.11.0"


def create_chat(appliance, token: str, title: str) -> str:
    answer = appliance.call(
        "POST",
        "/api/v1/chats/new",
        token,
        json={"chat": {"title": title, "messages": [{"role": "user", "content": "Hello"}]}},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def upload_document(appliance, token: str) -> str:
    """Upload a text file and embed it now (through the stand-in); its id."""
    answer = appliance.call(
        "POST",
        "/api/v1/files/?process=true&process_in_background=false",
        token,
        files={"file": ("tulips.txt", DOCUMENT, "text/plain")},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def search(appliance, token: str, file_id: str, query: str) -> list[str]:
    answer = appliance.call(
        "POST",
        "/api/v1/retrieval/query/doc",
        token,
        json={"collection_name": f"file-{file_id}", "query": query, "k": 1},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["documents"][0]


def use_it(appliance) -> dict:
    """Sign in, one chat, one document with its vectors: what later scenarios look for."""
    token = appliance.admin_token()
    return {
        "token": token,
        "chat": create_chat(appliance, token, "Spring flowers"),
        "file": upload_document(appliance, token),
    }


def assert_still_there(appliance, used: dict, token: str) -> None:
    chat = appliance.call("GET", f"/api/v1/chats/{used['chat']}", token)
    assert chat.status_code == 200 and chat.json()["title"] == "Spring flowers"
    file = appliance.call("GET", f"/api/v1/files/{used['file']}/content", token)
    assert file.status_code == 200 and file.text == DOCUMENT
    assert search(appliance, token, used["file"], "when do tulips bloom") == [DOCUMENT]


# -- start, offline ---------------------------------------------------------------------------


def outside_connections(trace: Path) -> list[str]:
    """connect() calls to anything but loopback, from an strace log."""
    found = []
    for line in trace.read_text().splitlines():
        address = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', line)
        if address and (address.group(1) or address.group(2)) not in ("127.0.0.1", "::1"):
            found.append(line)
    return found


def test_health_answers_and_nothing_outside_is_contacted(appliance, tmp_path):
    trace = tmp_path / "connect.trace"
    appliance.deploy(trace=trace)
    health = appliance.call("GET", "/health")
    assert (health.status_code, health.json()) == (200, {"status": True})
    token = appliance.admin_token()
    assert appliance.call("GET", "/api/models", token).status_code == 200
    assert upload_document(appliance, token)
    appliance.stop()
    assert "127.0.0.1" in trace.read_text()  # the trace saw the database's connections
    assert outside_connections(trace) == []


# -- accounts ---------------------------------------------------------------------------------


def test_the_first_admin_from_the_secret_signs_in(appliance):
    appliance.deploy()
    answer = appliance.sign_in(ADMIN, appliance.secrets.admin_password)
    assert answer.status_code == 200
    assert (answer.json()["email"], answer.json()["role"]) == (ADMIN, "admin")
    assert appliance.sign_in(ADMIN, "not-the-password").status_code == 400


def signup(appliance, email: str):
    return appliance.call(
        "POST",
        "/api/v1/auths/signup",
        json={"name": "Visitor", "email": email, "password": "Visitor-pass-1"},
    )


def test_signup_follows_webui_signup(appliance):
    appliance.deploy()  # webui_signup: false (the default)
    assert appliance.call("GET", "/api/config").json()["features"]["enable_signup"] is False
    assert signup(appliance, "visitor@example.com").status_code == 403
    appliance.deploy(webui_signup=True)
    assert appliance.call("GET", "/api/config").json()["features"]["enable_signup"] is True
    answer = signup(appliance, "visitor@example.com")
    assert (answer.status_code, answer.json()["role"]) == (200, "pending")
    appliance.deploy(webui_signup=False)
    assert signup(appliance, "second@example.com").status_code == 403


def test_signup_on_from_the_first_deploy_opens_at_the_second_start(appliance):
    """Open WebUI 0.12.4 closes sign-up for the rest of the start at which it makes the first
    admin (main.py lifespan: after create_admin_user, Config.upsert({'ui.enable_signup':
    False})); the next start takes webui_signup (README)."""
    appliance.deploy(webui_signup=True)
    assert signup(appliance, "early@example.com").status_code == 403
    appliance.deploy()  # a restart: `k3s kubectl -n llm rollout restart deployment/open-webui`
    assert signup(appliance, "early@example.com").status_code == 200


# -- the web face ---------------------------------------------------------------------------


def cookie_attributes(set_cookie: str) -> tuple[str, dict]:
    """A Set-Cookie header's name and its attributes, e.g. ('token', {'httponly': '',
    'samesite': 'lax', ...}) (names lower-cased, the value left out)."""
    first, *rest = [part.strip() for part in set_cookie.split(";")]
    attributes = dict((part.split("=", 1) + [""])[:2] for part in rest)
    return first.split("=", 1)[0], {name.lower(): value for name, value in attributes.items()}


def token_claims(token: str) -> dict:
    """The claims of a JWT, read without checking its signature."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def preflight(appliance, origin: str) -> requests.Response:
    """A browser's CORS preflight for a credentialed sign-in from a page at `origin`."""
    return requests.options(
        appliance.app.url("/api/v1/auths/signin"),
        timeout=60,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )


def test_the_sign_in_cookie_is_secure_and_lax_and_lasts_seven_days(appliance):
    appliance.deploy()
    asked_at = int(time.time())
    answer = appliance.sign_in(ADMIN, appliance.secrets.admin_password)
    assert answer.status_code == 200
    name, attributes = cookie_attributes(answer.headers["set-cookie"])
    assert (name, attributes) == (
        "token",
        {"httponly": "", "max-age": "604800", "path": "/", "samesite": "lax", "secure": ""},
    )
    expires_at = answer.json()["expires_at"]
    assert 604800 <= expires_at - asked_at <= 604800 + 60
    assert token_claims(answer.json()["token"])["exp"] == expires_at


def test_only_the_appliances_own_origin_may_read_answers_with_credentials(appliance):
    appliance.deploy()
    own = preflight(appliance, "https://chat.example.com")
    assert own.status_code == 200
    assert (
        own.headers["access-control-allow-origin"],
        own.headers["access-control-allow-credentials"],
    ) == ("https://chat.example.com", "true")
    foreign = preflight(appliance, "https://elsewhere.example.net")
    assert foreign.status_code == 400
    assert "access-control-allow-origin" not in foreign.headers
    config = requests.get(
        appliance.app.url("/api/config"),
        timeout=60,
        headers={"Origin": "https://elsewhere.example.net"},
    )
    assert config.status_code == 200
    assert "access-control-allow-origin" not in config.headers


# -- every setting, re-deployed ---------------------------------------------------------------

# A second valid value of every setting. The settings that change Open WebUI's rendered
# environment are found by rendering with each; every one must then be read back below.
OTHER_VALUES = {
    "layers": ["host"],
    "webui_domain": "other.example.net",
    "monitor_domain": "m.example.net",
    "acme_ca": "staging",
    "acme_email": "ops@example.net",
    "admin_cidrs": ["198.51.100.0/24"],
    "k3s_version": None,
    "k3s_airgap_dir": None,
    "k3s_tls_sans": ["api.example.net"],
    "k3s_cluster_cidr": "10.52.0.0/16",
    "k3s_service_cidr": "10.53.0.0/16",
    "ollama_models": ["qwen2.5:0.5b"],
    "ollama_model_sizes": {"qwen2.5:0.5b": 0.4},
    "ollama_model_files": None,
    "ollama_pull_timeout_minutes": 30,
    "ollama_gpu": "nvidia",
    "ollama_context_length": 8192,
    "ollama_kv_cache_type": "f16",
    "ollama_num_parallel": 2,
    "ollama_flash_attention": None,
    "ollama_prompt_cache_mib": 256,
    "webui_admin_email": "boss@example.net",
    "webui_signup": True,
    "webui_embedding_model": "all-minilm:latest",
    "webui_new_user_role": "user",
    "webui_settings": {"DEFAULT_LOCALE": "fr-FR"},
    "oidc": None,
    "tls_certificate": None,
    "tls_key": None,
    "acme_dns_provider": None,
    "acme_dns_credentials_file": None,
    "backup_schedule": "0 2 * * *",
    "backup_retention_days": 14,
    "ssh_hardening": True,
    "fail2ban": False,
    "idle_logout_seconds": 0,
    "unattended_reboot": True,
    "unattended_reboot_time": "05:00",
    "ready_timeout_minutes": 30,
    "backup_repository": "/srv/restic-elsewhere",
    "backup_credentials_file": None,
    "backup_keep_daily": 14,
    "backup_keep_weekly": 8,
    "backup_keep_monthly": 12,
    "alert_email_to": None,
    "alert_email_from": "appliance@example.net",
    "alert_smtp_host": "smtp.example.net",
    "alert_smtp_port": 2525,
    "alert_smtp_tls": "tls",
    "alert_smtp_user": None,
    "alert_webhook_url": "https://hooks.example.net/alerts",
    "alert_ntfy_url": "https://ntfy.example.net/appliance",
    "alert_secrets_file": None,
}


def webui_facing_settings() -> set[str]:
    base = webui_environment(load(BASE_SETTINGS), SecretValues("db"), "http://ollama")
    return {
        name
        for name, value in OTHER_VALUES.items()
        if value is not None
        and webui_environment(
            load({**BASE_SETTINGS, name: value}), SecretValues("db"), "http://ollama"
        )
        != base
    }


def test_every_setting_has_another_value_and_the_webui_facing_ones_are_known():
    # None: no second value that can be checked without a file or another k3s minor, or
    # without a second setting (flash attention off needs an f16 KV cache); none reaches Open
    # WebUI (k3s_version, the air-gap files and flash attention concern k3s and Ollama) but
    # oidc, which needs a provider: test_sso.py. webui_settings: test_webui_settings.py. The
    # certificate settings need files and concern Traefik: tests/integration/test_traefik_acme.py.
    # The alert settings concern Netdata (tests/unit/test_alert_notifications.py); those with
    # None need a second setting (alert_email_to a sender and relay, alert_smtp_user a password
    # in alert_secrets_file, itself a file).
    assert set(OTHER_VALUES) == set(SETTINGS_BY_NAME)
    assert webui_facing_settings() == {
        "webui_domain",
        "acme_email",
        "webui_admin_email",
        "webui_signup",
        "webui_embedding_model",
        "webui_new_user_role",
        "webui_settings",
    }


def test_every_webui_setting_changed_and_redeployed_reaches_the_running_app(appliance):
    appliance.deploy()
    token = appliance.admin_token()
    before = appliance.call("GET", "/api/v1/auths/admin/config", token).json()
    assert (before["WEBUI_URL"], before["ENABLE_SIGNUP"]) == ("https://chat.example.com", False)
    assert appliance.call("GET", "/api/config").json()["default_locale"] == ""
    changed = {name: OTHER_VALUES[name] for name in webui_facing_settings()}
    appliance.deploy(**changed)
    token = appliance.admin_token()  # the first admin keeps the account made at first start
    after = appliance.call("GET", "/api/v1/auths/admin/config", token).json()
    assert (after["WEBUI_URL"], after["ENABLE_SIGNUP"], after["DEFAULT_USER_ROLE"]) == (
        "https://other.example.net",
        True,
        "user",
    )
    assert appliance.call("GET", "/api/config").json()["features"]["enable_signup"] is True
    assert appliance.call("GET", "/api/config").json()["default_locale"] == "fr-FR"
    embedding = appliance.call("GET", "/api/v1/retrieval/embedding", token).json()
    assert (embedding["RAG_EMBEDDING_ENGINE"], embedding["RAG_EMBEDDING_MODEL"]) == (
        "ollama",
        "all-minilm:latest",
    )
    appliance.ollama.models.clear()
    upload_document(appliance, token)
    assert set(appliance.ollama.models) == {"all-minilm:latest"}
    # webui_admin_email (or acme_email) names the first admin only: the account made at the
    # first start stays, as README says; the new address has no account.
    assert (
        appliance.sign_in("boss@example.net", appliance.secrets.admin_password).status_code == 400
    )


# -- restarts ---------------------------------------------------------------------------------


def test_a_session_survives_a_restart(appliance):
    appliance.deploy()
    token = appliance.admin_token()
    appliance.deploy()
    answer = appliance.call("GET", "/api/v1/auths/", token)
    assert (answer.status_code, answer.json()["email"]) == (200, ADMIN)


def test_a_chat_and_a_document_with_its_vectors_survive_a_restart(appliance):
    appliance.deploy()
    used = use_it(appliance)
    appliance.deploy()
    assert_still_there(appliance, used, used["token"])


# -- no capabilities --------------------------------------------------------------------------


def process_state(pid: int) -> dict[str, str]:
    """A process's user ids, capability sets and no_new_privs, from /proc/PID/status."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return {
        name: fields[name].split()[0]
        for name in ("Uid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
    }


def test_root_without_any_capability_serves_chats_and_documents(appliance):
    """Open WebUI as its containers run it (operations/rendering.py NO_CAPABILITIES): uid 0,
    no capability, no_new_privs. Its data folder is root's, as root made it on the volume."""
    app = appliance.deploy(wrapper=WITHOUT_CAPABILITIES)
    assert process_state(app.process.pid) == {
        "Uid": "0",
        "CapInh": "0000000000000000",
        "CapPrm": "0000000000000000",
        "CapEff": "0000000000000000",
        "CapBnd": "0000000000000000",
        "CapAmb": "0000000000000000",
        "NoNewPrivs": "1",
    }
    used = use_it(appliance)
    assert_still_there(appliance, used, used["token"])


# -- backup and restore -----------------------------------------------------------------------


def backup(appliance) -> str:
    """Run files/backup.sh as the backup Job does; the archive's path inside the root."""
    server = appliance.server
    result = server.run_script(
        PROJECT_ROOT / "files/backup.sh",
        environment={
            **server.database.environment(),
            "WEBUI_DATA": str(appliance.data_dir),
            "BACKUP_DIR": str(server.make_folder("backups")),
            "RETENTION_DAYS": "7",
        },
    )
    return result.stdout.strip()


def restore(server: PostgresServer, archive_on_host: Path, data_dir: Path, check: bool = True):
    """Run files/restore.sh into server's database as the restore Job does."""
    inside = server.make_folder("backups") / archive_on_host.name
    server.on_host(inside).write_bytes(archive_on_host.read_bytes())
    return server.run_script(
        PROJECT_ROOT / "files/restore.sh",
        str(inside),
        check=check,
        environment={**server.database.environment(), "WEBUI_DATA": str(data_dir)},
    )


def test_a_signed_in_session_outlives_a_postgresql_restart_without_a_pod_restart(appliance):
    """PostgreSQL stopped (fast: every session ended, as a CloudNativePG switchover or a
    restarted instance pod ends them) and started again under a signed-in session: while it is
    down the app's database answers fail and /health/db says so, but /health (the chart's
    probes here: operations/webui.py) still answers 200; once it is back the same Open WebUI
    process serves the session, reads and writes with no restart. Open WebUI 0.12.4
    open_webui/internal/db.py builds its PostgreSQL engines (sync and async) with
    pool_pre_ping=True, so a pooled connection the restart broke is tested and replaced at
    checkout; open_webui/main.py: /health returns {'status': True} and touches nothing,
    /health/db runs SELECT 1 on a fresh pooled connection. A liveness probe on /health/db would
    restart the pod for every database outage, and gain nothing: the app comes back by itself."""
    app = appliance.deploy()
    token = appliance.admin_token()
    chat = create_chat(appliance, token, "Before the restart")
    appliance.server.pg_ctl("stop")
    assert appliance.call("GET", "/health").status_code == 200
    assert appliance.call("GET", "/health/db").status_code == 500
    assert appliance.call("GET", f"/api/v1/chats/{chat}", token).status_code != 200
    appliance.server.pg_ctl("start")
    assert appliance.call("GET", "/health/db").status_code == 200
    answer = appliance.call("GET", "/api/v1/auths/", token)
    assert (answer.status_code, answer.json()["email"]) == (200, ADMIN)
    assert (
        appliance.call("GET", f"/api/v1/chats/{chat}", token).json()["title"]
        == "Before the restart"
    )
    create_chat(appliance, token, "After the restart")
    assert appliance.app is app and app.process.poll() is None


def test_backup_and_restore_into_a_fresh_database(appliance, webui_venv, ollama, tmp_path):
    appliance.deploy()
    used = use_it(appliance)
    appliance.stop()
    archive = appliance.server.on_host(Path(backup(appliance)))
    with PostgresServer.start() as fresh:
        fresh.database = fresh.create_appliance_database("new-cluster-password-2")
        # The restore keeps the appliance's Secrets (only the database's own password is new,
        # as a new Cluster makes it): the key that signed the session, the admin password.
        secrets = SecretValues(fresh.database.uri)
        with appliance_on(fresh, webui_venv, ollama, tmp_path / "restored", secrets) as restored:
            progress(restore(fresh, archive, restored.data_dir).stdout.strip())
            restored.deploy()
            assert_still_there(restored, used, used["token"])
            assert restored.admin_token()


def test_a_restore_into_a_database_without_vector_is_refused_and_changes_nothing(
    appliance, tmp_path
):
    appliance.deploy()
    use_it(appliance)
    appliance.stop()
    archive = appliance.server.on_host(Path(backup(appliance)))
    with PostgresServer.start() as bare:
        bare.database = bare.create_appliance_database("bare-password-3", extension=False)
        data_dir = bare.make_folder("webui-data")
        bare.on_host(data_dir / "kept.txt").write_text("untouched")
        result = restore(bare, archive, data_dir, check=False)
        assert result.returncode == 1
        assert result.stderr.strip() == (
            "restore.sh: the database openwebui has no `vector` extension, which Open WebUI "
            "needs; a superuser must create it first (CREATE EXTENSION vector;), as the "
            "appliance's Cluster does at bootstrap. Nothing was changed."
        )
        assert (
            bare.superuser_sql(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "openwebui"
            ).strip()
            == "0"
        )
        assert bare.on_host(data_dir / "kept.txt").read_text() == "untouched"


def test_a_restore_onto_new_secrets_keeps_the_archives_admin_password(
    appliance, webui_venv, ollama, tmp_path
):
    """Restored onto another appliance (new Secrets): the archive's accounts apply, the new
    Secret's admin password does not, and sessions signed with the old key end."""
    appliance.deploy()
    used = use_it(appliance)
    appliance.stop()
    archive = appliance.server.on_host(Path(backup(appliance)))
    with PostgresServer.start() as fresh:
        fresh.database = fresh.create_appliance_database("other-server-password-4")
        secrets = SecretValues(
            fresh.database.uri,
            secret_key="another-servers-key-abcdef",
            admin_password="Another-servers-password-5",
        )
        with appliance_on(fresh, webui_venv, ollama, tmp_path / "moved", secrets) as moved:
            restore(fresh, archive, moved.data_dir)
            moved.deploy()
            assert moved.sign_in(ADMIN, secrets.admin_password).status_code == 400
            assert moved.call("GET", "/api/v1/auths/", used["token"]).status_code == 401
            answer = moved.sign_in(ADMIN, appliance.secrets.admin_password)
            assert answer.status_code == 200
            assert_still_there(moved, used, answer.json()["token"])


# -- upgrade ----------------------------------------------------------------------------------


def test_the_previous_release_database_is_migrated_by_the_pinned_one(appliance):
    previous = venv(PREVIOUS_WEBUI)
    appliance.deploy(venv=previous)
    used = use_it(appliance)
    appliance.deploy()  # the pinned release, same database and data folder
    assert appliance.call("GET", "/api/version").json()["version"] == "0.12.4"
    assert_still_there(appliance, used, appliance.admin_token())


# -- memory -----------------------------------------------------------------------------------


def mebibytes(quantity: str) -> int:
    return (
        int(quantity.removesuffix("Mi"))
        if quantity.endswith("Mi")
        else int(quantity.removesuffix("Gi")) * 1024
    )


def ask(appliance, token: str, question: str, file_id: str | None = None) -> str:
    """A question through Open WebUI's chat endpoint, on a document when `file_id` is given
    (Open WebUI then embeds the question and adds the document's closest chunks)."""
    body = {
        "model": "llama3.2:3b",
        "stream": False,
        "messages": [{"role": "user", "content": question}],
    }
    if file_id:
        body["files"] = [{"type": "file", "id": file_id}]
    answer = appliance.call("POST", "/api/chat/completions", token, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()["choices"][0]["message"]["content"]


def test_a_rag_question_after_a_chat_loads_no_model(appliance):
    """Issue 21: the requests the real Open WebUI sends Ollama for a chat, then for questions
    on a document, replayed through the stand-in of Ollama v0.32.15's scheduler
    (tests/ollama_scheduler.py) with the environment the apps layer gives Ollama: once the chat
    model and the embedding model are loaded, nothing more is loaded."""
    from ollama_scheduler import Scheduler
    from operations.ollama import ollama_values

    appliance.deploy()
    token = appliance.admin_token()
    assert appliance.call("GET", "/api/models", token).status_code == 200  # reads /api/tags
    received = appliance.ollama.received
    received.clear()
    assert ask(appliance, token, "Hello") == CHAT_ANSWER
    file_id = upload_document(appliance, token)
    for question in ("When do tulips bloom?", "Where is Keukenhof?"):
        assert ask(appliance, token, question, file_id) == CHAT_ANSWER
    requests_to_ollama = [
        (path, body["model"], body.get("options") or {}, body.get("keep_alive"))
        for path, body in received
    ]
    # Open WebUI 0.12.4 asks for no context or keep-alive of its own: Ollama's defaults hold.
    assert {
        (options.get("num_ctx"), keep_alive) for _, _, options, keep_alive in requests_to_ollama
    } == {(None, None)}
    paths = [path for path, *_ in requests_to_ollama]
    assert paths.count("/api/embed") >= 3 and paths.count("/api/chat") >= 3, paths

    settings = load(appliance.settings)
    environment = {e["name"]: e["value"] for e in ollama_values(settings)["extraEnv"]}
    scheduler = Scheduler(environment, {"llama3.2:3b": 131072, "nomic-embed-text:latest": 2048})
    loads = [scheduler.request(model, options) for _, model, options, _ in requests_to_ollama]
    # The chat loads the chat model, the document's embedding the embedder; then nothing.
    assert [load for load in loads if load] == [["llama3.2:3b"], ["nomic-embed-text:latest"]]
    assert scheduler.unloads == []
    # With one loaded model (the appliance's value before issue 21), every switch reloads.
    one = Scheduler({**environment, "OLLAMA_MAX_LOADED_MODELS": "1"}, scheduler.train_context)
    swaps = sum(len(one.request(model, options)) for _, model, options, _ in requests_to_ollama)
    assert swaps >= 6, swaps


def test_resident_memory_fits_the_budget(appliance):
    """RSS after start and after the scenarios of one run (a chat, a document embedded and
    searched, a restart), against the request and limit in operations/webui.py."""
    appliance.deploy()
    used = use_it(appliance)
    appliance.deploy()
    assert_still_there(appliance, used, used["token"])
    appliance.stop()
    started = max(mib for moment, mib in MEMORY if moment == "after start")
    peak = max(mib for _, mib in MEMORY)
    progress(
        f"Open WebUI resident memory: {started:.0f} MiB after start, {peak:.0f} MiB at most "
        f"after the scenarios ({len(MEMORY)} readings)"
    )
    resources = RESOURCES["open-webui"]
    assert mebibytes(resources["requests"]["memory"]) >= peak >= started
    assert mebibytes(resources["limits"]["memory"]) >= peak * 1.25
