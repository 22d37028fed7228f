"""The apps layer: PostgreSQL (CloudNativePG, pgvector), Ollama with its models, Open WebUI.

Declarative, the k3s way: HelmChart resources and plain manifests written into k3s's manifests
folder on the first server, which k3s applies. Secrets are made on the host, once, by
files/ensure-secret.sh. The deploy then waits until Ollama lists every model.

Every container's requests and limits stand in `RESOURCES`: the memory budget of the 8 GB box
(bench/memory_budget.py adds them up from the rendered manifests).
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

from pyinfra import host, inventory, logger
from pyinfra.api import OperationError, deploy, operation
from pyinfra.operations import files, python

from operations import monitoring
from operations.facts import KubernetesSecretNames, OllamaModels
from operations.k3s import FIRST_SERVER_LABEL, MANIFESTS_DIR, SCRIPTS_DIR, first_server_index
from operations.rendering import PROJECT_ROOT, HostFile, manifest, put_host_file, to_yaml
from operations.settings import MODEL_MEMORY_FACTOR, PINNED_VERSIONS, Settings

NAMESPACE = "llm"
OPERATOR_NAMESPACE = "cnpg-system"
POSTGRES_CLUSTER = "postgres"
# CloudNativePG makes this Secret (user, password, uri...) for the application database.
POSTGRES_APP_SECRET = f"{POSTGRES_CLUSTER}-app"
WEBUI_SECRETS = "open-webui-secrets"
WEBUI_SECRET_KEYS = ("secret-key", "admin-password")
OLLAMA_URL = f"http://ollama.{NAMESPACE}.svc.cluster.local:11434"
MODEL_FILES_DIR = "/var/lib/llm-appliance/models"
ENSURE_SECRET = f"{SCRIPTS_DIR}/ensure-secret.sh"
MODEL_PULLER_LABEL = "ollama-model-puller"

# Requests and limits of every container. Memory is limited everywhere; CPU is requested but
# not limited (a CPU limit throttles, and the 4 vCPU box is the appliance's alone).
RESOURCES = {
    "postgres-operator": {"requests": {"cpu": "50m", "memory": "96Mi"},
                          "limits": {"memory": "256Mi"}},
    # CloudNativePG recommends equal request and limit; shared_buffers is a quarter of it.
    "postgres": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "256Mi"}},
    # Ollama's request covers the server alone; its limit adds room for the largest model.
    "ollama": {"requests": {"cpu": "500m", "memory": "256Mi"}},
    "open-webui": {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "open-webui-copy-app-data": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                 "limits": {"memory": "128Mi"}},
    "ollama-model-puller": {"requests": {"cpu": "50m", "memory": "32Mi"},
                            "limits": {"memory": "256Mi"}},
}
POSTGRES_PARAMETERS = {"shared_buffers": "64MB", "max_connections": "50"}


def ollama_resources(settings: Settings) -> dict:
    """The server's request, and a limit that holds the largest model and the server."""
    largest = settings.largest_model
    model_gib = largest[1] * MODEL_MEMORY_FACTOR if largest else 0
    return {**RESOURCES["ollama"], "limits": {"memory": f"{math.ceil(model_gib + 1)}Gi"}}


def helm_chart(name: str, repo: str, chart: str, version: str, namespace: str, values: dict) -> dict:
    """A k3s HelmChart resource: helm-controller installs and upgrades the chart from it."""
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "repo": repo,
            "chart": chart,
            "version": version,
            "targetNamespace": namespace,
            "createNamespace": True,
            # Retry a failed upgrade; the default (reinstall) would uninstall, volumes and all.
            "failurePolicy": "retry",
            "valuesContent": to_yaml(values),
        },
    }


# -- PostgreSQL -------------------------------------------------------------------------------


def postgres_operator() -> dict:
    return helm_chart(
        "cloudnative-pg", "https://cloudnative-pg.github.io/charts", "cloudnative-pg",
        PINNED_VERSIONS["cloudnative-pg chart"], OPERATOR_NAMESPACE,
        {"resources": RESOURCES["postgres-operator"]},
    )


