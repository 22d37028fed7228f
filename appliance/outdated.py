"""`appliance outdated`: for each pinned component, the newest upstream release and the published
advisories that affect the pinned version, read from the operator's machine (never the server).

    lines, exit_code = check_pins("v1.36.5+k3s1")

Sources, one request each (9 in all), through `requests` (so https_proxy, no_proxy and
REQUESTS_CA_BUNDLE apply as requests applies them), each with a `TIMEOUT_S` limit:

- OSV's query API, `POST {LLM_APPLIANCE_OSV_URL or https://api.osv.dev}/v1/query` with
  ``{"package": {"name": ..., "ecosystem": ...}, "version": ...}``; the answer is
  ``{"vulns": [{"id", "aliases", "summary", "affected": [{"package", "ranges": [{"type",
  "events": [{"introduced"}, {"fixed"}]}]}]}], "next_page_token"?}``, and ``{}`` when nothing
  affects the version (google/osv.dev docs/api/post-v1-query.md: parameters, sample response,
  pagination by page_token). OSV matches the version itself: every vuln it returns affects the
  pin. Asked for PyPI `open-webui`, Go `github.com/ollama/ollama` and, when the appliance pins
  Traefik's image (PINNED_VERSIONS["traefik image"]), Go `github.com/traefik/traefik/v3`;
  Go versions go without the tag's "v", as the Go vulnerability database writes them in its
  SEMVER ranges.
- GitHub's releases API, `GET {LLM_APPLIANCE_GITHUB_URL or https://api.github.com}/repos/
  OWNER/REPO/releases/latest` (its `tag_name`: the newest release not marked draft or
  pre-release); for k3s `GET .../repos/k3s-io/k3s/releases?per_page=100` instead (the list,
  newest first, `tag_name`, `draft`, `prerelease`), from which the newest patch of the pinned
  minor is picked (`newest_patch`): k3s publishes several minors side by side, and moving to
  another minor is an upgrade the appliance decides, not a fix. Without a token GitHub allows
  60 requests an hour per address; GITHUB_TOKEN, when set, goes as `Authorization: Bearer` to
  GitHub only and is never printed (docs.github.com, REST API "Rate limits for the REST API":
  403 or 429 with x-ratelimit-remaining 0, or retry-after, when spent).

Charts are published as chart repositories (index.yaml), but their versions are not compared
here: the releases named are the applications', and a chart pin shows as "chart X.Y.Z".

Exit codes: 0 no known advisory affects a pin, 1 one does (each listed with the version that
fixes it), 2 the check could not be made (offline, a timeout, a rate limit, an answer not shaped
as documented): one line says which, and nothing else is printed.

A complete check is remembered (`cache_file()`, JSON) so that `appliance status`, which cron and
monitoring run and which must never wait on the internet, can add one line from it
(`status_line`) without a request.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from appliance.rootfs import cache_root
from operations import pins

OSV_URL = "https://api.osv.dev"
GITHUB_URL = "https://api.github.com"
# Seconds for each request to connect, and again to answer: offline fails in one line, soon.
TIMEOUT_S = 5
EXIT_CURRENT, EXIT_ADVISORY, EXIT_UNCHECKED = 0, 1, 2
K3S_RELEASE_RE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)$")


class CheckFailed(Exception):
    """The check could not be made; the message is one line saying why and what to do."""


@dataclass(frozen=True)
class Upstream:
    """A pinned component: its key in PINNED_VERSIONS (None: the inventory's k3s_version), its
    GitHub repository, and its OSV package as (ecosystem, name) where OSV is asked."""

    component: str
    pin: str | None
    repository: str
    osv: tuple[str, str] | None = None


UPSTREAMS = (
    Upstream("k3s", None, "k3s-io/k3s"),
    Upstream(
        "traefik", "traefik image", "traefik/traefik", ("Go", "github.com/traefik/traefik/v3")
    ),
    Upstream("ollama", "ollama image", "ollama/ollama", ("Go", "github.com/ollama/ollama")),
    Upstream("open-webui", "open-webui app", "open-webui/open-webui", ("PyPI", "open-webui")),
    Upstream("cloudnative-pg", "cloudnative-pg chart", "cloudnative-pg/cloudnative-pg"),
    Upstream("netdata", "netdata chart", "netdata/netdata"),
)


@dataclass(frozen=True)
class Advisory:
    """One published advisory: its id, its CVE aliases, summary, and the first release after the
    pin that fixes it (None: no fix published)."""

    id: str
    cves: tuple[str, ...]
    summary: str
    fixed: str | None


@dataclass(frozen=True)
class Row:
    """A component's line: pinned as shown, newest release, and the advisories affecting the pin
    (None where no advisory source was asked, with `note` saying why)."""

    component: str
    pinned: str
    newest: str
    advisories: tuple[Advisory, ...] | None
    note: str = ""


def release_key(version: str) -> tuple[int, ...]:
    """A release's numeric parts for ordering: 'v0.12.4' -> (0, 12, 4), '3.7.15-rc1' ->
    (3, 7, 15) (a pre-release counts as its release), 'trixie' -> ()."""
    match = re.match(r"v?(\d+(?:\.\d+)*)", version)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def newest_patch(releases: list, pinned: str) -> str | None:
    """The newest k3s release of `pinned`'s minor in GitHub's release list: tags vX.Y.Z+k3sN,
    neither draft nor pre-release, highest (Z, N); None if the list holds none of that minor.
    newest_patch([{"tag_name": "v1.36.7+k3s1", ...}], "v1.36.5+k3s1") -> 'v1.36.7+k3s1'.
    ValueError when `pinned` is not of that form (the settings' k3s_version parser refuses it)."""
    pin = K3S_RELEASE_RE.match(pinned)
    if pin is None:
        raise ValueError(f"{pinned!r} is not a k3s release vX.Y.Z+k3sN")
    minor = pin.groups()[:2]
    found = []
    for release in releases:
        match = K3S_RELEASE_RE.match(release["tag_name"])
        if (
            match
            and match.groups()[:2] == minor
            and not release["draft"]
            and not release["prerelease"]
        ):
            found.append(((int(match.group(3)), int(match.group(4))), release["tag_name"]))
    return max(found)[1] if found else None


def fixed_in(vuln: dict, ecosystem: str, name: str, version: str) -> str | None:
    """The lowest `fixed` event above `version` in the vuln's SEMVER or ECOSYSTEM ranges for
    this package (OSV schema: affected[].ranges[].events), or None when none is published."""
    fixes = [
        event["fixed"]
        for affected in vuln.get("affected", [])
        if affected.get("package", {}).get("ecosystem") == ecosystem
        and affected.get("package", {}).get("name", "").lower() == name.lower()
        for range_ in affected.get("ranges", [])
        if range_["type"] in ("SEMVER", "ECOSYSTEM")
        for event in range_["events"]
        if "fixed" in event
    ]
    later = [fix for fix in fixes if release_key(fix) > release_key(version)]
    return min(later, key=release_key) if later else None


def advisories(vulns: list, ecosystem: str, name: str, version: str) -> tuple[Advisory, ...]:
    """OSV's vulns as advisories, one per advisory: a vuln whose id or aliases name one already
    listed (the Go database's GO-… beside GitHub's GHSA-… for the same hole) is left out, as is
    a withdrawn one."""
    found: list[Advisory] = []
    seen: set[str] = set()
    for vuln in vulns:
        names = {vuln["id"], *vuln.get("aliases", [])}
        if names & seen or vuln.get("withdrawn"):
            continue
        seen |= names
        found.append(
            Advisory(
                vuln["id"],
                tuple(sorted(a for a in vuln.get("aliases", []) if a.startswith("CVE-"))),
                " ".join(vuln.get("summary", "").split()),
                fixed_in(vuln, ecosystem, name, version),
            )
        )
    return tuple(found)


class Upstreams:
    """The two APIs, through one requests session; each method returns what it read or raises
    CheckFailed."""

    def __init__(self):
        self.osv_url = os.environ.get("LLM_APPLIANCE_OSV_URL", OSV_URL).rstrip("/")
        self.github_url = os.environ.get("LLM_APPLIANCE_GITHUB_URL", GITHUB_URL).rstrip("/")
        self.session = requests.Session()
        self.github_headers = {"Accept": "application/vnd.github+json"}
        if os.environ.get("GITHUB_TOKEN"):
            self.github_headers["Authorization"] = f"Bearer {os.environ['GITHUB_TOKEN']}"

    def _json(self, method: str, url: str, **arguments):
        host = urlsplit(url).netloc
        try:
            response = self.session.request(method, url, timeout=TIMEOUT_S, **arguments)
        except requests.Timeout:
            raise CheckFailed(
                f"offline: {host} did not answer within {TIMEOUT_S} s; "
                "check the network (or https_proxy) and run it again"
            ) from None
        except requests.ConnectionError as error:
            reason = (
                "DNS lookup failed"
                if "resolv" in str(error).lower()
                else (
                    "connection refused"
                    if "refused" in str(error).lower()
                    else type(error).__name__
                )
            )
            raise CheckFailed(
                f"offline: cannot reach {host} ({reason}); check the network "
                "(or https_proxy) and run it again"
            ) from None
        except requests.RequestException as error:
            raise CheckFailed(f"cannot ask {url}: {type(error).__name__}") from None
        if (
            response.status_code == 429
            or response.status_code == 403
            and (
                response.headers.get("x-ratelimit-remaining") == "0"
                or "retry-after" in response.headers
            )
        ):
            raise CheckFailed(
                f"{host} is rate-limiting this address ({self._rate_limit(response)})"
            )
        if response.status_code != 200:
            raise CheckFailed(f"{url} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise CheckFailed(f"{url} answered something that is not JSON") from None

    def _rate_limit(self, response: requests.Response) -> str:
        reset = response.headers.get("x-ratelimit-reset", "")
        when = (
            datetime.datetime.fromtimestamp(int(reset), datetime.timezone.utc).strftime(
                "after %H:%M UTC"
            )
            if reset.isdigit()
            else f"in {response.headers.get('retry-after', 'a while')} s"
        )
        who = (
            "the GITHUB_TOKEN's limit is spent"
            if "Authorization" in self.github_headers
            else "60 requests an hour without a token; set GITHUB_TOKEN"
        )
        return f"{who}; try again {when}"

    def latest_release(self, repository: str) -> str:
        """The tag of the repository's latest release, e.g. 'v0.12.4'."""
        url = f"{self.github_url}/repos/{repository}/releases/latest"
        answer = self._json("GET", url, headers=self.github_headers)
        if not isinstance(answer, dict) or not isinstance(answer.get("tag_name"), str):
            raise CheckFailed(f"{url} answered without a tag_name")
        return answer["tag_name"]

    def releases(self, repository: str) -> list:
        """The repository's newest 100 releases, as GitHub lists them."""
        url = f"{self.github_url}/repos/{repository}/releases?per_page=100"
        answer = self._json("GET", url, headers=self.github_headers)
        if not isinstance(answer, list) or not all(
            isinstance(r, dict) and {"tag_name", "draft", "prerelease"} <= r.keys() for r in answer
        ):
            raise CheckFailed(f"{url} answered something else than a list of releases")
        return answer

    def vulns(self, ecosystem: str, name: str, version: str) -> list:
        """Every OSV vuln affecting that version of the package, all pages."""
        url, found, query = (
            f"{self.osv_url}/v1/query",
            [],
            {"package": {"name": name, "ecosystem": ecosystem}, "version": version},
        )
        while True:
            answer = self._json("POST", url, json=query)
            if not isinstance(answer, dict) or not isinstance(answer.get("vulns", []), list):
                raise CheckFailed(f"{url} answered something else than OSV's vulns for {name}")
            found += answer.get("vulns", [])
            if not answer.get("next_page_token"):
                return found
            query = {**query, "page_token": answer["next_page_token"]}


def pinned(upstream: Upstream, k3s_version: str) -> tuple[str | None, str]:
    """The version pinned now (read from PINNED_VERSIONS at each call: an image's tag, a chart's
    version, the inventory's k3s_version; None when nothing pins it) and how the table shows it:
    ('0.29.0', 'chart 0.29.0'), ('0.12.4', '0.12.4'), (None, "k3s's own")."""
    if upstream.pin is None:
        return k3s_version, k3s_version
    pin = pins.PINNED_VERSIONS.get(upstream.pin)
    if pin is None:
        return None, "k3s's own"
    version = pin.rsplit(":", 1)[-1]
    return version, f"chart {version}" if upstream.pin.endswith("chart") else version


def read_row(api: Upstreams, upstream: Upstream, k3s_version: str) -> Row:
    """One component's row, read from GitHub and (where it has an OSV package) OSV."""
    version, shown = pinned(upstream, k3s_version)
    if upstream.pin is None:
        newest = newest_patch(api.releases(upstream.repository), k3s_version) or (
            "none of this minor in the newest 100 releases"
        )
    else:
        newest = api.latest_release(upstream.repository)
    if version is None:
        return Row(upstream.component, shown, newest, None, "the appliance does not pin it")
    if upstream.osv is None:
        return Row(upstream.component, shown, newest, None, "no advisory source asked")
    ecosystem, name = upstream.osv
    asked = version.removeprefix("v") if ecosystem == "Go" else version
    try:
        found = advisories(api.vulns(ecosystem, name, asked), ecosystem, name, asked)
    except (KeyError, TypeError, AttributeError):
        raise CheckFailed(f"OSV's answer for {name} is not shaped as its schema says") from None
    return Row(upstream.component, shown, newest, found)


def table(rows: list[Row]) -> list[str]:
    """The rows as aligned text: component, pinned, newest, then one line per advisory."""
    lines = [("component", "pinned", "newest", "advisories affecting the pin")]
    for row in rows:
        if row.advisories is None:
            details = [f"not looked up: {row.note}"]
        else:
            details = [
                f"{a.id}{' (' + ', '.join(a.cves) + ')' if a.cves else ''} fixed in "
                f"{a.fixed or 'no release yet'}: {a.summary}"
                for a in row.advisories
            ] or ["none known"]
        lines.append((row.component, row.pinned, row.newest, details[0]))
        lines += [("", "", "", detail) for detail in details[1:]]
    widths = [max(len(line[column]) for line in lines) for column in range(3)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[3]
        for line in lines
    ]


def verdict(rows: list[Row]) -> str:
    """One line: which pins known advisories affect, or that none does."""
    affected = [
        f"{row.component} {row.pinned}: {len(row.advisories)}" for row in rows if row.advisories
    ]
    if not affected:
        return "no known advisory affects the pins"
    count = sum(len(row.advisories) for row in rows if row.advisories)
    known = "1 known advisory affects" if count == 1 else f"{count} known advisories affect"
    return (
        f"{known} the pins ({', '.join(affected)}); upgrade them in operations/pins.py "
        "PINNED_VERSIONS"
    )


def cache_file() -> Path:
    """Where the last complete check is kept: ~/.cache/llm-appliance/outdated.json
    (LLM_APPLIANCE_CACHE overrides the folder)."""
    return cache_root() / "outdated.json"


def current_pins(k3s_version: str) -> dict[str, str]:
    """Each component's pin as the table shows it, e.g. {'k3s': 'v1.36.5+k3s1', ...}."""
    return {upstream.component: pinned(upstream, k3s_version)[1] for upstream in UPSTREAMS}


def check_pins(k3s_version: str) -> tuple[list[str], int]:
    """Read every component's row; the lines to print and the exit code. Raises CheckFailed."""
    api = Upstreams()
    rows = [read_row(api, upstream, k3s_version) for upstream in UPSTREAMS]
    checked = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cache_file().parent.mkdir(parents=True, exist_ok=True)
    cache_file().write_text(
        json.dumps(
            {"checked": checked, "pins": current_pins(k3s_version), "verdict": verdict(rows)}
        )
    )
    return table(rows) + [verdict(rows)], (
        EXIT_ADVISORY if any(row.advisories for row in rows) else EXIT_CURRENT
    )


def status_line(k3s_version: str) -> str | None:
    """`appliance status`'s line from the last complete check, without a request: its verdict
    and date, or a request to run it again when a pin changed since; None if it never ran."""
    try:
        cached = json.loads(cache_file().read_text())
        checked, pins_then, said = cached["checked"], cached["pins"], cached["verdict"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pins_then != current_pins(k3s_version):
        return (
            f"advisories: the pins changed since appliance outdated ran ({checked}); run it again"
        )
    return f"advisories: {said} (appliance outdated, {checked})"
