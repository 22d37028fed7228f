"""Value parsers: each takes a setting's raw value (from an inventory or `--data`) and returns
the normalised value, or raises `Invalid` whose text, after the setting's name, says what is
wrong and the fix: ``cidr("192.0.2.7/24")`` raises "has '192.0.2.7/24', whose address has host
bits set for a /24: ...". operations/settings_table.py names the parser of every setting.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from operations import certificates
from operations.cron import CRON_FIELDS, cron_field_problem
from operations.errors import Invalid, WrongType
from operations.names import LAYERS
from operations.pins import PINNED_VERSIONS, TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR
from operations.sftp import sftp_login
from operations.webui_env import Oidc, discovery_url, secret_key

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
        raise WrongType(f"expected a string, got {type(value).__name__}")
    return value.strip()


def _list(value: Any) -> list:
    """A list, or a comma-separated string as `--data key=a,b` gives it."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    raise WrongType(f"expected a list, got {type(value).__name__}")


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
        # Not a string (true for 'tls'): the same line as any other wrong choice.
        choice = value.strip().lower() if isinstance(value, str) else None
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


def looked_for(path: Path) -> str:
    """Where a relative path that names nothing was looked for, to follow "is not a file on
    this machine": ``looked_for(Path("a.env"))`` gives " (looked for at /home/me/a.env: a
    relative path is read from the current folder)"; an absolute path gives ""."""
    if path.is_absolute():
        return ""
    return f" (looked for at {Path.cwd() / path}: a relative path is read from the current folder)"


# uname -m -> (binary asset name, release arch name) of a k3s release.
K3S_ASSETS = {"x86_64": ("k3s", "amd64"), "aarch64": ("k3s-arm64", "arm64")}


def airgap_lacks(folder: Path, arch: str) -> list[str]:
    """The files of a k3s release that an air-gap install on `arch` (uname -m) needs and
    `folder` lacks (README: Air-gap; operations/k3s.py uploads them), the images as the
    README names them: ``airgap_lacks(Path("/empty"), "aarch64")`` gives ['k3s-arm64',
    'sha256sum-arm64.txt', 'install.sh', 'k3s-airgap-images-arm64.tar.zst']."""
    asset, release_arch = K3S_ASSETS[arch]
    needed = (asset, f"sha256sum-{release_arch}.txt", "install.sh")
    missing = [name for name in needed if not (folder / name).is_file()]
    images = f"k3s-airgap-images-{release_arch}.tar"
    if not any(path.is_file() for path in folder.glob(f"{images}*")):
        missing.append(f"{images}.zst")
    return missing


def airgap_directory(value: Any) -> str:
    """A folder on this machine with a k3s release's air-gap files for one architecture (the
    hosts' is read only when the deploy runs, where operations/k3s.py checks that one's)."""
    path = Path(_string(value)).expanduser()
    if not path.is_dir():
        raise Invalid(
            f"is not a folder on this machine{looked_for(path)}; give the folder with the k3s "
            "air-gap files"
        )
    # The architecture closest to complete; on a tie (an empty folder) the first, x86_64.
    lacks = {arch: airgap_lacks(path, arch) for arch in K3S_ASSETS}
    missing = min(lacks.values(), key=len)
    if missing:
        other = ""
        if missing == lacks["x86_64"] and len(missing) == len(lacks["x86_64"]) == 4:
            arm = [name for name in lacks["aarch64"] if name != "install.sh"]
            other = f" (an arm64 host: {', '.join(arm)})"
        raise Invalid(
            f"lacks {', '.join(missing)}; put there these files of the k3s release that "
            f"k3s_version names{other}"
        )
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
            f"has malformed model names {bad}; use name:tag in lower case, e.g. llama3.2:3b "
            "(the tag pins what is pulled: `ollama pull llama3.2` takes llama3.2:latest)"
        )
    return tuple(dict.fromkeys(models))


def model_sizes(value: Any) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        # Written as JSON, which both an inventory (Python) and `--data` (pyinfra 3.10
        # pyinfra_cli/util.py parse_cli_arg: true/false, an integer, else JSON, else the
        # string) read as a mapping.
        raise Invalid(
            'must map model names to sizes in GiB, e.g. {"mymodel:7b": 4.5} '
            """(on the command line: --data 'ollama_model_sizes={"mymodel:7b": 4.5}')"""
        )
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
        raise Invalid(
            'must map model names to local GGUF files, e.g. {"mine:7b": "~/models/mine.gguf"}'
        )
    found = {}
    for model, path in value.items():
        if not MODEL_RE.match(str(model)):
            raise Invalid(f"has a malformed model name {model!r}; use name:tag")
        file = Path(_string(path)).expanduser()
        if not file.is_file():
            raise Invalid(
                f"names {str(file)!r} for {model}, which is not a file on this machine"
                f"{looked_for(file)}"
            )
        found[str(model)] = str(file.resolve())
    return MappingProxyType(found)


