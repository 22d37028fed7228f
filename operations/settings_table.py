"""The settings table: every appliance setting's name, default, type, one-line doc, parser and
when a changed value takes effect, one `Setting` each in `SETTINGS`. README.md's settings
reference is `markdown_table()` (a test keeps the two the same); operations/settings.py's
`load` validates host data against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from operations.names import LAYERS
from operations.parsers import (
    alert_secrets_file,
    at_least,
    boolean,
    cidr,
    cidrs,
    clock_time,
    cron_schedule,
    domain,
    email,
    emails,
    host_name,
    host_names,
    http_url,
    k3s_version,
    layer_names,
    lego_dns_provider,
    local_directory,
    local_file,
    login,
    model_files,
    model_names,
    model_sizes,
    oidc,
    one_of,
    port,
    positive_int,
    restic_repository,
    seconds_or_off,
)
from operations.pins import PINNED_VERSIONS
from operations.webui_env import webui_settings

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
    Setting(
        "layers",
        LAYERS,
        "list",
        "Layers to deploy, in order: " + ", ".join(LAYERS) + ".",
        layer_names,
    ),
    Setting(
        "webui_domain",
        REQUIRED,
        "domain",
        "Public name of Open WebUI (DNS must point here).",
        domain("chat.example.com"),
    ),
    Setting(
        "monitor_domain",
        REQUIRED,
        "domain",
        "Public name of the Netdata monitoring UI.",
        domain("monitor.example.com"),
    ),
    Setting(
        "acme_ca",
        "production",
        "choice",
        "Let's Encrypt CA: production, staging, or none (no ACME: Traefik's default "
        "certificate, or tls_certificate; none by default when tls_certificate is set).",
        one_of("production", "staging", "none"),
        takes_effect="new certificates: Traefik serves the ones in acme.json until renewal",
    ),
    Setting(
        "acme_email",
        None,
        "e-mail",
        "Contact for Let's Encrypt; required unless acme_ca is none.",
        email,
        takes_effect="first certificate: Traefik keeps its ACME account in acme.json",
    ),
    # Certificates from anywhere (README "Inside an organisation"; checked in
    # operations/certificates.py).
    Setting(
        "acme_dns_provider",
        None,
        "lego DNS provider",
        "Let's Encrypt's DNS-01 challenge instead of HTTP-01, through this DNS service (a "
        "lego provider name such as cloudflare or route53), for a server the internet cannot "
        "reach on port 80.",
        lego_dns_provider,
    ),
    Setting(
        "acme_dns_credentials_file",
        None,
        "path on this machine",
        "The DNS provider's credentials as KEY=VALUE lines (CLOUDFLARE_DNS_API_TOKEN=TOKEN), "
        "given to Traefik from a Secret.",
        local_file,
    ),
    Setting(
        "tls_certificate",
        None,
        "path on this machine",
        "Your own certificate (PEM, chain after it) for webui_domain and monitor_domain, "
        "served instead of Let's Encrypt's (ACME off); with tls_key.",
        local_file,
        takes_effect="every deploy; renew it before it expires and deploy again",
    ),
    Setting(
        "tls_key",
        None,
        "path on this machine",
        "The private key (PEM, unencrypted) of tls_certificate.",
        local_file,
    ),
    Setting(
        "admin_cidrs",
        (),
        "list of CIDRs",
        "Networks allowed to reach the Kubernetes API (6443), in CIDR notation; one address as "
        "/32 or /128. A network with host bits set (192.0.2.7/24) is refused, with both "
        "fixes; empty: nobody outside.",
        cidrs,
    ),
    Setting(
        "k3s_version", PINNED_VERSIONS["k3s"], "k3s version", "k3s release to install.", k3s_version
    ),
    Setting(
        "k3s_airgap_dir",
        None,
        "local folder",
        "Air-gap: folder with install.sh, k3s, sha256sum-ARCH.txt and the images tarball.",
        local_directory,
    ),
    Setting(
        "k3s_tls_sans",
        (),
        "list of names/IPs",
        "Extra names in the API server certificate (the host's address is always there).",
        host_names,
    ),
    Setting(
        "k3s_cluster_cidr",
        "10.42.0.0/16",
        "CIDR",
        "k3s pod network (admitted by the firewall).",
        cidr,
        takes_effect=K3S_NETWORK,
    ),
    Setting(
        "k3s_service_cidr",
        "10.43.0.0/16",
        "CIDR",
        "k3s service network (admitted by the firewall).",
        cidr,
        takes_effect=K3S_NETWORK,
    ),
    Setting(
        "ollama_models",
        ("llama3.2:3b",),
        "list of name:tag",
        "Chat models Ollama must have; the deploy pulls the missing ones.",
        model_names,
        takes_effect="every deploy; a model taken off the list stays on Ollama's volume",
    ),
    Setting(
        "ollama_model_sizes",
        MappingProxyType({}),
        "mapping name:tag -> GiB",
        "Download sizes of models not in the built-in table, for the RAM and disk preflight "
        "(air-gap; otherwise read from the Ollama registry).",
        model_sizes,
    ),
    Setting(
        "ollama_model_files",
        MappingProxyType({}),
        "mapping name:tag -> local file",
        "Air-gap: GGUF files on this machine imported as these models instead of pulled.",
        model_files,
    ),
    Setting(
        "ollama_pull_timeout_minutes",
        60,
        "minutes",
        "How long the model Job may pull before Kubernetes stops it.",
        positive_int,
    ),
    Setting(
        "ready_timeout_minutes",
        60,
        "minutes",
        "How long a deploy waits for k3s, then the apps, to be ready (charts installed, "
        "pods available, Open WebUI answering, models present) before it fails.",
        positive_int,
    ),
    Setting(
        "ollama_gpu",
        "auto",
        "choice",
        "GPU for Ollama: auto (an NVIDIA GPU when the host has one with a working driver, "
        "else the CPU), nvidia (require one), or none (the CPU).",
        one_of("auto", "nvidia", "none"),
        takes_effect="every deploy; back to the CPU, the toolkit and device plugin stay installed",
    ),
    # Ollama itself takes any context from 4 tokens (server/sched.go getRunner); below 512 a
    # conversation with Open WebUI's system and RAG prompts hardly fits, so the floor is ours.
    Setting(
        "ollama_context_length",
        4096,
        "tokens",
        "Context of every model Ollama loads (OLLAMA_CONTEXT_LENGTH; a model's own training "
        "context caps it). Its KV cache is allocated whole when a model loads: Ollama's "
        "memory and the preflight count it.",
        at_least(512, "tokens"),
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "ollama_kv_cache_type",
        "q8_0",
        "choice",
        "KV cache type (OLLAMA_KV_CACHE_TYPE): f16, q8_0 (about half of f16's memory) or q4_0 "
        "(about a quarter); q8_0 and q4_0 need ollama_flash_attention.",
        one_of("f16", "q8_0", "q4_0"),
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "ollama_num_parallel",
        1,
        "count",
        "Requests a chat model answers at once (OLLAMA_NUM_PARALLEL); each one has a KV "
        "cache of the whole context.",
        positive_int,
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "ollama_flash_attention",
        True,
        "bool",
        "Flash attention in llama.cpp (OLLAMA_FLASH_ATTENTION): smaller compute buffers; "
        "needed by a q8_0 or q4_0 KV cache.",
        boolean,
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "ollama_prompt_cache_mib",
        0,
        "MiB",
        "RAM each loaded chat model may keep idle conversations' KV state in, to answer "
        "their next message without reading the whole prompt again (llama-server's "
        "--cache-ram, through LLAMA_ARG_CACHE_RAM; its own default is 8192); 0: off. "
        "Counted in Ollama's memory.",
        at_least(0, "MiB"),
        takes_effect=OLLAMA_RESTART,
    ),
    Setting(
        "webui_admin_email",
        None,
        "e-mail",
        "E-mail of Open WebUI's first admin account; defaults to acme_email.",
        email,
        takes_effect="first install: Open WebUI makes its first admin once",
    ),
    Setting(
        "webui_signup",
        False,
        "bool",
        "Let visitors sign up to Open WebUI (new accounts wait for an admin's approval).",
        boolean,
    ),
    Setting(
        "webui_embedding_model",
        "nomic-embed-text:latest",
        "name:tag",
        "Ollama model that embeds RAG documents (pulled like ollama_models).",
        lambda value: model_names([value])[0],
        takes_effect="every deploy; documents embedded before must be imported again",
    ),
    Setting(
        "webui_new_user_role",
        "pending",
        "choice",
        "Role of a new Open WebUI account, signed up or first signed in through SSO: pending "
        "(waits for an admin's approval) or user.",
        one_of("pending", "user"),
        takes_effect="every deploy; accounts made before keep their role",
    ),
    Setting(
        "webui_settings",
        MappingProxyType({}),
        "mapping NAME -> value",
        "Open WebUI's own environment variables (names its pinned release reads), e.g. "
        '{"DEFAULT_MODELS": "llama3.2:3b"}; a secret as {"secret": NAME, "key": KEY} of a '
        "Secret in the llm namespace. They win over the admin panel at every start.",
        webui_settings,
        echoed=False,
    ),
    Setting(
        "oidc",
        None,
        "mapping",
        "Single sign-on through an OpenID Connect provider: "
        '{"provider": ISSUER_URL, "client_id": ID, "client_secret": {"secret": NAME, "key": '
        'KEY}, "allowed_domains": [DOMAIN], "password_login": true}; the redirect URI '
        "to register is https://webui_domain/oauth/oidc/callback. Unset: no SSO.",
        oidc,
        echoed=False,
    ),
    Setting(
        "backup_schedule",
        "30 3 * * *",
        "cron",
        "When Open WebUI's database and uploads are backed up (cron, the server's UTC).",
        cron_schedule,
    ),
    Setting(
        "backup_retention_days", 7, "days", "How long backups are kept on the server.", positive_int
    ),
    Setting(
        "backup_repository",
        None,
        "restic repository",
        "Off-site copies with restic, to a repository such as sftp:user@host:/path, "
        "s3:host/bucket, rest:https://host/ or b2:bucket:path, or an absolute path (a "
        "mounted NAS). Unset: backups stay on the server only.",
        restic_repository,
    ),
    Setting(
        "backup_credentials_file",
        None,
        "path on this machine",
        "The repository's credentials: for sftp: an SSH private key, otherwise restic's "
        "KEY='VALUE' variables (unset: those variables from this machine's environment).",
        local_file,
    ),
    Setting(
        "backup_keep_daily",
        7,
        "count",
        "Off-site: daily snapshots kept (restic forget).",
        positive_int,
    ),
    Setting("backup_keep_weekly", 4, "count", "Off-site: weekly snapshots kept.", positive_int),
    Setting("backup_keep_monthly", 6, "count", "Off-site: monthly snapshots kept.", positive_int),
    Setting(
        "alert_email_to",
        (),
        "list of e-mails",
        "Who gets Netdata's alarms by e-mail, through alert_smtp_host; empty: no e-mail.",
        emails,
    ),
    Setting(
        "alert_email_from",
        None,
        "e-mail",
        "Sender of the alarm e-mails; required with alert_email_to.",
        email,
    ),
    Setting(
        "alert_smtp_host",
        None,
        "host name or IP",
        "SMTP relay the alarm e-mails go through; required with alert_email_to.",
        host_name,
    ),
    Setting(
        "alert_smtp_port", 587, "port", "The relay's port (465 with alert_smtp_tls tls).", port
    ),
    Setting(
        "alert_smtp_tls",
        "starttls",
        "choice",
        "starttls (port 587), tls (TLS from the start, port 465), or none (a relay on a "
        "network you trust only).",
        one_of("starttls", "tls", "none"),
    ),
    Setting(
        "alert_smtp_user",
        None,
        "login",
        "Login at the relay (its password: SMTP_PASSWORD in alert_secrets_file); unset: no login.",
        login,
    ),
    Setting(
        "alert_webhook_url",
        None,
        "URL",
        "Generic webhook: every alarm POSTed as JSON (a bearer token: WEBHOOK_TOKEN in "
        "alert_secrets_file).",
        http_url,
    ),
    Setting(
        "alert_ntfy_url",
        None,
        "URL",
        "ntfy topic the alarms go to, e.g. https://ntfy.sh/my-appliance (an access token: "
        "NTFY_ACCESS_TOKEN in alert_secrets_file).",
        http_url,
    ),
    Setting(
        "alert_secrets_file",
        None,
        "path on this machine",
        "KEY='VALUE' lines with the alert routes' secrets: SMTP_PASSWORD, SLACK_WEBHOOK_URL "
        "(Slack's incoming webhook; turns Slack on), NTFY_ACCESS_TOKEN, WEBHOOK_TOKEN. "
        "Stored in the Secret monitoring/netdata-alert-secrets, never in a manifest.",
        alert_secrets_file,
    ),
    Setting(
        "ssh_hardening",
        False,
        "bool",
        "SSH by key only: no passwords, root only with a key (refused if the inventory "
        "logs in with a password).",
        boolean,
    ),
    Setting(
        "fail2ban", True, "bool", "Ban addresses that keep failing SSH logins (fail2ban).", boolean
    ),
    Setting(
        "idle_logout_seconds",
        900,
        "seconds",
        "Log out shells idle this long (TMOUT in /etc/profile.d, read-only, as the CIS "
        "benchmark asks: 900 or less); 0: never (the file is removed).",
        seconds_or_off,
        takes_effect="every deploy; shells read it when they start",
    ),
    Setting(
        "unattended_reboot",
        False,
        "bool",
        "Let unattended-upgrades reboot the host when an update needs it.",
        boolean,
    ),
    Setting(
        "unattended_reboot_time",
        "04:00",
        "HH:MM",
        "When unattended-upgrades may reboot, if unattended_reboot is on.",
        clock_time,
    ),
)
SETTINGS_BY_NAME = MappingProxyType({setting.name: setting for setting in SETTINGS})


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

    rows = [
        "| setting | default | type | what it does | takes effect |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [
        f"| `{s.name}` | {shown(s.default)} | {s.type} | {s.doc} | {s.takes_effect} |"
        for s in SETTINGS
    ]
    return "\n".join(rows)
