"""The readiness judge: each layer's components (``k3s_components``, ``apps_components``), as
read (operations/health.py ApplianceRead, parsed by operations/read_parser.py), judged one by one
as ready, waiting, failed or a warning: nodes, workloads as `kubectl rollout status` judges them,
charts and manifests as k3s applied them (operations/k3s_applied.py), PostgreSQL, Open WebUI's
/health, the models, the certificate.

    for component in layer_components("apps", read, settings, manifests):
        print(component.name, component.state, component.detail)
"""

from __future__ import annotations

from datetime import datetime, timezone

from operations.certificates import covers
from operations.component_state import FAILED, READY, WAITING, WARNING, Component
from operations.components import APP_CHARTS, TRAEFIK
from operations.k3s_applied import chart_component, manifest_components
from operations.names import (
    DEVICE_PLUGIN_NAMESPACE,
    MODEL_PULLER_LABEL,
    MONITORING_NAMESPACE,
    NAMESPACE,
    OPERATOR_NAMESPACE,
    POSTGRES_CLUSTER,
    TLS_SECRET,
)
from operations.pins import PINNED_VERSIONS
from operations.read_parser import Cluster, condition
from operations.settings import Settings

APP_NAMESPACES = (NAMESPACE, MONITORING_NAMESPACE, OPERATOR_NAMESPACE, DEVICE_PLUGIN_NAMESPACE)


# -- workloads: `kubectl rollout status`, kubectl 1.36 pkg/polymorphichelpers/rollout_status.go --
# Counters the API omits when zero (omitempty) count as 0; a spec field the API server
# defaults (replicas 1, updateStrategy RollingUpdate with partition 0: kubernetes
# pkg/apis/apps/v1/defaults.go) counts as its default where a read lacks it.


def _rollout(kind: str, spec: dict, status: dict, generation: int) -> tuple[str, str]:
    """(state, detail) of a Deployment, StatefulSet or DaemonSet as kubectl's rollout status
    judges it; a Deployment past its progress deadline is FAILED. An OnDelete StatefulSet or
    DaemonSet, which rollout status does not judge, is ready when every pod is ready."""
    observed = status.get("observedGeneration", 0)
    replicas = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if kind == "Deployment":
        if generation > observed:
            return WAITING, "spec not yet seen"
        progressing: dict = next(
            (c for c in status.get("conditions", []) or [] if c.get("type") == "Progressing"), {}
        )
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            return (
                FAILED,
                f"exceeded its progress deadline: {progressing.get('message', '')}".rstrip(": "),
            )
        if updated < replicas:
            return WAITING, f"{updated} of {replicas} new replicas updated"
        if status.get("replicas", 0) > updated:
            return WAITING, f"{status['replicas'] - updated} old replicas pending termination"
        available = status.get("availableReplicas", 0)
        if available < updated:
            return WAITING, f"{available} of {updated} updated replicas available"
        return READY, f"{available}/{replicas} available"
    if kind == "DaemonSet":
        if generation > observed:
            return WAITING, "spec not yet seen"
        desired = status.get("desiredNumberScheduled", 0)
        available = status.get("numberAvailable", 0)
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        if rolling and status.get("updatedNumberScheduled", 0) < desired:
            return (
                WAITING,
                f"{status.get('updatedNumberScheduled', 0)} of {desired} new pods updated",
            )
        if available < desired:
            return WAITING, f"{available} of {desired} pods available"
        return READY, f"{available}/{desired} available"
    if observed == 0 or generation > observed:
        return WAITING, "spec not yet seen"
    ready = status.get("readyReplicas", 0)
    if ready < replicas:
        return WAITING, f"{ready}/{replicas} ready"
    strategy = spec.get("updateStrategy") or {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0},
    }
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if rolling is not None:
            partition = rolling.get("partition")
            if partition is not None and updated < replicas - partition:
                return WAITING, f"{updated} of {replicas - partition} new pods updated"
        elif status.get("updateRevision") != status.get("currentRevision"):
            return WAITING, f"{updated} pods at revision {status.get('updateRevision')}"
    return READY, f"{ready}/{replicas} ready"


