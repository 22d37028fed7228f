"""The settings-change matrix: for every setting, a change from one valid value to another and
the proofs that the change reaches what uses it.

Each row changes one setting from its value in ``BASE`` to ``after`` and lists its proofs:

- ``Rendered``: a value read from a file the deploy writes (what ``appliance render`` writes),
  with ``BASE`` and with the change; tests/unit/test_settings_matrix.py also proves that no
  other file changes.
- ``Live``: the output of a command on a rehearsal host after a real deploy of the host layer
  with ``BASE``, then with the change (tests/integration/test_settings_reach_the_host.py).
- ``Planned``: whether the deploy plans an operation (``pyinfra --dry`` against the rehearsal
  host, which holds the files rendered from ``BASE``) with ``BASE`` and with the change. The
  k3s and apps layers cannot converge where the tests run (no internet), so their files are
  proven rendered and planned for upload.
- ``Refused``: a setting that takes effect at first install only: on the rehearsal host that
  holds the files rendered from ``BASE``, the deploy with the change stops before changing
  anything, with this message.

A new setting needs a row in ``ROWS``, for example::

    Row("backup_retention_days", 14, [
        Rendered(BACKUP, cronjob_env("RETENTION_DAYS"), "7", "14"),
    ]),

Expected values are written out literally; ``BASE`` holds the value each row starts from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MANIFESTS = "/var/lib/rancher/k3s/server/manifests"
K3S_CONFIG = "/etc/rancher/k3s/config.yaml"
TRAEFIK = f"{MANIFESTS}/llm-appliance-traefik.yaml"
OLLAMA = f"{MANIFESTS}/llm-appliance-ollama.yaml"
MODEL_JOB = f"{MANIFESTS}/llm-appliance-ollama-models.yaml"
WEBUI = f"{MANIFESTS}/llm-appliance-open-webui.yaml"
MONITORING = f"{MANIFESTS}/llm-appliance-monitoring.yaml"
BACKUP = f"{MANIFESTS}/llm-appliance-backup.yaml"
UNATTENDED = "/etc/apt/apt.conf.d/52llm-appliance-unattended-upgrades"
SSHD = "/etc/ssh/sshd_config.d/10-llm-appliance.conf"
FAIL2BAN = "/etc/fail2ban/jail.d/llm-appliance.conf"
IDLE_LOGOUT = "/etc/profile.d/llm-appliance-idle-logout.sh"
OFFSITE_ENV = "/etc/llm-appliance/backup/restic.env"
OFFSITE_FILES = (
    OFFSITE_ENV,
    "/usr/local/bin/llm-appliance-offsite",
    *(
        f"/etc/systemd/system/llm-appliance-offsite{unit}"
        for unit in (".service", ".timer", "-check.service", "-check.timer")
    ),
)
APPS_MANIFESTS = tuple(
    f"{MANIFESTS}/llm-appliance-{name}.yaml"
    for name in (
        "namespaces",
        "postgres-operator",
        "postgres",
        "ollama",
        "ollama-models",
        "open-webui",
        "backup",
        "monitoring",
        "network-policies",
    )
)
MODEL_FILE = Path(__file__).resolve().parent / "data/mine-1b.gguf"
OFFSITE_CREDENTIALS = Path(__file__).resolve().parent / "data/offsite-credentials.env"
# A self-signed certificate for *.rehearsal.test (valid 2026 to 2126) with its key, and DNS
# provider credentials that name no real account.
TLS_DATA = Path(__file__).resolve().parent / "data/tls"
TLS_CERTIFICATE, TLS_KEY = str(TLS_DATA / "rehearsal.crt"), str(TLS_DATA / "rehearsal.key")
ACME_DNS_CREDENTIALS = str(TLS_DATA / "acme-dns.env")
PUT_SECRET = "/usr/local/lib/llm-appliance/put-secret.sh"
ENSURE_SECRET = "/usr/local/lib/llm-appliance/ensure-secret.sh"
ALERT_SECRETS = Path(__file__).resolve().parent / "data/alert-secrets.env"

# Where every row starts: a rehearsal host's settings, with Let's Encrypt on (so that the ACME
# settings are used) and a model imported from a file in the air-gap rows.
BASE = {
    "webui_domain": "chat.rehearsal.test",
    "monitor_domain": "monitor.rehearsal.test",
    "acme_ca": "staging",
    "acme_email": "acme@rehearsal.test",
    "webui_admin_email": "admin@rehearsal.test",
    "ollama_models": ["qwen2.5:0.5b", "mine:1b"],
    "ollama_model_sizes": {"mine:1b": 0.5},
    # f16, so that flash attention may be turned off from BASE (a q8_0 cache needs it).
    "ollama_kv_cache_type": "f16",
    "backup_repository": "/srv/offsite-restic",
    "alert_email_to": ["ops@rehearsal.test"],
    "alert_email_from": "netdata@rehearsal.test",
    "alert_smtp_host": "smtp.rehearsal.test",
    "alert_secrets_file": str(ALERT_SECRETS),
}


# -- how a value is read from a rendered file (None: the file is not written) -----------------

Read = Callable[[str | None], Any]


def _written(text: str | None) -> str:
    """The file's text, for the reads of a file that must be written."""
    assert text is not None, "the deploy does not write this file"
    return text


