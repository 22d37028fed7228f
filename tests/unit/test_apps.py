"""The apps layer's manifests, offline: schemas, chart keys, exposure, secrets, resources."""

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from k8s_schemas import unknown_value_paths, validate_manifest

from appliance.budget import resource_maps
from operations import apps, monitoring, names, ollama
from operations.components import OPEN_WEBUI
from operations.pins import PINNED_VERSIONS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def files(node_settings):
    """The apps layer's files; `ollama_gpu: nvidia` as on a host with a GPU."""
    return apps.app_files(node_settings, gpu_used=node_settings.ollama_gpu == "nvidia")


@pytest.fixture(scope="session")
def documents(settings_of):
    def documents(node_settings=None):
        """(file name, document) for every document the apps layer writes."""
        for host_file in files(node_settings or settings_of()):
            for document in validate_manifest(host_file.content):
                yield Path(host_file.path).name, document

    return documents


@pytest.fixture(scope="session")
def helm_values(documents):
    def helm_values(name, node_settings=None):
        for _, document in documents(node_settings):
            if document["kind"] == "HelmChart" and document["metadata"]["name"] == name:
                return yaml.safe_load(document["spec"]["valuesContent"])
        raise KeyError(name)

    return helm_values


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"acme_ca": "none", "webui_admin_email": "a@example.com"},
        {"ollama_gpu": "nvidia", "webui_signup": True},
        {
            "oidc": {
                "provider": "https://login.example.com/realms/staff",
                "client_id": "appliance",
                "client_secret": {"secret": "sso", "key": "id"},
            },
            "webui_settings": {
                "DEFAULT_MODELS": "llama3.2:3b",
                "BRAVE_SEARCH_API_KEY": {"secret": "search", "key": "brave"},
            },
        },
    ],
)
def test_every_manifest_validates(documents, settings_of, data):
    found = list(documents(settings_of(**data)))
    kinds = Counter(document["kind"] for _, document in found)
    charts = 5 if data.get("ollama_gpu") == "nvidia" else 4  # and NVIDIA's device plugin
    assert kinds == {
        "Namespace": 2,
        "HelmChart": charts,
        "Cluster": 1,
        "Job": 1,
        "ConfigMap": 1,
        "CronJob": 1,
        "Middleware": 4,
        "Ingress": 2,
        "NetworkPolicy": 11,
    }
    for host_file in files(settings_of(**data)):
        assert host_file.mode == "600"
        assert host_file.path.startswith("/var/lib/rancher/k3s/server/manifests/llm-appliance-")


@pytest.mark.parametrize(
    "acme_ca, hsts", [("production", {"stsSeconds": 31536000}), ("staging", {}), ("none", {})]
)
def test_security_headers_with_hsts_only_on_trusted_certificates(
    documents, settings_of, acme_ca, hsts
):
    """HSTS makes a browser refuse any click-through on a certificate error: only with Let's
    Encrypt's production CA, whose certificates browsers trust."""
    data = {
        "acme_ca": acme_ca,
        **({"webui_admin_email": "a@example.com"} if acme_ca == "none" else {}),
    }
    found = {
        document["metadata"]["namespace"]: document["spec"]
        for _, document in documents(settings_of(**data))
        if document["kind"] == "Middleware" and document["metadata"]["name"] == "security-headers"
    }
    expected = {
        "headers": {
            "contentTypeNosniff": True,
            "customFrameOptionsValue": "SAMEORIGIN",
            "contentSecurityPolicy": "frame-ancestors 'self'",
            "referrerPolicy": "same-origin",
            **hsts,
        }
    }
    assert found == {"llm": expected, "monitoring": expected}


def test_charts_are_pinned(documents):
    charts = {d["metadata"]["name"]: d["spec"] for _, d in documents() if d["kind"] == "HelmChart"}
    assert {name: spec["version"] for name, spec in charts.items()} == {
        "cloudnative-pg": PINNED_VERSIONS["cloudnative-pg chart"],
        "ollama": PINNED_VERSIONS["ollama chart"],
        "open-webui": PINNED_VERSIONS["open-webui chart"],
        "netdata": PINNED_VERSIONS["netdata chart"],
    }
    for spec in charts.values():
        assert spec["failurePolicy"] == "retry"  # never an uninstall that takes the volumes