def postgres_cluster() -> dict:
    """One PostgreSQL instance with pgvector (the image's standard flavour), created at
    bootstrap by the superuser so that Open WebUI's user needs no superuser rights."""
    return {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": POSTGRES_CLUSTER, "namespace": NAMESPACE},
        "spec": {
            "instances": 1,
            "imageName": PINNED_VERSIONS["postgresql image"],
            "enableSuperuserAccess": False,
            "storage": {"size": "5Gi"},
            "resources": RESOURCES["postgres"],
            "postgresql": {"parameters": POSTGRES_PARAMETERS},
            "bootstrap": {
                "initdb": {
                    "database": "openwebui",
                    "owner": "openwebui",
                    "postInitApplicationSQL": ["CREATE EXTENSION IF NOT EXISTS vector;"],
                }
            },
        },
    }


# -- Ollama -------------------------------------------------------------------------------------


def ollama_values(settings: Settings) -> dict:
    """Values for otwld/ollama-helm: ClusterIP only, no ingress, models on a volume, no
    postStart model hook (a Job pulls them), no calls home."""
    gpu = settings.ollama_gpu != "none"
    values = {
        "ollama": {"gpu": {"enabled": gpu, "type": "nvidia", "number": 1}},
        "service": {"type": "ClusterIP"},
        "ingress": {"enabled": False},
        "persistentVolume": {
            "enabled": True,
            "size": f"{math.ceil(sum(map(settings.model_size_gib, settings.models)) * 1.2) + 5}Gi",
        },
        "resources": ollama_resources(settings),
        "extraEnv": [
            {"name": "OLLAMA_NO_CLOUD", "value": "1"},
            {"name": "OLLAMA_MAX_LOADED_MODELS", "value": "1"},
            {"name": "OLLAMA_NUM_PARALLEL", "value": "1"},
            {"name": "OLLAMA_KEEP_ALIVE", "value": "30m"},
        ],
        "serviceAccount": {"automount": False},
        "tests": {"enabled": False},
    }
    if gpu:
        values["runtimeClassName"] = "nvidia"
    return values


PULL_SCRIPT = """\
set -eu
present() { ollama list | awk 'NR > 1 {print $1}' | grep -qxF "$1"; }
until ollama list >/dev/null 2>&1; do echo "waiting for Ollama at $OLLAMA_HOST"; sleep 5; done
for model in $MODELS; do
  if present "$model"; then echo "present: $model"; continue; fi
  echo "pulling: $model"
  ollama pull "$model"
done
for entry in $MODEL_FILES; do
  model=${entry%%=*} file=${entry#*=}
  if present "$model"; then echo "present: $model"; continue; fi
  echo "importing: $model from $file"
  printf 'FROM /models/%s\\n' "$file" > /tmp/Modelfile
  ollama create "$model" -f /tmp/Modelfile
done
"""


def model_puller_job(settings: Settings) -> dict:
    """A Job that pulls (or, air-gapped, imports) every model through Ollama's API. Its name
    carries a hash of the model list: a new list is a new Job; an unchanged one, no change."""
    imported = {model: Path(path).name for model, path in settings.ollama_model_files.items()}
    pulled = [model for model in settings.models if model not in imported]
    digest = hashlib.sha256(repr((pulled, sorted(imported.items()))).encode()).hexdigest()[:10]
    pod = {
        "restartPolicy": "OnFailure",
        "automountServiceAccountToken": False,
        "containers": [{
            "name": "pull",
            "image": PINNED_VERSIONS["ollama image"],
            "command": ["sh", "-c", PULL_SCRIPT],
            "env": [
                {"name": "OLLAMA_HOST", "value": OLLAMA_URL},
                {"name": "MODELS", "value": " ".join(pulled)},
                {"name": "MODEL_FILES", "value": " ".join(f"{m}={f}" for m, f in imported.items())},
            ],
            "resources": RESOURCES["ollama-model-puller"],
        }],
    }
    if imported:
        pod["containers"][0]["volumeMounts"] = [
            {"name": "models", "mountPath": "/models", "readOnly": True}
        ]
        pod["volumes"] = [
            {"name": "models", "hostPath": {"path": MODEL_FILES_DIR, "type": "Directory"}}
        ]
        # The files were uploaded to the first server.
        pod["nodeSelector"] = {FIRST_SERVER_LABEL: "true"}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"ollama-models-{digest}", "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/part-of": "llm-appliance"}},
        "spec": {
            "backoffLimit": 6,
            "activeDeadlineSeconds": settings.ollama_pull_timeout_minutes * 60,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": MODEL_PULLER_LABEL}},
                "spec": pod,
            },
        },
    }


# -- Open WebUI ---------------------------------------------------------------------------------