def text_has(line: str) -> Read:
    """Whether the file holds this exact line: ``text_has("PasswordAuthentication no")``."""
    return lambda text: text is not None and line in text.splitlines()


def written() -> Read:
    """Whether the deploy writes the file at all."""
    return lambda text: text is not None


def k3s_config(key: str) -> Read:
    """A key of k3s's config.yaml: ``k3s_config("cluster-cidr")``."""
    return lambda text: yaml.safe_load(_written(text))[key]


def _documents(text: str | None) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(_written(text)) if doc]


def _dig(data: Any, dotted: str) -> Any:
    """The value at ``dotted`` (list items by index), None where a key on the way is missing."""
    for key in dotted.split("."):
        if data is None:
            return None
        data = data[int(key)] if isinstance(data, list) else data.get(key)
    return data


def chart_value(dotted: str) -> Read:
    """A value the manifest's HelmChart (or HelmChartConfig) gives its chart:
    ``chart_value("ollama.gpu.enabled")``."""

    def read(text):
        chart = next(d for d in _documents(text) if d["kind"] in ("HelmChart", "HelmChartConfig"))
        return _dig(yaml.safe_load(chart["spec"]["valuesContent"]), dotted)

    return read


def resource_field(kind: str, dotted: str) -> Read:
    """A field of the manifest's first resource of ``kind``: ``resource_field("CronJob",
    "spec.schedule")``."""
    return lambda text: _dig(next(d for d in _documents(text) if d["kind"] == kind), dotted)


def _env(variables: list[dict], name: str) -> Any:
    return next((v.get("value") for v in variables if v["name"] == name), None)


def webui_env(name: str) -> Read:
    """The value Open WebUI's container gets for an environment variable."""
    return lambda text: _env(chart_value("extraEnvVars")(text), name)


def ollama_env(name: str) -> Read:
    """The value Ollama's container gets for an environment variable (the chart's extraEnv)."""
    return lambda text: _env(chart_value("extraEnv")(text), name)


def policy_egress_ports(name: str) -> Read:
    """The ports a NetworkPolicy lets its pods reach, in order: ``policy_egress_ports("ollama")``."""

    def read(text):
        policy = next(
            d
            for d in _documents(text)
            if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == name
        )
        return [port["port"] for rule in policy["spec"]["egress"] for port in rule["ports"]]

    return read


def job_env(kind: str, name: str) -> Read:
    """An environment variable of the first container of a Job's (or CronJob's) pod."""
    prefix = "spec.jobTemplate.spec" if kind == "CronJob" else "spec"
    return lambda text: _env(
        resource_field(kind, f"{prefix}.template.spec.containers.0.env")(text), name
    )