def cron_schedule(value: Any) -> str:
    schedule = _string(value)
    fields = schedule.split()
    if len(fields) != len(CRON_FIELDS):
        raise Invalid("is not a cron schedule of five fields; use e.g. '30 3 * * *' (03:30 daily)")
    for text, (name, low, high) in zip(fields, CRON_FIELDS, strict=True):
        problem = cron_field_problem(text, low, high)
        if problem:
            raise Invalid(
                f"is not a cron schedule: its {name} field {problem}; "
                "use e.g. '30 3 * * *' (03:30 daily)"
            )
    return schedule


RESTIC_BACKENDS = ("sftp:", "s3:", "rest:", "b2:")


def restic_repository(value: Any) -> str:
    repository = _string(value)
    if not (repository.startswith(RESTIC_BACKENDS) or repository.startswith("/")):
        raise Invalid(
            "is not a restic repository; use one such as sftp:user@host:/path, "
            "s3:host/bucket, rest:https://host/, b2:bucket:path or an absolute path "
            "such as /mnt/nas/restic"
        )
    if repository.startswith("sftp:"):
        sftp_login(repository)
    return repository


def local_file(value: Any) -> str:
    file = Path(_string(value)).expanduser()
    if not file.is_file():
        raise Invalid(f"names {str(file)!r}, which is not a file on this machine{looked_for(file)}")
    return str(file.resolve())


def lego_dns_provider(value: Any) -> str:
    name = _string(value).lower()
    problem = certificates.dns_provider_problem(name)
    if problem:
        raise Invalid(problem)
    return name


def emails(value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(email(item) for item in _list(value)))


def _not_whole(value: Any, need: str) -> Invalid:
    """The refusal of a value that is not the whole number `need` says; a number in quotes
    (the YAML or JSON string "587") is told to lose them, as its example looks the same:
    ``_not_whole("587", "must be ...")`` says "must be ...; write it without quotes"."""
    if isinstance(value, str) and value.strip().isdigit():
        return Invalid(f"{need}; write it without quotes")
    return Invalid(need)


def port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise _not_whole(value, "must be a TCP port, a whole number from 1 to 65535, e.g. 587")
    return value


def host_name(value: Any) -> str:
    """A host name or an IP address: ``host_name("SMTP.Example.com")`` gives 'smtp.example.com'."""
    return host_names([value])[0]


def login(value: Any) -> str:
    name = _string(value)
    if not name or any(char.isspace() or char in "\"'\\" for char in name):
        raise Invalid("must be a login name without spaces or quotes, e.g. alerts@example.com")
    return name


def http_url(example: str) -> Callable[[Any], str]:
    """A parser of http(s) URLs with a host whose fix shows `example`, a URL that fits the
    setting: ``http_url("https://ntfy.sh/my-appliance")("https://ntfy.sh/mine")`` gives the
    URL. Netdata hands it to curl, which would read other schemes (file:, ...) too."""

    def parse(value: Any) -> str:
        url = _string(value)
        parts = urllib.parse.urlsplit(url)
        if (
            parts.scheme not in ("https", "http")
            or not parts.hostname
            or any(c.isspace() for c in url)
        ):
            raise Invalid(f"is not an http(s) URL; use one like {example}")
        return url

    return parse


# What alert_secrets_file may hold: the secrets of Netdata's alert routes, each stored as a key of
# the Secret ALERT_SECRET (operations/alerts.py reads them there).
SLACK_EXAMPLE = "https://hooks.slack.com/services/..."
ALERT_SECRET_KEYS = ("SMTP_PASSWORD", "SLACK_WEBHOOK_URL", "NTFY_ACCESS_TOKEN", "WEBHOOK_TOKEN")


def _expands(raw: str) -> bool:
    """Whether a shell would expand something in `raw` ($ or ` outside single quotes, ~ outside
    quotes), which shlex, reading the quotes only, would keep as it is."""
    quote = ""
    escaped = False
    for char in raw:
        if escaped:
            # In double quotes, \\$ and \\` are $ and ` to a shell, kept whole by shlex.
            escaped = False
            if quote and char in "$`":
                return True
        elif quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif char in "$`" or (char == "~" and not quote):
            return True
        elif char == '"' or (char == "'" and not quote):
            quote = "" if quote == char else char
    return False


