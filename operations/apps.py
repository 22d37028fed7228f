"""The apps layer: PostgreSQL (CloudNativePG, pgvector), Ollama with its models, Open WebUI,
Netdata, backups and network policies.

Declarative, the k3s way: HelmChart resources and plain manifests, each component's from its
own module, written into k3s's manifests folder on the first server, which k3s applies.
Secrets are made on the host, once, by files/ensure-secret.sh. The layer ends with its
readiness gate (operations/readiness_gate.py): every chart installed, PostgreSQL healthy, every
workload available, Open WebUI answering, every model present.

Every container's requests and limits stand in its component's ``RESOURCES``: the memory
budget of the 8 GB box (bench/memory_budget.py adds them up from the rendered manifests).
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import replace
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.operations import files

from operations import (
    alerts,
    backup,
    gpu,
    health,
    middlewares,
    monitoring,
    policies,
    read_parser,
    readiness_gate,
)
from operations.cluster import Node, deployed_node
from operations.components import NETDATA, OLLAMA, OPEN_WEBUI
from operations.errors import stop
from operations.fact_batch import batch_reads, fact_key, read_fact
from operations.host_facts import FileState
from operations.names import (
    ALERT_SECRET,
    BASIC_AUTH_SECRET,
    BASIC_AUTH_USER,
    K3S_BINARY,
    MANIFEST_PREFIX,
    MANIFESTS_DIR,
    MODEL_FILES_DIR,
    MODEL_PULLER_MANIFEST,
    MONITORING_NAMESPACE,
    NAMESPACE,
    PUT_SECRET,
    SCRIPTS_DIR,
    WEBUI_SECRET_KEYS,
    WEBUI_SECRETS,
)
from operations.ollama import model_puller_job, ollama_values
from operations.postgres import postgres_cluster, postgres_operator
from operations.rendering import (
    PROJECT_ROOT,
    HostFile,
    LayerPlan,
    helm_chart,
    manifest,
    private_upload,
    put_host_file,
)
from operations.settings import Settings
from operations.webui import secrets_named, signin_ingress, webui_values

ENSURE_SECRET = f"{SCRIPTS_DIR}/ensure-secret.sh"
# The alert routes' secrets as the Secret ALERT_SECRET was last made from them (root only).
ALERT_SECRETS_FILE = "/etc/llm-appliance/alerts/secrets.env"


# -- the files ----------------------------------------------------------------------------------


def _manifest(name: str, documents: list[dict]) -> HostFile:
    return manifest(
        f"{MANIFESTS_DIR}/{MANIFEST_PREFIX}{name}.yaml",
        documents,
        "Managed by llm-appliance (operations/apps.py): changes here are overwritten.",
    )


def app_files(settings: Settings, gpu_used: bool = False) -> list[HostFile]:
    """Every manifest of the apps layer (k3s applies them from its manifests folder); with
    `gpu_used`, Ollama on an NVIDIA GPU and NVIDIA's device plugin."""
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in (NAMESPACE, MONITORING_NAMESPACE)
    ]
    return [
        _manifest("namespaces", namespaces),
        _manifest("postgres-operator", [postgres_operator()]),
        _manifest("postgres", [postgres_cluster()]),
        _manifest(
            "ollama", [helm_chart(OLLAMA.installed_chart, ollama_values(settings, gpu_used))]
        ),
        _manifest(MODEL_PULLER_MANIFEST, [model_puller_job(settings)]),
        _manifest(
            "open-webui",
            [
                helm_chart(OPEN_WEBUI.installed_chart, webui_values(settings)),
                middlewares.security_headers(settings, NAMESPACE),
                middlewares.signin_rate_limit(),
                signin_ingress(settings),
            ],
        ),
        _manifest("backup", backup.backup_manifests(settings)),
        _manifest(
            "monitoring",
            [
                helm_chart(NETDATA.installed_chart, monitoring.netdata_values(settings)),
                middlewares.security_headers(settings, MONITORING_NAMESPACE),
                monitoring.basic_auth_middleware(),
                monitoring.ingress(settings),
            ],
        ),
        _manifest(
            "network-policies", policies.apps_policies(settings) + policies.monitoring_policies()
        ),
    ] + ([_manifest("nvidia-device-plugin", gpu.gpu_manifests())] if gpu_used else [])


def plan(settings: Settings, node: Node) -> LayerPlan:
    """The apps layer's plan for ``node``, nothing but on the first server (k3s applies the
    manifests cluster-wide from there): files/ensure-secret.sh, files/put-secret.sh where the
    settings give alert secrets, ``app_files``; the model files and the alert secrets' copy;
    the folders of the appliance's data and of that copy; every file's state, read at once."""
    if not node.first_server:
        return LayerPlan()
    scripts = [
        HostFile(ENSURE_SECRET, (PROJECT_ROOT / "files/ensure-secret.sh").read_text(), "755")
    ]
    if alerts.secret_env(settings):  # put-secret.sh makes the alert routes' Secret
        scripts.append(
            HostFile(PUT_SECRET, (PROJECT_ROOT / "files/put-secret.sh").read_text(), "755")
        )
    files = (*scripts, *app_files(settings, gpu_used=node.cluster_gpu))
    return LayerPlan(
        files=files,
        copies=(
            *(
                f"{MODEL_FILES_DIR}/{Path(path).name}"
                for path in settings.ollama_model_files.values()
            ),
            ALERT_SECRETS_FILE,
        ),
        folders=(str(Path(MODEL_FILES_DIR).parent), str(Path(ALERT_SECRETS_FILE).parent)),
        reads=tuple(
            fact_key(FileState, path=path)
            for path in (*(host_file.path for host_file in files), ALERT_SECRETS_FILE)
        ),
    )


# -- operations ---------------------------------------------------------------------------------