def workload_component(cluster: Cluster, item: dict) -> Component:
    """A Deployment, StatefulSet or DaemonSet: ready when its rollout is done (_rollout)."""
    kind, metadata = item["kind"], item["metadata"]
    spec = item.get("spec", {})
    state, detail = _rollout(kind, spec, item.get("status", {}), metadata.get("generation", 0))
    images = sorted(
        {
            c["image"].rsplit(":", 1)[-1]
            for c in spec.get("template", {}).get("spec", {}).get("containers", [])
            if ":" in c.get("image", "")
        }
    )
    namespace, name = metadata.get("namespace", ""), metadata["name"]
    return Component(
        name=f"{kind.lower()} {namespace}/{name}",
        state=state,
        detail=detail,
        running=", ".join(images),
        targets=((kind, namespace, name),),
        look=f"k3s kubectl --namespace {namespace} describe {kind.lower()} {name}",
    )


def node_components(cluster: Cluster, settings: Settings) -> list[Component]:
    if not cluster.read.get("k3s"):
        return [
            Component(
                "k3s",
                WAITING,
                "not installed",
                pinned=settings.k3s_version,
                look="systemctl status k3s",
            )
        ]
    nodes = cluster.of("Node")
    if not nodes:
        return [
            Component(
                "k3s",
                WAITING,
                "the API server does not answer yet",
                pinned=settings.k3s_version,
                look="journalctl -u k3s -n 50",
            )
        ]
    return [
        Component(
            f"node {node['metadata']['name']}",
            READY if condition(node, "Ready") else WAITING,
            "Ready" if condition(node, "Ready") else "not Ready",
            running=node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
            pinned=settings.k3s_version,
            targets=(("Node", "default", node["metadata"]["name"]),),
            look=f"k3s kubectl describe node {node['metadata']['name']}",
        )
        for node in nodes
    ]


def k3s_components(read: dict, settings: Settings) -> list[Component]:
    """The k3s layer: nodes Ready, k3s's own charts (Traefik) installed, kube-system's
    workloads available, and Traefik redirecting HTTP to HTTPS on this server."""
    cluster = Cluster(read)
    components = node_components(cluster, settings)
    if any(c.state != READY for c in components):
        return components
    for chart in cluster.of("HelmChart", ("kube-system",)):
        name = chart["metadata"]["name"]
        if name not in APP_CHARTS:
            pinned = f"+up{settings.traefik_upstream_chart}" if name == "traefik" else ""
            components.append(chart_component(cluster, chart, pinned))
    components += [
        workload_component(cluster, item)
        for kind in ("Deployment", "StatefulSet", "DaemonSet")
        for item in cluster.of(kind, ("kube-system",))
    ]
    code, _, location = read.get("redirect", "").partition(" ")
    components.append(
        Component(
            "traefik http -> https",
            READY if code in ("301", "308") and location.startswith("https://") else WAITING,
            f"http://127.0.0.1/ answers {read.get('redirect') or 'nothing'}",
            look="curl -sI http://127.0.0.1/",
        )
    )
    return components