def _secret_env(name: str, secret: str, key: str) -> dict:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def webui_values(settings: Settings) -> dict:
    """Values for open-webui/helm-charts: one replica with no bundled Ollama, pipelines or
    Redis; database, secret key and first admin from Secrets; RAG in pgvector with embeddings
    from Ollama; nothing fetched from or sent to the internet."""
    health = {"httpGet": {"path": "/health", "port": "http"}}
    annotations = {
        "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
        "traefik.ingress.kubernetes.io/router.tls": "true",
    }
    if settings.acme_ca != "none":
        annotations["traefik.ingress.kubernetes.io/router.tls.certresolver"] = "letsencrypt"
    environment = [
        {"name": "WEBUI_URL", "value": f"https://{settings.webui_domain}"},
        _secret_env("DATABASE_URL", POSTGRES_APP_SECRET, "uri"),
        _secret_env("WEBUI_SECRET_KEY", WEBUI_SECRETS, "secret-key"),
        {"name": "WEBUI_ADMIN_EMAIL", "value": settings.admin_email},
        _secret_env("WEBUI_ADMIN_PASSWORD", WEBUI_SECRETS, "admin-password"),
        {"name": "WEBUI_ADMIN_NAME", "value": "Administrator"},
        {"name": "ENABLE_SIGNUP", "value": str(settings.webui_signup)},
        {"name": "DEFAULT_USER_ROLE", "value": "pending"},
        {"name": "VECTOR_DB", "value": "pgvector"},
        # Created at bootstrap by the superuser (postgres_cluster).
        {"name": "PGVECTOR_CREATE_EXTENSION", "value": "false"},
        {"name": "RAG_EMBEDDING_ENGINE", "value": "ollama"},
        {"name": "RAG_EMBEDDING_MODEL", "value": settings.webui_embedding_model},
        {"name": "RAG_OLLAMA_BASE_URL", "value": OLLAMA_URL},
        {"name": "OFFLINE_MODE", "value": "true"},
        {"name": "HF_HUB_OFFLINE", "value": "1"},
        {"name": "ENABLE_VERSION_UPDATE_CHECK", "value": "False"},
        {"name": "ENABLE_COMMUNITY_SHARING", "value": "False"},
        {"name": "SCARF_NO_ANALYTICS", "value": "true"},
        {"name": "DO_NOT_TRACK", "value": "true"},
        {"name": "ANONYMIZED_TELEMETRY", "value": "false"},
    ]
    return {
        "ollama": {"enabled": False},
        "pipelines": {"enabled": False},
        "tika": {"enabled": False},
        "terminals": {"enabled": False},
        # Socket.IO in memory: one replica needs no Redis.
        "websocket": {"enabled": True, "manager": "", "redis": {"enabled": False}},
        "replicaCount": 1,
        "workload": {"kind": "Deployment"},
        "strategy": {"type": "Recreate"},
        "ollamaUrls": [OLLAMA_URL],
        "enableOpenaiApi": False,
        "persistence": {"enabled": True, "size": "5Gi"},
        "ingress": {
            "enabled": True,
            "class": "traefik",
            "host": settings.webui_domain,
            # TLS comes from Traefik's resolver (annotations), not from a certificate Secret.
            "tls": False,
            "annotations": annotations,
        },
        "livenessProbe": {**health, "periodSeconds": 10, "failureThreshold": 3},
        "readinessProbe": {**health, "periodSeconds": 10},
        "startupProbe": {**health, "periodSeconds": 5, "failureThreshold": 120},
        "resources": RESOURCES["open-webui"],
        "copyAppData": {
            "command": ["sh", "-c", "cp -R -n /app/backend/data/. /tmp/app-data/"],
            "resources": RESOURCES["open-webui-copy-app-data"],
        },
        "extraEnvVars": environment,
    }


# -- the files ----------------------------------------------------------------------------------


def _manifest(name: str, documents: list[dict]) -> HostFile:
    return manifest(
        f"{MANIFESTS_DIR}/llm-appliance-{name}.yaml", documents,
        "Managed by llm-appliance (operations/apps.py): changes here are overwritten.",
    )