def missing_secret_problems(settings: Settings, read: dict) -> list[str]:
    """The operator's Secrets that the settings name and the cluster read lacks, one line each
    with the command that makes it (its value on standard input: never on a command line)."""
    present = read_parser.secret_names(read, NAMESPACE)
    return [
        f"{setting}: the Secret {NAMESPACE}/{secret} does not exist; make it on the server "
        f"(the value on standard input): sudo k3s kubectl -n {NAMESPACE} create secret "
        f"generic {secret} --from-file=KEY=/dev/stdin"
        for setting, secret in secrets_named(settings)
        if secret not in present
    ]


@operation()
def secret_present(
    namespace: str,
    secret: str,
    keys: tuple[str, ...],
    settings: Settings,
    secret_type: str = "Opaque",
):
    """
    Make a Secret on the host, once (files/ensure-secret.sh): a random value for each key, a
    fixed one for ``key=value``; no-op while it exists (as the run's cluster read shows), so
    values stay stable. No generated value passes through pyinfra.

    .. code:: python

        secret_present(namespace="llm", secret="open-webui-secrets", keys=("secret-key",),
                       settings=settings)
    """
    if secret not in read_parser.secret_names(health.latest_read(settings), namespace):
        yield f"{ENSURE_SECRET} {namespace} {secret} {secret_type} {' '.join(keys)}"
    else:
        host.noop(f"the Secret {namespace}/{secret} exists")


@operation()
def alert_secret_put(content: str, present: bool):
    """
    Keep the Secret ALERT_SECRET as ``content`` says (operations/alerts.py secret_env: the
    operator's alert_secrets_file): its copy uploaded root-only when it differs
    (rendering.private_upload), then files/put-secret.sh makes or replaces the Secret from the
    copy, values on kubectl's standard input only; nothing when the copy is the same and the
    Secret is there (``present``: the plan-time read). Unlike ensure-secret.sh's Secrets, made
    once, this one follows the operator's file; without content, a Secret an earlier deploy
    made (its copy is on the host) is deleted.

    .. code:: python

        alert_secret_put(content="SMTP_PASSWORD=...\n", present=False)
    """
    copy = read_fact(host, FileState, path=ALERT_SECRETS_FILE)  # in install()'s batch
    held = copy and copy["sha1"]
    if not content:
        if held:
            yield (
                f"{K3S_BINARY} kubectl --namespace {MONITORING_NAMESPACE} delete secret "
                f"{ALERT_SECRET} --ignore-not-found"
            )
            yield f"rm -f {shlex.quote(ALERT_SECRETS_FILE)}"
        else:
            host.noop(f"no alert secrets, and no copy of them at {ALERT_SECRETS_FILE}")
        return
    same = held == hashlib.sha1(content.encode()).hexdigest()
    if present and same:
        host.noop(f"the Secret {ALERT_SECRET} is there, made from the alert secrets as they are")
        return
    if not same:
        yield from private_upload(content.encode(), ALERT_SECRETS_FILE)
    yield f"{PUT_SECRET} {MONITORING_NAMESPACE} {ALERT_SECRET} env {ALERT_SECRETS_FILE}"


@deploy("Apps layer")
def install(settings: Settings):
    node = deployed_node()
    if not node.first_server:
        return  # k3s applies the manifests cluster-wide from the first server
    # Read only where the settings name the operator's Secrets (the cluster read is the run's one).
    missing = secrets_named(settings) and missing_secret_problems(
        settings, health.latest_read(settings)
    )
    if missing:
        stop(missing, "the apps layer needs the Secrets the settings name")
    gpu_nodes = gpu.cluster_gpu_nodes()
    layer = plan(settings, replace(node, cluster_gpu=bool(gpu_nodes)))
    # Every file's state in one round trip (the readiness gate reads the cluster on its own).
    batch_reads(host, *layer.reads)
    changes = [put_host_file(layer.file(ENSURE_SECRET))]
    for model, path in settings.ollama_model_files.items():
        changes.append(
            files.put(
                name=f"Upload the model file of {model}",
                src=path,
                dest=f"{MODEL_FILES_DIR}/{Path(path).name}",
                mode="644",
            )
        )
    changes.append(
        secret_present(
            name="Generate Open WebUI's secret key and admin password (once, on the host)",
            namespace=NAMESPACE,
            secret=WEBUI_SECRETS,
            keys=WEBUI_SECRET_KEYS,
            settings=settings,
        )
    )
    changes.append(
        secret_present(
            name="Generate the monitoring password (once, on the host)",
            namespace=MONITORING_NAMESPACE,
            secret=BASIC_AUTH_SECRET,
            keys=(f"username={BASIC_AUTH_USER}", "password"),
            secret_type="kubernetes.io/basic-auth",
            settings=settings,
        )
    )
    alert_secrets = alerts.secret_env(settings)
    if alert_secrets:  # the cluster is read for this Secret only where the settings give one
        changes.append(put_host_file(layer.file(PUT_SECRET)))
    changes.append(
        alert_secret_put(
            name="Put the alert routes' secrets (alert_secrets_file) in a Secret",
            content=alert_secrets,
            present=bool(alert_secrets)
            and ALERT_SECRET
            in read_parser.secret_names(health.latest_read(settings), MONITORING_NAMESPACE),
        )
    )
    if gpu_nodes:
        changes.append(
            gpu.gpu_nodes_labelled(
                name="Label the GPU nodes", node_names=tuple(gpu_nodes), settings=settings
            )
        )
    manifests = [
        host_file for host_file in layer.files if host_file.path.startswith(f"{MANIFESTS_DIR}/")
    ]
    changes += [put_host_file(manifest_file) for manifest_file in manifests]
    readiness_gate.gate("apps", settings, changes, layer.files)
