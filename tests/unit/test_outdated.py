"""appliance outdated against a local server on 127.0.0.1 that answers as OSV's query API and
GitHub's releases API document (google/osv.dev docs/api/post-v1-query.md: request, sample
response, `{}` for none, next_page_token; docs.github.com REST "Releases": tag_name, draft,
prerelease; "Rate limits for the REST API": 403 with x-ratelimit-remaining 0).

The advisory ids and summaries are those issue 20 quotes; the shapes are OSV's. The pins are
set here, literally, so the expected tables do not move when operations/pins.py does.
"""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from appliance import outdated  # noqa: I001
from appliance.cli import main  # first: pyinfra_cli's gevent patches ssl before requests loads
from operations import pins

PINS = {
    "cloudnative-pg chart": "0.29.0",
    "ollama image": "ollama/ollama:0.32.15",
    "open-webui app": "0.11.0",
    "netdata chart": "3.7.172",
}


def release(tag, draft=False, prerelease=False):
    """A release as GitHub's API lists it (the fields besides these are left out)."""
    return {
        "url": f"https://api.github.com/repos/x/y/releases/{abs(hash(tag))}",
        "html_url": f"https://github.com/x/y/releases/tag/{tag}",
        "id": abs(hash(tag)),
        "tag_name": tag,
        "target_commitish": "main",
        "name": tag,
        "draft": draft,
        "prerelease": prerelease,
        "created_at": "2026-12-01T10:00:00Z",
        "published_at": "2026-12-01T11:00:00Z",
        "assets": [],
        "body": "",
    }


def vuln(id_, aliases, summary, ecosystem, name, range_type, events):
    """A vulnerability as OSV's query answers it."""
    return {
        "id": id_,
        "summary": summary,
        "details": summary + ".",
        "aliases": aliases,
        "modified": "2026-12-02T08:00:00Z",
        "published": "2026-11-20T08:00:00Z",
        "affected": [
            {
                "package": {
                    "ecosystem": ecosystem,
                    "name": name,
                    "purl": f"pkg:{ecosystem.lower()}/{name}",
                },
                "ranges": [{"type": range_type, "events": events}],
                "database_specific": {"source": "https://github.com/advisories"},
            }
        ],
        "schema_version": "1.6.0",
    }


WEBUI_VULNS = [
    vuln(
        "GHSA-3vvh-g22g-jq6r",
        [],
        "Privilege escalation through the tools API",
        "PyPI",
        "open-webui",
        "ECOSYSTEM",
        [{"introduced": "0"}, {"fixed": "0.12.2"}],
    ),
    vuln(
        "GHSA-5x7q-9c2m-w4hr",
        ["CVE-2026-109286"],
        "Session token theft from any website",
        "PyPI",
        "open-webui",
        "ECOSYSTEM",
        # Fixed in 0.10.2, brought back in 0.11.0: the fix after the pin is 0.11.4.
        [
            {"introduced": "0.6.0"},
            {"fixed": "0.10.2"},
            {"introduced": "0.11.0"},
            {"fixed": "0.11.4"},
        ],
    ),
]
OLLAMA_VULNS = [
    vuln(
        "GHSA-7r2f-hq6x-pv3c",
        ["CVE-2026-85180", "GO-2026-4410"],
        "SSRF through /api/pull",
        "Go",
        "github.com/ollama/ollama",
        "SEMVER",
        [
            {"introduced": "0.30.0"},
            {"fixed": "0.33.2"},
            {"introduced": "0.34.0"},
            {"fixed": "0.34.5"},
        ],
    ),
    # The Go database's entry for the same hole: one advisory, not two.
    vuln(
        "GO-2026-4410",
        ["CVE-2026-85180", "GHSA-7r2f-hq6x-pv3c"],
        "SSRF through /api/pull in github.com/ollama/ollama",
        "Go",
        "github.com/ollama/ollama",
        "SEMVER",
        [{"introduced": "0.30.0"}, {"fixed": "0.33.2"}],
    ),
]
RELEASES = {
    "k3s-io/k3s": [
        release("v1.37.1+k3s1"),
        release("v1.36.9+k3s1", prerelease=True),
        release("v1.36.8-rc1+k3s1", prerelease=True),
        release("v1.36.7+k3s2", draft=True),
        release("v1.36.7+k3s1"),
        release("v1.36.6+k3s1"),
        release("v1.35.9+k3s1"),
    ],
    "traefik/traefik": release("v3.7.15"),
    "ollama/ollama": release("v0.40.1"),
    "open-webui/open-webui": release("v0.12.4"),
    "cloudnative-pg/cloudnative-pg": release("v1.30.2"),
    "netdata/netdata": release("v2.11.1"),
}