# Paths in each pinned chart's values.yaml that the appliance sets, read in the chart at its
# tag (ollama-1.77.0, open-webui-16.0.0, cloudnative-pg-v0.29.0). A path not here would be
# ignored by the chart: a bug. FREE_FORM are maps and lists the charts pass on as they are.
CHART_VALUE_PATHS = {
    "ollama": {
        "ollama.gpu.enabled",
        "ollama.gpu.type",
        "ollama.gpu.number",
        "service.type",
        "ingress.enabled",
        "persistentVolume.enabled",
        "persistentVolume.size",
        "extraEnv",
        "serviceAccount.automount",
        "tests.enabled",
        "runtimeClassName",
    },
    "open-webui": {
        "image.tag",
        "ollama.enabled",
        "pipelines.enabled",
        "tika.enabled",
        "terminals.enabled",
        "websocket.enabled",
        "websocket.manager",
        "websocket.redis.enabled",
        "replicaCount",
        "workload.kind",
        "ollamaUrls",
        "enableOpenaiApi",
        "persistence.enabled",
        "persistence.size",
        "ingress.enabled",
        "ingress.class",
        "ingress.host",
        "ingress.tls",
        "copyAppData.command",
        "extraEnvVars",
    },
    "cloudnative-pg": set(),
    "netdata": {
        "image.pullPolicy",
        "ingress.enabled",
        "initContainersImage.repository",
        "initContainersImage.tag",
        "initContainersImage.pullPolicy",
        "parent.claiming.enabled",
        "parent.database.persistence",
        "parent.database.volumesize",
        "parent.alarms.persistence",
        "parent.alarms.volumesize",
        "child.claiming.enabled",
        "k8sState.claiming.enabled",
        "k8sState.persistence.enabled",
        "k8sState.persistence.volumesize",
        # Lists the templates write out as they are (parent/deployment.yaml,
        # child/daemonset.yaml: toYaml .Values.parent.extraVolumes ...).
        "parent.extraVolumes",
        "parent.extraVolumeMounts",
        "child.extraVolumes",
        "child.extraVolumeMounts",
    },
}
FREE_FORM = {
    "ollama": ("resources.", "persistentVolume.annotations.", "securityContext."),
    "open-webui": (
        "resources.",
        "strategy.",
        "ingress.annotations.",
        "persistence.annotations.",
        "containerSecurityContext.",
        "livenessProbe.",
        "readinessProbe.",
        "startupProbe.",
        "copyAppData.resources.",
    ),
    "cloudnative-pg": ("resources.",),
    # Each config file: {enabled, path, data}, mounted at its path (templates range over them).
    "netdata": tuple(
        f"{part}.{key}."
        for part in ("parent", "child", "k8sState")
        for key in ("resources", "configs")
    ),
}


@pytest.mark.parametrize("chart", sorted(CHART_VALUE_PATHS))
@pytest.mark.parametrize("data", [{}, {"ollama_gpu": "nvidia"}])
def test_values_use_only_keys_the_chart_reads(helm_values, settings_of, chart, data):
    values = helm_values(chart, settings_of(**data))
    assert unknown_value_paths(values, CHART_VALUE_PATHS[chart], FREE_FORM[chart]) == []


def test_open_webui_runs_the_pinned_release_over_the_chart(helm_values):
    # Chart 16.0.0's appVersion is 0.11.0; the image tag is the release tests/realapps runs.
    assert PINNED_VERSIONS["open-webui chart"] == "16.0.0"
    assert helm_values("open-webui")["image"] == {"tag": "0.12.4"}


def test_open_webuis_web_face_is_its_own_origin_secure_cookies_and_week_long_sessions(helm_values):
    env = {e["name"]: e.get("value") for e in helm_values("open-webui")["extraEnvVars"]}
    assert {
        name: env[name]
        for name in (
            "CORS_ALLOW_ORIGIN",
            "WEBUI_SESSION_COOKIE_SECURE",
            "WEBUI_SESSION_COOKIE_SAME_SITE",
            "WEBUI_AUTH_COOKIE_SECURE",
            "WEBUI_AUTH_COOKIE_SAME_SITE",
            "JWT_EXPIRES_IN",
        )
    } == {
        "CORS_ALLOW_ORIGIN": "https://chat.example.com",
        "WEBUI_SESSION_COOKIE_SECURE": "true",
        "WEBUI_SESSION_COOKIE_SAME_SITE": "lax",
        "WEBUI_AUTH_COOKIE_SECURE": "true",
        "WEBUI_AUTH_COOKIE_SAME_SITE": "lax",
        "JWT_EXPIRES_IN": "7d",
    }