def apps_components(read: dict, settings: Settings) -> list[Component]:
    """The apps layer: every chart installed for its current spec, PostgreSQL healthy, every
    workload in the appliance's namespaces available, Open WebUI's /health answering through
    Traefik, every model present, the certificate served (certificate_component)."""
    cluster = Cluster(read)
    components = [
        chart_component(cluster, chart, APP_CHARTS[chart["metadata"]["name"]].version)
        for chart in cluster.of("HelmChart")
        if chart["metadata"]["name"] in APP_CHARTS
    ]
    postgres = cluster.get("Cluster", NAMESPACE, POSTGRES_CLUSTER)
    status = (postgres or {}).get("status", {})
    healthy = status.get("phase") == "Cluster in healthy state" and status.get(
        "readyInstances", 0
    ) >= (postgres or {}).get("spec", {}).get("instances", 1)
    components.append(
        Component(
            "postgres",
            READY if healthy else WAITING,
            status.get("phase") or "no CloudNativePG Cluster yet",
            running=status.get("image", "").rsplit(":", 1)[-1],
            pinned=PINNED_VERSIONS["postgresql image"].rsplit(":", 1)[-1],
            targets=(("Cluster", NAMESPACE, POSTGRES_CLUSTER),),
            look=f"k3s kubectl --namespace {NAMESPACE} describe cluster {POSTGRES_CLUSTER}",
        )
    )
    components += [
        workload_component(cluster, item)
        for kind in ("Deployment", "StatefulSet", "DaemonSet")
        for item in cluster.of(kind, APP_NAMESPACES)
    ]
    health = read.get("health") or "no answer"
    components.append(
        Component(
            "open-webui /health",
            READY if health == "200" else WAITING,
            f"https://{settings.webui_domain}/health through Traefik: {health}",
            look=f"curl -skv --resolve {settings.webui_domain}:443:127.0.0.1 "
            f"https://{settings.webui_domain}/health",
        )
    )
    missing = missing_models(settings.models, read.get("models", []))
    components.append(
        Component(
            "models",
            WAITING if missing else READY,
            f"missing {', '.join(missing)}" if missing else ", ".join(settings.models),
            # `logs` takes a selector or a name, not both (`logs job -l ...` is a usage error):
            # the puller Job's pods carry its template's label.
            look=f"k3s kubectl --namespace {NAMESPACE} logs --selector "
            f"app.kubernetes.io/name={MODEL_PULLER_LABEL} --tail 20",
        )
    )
    components.append(certificate_component(read, settings))
    return components


def ollama_list_name(model: str) -> str:
    """A model's name as `ollama list` prints it: Ollama v0.32.15 types/model/name.go ParseName
    fills in the defaults (host registry.ollama.ai, namespace library, tag latest) and the
    list shows DisplayShortest (server/model_list_cache.go): the host and namespace only when
    the host is not the default, the namespace alone when only it is not.

        ollama_list_name("library/llama3.2:3b")   # 'llama3.2:3b'
        ollama_list_name("hf.co/x/y:q4")          # 'hf.co/x/y:q4'
    """
    rest, tag = model, "latest"
    if model.rfind(":") > model.rfind("/"):
        rest, _, tag = model.rpartition(":")
    parts = rest.split("/")
    model_name = parts[-1]
    namespace = parts[-2] if len(parts) > 1 else "library"
    host = "/".join(parts[:-2]) if len(parts) > 2 else "registry.ollama.ai"
    host = host.split("://", 1)[-1]
    if host.lower() != "registry.ollama.ai":
        return f"{host}/{namespace}/{model_name}:{tag}"
    if namespace.lower() != "library":
        return f"{namespace}/{model_name}:{tag}"
    return f"{model_name}:{tag}"


def missing_models(wanted, listed) -> list[str]:
    """The ``wanted`` models (as the settings write them) that ``listed`` (names as `ollama
    list` prints them) lacks, in order."""
    return [model for model in wanted if ollama_list_name(model) not in set(listed)]


# Traefik (k3s's packaged chart) renews a Let's Encrypt certificate 30 days before it expires;
# one this close to its end has failed to renew for two weeks.
CERTIFICATE_WARN_DAYS = 14
# The operator renews tls_certificate: a month's notice.
OWN_CERTIFICATE_WARN_DAYS = 30


