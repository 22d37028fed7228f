"""README's "Security model" and privacy promises as a contract on what `appliance render`
writes. Every expected value is written out here, independent of the code's own constants: a
one-line change to a port, a selector, a flag or a drop-in fails one of these tests."""

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from appliance.cli import main
from operations import host as host_layer
from operations.settings import load

INVENTORY = """\
hosts = [("203.0.113.10", {
    "ssh_user": "root", "ssh_port": 2222,
    "webui_domain": "chat.example.com", "monitor_domain": "monitor.example.com",
    "acme_email": "admin@example.com", "admin_cidrs": ["198.51.100.0/24"],
    "ssh_hardening": True,
})]
"""
MANIFESTS = "var/lib/rancher/k3s/server/manifests"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The files `appliance render` writes for one hardened server."""
    folder = tmp_path_factory.mktemp("security")
    (folder / "inventory.py").write_text(INVENTORY)
    result = CliRunner().invoke(
        main, ["render", str(folder / "inventory.py"), "--out", str(folder / "out")]
    )
    assert result.exit_code == 0, result.output
    return folder / "out"


@pytest.fixture(scope="module")
def objects(rendered) -> dict:
    """Every Kubernetes object of the rendered manifests, by (kind, namespace, name)."""
    found = {}
    for path in sorted((rendered / MANIFESTS).glob("llm-appliance-*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            metadata = document["metadata"]
            found[document["kind"], metadata.get("namespace"), metadata["name"]] = document
    return found


def chart_values(objects, name: str) -> dict:
    (chart,) = [
        doc
        for (kind, _, chart_name), doc in objects.items()
        if kind == "HelmChart" and chart_name == name
    ]
    return yaml.safe_load(chart["spec"]["valuesContent"])


def environment(entries: list[dict]) -> dict:
    return {entry["name"]: entry.get("value", entry.get("valueFrom")) for entry in entries}


# -- inside the cluster: deny by default, then exactly these flows -------------------------------

TCP = lambda *ports: [{"protocol": "TCP", "port": port} for port in ports]  # noqa: E731
KUBE_SYSTEM = {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
TRAEFIK = {
    "namespaceSelector": KUBE_SYSTEM,
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
}
OPEN_WEBUI = {
    "matchLabels": {
        "app.kubernetes.io/instance": "open-webui",
        "app.kubernetes.io/component": "open-webui",
    }
}
OLLAMA = {
    "matchLabels": {"app.kubernetes.io/name": "ollama", "app.kubernetes.io/instance": "ollama"}
}
PULLER = {"matchLabels": {"app.kubernetes.io/name": "ollama-model-puller"}}
BACKUP = {"matchLabels": {"app.kubernetes.io/name": "llm-appliance-backup"}}
POSTGRES = {"matchLabels": {"cnpg.io/cluster": "postgres"}}
NETDATA_PARENT = {"matchLabels": {"app": "netdata", "role": "parent"}}
NETDATA_K8S_STATE = {"matchLabels": {"app": "netdata", "role": "k8sState"}}
ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}
DNS = {
    "podSelector": {},
    "policyTypes": ["Egress"],
    "egress": [
        {
            "to": [
                {
                    "namespaceSelector": KUBE_SYSTEM,
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }
    ],
}
POLICIES = {
    ("llm", "default-deny"): DENY_ALL,
    ("llm", "allow-dns"): DNS,
    ("llm", "open-webui"): {
        "podSelector": OPEN_WEBUI,
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [TRAEFIK], "ports": TCP(8080)}],
        "egress": [
            {"to": [{"podSelector": OLLAMA}], "ports": TCP(11434)},
            {"to": [{"podSelector": POSTGRES}], "ports": TCP(5432)},
        ],
    },
    ("llm", "ollama"): {
        "podSelector": OLLAMA,
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {"from": [{"podSelector": OPEN_WEBUI}, {"podSelector": PULLER}], "ports": TCP(11434)}
        ],
        # Model pulls from the registry; nothing private (the pinned Ollama's pull SSRF).
        "egress": [
            {
                "to": [
                    {
                        "ipBlock": {
                            "cidr": "0.0.0.0/0",
                            "except": [
                                "10.0.0.0/8",
                                "172.16.0.0/12",
                                "192.168.0.0/16",
                                "100.64.0.0/10",
                                "127.0.0.0/8",
                                "169.254.0.0/16",
                            ],
                        }
                    }
                ],
                "ports": TCP(443),
            }
        ],
    },
    ("llm", "model-puller"): {
        "podSelector": PULLER,
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": OLLAMA}], "ports": TCP(11434)}],
    },
    ("llm", "backup"): {
        "podSelector": BACKUP,
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"podSelector": POSTGRES}], "ports": TCP(5432)}],
    },
    ("llm", "postgres"): {
        "podSelector": POSTGRES,
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {"from": [{"podSelector": OPEN_WEBUI}, {"podSelector": BACKUP}], "ports": TCP(5432)},
            {
                "from": [
                    {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}
                        },
                        "podSelector": {
                            "matchLabels": {"app.kubernetes.io/name": "cloudnative-pg"}
                        },
                    }
                ],
                "ports": TCP(8000, 5432),
            },
        ],
        "egress": [{"to": ANYWHERE, "ports": TCP(443, 6443)}],  # the API server
    },
    ("monitoring", "default-deny"): DENY_ALL,
    ("monitoring", "allow-dns"): DNS,
    ("monitoring", "netdata-parent"): {
        "podSelector": NETDATA_PARENT,
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [TRAEFIK], "ports": TCP(19999)},
            {"from": [{"podSelector": NETDATA_K8S_STATE}], "ports": TCP(19999)},
            {"from": ANYWHERE, "ports": TCP(19999)},
        ],  # children on the host network
    },
    ("monitoring", "netdata-k8s-state"): {
        "podSelector": NETDATA_K8S_STATE,
        "policyTypes": ["Egress"],
        "egress": [
            {"to": [{"podSelector": NETDATA_PARENT}], "ports": TCP(19999)},
            {"to": ANYWHERE, "ports": TCP(443, 6443)},
        ],
    },
}


def test_network_policies_are_exactly_the_documented_flows(objects):
    found = {
        (namespace, name): doc["spec"]
        for (kind, namespace, name), doc in objects.items()
        if kind == "NetworkPolicy"
    }
    assert set(found) == set(POLICIES)
    for key, spec in POLICIES.items():
        assert found[key] == spec, key


@pytest.mark.parametrize("namespace", ["llm", "monitoring"])
def test_namespaces_deny_both_directions_by_default(objects, namespace):
    assert objects["NetworkPolicy", namespace, "default-deny"]["spec"] == {
        "podSelector": {},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [],
        "egress": [],
    }


# -- never exposed: Ollama and PostgreSQL ------------------------------------------------------


def test_ollama_is_cluster_internal_and_calls_no_cloud(objects):
    values = chart_values(objects, "ollama")
    assert values["service"] == {"type": "ClusterIP"}
    assert values["ingress"] == {"enabled": False}
    assert environment(values["extraEnv"])["OLLAMA_NO_CLOUD"] == "1"
    assert values["serviceAccount"] == {"automount": False}
    # The appliance's own Ingresses lead to Netdata and Open WebUI (its sign-in), none to Ollama.
    assert sorted(
        (
            name,
            [
                path["backend"]["service"]["name"]
                for rule in ingress["spec"]["rules"]
                for path in rule["http"]["paths"]
            ],
        )
        for (kind, _, name), ingress in objects.items()
        if kind == "Ingress"
    ) == [("netdata", ["netdata"]), ("open-webui-signin", ["open-webui"])]


def test_nothing_listens_on_a_host_port_or_a_node_port(rendered):
    text = "".join(path.read_text() for path in (rendered / MANIFESTS).glob("*.yaml"))
    for exposure in ("hostPort", "hostNetwork", "NodePort", "LoadBalancer"):
        assert exposure not in text


def test_no_service_account_token_where_none_is_needed(objects):
    (job,) = [doc for (kind, _, _), doc in objects.items() if kind == "Job"]
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    cronjob = objects["CronJob", "llm", "llm-appliance-backup"]
    assert (
        cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["automountServiceAccountToken"]
        is False
    )
    assert chart_values(objects, "ollama")["serviceAccount"]["automount"] is False


def test_secrets_are_never_in_a_manifest(rendered, objects):
    assert not [key for key in objects if key[0] == "Secret"]
    webui = environment(chart_values(objects, "open-webui")["extraEnvVars"])
    assert webui["DATABASE_URL"] == {"secretKeyRef": {"name": "postgres-app", "key": "uri"}}
    assert webui["WEBUI_SECRET_KEY"] == {
        "secretKeyRef": {"name": "open-webui-secrets", "key": "secret-key"}
    }
    assert webui["WEBUI_ADMIN_PASSWORD"] == {
        "secretKeyRef": {"name": "open-webui-secrets", "key": "admin-password"}
    }
    for path in (rendered / MANIFESTS).glob("*.yaml"):
        assert oct(path.stat().st_mode & 0o777) == "0o600", path


# -- Open WebUI: private, offline, no telemetry, new users wait ---------------------------------


def test_open_webui_is_offline_without_telemetry_and_new_users_wait(objects):
    webui = environment(chart_values(objects, "open-webui")["extraEnvVars"])
    assert {
        name: webui[name]
        for name in (
            "ENABLE_SIGNUP",
            "DEFAULT_USER_ROLE",
            "OFFLINE_MODE",
            "HF_HUB_OFFLINE",
            "ENABLE_VERSION_UPDATE_CHECK",
            "ENABLE_COMMUNITY_SHARING",
            "SCARF_NO_ANALYTICS",
            "DO_NOT_TRACK",
            "ANONYMIZED_TELEMETRY",
            "RAG_EMBEDDING_ENGINE",
            "RAG_OLLAMA_BASE_URL",
        )
    } == {
        "ENABLE_SIGNUP": "False",
        "DEFAULT_USER_ROLE": "pending",
        "OFFLINE_MODE": "true",
        "HF_HUB_OFFLINE": "1",
        "ENABLE_VERSION_UPDATE_CHECK": "False",
        "ENABLE_COMMUNITY_SHARING": "False",
        "SCARF_NO_ANALYTICS": "true",
        "DO_NOT_TRACK": "true",
        "ANONYMIZED_TELEMETRY": "false",
        "RAG_EMBEDDING_ENGINE": "ollama",
        "RAG_OLLAMA_BASE_URL": "http://ollama.llm.svc.cluster.local:11434",
    }
    values = chart_values(objects, "open-webui")
    assert values["enableOpenaiApi"] is False
    assert values["ollama"] == {"enabled": False} and values["pipelines"] == {"enabled": False}


def websecure_with_letsencrypt(middlewares: str) -> dict:
    """The annotations of an Ingress that Traefik serves only on its websecure entry point
    (443), with Let's Encrypt's certificate, through ``middlewares`` (Traefik's
    NAMESPACE-NAME@kubernetescrd, comma-separated)."""
    return {
        "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
        "traefik.ingress.kubernetes.io/router.tls": "true",
        "traefik.ingress.kubernetes.io/router.middlewares": middlewares,
        "traefik.ingress.kubernetes.io/router.tls.certresolver": "letsencrypt",
    }


def only_rule(host: str, path: str, path_type: str, service: str, port: int) -> list[dict]:
    """An Ingress's rules when it routes one name's one path to one Service port."""
    return [
        {
            "host": host,
            "http": {
                "paths": [
                    {
                        "path": path,
                        "pathType": path_type,
                        "backend": {"service": {"name": service, "port": {"number": port}}},
                    }
                ]
            },
        }
    ]


def test_open_webui_ingress_serves_only_its_name_over_tls(objects):
    ingress = chart_values(objects, "open-webui")["ingress"]
    assert ingress["host"] == "chat.example.com"
    assert ingress["annotations"] == websecure_with_letsencrypt(
        "llm-security-headers@kubernetescrd"
    )


def test_signin_has_its_own_rate_limited_route(objects):
    ingress = objects["Ingress", "llm", "open-webui-signin"]
    assert ingress["metadata"]["annotations"] == websecure_with_letsencrypt(
        "llm-security-headers@kubernetescrd,llm-signin-rate-limit@kubernetescrd"
    )
    assert ingress["spec"]["rules"] == only_rule(
        "chat.example.com", "/api/v1/auths/signin", "Exact", "open-webui", 80
    )
    assert objects["Middleware", "llm", "signin-rate-limit"]["spec"] == {
        "rateLimit": {"average": 4, "period": "1m", "burst": 5}
    }


# -- monitoring: behind a password, no cloud, no statistics -------------------------------------


def test_monitoring_ingress_asks_for_credentials(objects):
    ingress = objects["Ingress", "monitoring", "netdata"]
    assert ingress["metadata"]["annotations"] == websecure_with_letsencrypt(
        "monitoring-security-headers@kubernetescrd,monitoring-netdata-basic-auth@kubernetescrd"
    )
    assert ingress["spec"]["rules"] == only_rule(
        "monitor.example.com", "/", "Prefix", "netdata", 19999
    )
    middleware = objects["Middleware", "monitoring", "netdata-basic-auth"]
    assert middleware["apiVersion"] == "traefik.io/v1alpha1"
    assert middleware["spec"] == {
        "basicAuth": {
            "secret": "netdata-basic-auth",
            "realm": "llm-appliance monitoring",
            "removeHeader": True,
        }
    }


def test_netdata_claims_no_cloud_and_sends_no_statistics(objects):
    values = chart_values(objects, "netdata")
    assert values["ingress"] == {"enabled": False}  # the chart's own, for nginx: off
    for component in ("parent", "child", "k8sState"):
        assert values[component]["claiming"] == {"enabled": False}, component
        assert values[component]["configs"]["optout"] == {
            "enabled": True,
            "path": "/etc/netdata/.opt-out-from-anonymous-statistics",
            "data": "",
        }


# -- the Kubernetes API and the host ------------------------------------------------------------


def test_k3s_encrypts_secrets_and_keeps_its_kubeconfig_private(rendered):
    config = yaml.safe_load((rendered / "etc/rancher/k3s/config.yaml").read_text())
    assert config["write-kubeconfig-mode"] == "0600"
    assert config["secrets-encryption"] is True
    assert config["protect-kernel-defaults"] is True
    assert oct((rendered / "etc/rancher/k3s/config.yaml").stat().st_mode & 0o777) == "0o600"


def test_sshd_drop_in_allows_keys_only(rendered):
    drop_in = (rendered / "etc/ssh/sshd_config.d/10-llm-appliance.conf").read_text()
    assert [line for line in drop_in.splitlines() if not line.startswith("#")] == [
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitEmptyPasswords no",
        "PermitRootLogin prohibit-password",
        "MaxAuthTries 4",
        "X11Forwarding no",
    ]


def test_no_sshd_drop_in_without_ssh_hardening():
    settings = load(
        {
            "webui_domain": "chat.example.com",
            "monitor_domain": "monitor.example.com",
            "acme_email": "admin@example.com",
        }
    )
    paths = [host_file.path for host_file in host_layer.host_files(settings)]
    assert "/etc/ssh/sshd_config.d/10-llm-appliance.conf" not in paths


def test_fail2ban_jail_guards_the_ssh_port_in_use(rendered):
    jail = (rendered / "etc/fail2ban/jail.d/llm-appliance.conf").read_text()
    assert [line for line in jail.splitlines() if not line.startswith("#")] == [
        "[sshd]",
        "enabled = true",
        "backend = systemd",
        "port = 2222",
        "maxretry = 5",
        "findtime = 10m",
        "bantime = 1h",
    ]