def test_ollama_is_never_exposed(helm_values, settings_of):
    values = helm_values("ollama")
    assert values["service"]["type"] == "ClusterIP"
    assert values["ingress"]["enabled"] is False
    text = "".join(f.content for f in apps.app_files(settings_of()))
    assert not re.search(r"hostPort|hostNetwork|NodePort|LoadBalancer", text)
    # No postStart pull hook: the chart adds one only for ollama.models.* lists.
    assert "models" not in values["ollama"]


def test_only_open_webui_and_the_puller_reach_ollama(documents):
    (policy,) = [
        d
        for _, d in documents()
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "ollama"
    ]
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "ollama",
        "app.kubernetes.io/instance": "ollama",
    }
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 11434}]
    # Out only to the model registry (HTTPS), never to a private, loopback or link-local
    # address (the pinned Ollama's pull SSRF, CVE-2026-85180).
    assert policy["spec"]["egress"] == [
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
            "ports": [{"protocol": "TCP", "port": 443}],
        }
    ]
    sources = [peer["podSelector"]["matchLabels"] for peer in rule["from"]]
    assert sources == [
        {"app.kubernetes.io/instance": "open-webui", "app.kubernetes.io/component": "open-webui"},
        {"app.kubernetes.io/name": names.MODEL_PULLER_LABEL},
    ]
    (job,) = [d for _, d in documents() if d["kind"] == "Job"]
    assert job["spec"]["template"]["metadata"]["labels"] == {
        "app.kubernetes.io/name": names.MODEL_PULLER_LABEL
    }


def test_models_are_pulled_by_a_job_through_the_api(documents, settings_of):
    (job,) = [
        d for _, d in documents(settings_of(ollama_models=["qwen3:4b"])) if d["kind"] == "Job"
    ]
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["OLLAMA_HOST"] == "http://ollama.llm.svc.cluster.local:11434"
    assert env["MODELS"] == "qwen3:4b nomic-embed-text:latest"
    assert container["image"] == PINNED_VERSIONS["ollama image"]
    assert "ollama pull" in container["command"][-1]
    other = [
        d for _, d in documents(settings_of(ollama_models=["gemma3:4b"])) if d["kind"] == "Job"
    ]
    assert other[0]["metadata"]["name"] != job["metadata"]["name"]  # a new list, a new Job


def test_model_files_are_imported_on_the_first_server(documents, settings_of, tmp_path):
    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    node = settings_of(ollama_models=["mine:7b"], ollama_model_files={"mine:7b": str(gguf)})
    (job,) = [d for _, d in documents(node) if d["kind"] == "Job"]
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["MODEL_FILES"] == "mine:7b=mine.gguf"
    assert env["MODELS"] == "nomic-embed-text:latest"
    assert pod["volumes"] == [
        {
            "name": "models",
            "hostPath": {"path": "/var/lib/llm-appliance/models", "type": "Directory"},
        }
    ]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "models", "mountPath": "/models", "readOnly": True}
    ]
    assert pod["nodeSelector"] == {"llm-appliance.io/first-server": "true"}


