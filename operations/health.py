"""The appliance's readiness, read in one round trip, judged component by component.

One fact, ``ApplianceRead``, reads everything the layers' gates, the run summary and
``appliance status`` need, with two ``k3s kubectl`` invocations at most: one ``get`` of every
object of interest in every namespace (Secrets by name only: their values never leave the
API server), and Ollama's own model list. The same command asks Traefik for Open WebUI's
``/health`` and its certificate under the public name, and the host for its free disk and
memory and its newest backup.

    read = latest_read(settings)                 # cached for the run; fresh=True reads again
    for component in apps_components(read, settings):
        print(component.name, component.state, component.detail)

``ready_gate`` is the operation the k3s and apps layers end with: it waits, printing a line per
component as its state changes, until every component is ready, and stops the run naming the
component, its state, last events and log tail, and the command to look further. A layer whose
plan-time read is healthy and whose operations change nothing gets no gate: a re-run of a
converged appliance reads once and waits for nothing.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field

from pyinfra import host, logger
from pyinfra.api import FactBase, operation
from pyinfra.api.command import StringCommand

from operations.facts import OllamaModels
from operations.names import (
    BACKUP_DIR,
    K3S_BINARY,
    DEVICE_PLUGIN_NAMESPACE,
    MONITORING_NAMESPACE,
    NAMESPACE,
    OFFSITE_LAST_FILE,
    OFFSITE_UNIT,
    OPERATOR_NAMESPACE,
    POSTGRES_CLUSTER,
    RESTORED_FILE,
)
from operations.settings import PINNED_VERSIONS, Settings, cron_longest_gap_hours

READY, WAITING, FAILED, WARNING = "ready", "waiting", "failed", "warning"
# Read in one `kubectl get` (kubectl_get_everywhere).
KINDS = "nodes,deployments,statefulsets,daemonsets,jobs,helmcharts,events,secrets"
# The CloudNativePG Cluster kind exists only once its operator's CRD is installed.
OPTIONAL_KINDS = "clusters.postgresql.cnpg.io"
# Every object but Secrets as one JSON line; Secrets as "Secret NAMESPACE NAME" lines.
TEMPLATE = (
    '{range .items[?(@.kind!="Secret")]}{@}{"\\n"}{end}'
    '{range .items[?(@.kind=="Secret")]}Secret {.metadata.namespace} {.metadata.name}{"\\n"}{end}'
)
APP_NAMESPACES = (NAMESPACE, MONITORING_NAMESPACE, OPERATOR_NAMESPACE, DEVICE_PLUGIN_NAMESPACE)
# helm-controller (k3s) installs a HelmChart NAME with the Job helm-install-NAME, in the
# HelmChart's namespace; with failurePolicy retry the Job retries a failing helm without end,
# so this many failed attempts count as a failure (helm's error is in the Job's log).
FAILED_ATTEMPTS = 3
# Pinned chart versions by HelmChart name (Traefik's comes with k3s, its layout pinned by
# settings.traefik_upstream_chart).
PINNED_CHARTS = {
    "cloudnative-pg": PINNED_VERSIONS["cloudnative-pg chart"],
    "ollama": PINNED_VERSIONS["ollama chart"],
    "open-webui": PINNED_VERSIONS["open-webui chart"],
    "netdata": PINNED_VERSIONS["netdata chart"],
    "nvidia-device-plugin": PINNED_VERSIONS["nvidia device plugin chart"],
}
# How long the gate waits for Let's Encrypt once everything else is ready.
CERTIFICATE_WAIT_SECONDS = 180
POLL_SECONDS = 10
SECTIONS = ("now", "memory", "disk", "backup", "offsite", "restored", "k3s", "objects", "models", "redirect", "health",
            "certificate")


def kubectl_get_everywhere(kinds: str, output: str) -> str:
    """The shell command that gets ``kinds`` (kubectl's comma-separated list) in every
    namespace with CloudNativePG's Clusters, or without them where their CRD is not there yet
    (one unknown kind fails the whole get); prints nothing while the API server does not answer.

        kubectl_get_everywhere("nodes,jobs", "json")
        # '/usr/local/bin/k3s kubectl get nodes,jobs,clusters.postgresql.cnpg.io
        #  --all-namespaces --output json 2>/dev/null || /usr/local/bin/k3s kubectl get ...'
    """
    return " || ".join(
        f"{K3S_BINARY} kubectl get {every} --all-namespaces --output {output} 2>/dev/null"
        for every in (f"{kinds},{OPTIONAL_KINDS}", kinds))


class ApplianceRead(FactBase):
    """
    Everything the readiness checks read, in one shell round trip: the cluster's objects
    (Secrets by name only), Ollama's models, Open WebUI's /health and certificate through
    Traefik under ``domain``, the HTTP redirect, free disk and memory, the newest backup, the
    last off-site snapshot and whether its unit's last run failed, and whether a restore from
    the off-site repository awaits its repair. Sections are empty where k3s or an app is not
    there yet.

    .. code:: python

        host.get_fact(ApplianceRead, domain="chat.example.com")
        # {"now": 1795000000, "k3s": True, "objects": [{"kind": "Node", ...}, ...],
        #  "secrets": [["llm", "open-webui-secrets"]], "models": ["llama3.2:3b"],
        #  "redirect": "301 https://127.0.0.1/", "health": "200",
        #  "certificate": {"issuer": "...", "not_after": "...", "names": ["chat.example.com"]},
        #  "memory_available_kib": 5120000, "disk_free_kib": 41000000,
        #  "backup": {"time": 1794990000, "path": "/var/backups/..."},
        #  "offsite": {"time": 1794993600, "failed": False}, "restored": None}
    """

    def command(self, domain):
        kubectl = f"{K3S_BINARY} kubectl"
        target = f"{domain}:443:127.0.0.1"
        return "; ".join([
            "echo '## now'; date +%s",
            "echo '## memory'; grep '^MemAvailable:' /proc/meminfo",
            "echo '## disk'; d=/var/lib/rancher; [ -d $d ] || d=/; df -Pk $d | tail -n 1",
            f"echo '## backup'; ls -1t {BACKUP_DIR}/llm-appliance-*.tar 2>/dev/null | head -n 1 "
            "| xargs -r stat -c '%Y %n'",
            f"echo '## offsite'; stat -c 'time %Y' {OFFSITE_LAST_FILE} 2>/dev/null; "
            f"echo \"unit $(systemctl is-failed {OFFSITE_UNIT}.service 2>/dev/null)\"",
            f"echo '## restored'; cat {RESTORED_FILE} 2>/dev/null",
            f"echo '## k3s'; [ -x {K3S_BINARY} ] && echo installed",
            f"if [ -x {K3S_BINARY} ]; then echo '## objects'; "
            + kubectl_get_everywhere(KINDS, shlex.quote("jsonpath=" + TEMPLATE)),
            f"echo '## models'; {kubectl} --namespace {NAMESPACE} exec deploy/ollama -- "
            "ollama list 2>/dev/null",
            "echo '## redirect'; curl -s -o /dev/null --max-time 5 "
            "-w '%{http_code} %{redirect_url}' http://127.0.0.1/",
            f"echo; echo '## health'; curl -sk --max-time 5 --resolve {target} -o /dev/null "
            f"-w '%{{http_code}}' https://{domain}/health",
            f"echo; echo '## certificate'; echo | timeout 10 openssl s_client -connect "
            f"127.0.0.1:443 -servername {domain} 2>/dev/null | openssl x509 -noout -issuer "
            "-enddate -ext subjectAltName 2>/dev/null; fi",
            "true",
        ])

    def process(self, output):
        return parse_read(output)


def parse_read(lines: list[str]) -> dict:
    """The fact's output as a plain dict (JSON-friendly, for ``pyinfra --json fact`` too)."""
    sections: dict[str, list[str]] = {name: [] for name in SECTIONS}
    current = None
    for line in lines:
        if line.startswith("## ") and line[3:].strip() in sections:
            current = line[3:].strip()
        elif current and line.strip():
            sections[current].append(line.strip())
    objects = [json.loads(line) for line in sections["objects"] if line.startswith("{")]
    secrets = [line.split()[1:3] for line in sections["objects"] if line.startswith("Secret ")]
    backup = sections["backup"][0].split(" ", 1) if sections["backup"] else None
    disk = sections["disk"][0].split() if sections["disk"] else []
    memory = sections["memory"][0].split() if sections["memory"] else []
    offsite = dict(line.partition(" ")[::2] for line in sections["offsite"])
    return {
        "now": int(sections["now"][0]) if sections["now"] else 0,
        "memory_available_kib": int(memory[1]) if len(memory) > 1 else None,
        "disk_free_kib": int(disk[3]) if len(disk) > 3 and disk[3].isdigit() else None,
        "backup": {"time": int(backup[0]), "path": backup[1]} if backup else None,
        "offsite": {"time": int(offsite["time"]) if offsite.get("time", "").isdigit() else None,
                    "failed": offsite.get("unit") == "failed"},
        "restored": sections["restored"][0] if sections["restored"] else None,
        "k3s": sections["k3s"] == ["installed"],
        "objects": objects,
        "secrets": secrets,
        "models": sorted(OllamaModels().process(sections["models"])),
        "redirect": " ".join(sections["redirect"]),
        "health": " ".join(sections["health"]),
        "certificate": _certificate(sections["certificate"]),
    }


def _certificate(lines: list[str]) -> dict | None:
    """openssl x509 -issuer -enddate -ext subjectAltName, as a dict; None without one."""
    found = {"issuer": None, "not_after": None, "names": []}
    for line in lines:
        if line.startswith("issuer="):
            found["issuer"] = line[len("issuer="):].strip()
        elif line.startswith("notAfter="):
            found["not_after"] = line[len("notAfter="):].strip()
        elif "DNS:" in line:
            found["names"] = [name.strip()[4:] for name in line.split(",") if name.strip()[:4] == "DNS:"]
    return found if found["issuer"] else None


# -- reading the objects ------------------------------------------------------------------------


@dataclass(frozen=True)
class Component:
    """One thing the appliance needs, as read: its state and what explains it."""

    name: str
    state: str  # READY, WAITING, FAILED, or WARNING (does not fail the run)
    detail: str
    running: str = ""  # version running, where one is known
    pinned: str = ""  # version the settings pin
    look: str = ""  # the command that shows more
    logs: tuple[str, str] | None = None  # (namespace, "job/NAME"): a log tail explains it
    target: tuple[str, str, str] | None = None  # (kind, namespace, name) of its events


@dataclass
class Cluster:
    """The objects of one read, by kind."""

    read: dict
    by_kind: dict = field(default_factory=dict)

    def __post_init__(self):
        for item in self.read.get("objects", []):
            self.by_kind.setdefault(item["kind"], []).append(item)

    def of(self, kind: str, namespaces: tuple[str, ...] | None = None) -> list[dict]:
        items = self.by_kind.get(kind, [])
        return [i for i in items if namespaces is None or i["metadata"].get("namespace") in namespaces]

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        return next((i for i in self.of(kind, (namespace,)) if i["metadata"]["name"] == name), None)

    def events(self, kind: str, namespace: str, name: str, count: int = 5) -> list[str]:
        """The last events about an object, oldest first: "Reason: message"."""
        found = [
            event for event in self.of("Event", (namespace,))
            if event.get("involvedObject", {}).get("kind") == kind
            and event["involvedObject"].get("name") == name
        ]
        found.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
        return [f"{e.get('reason', '')}: {' '.join(str(e.get('message', '')).split())}"
                for e in found[-count:]]


def _condition(item: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in item.get("status", {}).get("conditions", []) or [])


def spec_time(item: dict) -> str:
    """When an object's spec last changed: the newest managedFields entry that is not a status
    update (RFC 3339, comparable as text); its creation time without managedFields."""
    times = [entry.get("time", "") for entry in item["metadata"].get("managedFields", [])
             if entry.get("subresource") != "status"]
    return max(times, default=item["metadata"].get("creationTimestamp", ""))


def chart_component(cluster: Cluster, chart: dict, pinned: str) -> Component:
    """A HelmChart: ready when its install Job completed after the chart's spec last changed."""
    name, namespace = chart["metadata"]["name"], chart["metadata"]["namespace"]
    job_name = f"helm-install-{name}"
    job = cluster.get("Job", namespace, job_name)
    requested = chart["spec"].get("version") or chart["spec"].get("chart", "").rsplit("/", 1)[-1]
    common = dict(
        name=f"chart {name}", pinned=pinned, logs=(namespace, f"job/{job_name}"),
        target=("Job", namespace, job_name),
        look=f"k3s kubectl --namespace {namespace} logs job/{job_name}",
    )
    if job is None:
        return Component(state=WAITING, detail="no install Job yet (helm-controller)", **common)
    if job["metadata"].get("creationTimestamp", "") < spec_time(chart):
        return Component(state=WAITING, detail="install Job predates the chart's spec", **common)
    failed = job.get("status", {}).get("failed", 0)
    if _condition(job, "Complete"):
        return Component(state=READY, detail="installed", running=requested, **common)
    if _condition(job, "Failed") or failed >= FAILED_ATTEMPTS:
        return Component(state=FAILED, detail=f"helm failed ({failed} attempts)", **common)
    return Component(state=WAITING, detail=f"installing ({failed} failed attempts)", **common)


def workload_component(cluster: Cluster, item: dict) -> Component:
    """A Deployment, StatefulSet or DaemonSet: ready when its current spec is available."""
    kind, metadata = item["kind"], item["metadata"]
    spec, status = item.get("spec", {}), item.get("status", {})
    if kind == "DaemonSet":
        wanted = status.get("desiredNumberScheduled", 0)
        available = min(status.get("numberAvailable", 0), status.get("updatedNumberScheduled", 0))
    else:
        wanted = spec.get("replicas", 1)
        ready_field = "availableReplicas" if kind == "Deployment" else "readyReplicas"
        available = min(status.get(ready_field, 0), status.get("updatedReplicas", wanted))
    current = status.get("observedGeneration", 0) >= metadata.get("generation", 0)
    images = sorted({c["image"].rsplit(":", 1)[-1] for c in
                     spec.get("template", {}).get("spec", {}).get("containers", [])
                     if ":" in c.get("image", "")})
    namespace, name = metadata.get("namespace", ""), metadata["name"]
    return Component(
        name=f"{kind.lower()} {namespace}/{name}",
        state=READY if current and available >= wanted else WAITING,
        detail=f"{available}/{wanted} available" + ("" if current else ", spec not yet seen"),
        running=", ".join(images), target=(kind, namespace, name),
        look=f"k3s kubectl --namespace {namespace} describe {kind.lower()} {name}",
    )


def node_components(cluster: Cluster, settings: Settings) -> list[Component]:
    if not cluster.read.get("k3s"):
        return [Component("k3s", WAITING, "not installed", pinned=settings.k3s_version,
                          look="systemctl status k3s")]
    nodes = cluster.of("Node")
    if not nodes:
        return [Component("k3s", WAITING, "the API server does not answer yet",
                          pinned=settings.k3s_version, look="journalctl -u k3s -n 50")]
    return [
        Component(
            f"node {node['metadata']['name']}",
            READY if _condition(node, "Ready") else WAITING,
            "Ready" if _condition(node, "Ready") else "not Ready",
            running=node.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", ""),
            pinned=settings.k3s_version, target=("Node", "", node["metadata"]["name"]),
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
        if name not in PINNED_CHARTS:
            pinned = f"+up{settings.traefik_upstream_chart}" if name == "traefik" else ""
            components.append(chart_component(cluster, chart, pinned))
    components += [workload_component(cluster, item)
                   for kind in ("Deployment", "StatefulSet", "DaemonSet")
                   for item in cluster.of(kind, ("kube-system",))]
    code, _, location = read.get("redirect", "").partition(" ")
    components.append(Component(
        "traefik http -> https",
        READY if code in ("301", "308") and location.startswith("https://") else WAITING,
        f"http://127.0.0.1/ answers {read.get('redirect') or 'nothing'}",
        look="curl -sI http://127.0.0.1/",
    ))
    return components


def apps_components(read: dict, settings: Settings) -> list[Component]:
    """The apps layer: every chart installed for its current spec, PostgreSQL healthy, every
    workload in the appliance's namespaces available, Open WebUI's /health answering through
    Traefik, every model present; with ACME, the certificate (a warning at worst)."""
    cluster = Cluster(read)
    components = [chart_component(cluster, chart, PINNED_CHARTS[chart["metadata"]["name"]])
                  for chart in cluster.of("HelmChart")
                  if chart["metadata"]["name"] in PINNED_CHARTS]
    postgres = cluster.get("Cluster", NAMESPACE, POSTGRES_CLUSTER)
    status = (postgres or {}).get("status", {})
    healthy = status.get("phase") == "Cluster in healthy state" and \
        status.get("readyInstances", 0) >= (postgres or {}).get("spec", {}).get("instances", 1)
    components.append(Component(
        "postgres", READY if healthy else WAITING,
        status.get("phase") or "no CloudNativePG Cluster yet",
        running=status.get("image", "").rsplit(":", 1)[-1],
        pinned=PINNED_VERSIONS["postgresql image"].rsplit(":", 1)[-1],
        target=("Cluster", NAMESPACE, POSTGRES_CLUSTER),
        look=f"k3s kubectl --namespace {NAMESPACE} describe cluster {POSTGRES_CLUSTER}",
    ))
    components += [workload_component(cluster, item)
                   for kind in ("Deployment", "StatefulSet", "DaemonSet")
                   for item in cluster.of(kind, APP_NAMESPACES)]
    health = read.get("health") or "no answer"
    components.append(Component(
        "open-webui /health", READY if health == "200" else WAITING,
        f"https://{settings.webui_domain}/health through Traefik: {health}",
        look=f"curl -skv --resolve {settings.webui_domain}:443:127.0.0.1 "
             f"https://{settings.webui_domain}/health",
    ))
    missing = [model for model in settings.models if model not in read.get("models", [])]
    components.append(Component(
        "models", WAITING if missing else READY,
        f"missing {', '.join(missing)}" if missing else ", ".join(settings.models),
        look=f"k3s kubectl --namespace {NAMESPACE} logs job -l app.kubernetes.io/name="
             "ollama-model-puller",
    ))
    if settings.acme_ca != "none":
        components.append(certificate_component(read, settings))
    return components


def certificate_component(read: dict, settings: Settings) -> Component:
    certificate = read.get("certificate")
    issued = certificate is not None and settings.webui_domain in certificate["names"]
    return Component(
        "certificate", READY if issued else WARNING,
        f"{certificate['issuer']}, valid until {certificate['not_after']}" if issued else (
            f"no Let's Encrypt certificate for {settings.webui_domain} yet: check that its DNS "
            "points to this server, that port 80 is open from the internet (the HTTP "
            "challenge), and Let's Encrypt's rate limits"
        ),
        look="k3s kubectl --namespace kube-system logs deployment/traefik | grep -i acme",
    )


# -- reading once per run, and the gate ---------------------------------------------------------

_LATEST: dict[str, dict] = {}


def latest_read(settings: Settings, fresh: bool = False) -> dict:
    """This host's newest read in this run; read now when there is none or ``fresh``."""
    if fresh or host.name not in _LATEST:
        _LATEST[host.name] = host.get_fact(ApplianceRead, domain=settings.webui_domain)
    return _LATEST[host.name]


def secret_names(read: dict, namespace: str) -> set[str]:
    """Names of the Secrets of a namespace, as read: ``secret_names(read, "llm")``."""
    return {name for found_namespace, name in read.get("secrets", []) if found_namespace == namespace}


def labelled_nodes(read: dict, label: str) -> set[str]:
    """Names of the nodes whose ``label`` is "true", as read:
    ``labelled_nodes(read, "nvidia.com/gpu.present")``."""
    return {node["metadata"]["name"] for node in Cluster(read).of("Node")
            if (node["metadata"].get("labels") or {}).get(label) == "true"}


LAYER_COMPONENTS = {"k3s": k3s_components, "apps": apps_components}


def report(component: Component, cluster: Cluster) -> list[str]:
    """What explains a component that is not ready: state, last events, log tail, command."""
    lines = [f"{component.name}: {component.state}, {component.detail}"]
    if component.target:
        lines += [f"  event: {event}" for event in cluster.events(*component.target)]
    if component.logs:
        namespace, target = component.logs
        tail = host.get_fact(LogTail, namespace=namespace, target=target)
        lines += [f"  log: {line}" for line in tail]
    if component.look:
        lines.append(f"  look further: {component.look}")
    return lines


class LogTail(FactBase):
    """
    The last lines of a workload's log (for a Job, helm's own error is there).

    .. code:: python

        host.get_fact(LogTail, namespace="kube-system", target="job/helm-install-ollama")
    """

    default = list

    def command(self, namespace, target, lines=20):
        return (f"{K3S_BINARY} kubectl --namespace {namespace} logs {target} --tail {lines} "
                "2>&1; true")

    def process(self, output):
        return [line.rstrip() for line in output]


@operation()
def ready_gate(layer: str, settings: Settings, timeout_minutes: int):
    """
    Wait until the layer's components are ready (reads only: no change), printing a line per
    component as its state changes; on a failure or the timeout, print what explains it and
    fail the run.

    .. code:: python

        ready_gate(name="Wait until the apps are ready", layer="apps", settings=settings,
                   timeout_minutes=30)
    """
    if not host.state.is_executing:
        yield f"echo 'llm-appliance: waits until the {layer} layer is ready'"
        return
    problems = wait_until_ready(layer, settings, timeout_minutes)
    if problems:
        host.log_styled("\n".join(problems), fg="red", log_func=logger.error)
        yield StringCommand(
            "echo", shlex.quote(f"llm-appliance: the {layer} layer is not ready (see above)"),
            ">&2;", "exit", "1",
        )


def wait_until_ready(layer: str, settings: Settings, timeout_minutes: int) -> list[str]:
    """Poll until ready; [] when ready, else the lines that explain why not."""
    import gevent

    started = time.monotonic()
    seen: dict[str, str] = {}
    while True:
        read = latest_read(settings, fresh=True)
        components = LAYER_COMPONENTS[layer](read, settings)
        for component in components:
            line = f"{component.state}: {component.detail}"
            if seen.get(component.name) != line and (component.name in seen or component.state != READY):
                logger.info(f"{host.print_prefix}{layer}: {component.name}: {line}")
            seen[component.name] = line
        failed = [c for c in components if c.state == FAILED]
        waiting = [c for c in components if c.state == WAITING]
        warnings = [c for c in components if c.state == WARNING]
        elapsed = time.monotonic() - started
        cluster = Cluster(read)
        if failed:
            return [f"{layer}: failed"] + [line for c in failed for line in report(c, cluster)]
        if not waiting and (not warnings or elapsed > CERTIFICATE_WAIT_SECONDS):
            for warning in warnings:
                host.log_styled(f"warning: {warning.name}: {warning.detail}", fg="yellow",
                                log_func=logger.warning)
            return []
        if elapsed > timeout_minutes * 60:
            return [f"{layer}: not ready after {timeout_minutes} min (ready_timeout_minutes)"] + [
                line for c in waiting for line in report(c, cluster)]
        gevent.sleep(POLL_SECONDS)


def gate(layer: str, settings: Settings, changes) -> None:
    """End a layer with its readiness gate, unless the plan-time read is healthy and none of
    the layer's operations (``changes``) will change anything."""
    components = LAYER_COMPONENTS[layer](latest_read(settings), settings)
    healthy = all(c.state in (READY, WARNING) for c in components)
    if healthy and not any(op.will_change for op in changes):
        return
    ready_gate(
        name=f"Wait until the {layer} layer is ready (up to {settings.ready_timeout_minutes} min)",
        layer=layer, settings=settings, timeout_minutes=settings.ready_timeout_minutes,
    )


# -- appliance status ---------------------------------------------------------------------------


# The off-site timer runs hourly and a snapshot can take a while: allowed on top of the
# longest time between two backups (backup_schedule) before the last snapshot counts as late.
OFFSITE_ALLOWANCE_HOURS = 2


def offsite_component(read: dict, settings: Settings) -> Component:
    """The last off-site snapshot: failed when the off-site unit's last run failed, when there
    is none, or when it is older than the longest time between two backups plus
    OFFSITE_ALLOWANCE_HOURS (26 h with the daily default)."""
    offsite = read.get("offsite") or {"time": None, "failed": False}
    gap = cron_longest_gap_hours(settings.backup_schedule)
    limit = None if gap is None else gap + OFFSITE_ALLOWANCE_HOURS
    age = None if offsite["time"] is None else (read["now"] - offsite["time"]) / 3600
    if offsite["failed"]:
        state, detail = FAILED, f"the last run of {OFFSITE_UNIT}.service failed"
    elif age is None:
        state, detail = FAILED, f"none yet in {settings.backup_repository}"
    elif limit is not None and age > limit:
        state, detail = FAILED, f"{age:.0f} h ago, later than {limit:g} h (backup_schedule)"
    else:
        state, detail = READY, f"{age:.0f} h ago"
    return Component("off-site snapshot", state, detail,
                     look=f"journalctl -u {OFFSITE_UNIT} -n 20")


def host_components(read: dict, settings: Settings, backups: bool) -> list[Component]:
    """The host's free disk (under /var/lib/rancher) and memory, and the newest backup's age
    when the host keeps backups: details, never a failure; then, with a backup_repository,
    the last off-site snapshot (offsite_component)."""
    def gib(kib):
        return "unknown" if kib is None else f"{kib / 1024 ** 2:.1f} GiB free"

    components = [
        Component("disk", READY, f"{gib(read.get('disk_free_kib'))} under /var/lib/rancher"),
        Component("memory", READY, gib(read.get("memory_available_kib")).replace("free", "available")),
    ]
    if backups:
        backup = read.get("backup")
        components.append(Component(
            "last backup", READY if backup else WARNING,
            f"{(read['now'] - backup['time']) / 3600:.0f} h ago: {backup['path']}" if backup
            else f"none yet in {BACKUP_DIR}",
            look="appliance backup INVENTORY",
        ))
        if settings.backup_repository:
            components.append(offsite_component(read, settings))
    return components


def status_components(read: dict, settings: Settings, role: str, first_server: bool) -> list[Component]:
    """What `appliance status` shows for one host: its layers' components (the apps on the
    first server only; agents have no kubeconfig), then the host's details."""
    components = []
    if "k3s" in settings.layers and role == "server":
        components += k3s_components(read, settings)
    if "apps" in settings.layers and first_server:
        components += apps_components(read, settings)
    return components + host_components(read, settings, "apps" in settings.layers and first_server)


def table(components: list[Component]) -> list[str]:
    """Components as aligned text rows: component, state, running, pinned, detail."""
    rows = [("component", "state", "running", "pinned", "detail")] + [
        (c.name, c.state, c.running or "-", c.pinned or "-", c.detail) for c in components]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[4]
            for row in rows]