def mentions(text_part: str) -> Read:
    """Whether the file holds ``text_part`` anywhere: ``mentions("router.tls.certresolver")``."""
    return lambda text: text is not None and text_part in text


def netdata_line(role: str, config: str, prefix: str) -> Read:
    """The first line starting with ``prefix`` of a Netdata config file the chart mounts
    (``role``: parent, child, k8sState); None when the file is not there:
    ``netdata_line("parent", "msmtprc", "port ")``."""

    def read(text):
        data = (chart_value(f"{role}.configs")(text).get(config) or {}).get("data")
        return (
            None if data is None else first_line_starting(prefix)(data + "\n" + prefix + "<none>")
        )

    return read


def first_line_starting(prefix: str) -> Read:
    """The first line of the file that starts with ``prefix``."""
    return lambda text: next(
        line for line in _written(text).splitlines() if line.startswith(prefix)
    )


# -- the proofs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    """A value read from a file the deploy writes, with BASE and after the change."""

    path: str
    read: Read = field(repr=False)
    before: Any
    after: Any


@dataclass(frozen=True)
class Live:
    """The output of ``command`` on a host deployed with BASE, then with the change."""

    command: str
    before: str
    after: str


@dataclass(frozen=True)
class Planned:
    """Whether ``pyinfra --dry`` plans a change by the operation named ``operation``."""

    operation: str
    before: bool
    after: bool


@dataclass(frozen=True)
class Refused:
    """The deploy stops with this message on a host deployed with BASE."""

    message: str


@dataclass(frozen=True)
class Row:
    """One setting, the value it changes to from BASE, and the proofs. ``alone``: planned in a
    dry run of its own, because it changes which operations the others' proofs name.
    ``host_test``: the test file that proves the change on a host instead, when the rehearsal
    host cannot (it has no GPU, for one). ``beside``: the other settings the change needs to
    be valid, changed with it (tls_key needs tls_certificate); such a row is planned alone."""

    setting: str
    after: Any
    proofs: list = field(default_factory=list)
    alone: bool = False
    host_test: str = ""
    beside: dict = field(default_factory=dict)

    def of(self, kind: type) -> list:
        return [proof for proof in self.proofs if isinstance(proof, kind)]