def app_files(settings: Settings) -> list[HostFile]:
    """Every manifest of the apps layer (k3s applies them from its manifests folder)."""
    # Imported here: both modules build on this one's names.
    from operations import backup, policies

    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                  for name in (NAMESPACE, monitoring.NAMESPACE)]
    return [
        _manifest("namespaces", namespaces),
        _manifest("postgres-operator", [postgres_operator()]),
        _manifest("postgres", [postgres_cluster()]),
        _manifest("ollama", [
            helm_chart("ollama", "https://otwld.github.io/ollama-helm/", "ollama",
                       PINNED_VERSIONS["ollama chart"], NAMESPACE, ollama_values(settings)),
        ]),
        _manifest("ollama-models", [model_puller_job(settings)]),
        _manifest("open-webui", [
            helm_chart("open-webui", "https://helm.openwebui.com/", "open-webui",
                       PINNED_VERSIONS["open-webui chart"], NAMESPACE, webui_values(settings)),
        ]),
        _manifest("backup", backup.backup_manifests(settings)),
        _manifest("monitoring", [
            helm_chart("netdata", "https://netdata.github.io/helmchart/", "netdata",
                       PINNED_VERSIONS["netdata chart"], monitoring.NAMESPACE,
                       monitoring.netdata_values()),
            monitoring.basic_auth_middleware(),
            monitoring.ingress(settings),
        ]),
        _manifest("network-policies", policies.apps_policies() + policies.monitoring_policies()),
    ]


# -- operations ---------------------------------------------------------------------------------


@operation()
def secret_present(namespace: str, secret: str, keys: tuple[str, ...], secret_type: str = "Opaque"):
    """
    Make a Secret on the host, once (files/ensure-secret.sh): a random value for each key, a
    fixed one for ``key=value``; no-op while it exists, so values stay stable. No generated
    value passes through pyinfra.

    .. code:: python

        secret_present(namespace="llm", secret="open-webui-secrets", keys=("secret-key",))
    """
    if secret not in host.get_fact(KubernetesSecretNames, namespace=namespace):
        yield f"{ENSURE_SECRET} {namespace} {secret} {secret_type} {' '.join(keys)}"


def _wait_for_models(models: tuple[str, ...], timeout_minutes: int) -> None:
    """Poll Ollama's model list, printing progress, until every model is there."""
    deadline = time.monotonic() + timeout_minutes * 60
    while True:
        present = host.get_fact(OllamaModels, namespace=NAMESPACE)
        missing = [model for model in models if model not in present]
        if not missing:
            logger.info(f"{host.print_prefix}models present: {', '.join(models)}")
            return
        if time.monotonic() > deadline:
            raise OperationError(
                f"models still missing after {timeout_minutes} min: {', '.join(missing)}; see "
                f"`k3s kubectl -n {NAMESPACE} logs job -l app.kubernetes.io/name="
                f"{MODEL_PULLER_LABEL}` (raise ollama_pull_timeout_minutes for slow links)"
            )
        logger.info(
            f"{host.print_prefix}models: {len(models) - len(missing)}/{len(models)} present, "
            f"waiting for {', '.join(missing)}"
        )
        time.sleep(15)


def is_first_server() -> bool:
    nodes = list(inventory)
    return nodes[first_server_index({node.name: node.groups for node in nodes})].name == host.name


@deploy("Apps layer")
def install(settings: Settings):
    if not is_first_server():
        return  # k3s applies the manifests cluster-wide from the first server
    files.put(
        name="Install ensure-secret.sh",
        src=str(PROJECT_ROOT / "files/ensure-secret.sh"), dest=ENSURE_SECRET, mode="755",
    )
    for model, path in settings.ollama_model_files.items():
        files.put(name=f"Upload the model file of {model}", src=path,
                  dest=f"{MODEL_FILES_DIR}/{Path(path).name}", mode="644")
    secret_present(
        name="Generate Open WebUI's secret key and admin password (once, on the host)",
        namespace=NAMESPACE, secret=WEBUI_SECRETS, keys=WEBUI_SECRET_KEYS,
    )
    secret_present(
        name="Generate the monitoring password (once, on the host)",
        namespace=monitoring.NAMESPACE, secret=monitoring.BASIC_AUTH_SECRET,
        keys=(f"username={monitoring.BASIC_AUTH_USER}", "password"),
        secret_type="kubernetes.io/basic-auth",
    )
    for app_file in app_files(settings):
        put_host_file(app_file)
    if not set(settings.models) <= host.get_fact(OllamaModels, namespace=NAMESPACE):
        python.call(
            name=f"Wait for the models (up to {settings.ollama_pull_timeout_minutes} min)",
            function=_wait_for_models,
            models=settings.models,
            timeout_minutes=settings.ollama_pull_timeout_minutes,
        )
