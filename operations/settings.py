"""The settings schema: `Settings`, the validated settings of one host, and `load`, which
builds it from pyinfra host data (the inventory, group data and ``--data``)::

    pyinfra inventories/prod.py deploy.py --data layers=host

``load(host.data.dict())`` returns a validated, read-only ``Settings``, or raises
``SettingsError`` whose lines each name a setting, its bad value and the fix. Each setting's
default, doc and parser are in operations/settings_table.py, the parsers in
operations/parsers.py and (of files on this machine) operations/local_files.py; the rules that
involve more than one setting are here, the alert routes' in operations/alert_settings.py.
"""

from __future__ import annotations

import datetime
import difflib
import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from operations import certificates
from operations.alert_settings import alert_problems
from operations.errors import Invalid, WrongType
from operations.local_files import looked_for
from operations.model_sizes import KNOWN_MODEL_SIZES_GIB
from operations.parsers import k3s_minor
from operations.pins import TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR
from operations.settings_table import SETTINGS, SETTINGS_BY_NAME
from operations.sizing import PLATFORM_DISK_GIB
from operations.webui_env import Oidc, SecretKey


class SettingsError(ValueError):
    """Bad settings: one line per problem, each naming the setting, the value and the fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


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

    keys: set[str] = set()
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

    # Each setting's parsed value, of its own type (Settings' fields); None where it is bad.
    values: dict[str, Any] = {}
    bad: set[str] = set()
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
            reasons = error.args
            if isinstance(error, WrongType):
                reasons = (f"{reasons[0]}; {what_to_write(setting.type)}",)
            problems.extend(
                f"{setting.name} = {raw!r} {reason}"
                if setting.echoed
                else f"{setting.name}: {reason}"
                for reason in reasons
            )
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


def what_to_write(kind: str) -> str:
    """The fix for a value of the wrong type, from the setting's type in the settings table:
    ``what_to_write("path on this machine")`` gives 'write a path on this machine in quotes',
    ``what_to_write("list of e-mails")`` 'write a list of e-mails, each in quotes'."""
    if kind.startswith("list"):
        return f"write a {kind}, each in quotes"
    if kind.startswith("mapping"):
        return f"write a {kind}, the values in quotes"
    article = "an" if kind[0] in "aeioAEIO" else "a"
    return f"write {article} {kind} in quotes"


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
        return [
            f"ssh_key = {key!r} is not a file on this machine{looked_for(path)}; give the "
            "private key "
            "pyinfra logs in with (e.g. ~/.ssh/id_ed25519; `ssh-keygen -t ed25519` makes "
            "one), or leave ssh_key out to log in with your SSH agent and ~/.ssh keys"
        ]
    # A public key (OpenSSH's one line, "ssh-ed25519 AAAA... comment", as `ssh-keygen`
    # writes KEY.pub) is the commonest mix-up; paramiko then says "Invalid private key file".
    with path.open("rb") as opened:
        if opened.read(4) in (b"ssh-", b"ecds", b"sk-e", b"sk-s"):
            return [
                f"ssh_key = {key!r} is a public key; give its private key, the same path "
                f"without .pub (e.g. {str(key).removesuffix('.pub')})"
            ]
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
                "file replaces Let's Encrypt: leave acme_ca out (or none), or tls_certificate"
            )
        values["acme_ca"] = "none"
        if values["acme_dns_provider"]:
            problems.append(
                f"acme_dns_provider = {values['acme_dns_provider']!r} while tls_certificate is "
                "set; the certificate file replaces Let's Encrypt: leave one of them out"
            )
        names = [name for name in (values["webui_domain"], values["monitor_domain"]) if name]
        problems += certificates.certificate_problems(
            certificate, names, datetime.datetime.now(datetime.timezone.utc)
        )
        if key:
            problems += certificates.key_problems(certificate, key)
        elif "tls_key" not in bad:
            problems.append(
                "tls_key: missing while tls_certificate is set; give the file of "
                "the certificate's private key (PEM)"
            )
    elif key and "tls_certificate" not in bad:
        problems.append(
            "tls_certificate: missing while tls_key is set; give the certificate "
            "file (PEM) of that key"
        )
    if values["acme_dns_provider"] and values["acme_ca"] == "none" and not certificate:
        problems.append(
            f"acme_dns_provider = {values['acme_dns_provider']!r} while acme_ca = 'none'; set "
            "acme_ca to production or staging (and acme_email), or leave acme_dns_provider out"
        )
    credentials = values["acme_dns_credentials_file"]
    if credentials and not values["acme_dns_provider"] and "acme_dns_provider" not in bad:
        problems.append(
            "acme_dns_credentials_file is set without acme_dns_provider; name the "
            "DNS provider those credentials are for, e.g. cloudflare"
        )
    if credentials:
        problems += certificates.credentials_problems(credentials)
    return problems


def _cross_checks(values: dict, bad: set[str]) -> list[str]:
    """Rules that involve more than one setting; `bad` ones are already reported."""
    problems = []
    if (
        values["acme_ca"] not in (None, "none")
        and values["acme_email"] is None
        and "acme_email" not in bad
    ):
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
    if (
        values["ollama_kv_cache_type"] in ("q8_0", "q4_0")
        and values["ollama_flash_attention"] is False
    ):
        # llama.cpp refuses a quantised V cache without flash attention: the model would not load.
        problems.append(
            f"ollama_kv_cache_type = {values['ollama_kv_cache_type']!r} needs flash attention, "
            "which ollama_flash_attention = false turns off; set ollama_flash_attention: true, "
            "or ollama_kv_cache_type: f16"
        )
    problems += alert_problems(values, bad)
    layers = values["layers"] or ()
    if "apps" in layers and not values["webui_admin_email"] and not values["acme_email"]:
        # With ACME on, the missing acme_email is reported already.
        if values["acme_ca"] == "none" and "webui_admin_email" not in bad:
            problems.append(
                "webui_admin_email: missing (and no acme_email to fall back on); set the e-mail "
                "of Open WebUI's first admin account"
            )
    return problems
