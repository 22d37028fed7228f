"""Value parsers: each takes a setting's raw value (from an inventory or `--data`) and returns
the normalised value, or raises `Invalid` whose text, after the setting's name, says what is
wrong and the fix: ``cidr("192.0.2.7/24")`` raises "has '192.0.2.7/24', whose address has host
bits set for a /24: ...". operations/settings_table.py names the parser of every setting.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable, Mapping
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


def text_value(value: Any) -> str:
    """A text setting's value, stripped; raises WrongType for any other type (settings.load
    adds what to write, from the setting's type)."""
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
        name = text_value(value).lower().rstrip(".")
        if not DOMAIN_RE.match(name):
            raise Invalid(f"is not a fully qualified domain name; use a name like {example}")
        return name

    return parse


def email(value: Any) -> str:
    address = text_value(value)
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
    version = text_value(value)
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


def host_names(value: Any) -> tuple[str, ...]:
    names = []
    for item in _list(value):
        name = text_value(item)
        try:
            names.append(str(ipaddress.ip_address(name)))
        except ValueError:
            names.append(domain("k3s.example.com")(name))
    return tuple(names)


def model_names(value: Any) -> tuple[str, ...]:
    models = [text_value(item) for item in _list(value)]
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
    text = text_value(value)
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
    layers = [text_value(item).lower() for item in _list(value)]
    unknown = [layer for layer in layers if layer not in LAYERS]
    if unknown or not layers:
        raise Invalid(f"names unknown layers {unknown}; choose from: {', '.join(LAYERS)}")
    # Layers always run in their own order, whatever order they are named in.
    return tuple(layer for layer in LAYERS if layer in layers)


def cron_schedule(value: Any) -> str:
    schedule = text_value(value)
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
    repository = text_value(value)
    if not (repository.startswith(RESTIC_BACKENDS) or repository.startswith("/")):
        raise Invalid(
            "is not a restic repository; use one such as sftp:user@host:/path, "
            "s3:host/bucket, rest:https://host/, b2:bucket:path or an absolute path "
            "such as /mnt/nas/restic"
        )
    if repository.startswith("sftp:"):
        sftp_login(repository)
    return repository


def lego_dns_provider(value: Any) -> str:
    name = text_value(value).lower()
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
    name = text_value(value)
    if not name or any(char.isspace() or char in "\"'\\" for char in name):
        raise Invalid("must be a login name without spaces or quotes, e.g. alerts@example.com")
    return name


def http_url(example: str) -> Callable[[Any], str]:
    """A parser of http(s) URLs with a host whose fix shows `example`, a URL that fits the
    setting: ``http_url("https://ntfy.sh/my-appliance")("https://ntfy.sh/mine")`` gives the
    URL. Netdata hands it to curl, which would read other schemes (file:, ...) too."""

    def parse(value: Any) -> str:
        url = text_value(value)
        parts = urllib.parse.urlsplit(url)
        if (
            parts.scheme not in ("https", "http")
            or not parts.hostname
            or any(c.isspace() for c in url)
        ):
            raise Invalid(f"is not an http(s) URL; use one like {example}")
        return url

    return parse


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
    text = text_value(value)
    if not TIME_RE.match(text):
        raise Invalid("must be a time of day as HH:MM, e.g. 04:00")
    return text


OIDC_EXAMPLE = (
    '{"provider": "https://login.example.com/realms/staff", "client_id": "appliance", '
    '"client_secret": {"secret": "sso", "key": "client-secret"}}'
)
OIDC_PARTS = {
    "provider": discovery_url,
    "client_id": text_value,
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