def certificate_component(read: dict, settings: Settings) -> Component:
    """The certificate Traefik serves for webui_domain, its issuer and expiry in every mode.
    Let's Encrypt (acme_ca, over HTTP-01 or DNS-01): a warning without one for the domain
    yet or within CERTIFICATE_WARN_DAYS of its notAfter. tls_certificate: waiting until
    Traefik serves a certificate covering the domain (its Secret loaded), a warning within
    OWN_CERTIFICATE_WARN_DAYS. Both failed once expired (notAfter before the read's ``now``).
    acme_ca none: Traefik's default certificate, ready whatever it is."""
    certificate = read.get("certificate")
    detail = (
        f"{certificate['issuer']}, valid until {certificate['not_after']}" if certificate else ""
    )
    look = (
        f"k3s kubectl --namespace {TRAEFIK.namespace} logs {TRAEFIK.workload.ref} "
        f"| grep -i {'tls' if settings.tls_certificate else 'acme'}"
    )
    if settings.acme_ca == "none" and not settings.tls_certificate:
        return Component(
            "certificate", READY, f"acme_ca none: {detail or 'none served yet'}", look=look
        )
    covered = certificate is not None and any(
        covers(name, settings.webui_domain) for name in certificate["names"]
    )
    if not covered and settings.tls_certificate:
        return Component(
            "certificate",
            WAITING,
            f"Traefik does not serve tls_certificate for {settings.webui_domain} yet (it serves "
            f"{detail or 'none'}): its Secret {TLS_SECRET} in {TRAEFIK.namespace} is read by "
            "the TLSStore default",
            look=look,
        )
    if certificate is None or not covered:
        how = (
            f"that the DNS provider {settings.acme_dns_provider} accepts the credentials of "
            "acme_dns_credentials_file (DNS-01 challenge)"
            if settings.acme_dns_provider
            else "that its DNS points to this server, that port 80 is open from the internet "
            "(the HTTP challenge)"
        )
        return Component(
            "certificate",
            WARNING,
            f"no Let's Encrypt certificate for {settings.webui_domain} yet: check {how}, and "
            "Let's Encrypt's rate limits",
            look=look,
        )
    # openssl x509 -enddate prints e.g. "Feb  7 20:00:00 2027 GMT" (day padded with a space).
    try:
        expires = (
            datetime.strptime(" ".join(certificate["not_after"].split()[:4]), "%b %d %H:%M:%S %Y")
            .replace(tzinfo=timezone.utc)
            .timestamp()
        )
    except ValueError:
        return Component("certificate", WARNING, f"expiry unreadable: {detail}", look=look)
    days = (expires - read["now"]) / 86400
    warn_days, renew = (
        (OWN_CERTIFICATE_WARN_DAYS, ": renew tls_certificate and deploy again")
        if settings.tls_certificate
        else (CERTIFICATE_WARN_DAYS, "")
    )
    if days <= 0:
        return Component("certificate", FAILED, f"expired: {detail}{renew}", look=look)
    if days < warn_days:
        return Component(
            "certificate", WARNING, f"expires in {days:.0f} days: {detail}{renew}", look=look
        )
    return Component("certificate", READY, detail, look=look)


def read_errors(read: dict) -> list[Component]:
    """The objects' get, when kubectl reported an error (a list that failed: the other kinds
    were read, that one was not): WAITING, with kubectl's message, as the judgments made
    without that kind are not to be trusted."""
    if not read.get("errors"):
        return []
    return [
        Component(
            "cluster read", WAITING, "; ".join(read["errors"]), look="journalctl -u k3s -n 50"
        )
    ]


LAYER_COMPONENTS = {"k3s": k3s_components, "apps": apps_components}


def layer_components(
    layer: str,
    read: dict,
    settings: Settings,
    manifests: tuple[tuple[str, str], ...] = (),
    since: str = "",
) -> list[Component]:
    """A layer's components (LAYER_COMPONENTS), after those of the manifests it wrote."""
    return manifest_components(Cluster(read), manifests, since) + LAYER_COMPONENTS[layer](
        read, settings
    )