def test_open_webui_configuration(helm_values, settings_of):
    values = helm_values("open-webui")
    env = {e["name"]: e for e in values["extraEnvVars"]}
    assert env["DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": names.POSTGRES_APP_SECRET, "key": "uri"}
    }
    assert env["WEBUI_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == names.WEBUI_SECRETS
    assert env["WEBUI_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": names.WEBUI_SECRETS,
        "key": "admin-password",
    }
    assert env["WEBUI_ADMIN_EMAIL"]["value"] == "admin@example.com"
    assert env["ENABLE_SIGNUP"]["value"] == "False"
    # The environment wins at every start (tests/realapps proves it against Open WebUI).
    assert env["ENABLE_PERSISTENT_CONFIG"]["value"] == "False"
    assert env["VECTOR_DB"]["value"] == "pgvector"
    assert env["RAG_EMBEDDING_ENGINE"]["value"] == "ollama"
    assert env["OFFLINE_MODE"]["value"] == "true"
    assert values["ollamaUrls"] == ["http://ollama.llm.svc.cluster.local:11434"]
    assert (values["ollama"], values["pipelines"]) == ({"enabled": False}, {"enabled": False})
    assert values["websocket"]["redis"] == {"enabled": False}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert values[probe]["httpGet"]["path"] == "/health"
    assert values["persistence"]["enabled"] is True
    ingress = values["ingress"]
    assert (ingress["enabled"], ingress["class"], ingress["host"]) == (
        True,
        "traefik",
        "chat.example.com",
    )
    assert (
        ingress["annotations"]["traefik.ingress.kubernetes.io/router.tls.certresolver"]
        == "letsencrypt"
    )
    none = helm_values("open-webui", settings_of(acme_ca="none", webui_admin_email="a@example.com"))
    assert (
        "traefik.ingress.kubernetes.io/router.tls.certresolver"
        not in none["ingress"]["annotations"]
    )


def test_open_webui_is_the_deployment_its_chart_makes_of_the_values(helm_values, documents):
    # Chart open-webui 16.0.0 (templates/workload-manager.yaml, pvc.yaml, _helpers.tpl): the
    # kind is workload.kind, the name, the claim and the selector's instance the release name.
    assert helm_values("open-webui")["workload"] == {"kind": "Deployment"}
    assert (OPEN_WEBUI.workload.ref, OPEN_WEBUI.claims, OPEN_WEBUI.workload.selector) == (
        "deployment/open-webui",
        ("open-webui",),
        "app.kubernetes.io/component=open-webui,app.kubernetes.io/instance=open-webui",
    )
    charts = [d["metadata"]["name"] for _, d in documents() if d["kind"] == "HelmChart"]
    assert OPEN_WEBUI.chart.name in charts


@pytest.mark.parametrize("data", [{}, {"ollama_gpu": "nvidia"}])
def test_the_claims_of_chats_uploads_and_models_outlive_their_release(
    helm_values, settings_of, data
):
    # The charts put these annotations on their claims (open-webui-16.0.0 templates/pvc.yaml:
    # persistence.annotations; ollama-1.77.0 templates/pvc.yaml: persistentVolume.annotations),
    # and Helm deletes no object whose rendered manifest says keep, at an uninstall or an
    # upgrade (Helm v4.1.4 pkg/action/resource_policy.go, pkg/kube/client.go).
    node = settings_of(**data)
    assert helm_values("open-webui", node)["persistence"] == {
        "enabled": True,
        "size": "5Gi",
        "annotations": {"helm.sh/resource-policy": "keep"},
    }
    assert helm_values("ollama", node)["persistentVolume"] == {
        "enabled": True,
        "size": "100Gi",
        "annotations": {"helm.sh/resource-policy": "keep"},
    }


def test_postgres_has_pgvector_without_superuser_for_the_app(documents):
    (cluster,) = [d for _, d in documents() if d["kind"] == "Cluster"]
    spec = cluster["spec"]
    assert spec["instances"] == 1
    assert "standard" in spec["imageName"]  # the flavour that carries pgvector
    assert spec["bootstrap"]["initdb"]["postInitApplicationSQL"] == [
        "CREATE EXTENSION IF NOT EXISTS vector;"
    ]
    assert spec["enableSuperuserAccess"] is False
    assert spec["storage"]["size"]


def test_no_secret_value_in_any_manifest(helm_values, settings_of):
    text = "".join(f.content for f in apps.app_files(settings_of()))
    assert "kind: Secret" not in text
    secret_env = [
        e
        for e in helm_values("open-webui")["extraEnvVars"]
        if re.search("PASSWORD|SECRET|DATABASE_URL", e["name"])
    ]
    assert len(secret_env) == 3
    for variable in secret_env:
        assert "value" not in variable and "secretKeyRef" in variable["valueFrom"]


def test_every_container_has_requests_and_a_memory_limit(documents):
    trees = []
    for _, document in documents():
        trees.append(document)
        if document["kind"] == "HelmChart":
            trees.append(yaml.safe_load(document["spec"]["valuesContent"]))
    found = [resources for tree in trees for _, resources in resource_maps(tree)]
    # operator, postgres, ollama, open-webui + its init, puller, backup, Netdata's three
    assert len(found) == 10
    for resources in found:
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert "memory" in resources["limits"]


def test_ollama_requests_what_it_may_use_the_models_loaded_together(settings_of):
    """Request and limit alike (the node reserves Ollama's memory): the server (256 MiB) and
    the two models loaded together (operations/memory.py)."""
    small = ollama.ollama_resources(settings_of())
    # llama3.2:3b at 4096/q8_0 (2310 MiB) and nomic-embed-text (438 MiB)
    assert small == {
        "requests": {"cpu": "500m", "memory": "3004Mi"},
        "limits": {"memory": "3004Mi"},
    }
    # Two chat models may be loaded together: the two largest count, the embedder's out.
    two = ollama.ollama_resources(settings_of(ollama_models=["mistral:7b", "llama3.2:3b"]))
    assert two["limits"]["memory"] == two["requests"]["memory"] == "6953Mi"  # 4387 + 2310 + 256
    # Each loaded chat model's prompt cache counts; the embedder keeps none.
    cached = ollama.ollama_resources(settings_of(ollama_prompt_cache_mib=512))
    assert cached["limits"]["memory"] == "3516Mi"


def test_ollama_environment_carries_the_memory_settings(settings_of):
    env = {e["name"]: e["value"] for e in ollama.ollama_values(settings_of())["extraEnv"]}
    assert env == {
        "OLLAMA_NO_CLOUD": "1",
        "OLLAMA_MAX_LOADED_MODELS": "2",
        "OLLAMA_NUM_PARALLEL": "1",
        "OLLAMA_CONTEXT_LENGTH": "4096",
        "OLLAMA_KV_CACHE_TYPE": "q8_0",
        "OLLAMA_FLASH_ATTENTION": "true",
        "OLLAMA_KEEP_ALIVE": "30m",
        "LLAMA_ARG_CACHE_RAM": "0",
    }
    changed = {
        e["name"]: e["value"]
        for e in ollama.ollama_values(
            settings_of(
                ollama_context_length=8192,
                ollama_kv_cache_type="f16",
                ollama_num_parallel=2,
                ollama_flash_attention=False,
                ollama_prompt_cache_mib=256,
            )
        )["extraEnv"]
    }
    assert [
        changed[name]
        for name in (
            "OLLAMA_CONTEXT_LENGTH",
            "OLLAMA_KV_CACHE_TYPE",
            "OLLAMA_NUM_PARALLEL",
            "OLLAMA_FLASH_ATTENTION",
            "LLAMA_ARG_CACHE_RAM",
        )
    ] == ["8192", "f16", "2", "false", "256"]


def test_secret_script_never_puts_a_value_on_a_command_line():
    script = (PROJECT_ROOT / "files/ensure-secret.sh").read_text()
    # Values live in a shell variable and reach kubectl on standard input only.
    assert "kubectl create --filename -" in script
    assert "--from-literal" not in script
    assert re.search(r"value=\$\(head -c \d+ /dev/urandom", script)


def test_netdata_keeps_the_metrics_store_it_is_given(settings_of):
    conf = monitoring.netdata_values(settings_of())["parent"]["configs"]["netdata"]["data"]
    db = dict(
        line.strip().split(" = ")
        for line in conf.split("[db]")[1].split("[")[0].splitlines()
        if " = " in line
    )
    sizes = {key: value for key, value in db.items() if key.endswith("retention size")}
    times = {key: value for key, value in db.items() if key.endswith("retention time")}
    assert sizes == {
        "dbengine tier 0 retention size": "256MiB",
        "dbengine tier 1 retention size": "128MiB",
    }
    assert times == {
        "dbengine tier 0 retention time": "3d",
        "dbengine tier 1 retention time": "30d",
    }
    # Netdata v2.11.0 raises a tier below RRDENG_MIN_DISK_SPACE_MB (25 MiB) to it; above, the
    # size is what it keeps. Whole data files go after the fact: twice the sizes fit the volume.
    mebibytes = [int(size.removesuffix("MiB")) for size in sizes.values()]
    assert min(mebibytes) >= 25
    assert monitoring.netdata_values(settings_of())["parent"]["database"]["volumesize"] == "1Gi"
    assert 2 * sum(mebibytes) <= 1024


def test_ollama_volume_keeps_its_size_when_the_models_change(settings_of):
    # k3s's local-path volumes cannot grow: a new size would fail the chart's upgrade.
    sizes = {
        ollama.ollama_values(settings_of(ollama_models=models))["persistentVolume"]["size"]
        for models in (["llama3.2:1b"], ["qwen3:32b", "llama3.1:70b"])
    }
    assert sizes == {"100Gi"}


def test_ollama_reaches_no_cluster_network_set_outside_the_private_ranges(documents, settings_of):
    (policy,) = [
        d
        for _, d in documents(settings_of(k3s_cluster_cidr="198.18.0.0/16"))
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "ollama"
    ]
    (rule,) = policy["spec"]["egress"]
    assert rule["to"][0]["ipBlock"]["except"][-1:] == ["198.18.0.0/16"]


def test_an_ipv6_cluster_network_is_no_exception_of_the_ipv4_internet(documents, settings_of):
    # 0.0.0.0/0 holds no IPv6 network; comparing one with the IPv4 ranges was a TypeError.
    (policy,) = [
        d
        for _, d in documents(settings_of(k3s_cluster_cidr="fd00:42::/56"))
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "ollama"
    ]
    (rule,) = policy["spec"]["egress"]
    assert rule["to"][0]["ipBlock"]["except"] == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
    ]