ROWS = [
    Row(
        "layers",
        ["host", "k3s"],
        [
            *[Rendered(path, written(), True, False) for path in APPS_MANIFESTS],
            # The apps layer's scripts (operations/apps.py plan): BASE gives alert secrets.
            Rendered(ENSURE_SECRET, written(), True, False),
            Rendered(PUT_SECRET, written(), True, False),
            Planned("Apps layer | Wait until the apps layer is ready (up to 60 min)", True, False),
        ],
        alone=True,
    ),
    Row(
        "webui_domain",
        "talk.rehearsal.test",
        [
            Rendered(
                WEBUI,
                webui_env("WEBUI_URL"),
                "https://chat.rehearsal.test",
                "https://talk.rehearsal.test",
            ),
            Rendered(
                WEBUI, chart_value("ingress.host"), "chat.rehearsal.test", "talk.rehearsal.test"
            ),
            Rendered(
                MONITORING,
                netdata_line("k8sState", "go.d-x509check", "  source: "),
                "  source: https://chat.rehearsal.test:443",
                "  source: https://talk.rehearsal.test:443",
            ),
        ],
    ),
    Row(
        "monitor_domain",
        "metrics.rehearsal.test",
        [
            Rendered(
                MONITORING,
                resource_field("Ingress", "spec.rules.0.host"),
                "monitor.rehearsal.test",
                "metrics.rehearsal.test",
            ),
        ],
    ),
    Row(
        "acme_ca",
        "production",
        [
            Rendered(
                TRAEFIK,
                chart_value("certificatesResolvers.letsencrypt.acme.caServer"),
                "https://acme-staging-v02.api.letsencrypt.org/directory",
                "https://acme-v02.api.letsencrypt.org/directory",
            ),
            # HSTS on both web faces with production's trusted certificates only (the first
            # Middleware of each file is its security headers).
            Rendered(
                WEBUI, resource_field("Middleware", "spec.headers.stsSeconds"), None, 31536000
            ),
            Rendered(
                MONITORING, resource_field("Middleware", "spec.headers.stsSeconds"), None, 31536000
            ),
        ],
    ),
    Row(
        "acme_email",
        "certs@rehearsal.test",
        [
            Rendered(
                TRAEFIK,
                chart_value("certificatesResolvers.letsencrypt.acme.email"),
                "acme@rehearsal.test",
                "certs@rehearsal.test",
            ),
        ],
    ),
    # Certificates from anywhere: DNS-01 through a lego provider, or the operator's own files.
    Row(
        "acme_dns_provider",
        "cloudflare",
        [
            Rendered(
                TRAEFIK,
                chart_value("certificatesResolvers.letsencrypt.acme.dnsChallenge"),
                None,
                {"provider": "cloudflare"},
            ),
        ],
    ),
    Row(
        "acme_dns_credentials_file",
        ACME_DNS_CREDENTIALS,
        [
            Rendered(
                TRAEFIK,
                chart_value("envFrom"),
                None,
                [{"secretRef": {"name": "llm-appliance-acme-dns"}}],
            ),
            # put-secret.sh, which makes the Secret, is written in BASE already: the apps layer
            # makes the alert routes' Secret with it (alert_secrets_file).
            Planned(
                "k3s layer | Put the Secret llm-appliance-acme-dns for Traefik (from "
                f"{ACME_DNS_CREDENTIALS})",
                False,
                True,
            ),
        ],
        alone=True,
        beside={"acme_dns_provider": "cloudflare"},
    ),
    *[
        Row(
            setting,
            after,
            [
                Rendered(
                    TRAEFIK,
                    chart_value("tlsStore.default.defaultCertificate.secretName"),
                    None,
                    "llm-appliance-tls",
                ),
                Rendered(
                    TRAEFIK,
                    chart_value("certificatesResolvers"),
                    {
                        "letsencrypt": {
                            "acme": {
                                "email": "acme@rehearsal.test",
                                "storage": "/data/acme.json",
                                "caServer": "https://acme-staging-v02.api.letsencrypt.org/directory",
                                "httpChallenge": {"entryPoint": "web"},
                            }
                        }
                    },
                    None,
                ),
                Rendered(WEBUI, mentions("router.tls.certresolver"), True, False),
                Rendered(MONITORING, mentions("router.tls.certresolver"), True, False),
                Planned(
                    f"k3s layer | Put the Secret llm-appliance-tls for Traefik (from "
                    f"{TLS_CERTIFICATE}, {TLS_KEY})",
                    False,
                    True,
                ),
            ],
            alone=True,
            beside=beside,
        )
        for setting, after, beside in (
            ("tls_certificate", TLS_CERTIFICATE, {"tls_key": TLS_KEY, "acme_ca": "none"}),
            ("tls_key", TLS_KEY, {"tls_certificate": TLS_CERTIFICATE, "acme_ca": "none"}),
        )
    ],
    Row(
        "admin_cidrs",
        ["192.0.2.0/24"],
        [
            Live(
                "ufw show added | grep -c 'allow from 192.0.2.0/24 to any port 6443 proto tcp'; true",
                "0",
                "1",
            ),
        ],
    ),
    Row(
        "k3s_version",
        "v1.37.1+k3s1",
        [
            # The chart k3s v1.37 packages, named in the values file written for it.
            Rendered(
                TRAEFIK,
                first_line_starting("# packaged Traefik chart"),
                "# packaged Traefik chart (+up40.1.0); never edit k3s's own traefik.yaml,",
                "# packaged Traefik chart (+up41.4.0); never edit k3s's own traefik.yaml,",
            ),
            # The host runs v1.36.5+k3s1: only the new version is installed.
            Planned("k3s layer | Install the pinned, verified k3s binary", False, True),
        ],
    ),
    Row(
        "k3s_airgap_dir",
        str(MODEL_FILE.parent / "airgap"),
        [
            Planned("k3s layer | Upload the verified k3s binary", False, True),
            Planned("k3s layer | Upload the k3s images", False, True),
        ],
        alone=True,
    ),
    Row(
        "k3s_tls_sans",
        ["api.rehearsal.test"],
        [
            Rendered(
                K3S_CONFIG,
                k3s_config("tls-san"),
                ["10.213.9.2"],
                ["10.213.9.2", "api.rehearsal.test"],
            ),
        ],
    ),
    # Before k3s runs: the firewall admits the new network and k3s would start with it; under
    # a running k3s, which keeps its first networks, the deploy refuses the change.
    Row(
        "k3s_cluster_cidr",
        "10.52.0.0/16",
        [
            Rendered(K3S_CONFIG, k3s_config("cluster-cidr"), "10.42.0.0/16", "10.52.0.0/16"),
            Live("ufw show added | grep -xc 'ufw allow from 10.52.0.0/16'; true", "0", "1"),
            Refused(
                "k3s_cluster_cidr = '10.52.0.0/16', but k3s on this host runs with 10.42.0.0/16"
            ),
        ],
    ),
    Row(
        "k3s_service_cidr",
        "10.53.0.0/16",
        [
            Rendered(K3S_CONFIG, k3s_config("service-cidr"), "10.43.0.0/16", "10.53.0.0/16"),
            Live("ufw show added | grep -xc 'ufw allow from 10.53.0.0/16'; true", "0", "1"),
            Refused(
                "k3s_service_cidr = '10.53.0.0/16', but k3s on this host runs with 10.43.0.0/16"
            ),
        ],
    ),
    Row(
        "ollama_models",
        ["qwen2.5:0.5b", "mine:1b", "qwen3:0.6b"],
        [
            Rendered(
                MODEL_JOB,
                job_env("Job", "MODELS"),
                "qwen2.5:0.5b mine:1b nomic-embed-text:latest",
                "qwen2.5:0.5b mine:1b qwen3:0.6b nomic-embed-text:latest",
            ),
            Rendered(
                MODEL_JOB,
                resource_field("Job", "metadata.name"),
                "ollama-models-f8cba4ccea",
                "ollama-models-ad13b13721",
            ),
            # The two largest models loaded together: mine:1b (0.5 GiB, shape unknown: x 1.2 + 64
            # MiB = 679) with qwen2.5:0.5b (519), then with qwen3:0.6b (667); the server's 256.
            Rendered(OLLAMA, chart_value("resources.limits.memory"), "1454Mi", "1602Mi"),
            Rendered(OLLAMA, chart_value("resources.requests.memory"), "1454Mi", "1602Mi"),
        ],
    ),
    Row(
        "ollama_model_sizes",
        {"mine:1b": 3.0},
        [
            # mine:1b at 3 GiB: 3 x 1.2 GiB + 64 MiB = 3751 MiB, with qwen2.5:0.5b and the server.
            Rendered(OLLAMA, chart_value("resources.limits.memory"), "1454Mi", "4526Mi"),
        ],
    ),
    Row(
        "ollama_model_files",
        {"mine:1b": str(MODEL_FILE)},
        [
            Rendered(MODEL_JOB, job_env("Job", "MODEL_FILES"), "", "mine:1b=mine-1b.gguf"),
            Rendered(
                MODEL_JOB,
                job_env("Job", "MODELS"),
                "qwen2.5:0.5b mine:1b nomic-embed-text:latest",
                "qwen2.5:0.5b nomic-embed-text:latest",
            ),
            Planned("Apps layer | Upload the model file of mine:1b", False, True),
        ],
    ),
    Row(
        "ollama_pull_timeout_minutes",
        90,
        [
            Rendered(MODEL_JOB, resource_field("Job", "spec.activeDeadlineSeconds"), 3600, 5400),
        ],
    ),
    Row(
        "ready_timeout_minutes",
        90,
        [
            Planned("Apps layer | Wait until the apps layer is ready (up to 90 min)", False, True),
            Planned("k3s layer | Wait until the k3s layer is ready (up to 90 min)", False, True),
        ],
    ),
    # Offline, `auto` renders the CPU files and `nvidia` the GPU ones; on a host, `nvidia`
    # stops the run unless nvidia-smi lists a GPU (tests/integration/test_gpu_plan.py plans
    # it on a rehearsal host with an nvidia-smi shim).
    Row(
        "ollama_gpu",
        "nvidia",
        [
            Rendered(OLLAMA, chart_value("ollama.gpu.enabled"), False, True),
            Rendered(OLLAMA, chart_value("runtimeClassName"), None, "nvidia"),
            Rendered(
                f"{MANIFESTS}/llm-appliance-nvidia-device-plugin.yaml", written(), False, True
            ),
            Rendered(
                "/etc/apt/sources.list.d/nvidia-container-toolkit.list", written(), False, True
            ),
        ],
        host_test="tests/integration/test_gpu_plan.py",
    ),
    # Ollama's knobs reach its environment and its memory request and limit (operations/memory.py;
    # BASE's models have no shape in the table, so only the KV-independent estimate counts them
    # there, and the limit moves only with the prompt cache).
    Row(
        "ollama_context_length",
        8192,
        [
            Rendered(OLLAMA, ollama_env("OLLAMA_CONTEXT_LENGTH"), "4096", "8192"),
        ],
    ),
    Row(
        "ollama_kv_cache_type",
        "q4_0",
        [
            Rendered(OLLAMA, ollama_env("OLLAMA_KV_CACHE_TYPE"), "f16", "q4_0"),
        ],
    ),
    Row(
        "ollama_num_parallel",
        2,
        [
            Rendered(OLLAMA, ollama_env("OLLAMA_NUM_PARALLEL"), "1", "2"),
        ],
    ),
    # Alone: with the KV row's q4_0, flash attention off is refused (a quantised cache needs it).
    Row(
        "ollama_flash_attention",
        False,
        [
            Rendered(OLLAMA, ollama_env("OLLAMA_FLASH_ATTENTION"), "true", "false"),
        ],
        alone=True,
    ),
    Row(
        "ollama_prompt_cache_mib",
        256,
        [
            Rendered(OLLAMA, ollama_env("LLAMA_ARG_CACHE_RAM"), "0", "256"),
            # Each of the two chat models loaded together may keep 256 MiB.
            Rendered(OLLAMA, chart_value("resources.limits.memory"), "1454Mi", "1966Mi"),
        ],
    ),
    Row(
        "webui_admin_email",
        "owner@rehearsal.test",
        [
            Rendered(
                WEBUI,
                webui_env("WEBUI_ADMIN_EMAIL"),
                "admin@rehearsal.test",
                "owner@rehearsal.test",
            ),
        ],
    ),
    Row(
        "webui_signup",
        True,
        [
            Rendered(WEBUI, webui_env("ENABLE_SIGNUP"), "False", "True"),
        ],
    ),
    Row(
        "webui_embedding_model",
        "all-minilm:latest",
        [
            Rendered(
                WEBUI,
                webui_env("RAG_EMBEDDING_MODEL"),
                "nomic-embed-text:latest",
                "all-minilm:latest",
            ),
            Rendered(
                MODEL_JOB,
                job_env("Job", "MODELS"),
                "qwen2.5:0.5b mine:1b nomic-embed-text:latest",
                "qwen2.5:0.5b mine:1b all-minilm:latest",
            ),
        ],
    ),
    Row(
        "webui_new_user_role",
        "user",
        [
            Rendered(WEBUI, webui_env("DEFAULT_USER_ROLE"), "pending", "user"),
        ],
    ),
    Row(
        "webui_settings",
        {"DEFAULT_MODELS": "qwen2.5:0.5b"},
        [
            Rendered(WEBUI, webui_env("DEFAULT_MODELS"), None, "qwen2.5:0.5b"),
        ],
    ),
    # Its client secret is a Secret the operator makes, which the rehearsal host lacks (the
    # apps layer stops for it): the sign-in is proven on the running app instead.
    Row(
        "oidc",
        {
            "provider": "https://login.rehearsal.test/realms/staff",
            "client_id": "appliance",
            "client_secret": {"secret": "sso", "key": "client-secret"},
        },
        [
            Rendered(
                WEBUI,
                webui_env("OPENID_PROVIDER_URL"),
                None,
                "https://login.rehearsal.test/realms/staff/.well-known/openid-configuration",
            ),
            Rendered(WEBUI, webui_env("OAUTH_CLIENT_ID"), None, "appliance"),
            Rendered(
                f"{MANIFESTS}/llm-appliance-network-policies.yaml",
                policy_egress_ports("open-webui"),
                [11434, 5432],
                [11434, 5432, 443],
            ),
        ],
        host_test="tests/realapps/test_sso.py",
    ),
    Row(
        "backup_schedule",
        "15 2 * * *",
        [
            Rendered(
                BACKUP, resource_field("CronJob", "spec.schedule"), "30 3 * * *", "15 2 * * *"
            ),
        ],
    ),
    Row(
        "backup_retention_days",
        14,
        [
            Rendered(BACKUP, job_env("CronJob", "RETENTION_DAYS"), "7", "14"),
        ],
    ),
    Row(
        "backup_repository",
        None,
        [
            *[Rendered(path, written(), True, False) for path in OFFSITE_FILES],
            # The children stop watching the last snapshot's time (operations/alert_probes.py).
            Rendered(
                MONITORING,
                netdata_line("child", "go.d-filecheck", "- name: "),
                "- name: offsite",
                None,
            ),
            Planned("Off-site backups | No off-site backups: remove their timers", False, True),
        ],
        alone=True,
        host_test="tests/integration/test_offsite_backup.py",
    ),
    Row(
        "backup_credentials_file",
        str(OFFSITE_CREDENTIALS),
        [
            Planned("Off-site backups | Store the off-site repository's credentials", False, True),
        ],
        host_test="tests/integration/test_offsite_backup.py",
    ),
    *[
        Row(
            f"backup_keep_{period}",
            after,
            [
                Rendered(
                    OFFSITE_ENV,
                    first_line_starting(f"KEEP_{period.upper()}="),
                    f"KEEP_{period.upper()}='{before}'",
                    f"KEEP_{period.upper()}='{after}'",
                ),
            ],
        )
        for period, before, after in (("daily", 7, 14), ("weekly", 4, 8), ("monthly", 6, 12))
    ],
    Row(
        "alert_email_to",
        ["ops@rehearsal.test", "oncall@rehearsal.test"],
        [
            Rendered(
                MONITORING,
                netdata_line("parent", "health", "DEFAULT_RECIPIENT_EMAIL="),
                "DEFAULT_RECIPIENT_EMAIL=ops@rehearsal.test",
                "DEFAULT_RECIPIENT_EMAIL='ops@rehearsal.test oncall@rehearsal.test'",
            ),
        ],
    ),
    # The parent's msmtprc (its mails go through msmtp): the setting's line, before and after.
    *[
        Row(
            name,
            value,
            [
                Rendered(MONITORING, netdata_line("parent", "msmtprc", f"{key} "), before, after),
            ],
        )
        for name, value, key, before, after in (
            (
                "alert_email_from",
                "alerts@rehearsal.test",
                "from",
                "from netdata@rehearsal.test",
                "from alerts@rehearsal.test",
            ),
            (
                "alert_smtp_host",
                "relay.rehearsal.test",
                "host",
                "host smtp.rehearsal.test",
                "host relay.rehearsal.test",
            ),
            ("alert_smtp_port", 2525, "port", "port 587", "port 2525"),
            (
                "alert_smtp_user",
                "alerts@rehearsal.test",
                "user",
                "user <none>",
                "user alerts@rehearsal.test",
            ),
        )
    ],
    # TLS from the start: without alert_smtp_port (BASE), the port follows, 587 to 465.
    Row(
        "alert_smtp_tls",
        "tls",
        [
            Rendered(
                MONITORING,
                netdata_line("parent", "msmtprc", "tls_starttls "),
                "tls_starttls on",
                "tls_starttls off",
            ),
            Rendered(
                MONITORING, netdata_line("parent", "msmtprc", "port "), "port 587", "port 465"
            ),
        ],
    ),
    # The parent's `health` config (its notification routes): a route's recipient, none before.
    *[
        Row(
            name,
            value,
            [
                Rendered(
                    MONITORING,
                    netdata_line("parent", "health", f"{variable}="),
                    f"{variable}=<none>",
                    after,
                ),
            ],
        )
        for name, value, variable, after in (
            (
                "alert_webhook_url",
                "https://hooks.rehearsal.test/netdata",
                "DEFAULT_RECIPIENT_CUSTOM",
                "DEFAULT_RECIPIENT_CUSTOM=https://hooks.rehearsal.test/netdata",
            ),
            (
                "alert_ntfy_url",
                "https://ntfy.rehearsal.test/appliance",
                "DEFAULT_RECIPIENT_NTFY",
                "DEFAULT_RECIPIENT_NTFY=https://ntfy.rehearsal.test/appliance",
            ),
        )
    ],
    # Without the file, Slack (its webhook URL is a secret) goes; the Secret is deleted.
    Row(
        "alert_secrets_file",
        None,
        [
            Rendered(
                MONITORING,
                netdata_line("parent", "health", "DEFAULT_RECIPIENT_SLACK="),
                'DEFAULT_RECIPIENT_SLACK="#"',
                "DEFAULT_RECIPIENT_SLACK=<none>",
            ),
            # put-secret.sh makes that Secret: no longer written (BASE has no Traefik Secret).
            Rendered(PUT_SECRET, written(), True, False),
        ],
        alone=True,
    ),
    Row(
        "ssh_hardening",
        True,
        [
            Rendered(SSHD, text_has("PasswordAuthentication no"), False, True),
            Live(
                "sshd -T | grep '^passwordauthentication '",
                "passwordauthentication yes",
                "passwordauthentication no",
            ),
        ],
    ),
    Row(
        "fail2ban",
        False,
        [
            Rendered(FAIL2BAN, written(), True, False),
            Live("systemctl is-active fail2ban; true", "active", "inactive"),
        ],
    ),
    Row(
        "idle_logout_seconds",
        0,
        [
            Rendered(IDLE_LOGOUT, written(), True, False),
            Live("bash -lc 'echo TMOUT=$TMOUT'", "TMOUT=900", "TMOUT="),
        ],
    ),
    Row(
        "unattended_reboot",
        True,
        [
            Rendered(
                UNATTENDED, text_has('Unattended-Upgrade::Automatic-Reboot "true";'), False, True
            ),
            Live(
                "apt-config shell value Unattended-Upgrade::Automatic-Reboot",
                "value='false'",
                "value='true'",
            ),
        ],
    ),
    Row(
        "unattended_reboot_time",
        "05:30",
        [
            Rendered(
                UNATTENDED,
                text_has('Unattended-Upgrade::Automatic-Reboot-Time "05:30";'),
                False,
                True,
            ),
            Live(
                "apt-config shell value Unattended-Upgrade::Automatic-Reboot-Time",
                "value='04:00'",
                "value='05:30'",
            ),
        ],
    ),
]
ROWS_BY_SETTING = {row.setting: row for row in ROWS}


def changed(row: Row) -> dict:
    """BASE with the row's change (and the settings it needs beside it)."""
    return {**BASE, **row.beside, row.setting: row.after}


def batched(rows: list[Row]) -> dict:
    """BASE with every change of ``rows`` at once (each row's proofs read values no other row
    changes, so one deploy proves them all)."""
    return {**BASE, **{row.setting: row.after for row in rows}}