def stays_inside(url: str) -> bool:
    """Whether a token sent to `url` stays off the network or encrypted: https, or http to a
    loopback address (the parent pod itself: a sidecar) or to a Service in the cluster
    (NAME.NAMESPACE.svc[.cluster.local]), whose traffic is the cluster's own, as the apps'
    plain-HTTP calls are (Open WebUI to http://ollama.llm.svc.cluster.local:11434)."""
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme != "http" or host == "localhost":
        return True
    if host.endswith((".svc", ".svc.cluster.local")):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_alert_secrets(path: str) -> dict[str, str]:
    """The KEY='VALUE' (or KEY=VALUE, KEY="VALUE") lines of an alert secrets file, each value
    read as a POSIX shell reads that one word (shlex in POSIX mode: 'it'\\''s' is it's), blank
    lines and # comments skipped: ``{"SMTP_PASSWORD": "..."}``. Raises Invalid naming the line
    and its key, never its value: a value that is not one word (a quote left open), or that a
    shell would expand ($, `, ~)."""
    found = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, raw = line.partition("=")
        if not equals or key not in ALERT_SECRET_KEYS:
            raise Invalid(
                f"line {number} is not KEY='VALUE' with KEY one of {', '.join(ALERT_SECRET_KEYS)}"
            )
        try:
            words = shlex.split(raw)
        except ValueError:
            words = []
        # KEY= VALUE is to a shell an empty KEY, then the command VALUE.
        if raw.strip() and (len(words) != 1 or raw[0].isspace()):
            raise Invalid(
                f"line {number}: {key}'s value is not one shell word (a quote left open, or a "
                f"space outside quotes); write {key}='VALUE', a ' in it as '\\''"
            )
        if _expands(raw):
            raise Invalid(
                f"line {number}: {key}'s value has $ or ` outside single quotes (or ~ outside "
                f"quotes), which a shell would expand; write {key}='VALUE'"
            )
        if not words or not words[0]:
            raise Invalid(f"line {number} gives {key} an empty value")
        found[key] = words[0]
    if "SLACK_WEBHOOK_URL" in found:
        try:
            # The URL is the secret: over plain http it would cross the network readable.
            if not stays_inside(http_url(SLACK_EXAMPLE)(found["SLACK_WEBHOOK_URL"])):
                raise Invalid("http")
        except Invalid:
            raise Invalid(
                "gives SLACK_WEBHOOK_URL a value that is not an https URL; use the "
                f"incoming webhook's URL, {SLACK_EXAMPLE}"
            ) from None
    return found


def alert_secrets_file(value: Any) -> str:
    path = local_file(value)
    read_alert_secrets(path)
    return path


def positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _not_whole(value, "must be a whole number above 0")
    return value


def at_least(floor: int, unit: str) -> Callable[[Any], int]:
    """A parser of whole numbers of `unit` from `floor` up: ``at_least(0, "MiB")(512)`` gives
    512; ``at_least(512, "tokens")(100)`` raises "must be a whole number of tokens, at least 512"."""

    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < floor:
            raise _not_whole(value, f"must be a whole number of {unit}, at least {floor}")
        return value

    return parse


def seconds_or_off(value: Any) -> int:
    """A whole number of seconds, 0 for off: ``seconds_or_off(900)`` gives 900."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _not_whole(value, "must be a whole number of seconds, or 0 for off")
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


OIDC_EXAMPLE = (
    '{"provider": "https://login.example.com/realms/staff", "client_id": "appliance", '
    '"client_secret": {"secret": "sso", "key": "client-secret"}}'
)
OIDC_PARTS = {
    "provider": discovery_url,
    "client_id": _string,
    "client_secret": secret_key,
    "allowed_domains": lambda value: tuple(domain("example.com")(item) for item in _list(value)),
    "password_login": boolean,
}


def oidc(value: Any) -> Oidc:
    """The `oidc` mapping, each part parsed; provider, client_id and client_secret required,
    allowed_domains () and password_login True when left out."""
    if not isinstance(value, Mapping):
        raise Invalid(f"must be a mapping such as {OIDC_EXAMPLE}")
    unknown = sorted(set(value) - set(OIDC_PARTS))
    if unknown:
        raise Invalid(
            f"has {', '.join(unknown)}, which it does not take; its parts are "
            f"{', '.join(OIDC_PARTS)}"
        )
    missing = [part for part in ("provider", "client_id", "client_secret") if not value.get(part)]
    if missing:
        raise Invalid(f"lacks {', '.join(missing)}; give at least {OIDC_EXAMPLE}")
    # Each part of its own type (str, SecretKey, tuple, bool): Oidc's fields check them.
    parts: dict[str, Any] = {"allowed_domains": (), "password_login": True}
    for part, parse in OIDC_PARTS.items():
        if part in value:
            try:
                parts[part] = parse(value[part])
            except Invalid as error:
                shown = "" if part == "client_secret" else f" {value[part]!r}"
                raise Invalid(f"its {part}{shown} {error}") from None
    return Oidc(**parts)