class Upstream(BaseHTTPRequestHandler):
    """GET /repos/OWNER/REPO/releases[/latest] and POST /v1/query from the server's tables."""

    def answer(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.seen.append(("GET", self.path, self.headers.get("Authorization")))
        if self.server.github_limited:
            return self.answer(
                403,
                {
                    "message": "API rate limit exceeded for 198.51.100.7.",
                    "documentation_url": "https://docs.github.com/rest/overview/"
                    "rate-limits-for-the-rest-api",
                },
                [
                    ("x-ratelimit-limit", "60"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", "1796000000"),
                ],
            )
        repository = "/".join(self.path.split("/")[2:4])
        if self.path.endswith("/releases/latest"):
            return self.answer(200, RELEASES[repository])
        if self.path.endswith("/releases?per_page=100"):
            return self.answer(200, RELEASES[repository])
        self.answer(404, {"message": "Not Found"})

    def do_POST(self):  # noqa: N802
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append(("POST", self.path, query))
        answer = self.server.osv.get(query["package"]["name"], {})
        self.answer(200, answer)

    def log_message(self, *arguments):
        pass


@pytest.fixture
def upstream(monkeypatch, tmp_path):
    """The local server, with the command pointed at it, the pins above and the cache here."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.seen, server.osv, server.github_limited = [], {}, False
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("LLM_APPLIANCE_OSV_URL", url)
    monkeypatch.setenv("LLM_APPLIANCE_GITHUB_URL", url)
    monkeypatch.setenv("LLM_APPLIANCE_CACHE", str(tmp_path / "cache"))
    for name in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
        "GITHUB_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pins, "PINNED_VERSIONS", dict(PINS))
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def inventory(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(
        'appliance = [("203.0.113.10", {"webui_domain": "chat.example.com", '
        '"monitor_domain": "monitor.example.com", "acme_email": "a@example.com", '
        '"k3s_version": "v1.36.5+k3s1"})]\n'
    )
    return str(path)


def run(inventory):
    return CliRunner().invoke(main, ["outdated", inventory])


def test_pins_with_advisories_are_listed_with_their_fix_and_exit_1(upstream, inventory):
    upstream.osv = {
        "open-webui": {"vulns": WEBUI_VULNS},
        "github.com/ollama/ollama": {"vulns": OLLAMA_VULNS},
    }
    result = run(inventory)
    assert result.exit_code == 1, result.output
    assert result.output == (
        "component       pinned         newest        advisories affecting the pin\n"
        "k3s             v1.36.5+k3s1   v1.36.7+k3s1  not looked up: no advisory source asked\n"
        "traefik         k3s's own      v3.7.15       not looked up: the appliance does not pin it\n"
        "ollama          0.32.15        v0.40.1       GHSA-7r2f-hq6x-pv3c (CVE-2026-85180) fixed in "
        "0.33.2: SSRF through /api/pull\n"
        "open-webui      0.11.0         v0.12.4       GHSA-3vvh-g22g-jq6r fixed in 0.12.2: Privilege "
        "escalation through the tools API\n"
        "                                             GHSA-5x7q-9c2m-w4hr (CVE-2026-109286) fixed in "
        "0.11.4: Session token theft from any website\n"
        "cloudnative-pg  chart 0.29.0   v1.30.2       not looked up: no advisory source asked\n"
        "netdata         chart 3.7.172  v2.11.1       not looked up: no advisory source asked\n"
        "3 known advisories affect the pins (ollama 0.32.15: 1, open-webui 0.11.0: 2); upgrade "
        "them in operations/pins.py PINNED_VERSIONS\n"
    )
    # OSV was asked exactly as its API documents; Go versions without the tag's "v".
    assert [seen[2] for seen in upstream.seen if seen[0] == "POST"] == [
        {"package": {"name": "github.com/ollama/ollama", "ecosystem": "Go"}, "version": "0.32.15"},
        {"package": {"name": "open-webui", "ecosystem": "PyPI"}, "version": "0.11.0"},
    ]


def test_all_current_exits_0_and_asks_osv_for_a_pinned_traefik(upstream, inventory):
    pins.PINNED_VERSIONS.update(
        {
            "traefik image": "traefik:v3.7.15",
            "open-webui app": "0.12.4",
            "ollama image": "ollama/ollama:0.40.1",
        }
    )
    result = run(inventory)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[2:5] == [
        "traefik         v3.7.15        v3.7.15       none known",
        "ollama          0.40.1         v0.40.1       none known",
        "open-webui      0.12.4         v0.12.4       none known",
    ]
    assert result.output.splitlines()[-1] == "no known advisory affects the pins"
    assert {
        "package": {"name": "github.com/traefik/traefik/v3", "ecosystem": "Go"},
        "version": "3.7.15",
    } in [seen[2] for seen in upstream.seen]


def test_one_advisory_is_said_in_the_singular():
    advisory = outdated.Advisory("GHSA-3vvh-g22g-jq6r", (), "Privilege escalation", "0.12.2")
    rows = [
        outdated.Row("open-webui", "0.11.0", "v0.12.4", (advisory,)),
        outdated.Row("k3s", "v1.36.5+k3s1", "v1.36.7+k3s1", None, "no advisory source asked"),
    ]
    assert outdated.verdict(rows) == (
        "1 known advisory affects the pins (open-webui 0.11.0: 1); "
        "upgrade them in operations/pins.py PINNED_VERSIONS"
    )


def test_newest_k3s_is_the_newest_patch_of_the_pinned_minor():
    releases = RELEASES["k3s-io/k3s"]
    assert outdated.newest_patch(releases, "v1.36.5+k3s1") == "v1.36.7+k3s1"
    assert outdated.newest_patch(releases, "v1.35.1+k3s1") == "v1.35.9+k3s1"
    assert outdated.newest_patch(releases, "v1.34.1+k3s1") is None


def test_a_server_that_is_down_is_one_line_and_exit_2(upstream, inventory, monkeypatch):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("LLM_APPLIANCE_GITHUB_URL", f"http://127.0.0.1:{port}")
    result = run(inventory)
    assert result.exit_code == 2
    assert result.output == (
        f"appliance outdated: offline: cannot reach 127.0.0.1:{port} "
        "(connection refused); check the network (or https_proxy) and run "
        "it again\n"
    )


def test_a_server_that_never_answers_is_one_line_and_exit_2(upstream, inventory, monkeypatch):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    port = silent.getsockname()[1]
    monkeypatch.setattr(outdated, "TIMEOUT_S", 0.3)
    monkeypatch.setenv("LLM_APPLIANCE_GITHUB_URL", f"http://127.0.0.1:{port}")
    try:
        result = run(inventory)
    finally:
        silent.close()
    assert result.exit_code == 2
    assert result.output == (
        f"appliance outdated: offline: 127.0.0.1:{port} did not answer "
        "within 0.3 s; check the network (or https_proxy) and run it again\n"
    )


@pytest.mark.parametrize(
    "answer, line",
    [
        (b"<html>502 Bad Gateway</html>", "/v1/query answered something that is not JSON"),
        (
            {"vulns": {"id": "GHSA-3vvh-g22g-jq6r"}},
            "/v1/query answered something else than OSV's vulns for open-webui",
        ),
        (
            {"vulns": [{"summary": "no id"}]},
            "OSV's answer for open-webui is not shaped as its schema says",
        ),
    ],
)
def test_a_malformed_answer_is_one_line_and_exit_2(upstream, inventory, answer, line):
    upstream.osv = {"open-webui": answer}
    result = run(inventory)
    assert result.exit_code == 2
    url = f"http://127.0.0.1:{upstream.server_address[1]}"
    assert result.output == f"appliance outdated: {line.replace('/v1', url + '/v1', 1)}\n"


def test_a_rate_limit_is_one_line_naming_github_token(upstream, inventory):
    upstream.github_limited = True
    result = run(inventory)
    assert result.exit_code == 2
    assert result.output == (
        f"appliance outdated: 127.0.0.1:{upstream.server_address[1]} is rate-limiting this "
        "address (60 requests an hour without a token; set GITHUB_TOKEN; try again after 00:53 "
        "UTC)\n"
    )
    assert upstream.seen[0][2] is None


def test_github_token_goes_to_github_only_and_is_never_printed(upstream, inventory, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secret0123456789")
    upstream.github_limited = True
    result = run(inventory)
    assert result.exit_code == 2
    assert "the GITHUB_TOKEN's limit is spent" in result.output
    assert "ghp_secret" not in result.output
    assert upstream.seen[0][2] == "Bearer ghp_secret0123456789"
    upstream.github_limited = False
    run(inventory)
    assert all(
        "ghp_secret" not in json.dumps(seen[2]) for seen in upstream.seen if seen[0] == "POST"
    )


def test_status_line_comes_from_the_last_complete_check(upstream, inventory):
    assert outdated.status_line("v1.36.5+k3s1") is None
    upstream.osv = {"open-webui": {"vulns": WEBUI_VULNS}}
    assert run(inventory).exit_code == 1
    checked = json.loads(outdated.cache_file().read_text())["checked"]
    assert outdated.status_line("v1.36.5+k3s1") == (
        "advisories: 2 known advisories affect the pins (open-webui 0.11.0: 2); upgrade them in "
        f"operations/pins.py PINNED_VERSIONS (appliance outdated, {checked})"
    )
    pins.PINNED_VERSIONS["open-webui app"] = "0.12.4"
    assert outdated.status_line("v1.36.5+k3s1") == (
        f"advisories: the pins changed since appliance outdated ran ({checked}); run it again"
    )
    pins.PINNED_VERSIONS["open-webui app"] = "0.11.0"
    assert outdated.status_line("v1.36.6+k3s1").startswith("advisories: the pins changed")
    # An offline run leaves the last complete check as it was.
    upstream.github_limited = True
    assert run(inventory).exit_code == 2
    assert json.loads(outdated.cache_file().read_text())["checked"] == checked
