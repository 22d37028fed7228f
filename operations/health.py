"""The appliance's readiness, read in one round trip, judged component by component.

One fact, ``ApplianceRead``, reads everything the layers' gates, the run summary and
``appliance status`` need, in one shell round trip: one ``k3s kubectl get`` of every object of
interest in every namespace (again without CloudNativePG's Clusters while their CRD is not
there), one of the pods of helm-controller's install Jobs, and Ollama's own model list. Of
Secrets kubectl prints the namespace, name, type and labels only (a release Secret's labels
say its revision, status and configHash); kubectl itself still receives whole Secrets from
the API server and filters them on the host (kubectl 1.36 ``get -o jsonpath`` prints from the
full objects), so the read never passes a value to pyinfra, but the values do leave the API
server for the server's own kubectl. The same command asks Traefik for Open WebUI's
``/health`` and its certificate under the public name, and the host for its free disk and
memory and its newest backup.

    read = latest_read(settings)                 # cached for the run; fresh=True reads again
    for component in apps_components(read, settings):
        print(component.name, component.state, component.detail)

``ready_gate`` is the operation the k3s and apps layers end with: it waits, printing a line per
component as its state changes, until k3s has applied the manifests the layer wrote (their
Addons' checksums) and every component is ready, and stops the run naming the component, its
state, last events and log tail, and the command to look further. A layer whose plan-time read
is healthy, whose manifests k3s applied as they will be written, and whose operations change
nothing gets no gate: a re-run of a converged appliance reads once and waits for nothing.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pyinfra import host, logger
from pyinfra.api import FactBase, operation
from pyinfra.api.command import StringCommand

from operations.certificates import covers
from operations.components import APP_CHARTS, NETDATA, OLLAMA, TRAEFIK
from operations.cron import cron_longest_gap_hours
from operations.fact_batch import read_fact
from operations.names import (
    BACKUP_DIR,
    DEVICE_PLUGIN_NAMESPACE,
    K3S_BINARY,
    MANIFESTS_DIR,
    MODEL_PULLER_LABEL,
    MONITORING_NAMESPACE,
    NAMESPACE,
    OFFSITE_CHECK_UNIT,
    OFFSITE_LAST_FILE,
    OFFSITE_UNIT,
    OPERATOR_NAMESPACE,
    POSTGRES_CLUSTER,
    RESTORED_FILE,
    TLS_SECRET,
)
from operations.ollama_facts import OllamaModels
from operations.pins import PINNED_VERSIONS
from operations.settings import Settings

READY, WAITING, FAILED, WARNING = "ready", "waiting", "failed", "warning"
# Read in one `kubectl get` (kubectl_get_everywhere). k3s records what its deploy controller
# applied as Addons (k3s.cattle.io); helm-controller merges a HelmChartConfig into the
# HelmChart of the same name.
KINDS = ("nodes,deployments,statefulsets,daemonsets,jobs,helmcharts,helmchartconfigs,"
         "addons.k3s.cattle.io,events,secrets")
# The CloudNativePG Cluster kind exists only once its operator's CRD is installed.
OPTIONAL_KINDS = "clusters.postgresql.cnpg.io"
# Every object but Secrets as one JSON line; Secrets as "Secret NAMESPACE NAME TYPE LABELS"
# lines, LABELS as kubectl's jsonpath prints a map: compact JSON (client-go v0.36
# util/jsonpath/jsonpath.go PrintResults), nothing when there are none.
TEMPLATE = (
    '{range .items[?(@.kind!="Secret")]}{@}{"\\n"}{end}'
    '{range .items[?(@.kind=="Secret")]}Secret {.metadata.namespace} {.metadata.name} {.type} '
    '{.metadata.labels}{"\\n"}{end}'
)
# helm-controller v0.17.7 pkg/controllers/chart/chart.go: the install Job and its pod template
# carry this label, valued with the HelmChart's name.
CHART_LABEL = "helmcharts.helm.cattle.io/chart"
ITEMS = '{range .items[*]}{@}{"\\n"}{end}'
APP_NAMESPACES = (NAMESPACE, MONITORING_NAMESPACE, OPERATOR_NAMESPACE, DEVICE_PLUGIN_NAMESPACE)
# helm-controller v0.17.7 (the version k3s's go.mod requires) pkg/controllers/chart/chart.go
# installs a HelmChart NAME with the Job helm-install-NAME in the HelmChart's namespace,
# `restartPolicy: OnFailure` and `backoffLimit: 1000`: a failing helm is a restarted container,
# not a failed pod, so the Job's status.failed stays 0. This many restarts of its container
# (helm failed this many times for the current spec) count as a failure.
INSTALL_RESTARTS = 3
# How long the gate waits for Let's Encrypt once everything else is ready.
CERTIFICATE_WAIT_SECONDS = 180
POLL_SECONDS = 10
SECTIONS = ("now", "memory", "disk", "backup", "offsite", "reboot", "restored", "k3s", "objects",
            "errors", "helm", "models", "redirect", "health", "alarms", "certificate")
# Left by Debian's and Ubuntu's package scripts (update-notifier-common, unattended-upgrades)
# when an update needs a reboot, with the packages that asked for it in REBOOT_REQUIRED.pkgs.
REBOOT_REQUIRED = "/var/run/reboot-required"
# Netdata's API through the API server's service proxy: the parent keeps the alarms of every
# node that streams to it, each under /host/HOSTNAME/ (its own at the root); the children are
# named after their nodes, the k8s-state pod after the chart's k8sState.hostname
# (netdata/helmchart 3.7.172 values.yaml). /api/v1/alarms lists the raised ones (WARNING or
# CRITICAL) without `all` (Netdata v2.11.0 src/web/api/v1/api_v1_alarms.c,
# src/health/health_json.c health_alarms2json).
NETDATA_API = (f"/api/v1/namespaces/{MONITORING_NAMESPACE}/services/{NETDATA.service}:"
               f"{NETDATA.port}/proxy")
NETDATA_HOSTS = ("netdata-k8s-state",)
# Lines of each install Job pod's log read (helm's own error is at its end: klipper-helm's
# entry runs with `set -e`, so a failing helm is the script's last output).
HELM_LOG_LINES = 10


def kubectl_get_everywhere(kinds: str, output: str, stderr: str = "/dev/null") -> str:
    """The shell command that gets ``kinds`` (kubectl's comma-separated list) in every
    namespace with CloudNativePG's Clusters, or without them where their CRD is not there yet,
    and prints what kubectl printed once; prints nothing while the API server does not answer.

    An unknown kind fails the whole get before it prints anything; a list that fails (one
    kind forbidden, a timeout) makes kubectl print the others' objects and exit 1 (kubectl
    1.36 pkg/cmd/get/get.go printGeneric), so the get without Clusters runs only when the
    first printed nothing, never to print the objects twice. kubectl's errors go to ``stderr``
    (a shell word: a file), those of the get whose output is printed.

        kubectl_get_everywhere("nodes,jobs", "json")
        # 'listed=$(/usr/local/bin/k3s kubectl get nodes,jobs,clusters.postgresql.cnpg.io
        #  --all-namespaces --output json 2>/dev/null); [ -n "$listed" ] || listed=$(...
        #  get nodes,jobs ...); [ -z "$listed" ] || printf '%s\\n' "$listed"'
    """
    first, fallback = (
        f"{K3S_BINARY} kubectl get {every} --all-namespaces --output {output} 2>{stderr}"
        for every in (f"{kinds},{OPTIONAL_KINDS}", kinds))
    return (f'listed=$({first}); [ -n "$listed" ] || listed=$({fallback}); '
            '[ -z "$listed" ] || printf ' + "'%s\\n'" + ' "$listed"')


# For an off-site unit ($unit) whose last run failed: "failed UNIT RESULT" (systemd's Result:
# exit-code, signal, oom-kill...), then files/offsite.sh's one error line of that run, if it
# printed one, as "error UNIT LINE" (a run killed prints none). The run's lines are those of
# the unit since its start: journald records no invocation ID for a line whose process has
# exited before it is read (seen on Debian 12's systemd 252: a run failing at once).
OFFSITE_FAILURE = (
    'systemctl is-failed --quiet "$unit.service" 2>/dev/null || continue; '
    'echo "failed $unit $(systemctl show --property=Result --value "$unit.service")"; '
    'journalctl --unit "$unit.service" --since "$(systemctl show '
    '--property=ExecMainStartTimestamp --value "$unit.service")" --output=cat --no-pager '
    '2>/dev/null | grep "^off-site [a-z]* failed: " | tail -n 1 | sed "s/^/error $unit /"')


class ApplianceRead(FactBase):
    """
    Everything the readiness checks read, in one shell round trip: the cluster's objects
    (Secrets as namespace, name, type and labels: see the module's docstring), the pods of
    helm-controller's install Jobs, Ollama's models, Open WebUI's /health and certificate through
    Traefik under ``domain``, the HTTP redirect, free disk and memory, the newest backup, the
    last off-site snapshot and what the off-site units' failed last runs said, a pending
    reboot, and whether a restore from the off-site repository awaits its repair. Sections are
    empty where k3s or an app is not there yet.

    .. code:: python

        host.get_fact(ApplianceRead, domain="chat.example.com")
        # {"now": 1795000000, "k3s": True, "objects": [{"kind": "Node", ...}, ...,
        #   {"kind": "Secret", "type": "helm.sh/release.v1", "metadata": {"namespace": "llm",
        #    "name": "sh.helm.release.v1.ollama.v1", "labels": {"status": "deployed", ...}}}],
        #  "models": ["llama3.2:3b"],
        #  "redirect": "301 https://127.0.0.1/", "health": "200",
        #  "certificate": {"issuer": "...", "not_after": "...", "names": ["chat.example.com"]},
        #  "memory_available_kib": 5120000, "disk_free_kib": 41000000,
        #  "backup": {"time": 1794990000, "path": "/var/backups/..."},
        #  "offsite": {"time": 1794993600, "failed": {}}, "reboot": None, "restored": None}
        # (failed: {"llm-appliance-offsite": "off-site backup failed: Fatal: ..."}; reboot:
        #  ["linux-image-6.8.0-51-generic", "libc6"] when one is pending)
    """

    # The run's decisions all take its newest read, made when the first needs it; a change the
    # deploy makes does not make it stale: the gates read again (fresh) while they wait.
    kept_for_the_run = True

    def command(self, domain, alarms=""):
        """``alarms`` (any non-empty text, as `pyinfra fact ... alarms=yes` gives it): Netdata's
        raised alarms too, for `appliance status`; the deploy's gates leave them out (a
        kubectl call per node, through the API server's proxy, in every poll)."""
        kubectl = f"{K3S_BINARY} kubectl"
        target = f"{domain}:443:127.0.0.1"
        alarms_read = (
            f"echo; echo '## alarms'; for h in '' $({kubectl} get nodes --output "
            "jsonpath='{.items[*].metadata.name}' 2>/dev/null) " + " ".join(NETDATA_HOSTS)
            + f"; do {kubectl} get --raw \"{NETDATA_API}${{h:+/host/$h}}/api/v1/alarms\" "
            "2>/dev/null | tr -d '\\n'; echo; done") if alarms else "echo"
        return "; ".join([
            "echo '## now'; date +%s",
            "echo '## memory'; grep '^MemAvailable:' /proc/meminfo",
            "echo '## disk'; d=/var/lib/rancher; [ -d $d ] || d=/; df -Pk $d | tail -n 1",
            f"echo '## backup'; ls -1t {BACKUP_DIR}/llm-appliance-*.tar 2>/dev/null | head -n 1 "
            "| xargs -r stat -c '%Y %n'",
            f"echo '## offsite'; stat -c 'time %Y' {OFFSITE_LAST_FILE} 2>/dev/null; "
            f"for unit in {OFFSITE_UNIT} {OFFSITE_CHECK_UNIT}; do " + OFFSITE_FAILURE + "; done",
            f"echo '## reboot'; [ -f {REBOOT_REQUIRED} ] && echo required && "
            f"cat {REBOOT_REQUIRED}.pkgs 2>/dev/null",
            f"echo '## restored'; cat {RESTORED_FILE} 2>/dev/null",
            f"echo '## k3s'; [ -x {K3S_BINARY} ] && echo installed",
            f"if [ -x {K3S_BINARY} ]; then echo '## objects'; errors=$(mktemp); "
            + kubectl_get_everywhere(KINDS, shlex.quote("jsonpath=" + TEMPLATE), '"$errors"'),
            f"{kubectl} get pods --all-namespaces --selector {CHART_LABEL} --output "
            f"{shlex.quote('jsonpath=' + ITEMS)} 2>/dev/null",
            "echo '## errors'; cat \"$errors\"; rm -f \"$errors\"",
            # Every HelmChart, k3s's and the appliance's, is in kube-system, and so are their
            # install Jobs. Without --follow, kubectl reads the pods' logs one after another
            # with no limit on their number (kubectl 1.36 pkg/cmd/logs/logs.go RunLogs).
            f"echo '## helm'; {kubectl} --namespace kube-system logs --selector {CHART_LABEL} "
            f"--prefix --tail {HELM_LOG_LINES} 2>/dev/null",
            f"echo '## models'; {kubectl} --namespace {OLLAMA.namespace} exec {OLLAMA.workload.ref} -- "
            "ollama list 2>/dev/null",
            "echo '## redirect'; curl -s -o /dev/null --max-time 5 "
            "-w '%{http_code} %{redirect_url}' http://127.0.0.1/",
            f"echo; echo '## health'; curl -sk --max-time 5 --resolve {target} -o /dev/null "
            f"-w '%{{http_code}}' https://{domain}/health",
            alarms_read,
            "echo '## certificate'; echo | timeout 10 openssl s_client -connect "
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
    objects += [_secret(line) for line in sections["objects"] if line.startswith("Secret ")]
    helm_logs: dict[str, list[str]] = {}
    for line in sections["helm"]:
        # kubectl logs --prefix: "[pod/NAME/CONTAINER] line"
        source, _, text = line.partition("] ")
        if source.startswith("[pod/"):
            helm_logs.setdefault(source[len("[pod/"):].split("/", 1)[0], []).append(text)
    backup = sections["backup"][0].split(" ", 1) if sections["backup"] else None
    disk = sections["disk"][0].split() if sections["disk"] else []
    memory = sections["memory"][0].split() if sections["memory"] else []
    offsite = {"time": None, "failed": {}}
    for line in sections["offsite"]:
        kind, _, rest = line.partition(" ")
        unit, _, what = rest.partition(" ")
        if kind == "time" and rest.isdigit():
            offsite["time"] = int(rest)
        elif kind == "failed":
            offsite["failed"][unit] = f"its last run failed (systemd result: {what})"
        elif kind == "error":
            offsite["failed"][unit] = what
    reboot = sections["reboot"][1:] if sections["reboot"][:1] == ["required"] else None
    return {
        "now": int(sections["now"][0]) if sections["now"] else 0,
        "memory_available_kib": int(memory[1]) if len(memory) > 1 else None,
        "disk_free_kib": int(disk[3]) if len(disk) > 3 and disk[3].isdigit() else None,
        "backup": {"time": int(backup[0]), "path": backup[1]} if backup else None,
        "offsite": offsite,
        # None: no reboot needed; else the packages that asked for one, each once, in order.
        "reboot": None if reboot is None else list(dict.fromkeys(reboot)),
        "restored": sections["restored"][0] if sections["restored"] else None,
        "k3s": sections["k3s"] == ["installed"],
        "objects": objects,
        # kubectl's errors of the objects' get (a list that failed), but its warnings.
        "errors": [line for line in sections["errors"] if not line.startswith("Warning:")],
        "helm_logs": helm_logs,
        "models": sorted(OllamaModels().process(sections["models"])),
        "redirect": " ".join(sections["redirect"]),
        "health": " ".join(sections["health"]),
        "certificate": _certificate(sections["certificate"]),
        "alarms": _alarms(sections["alarms"]),
    }


def _alarms(lines: list[str]) -> list[dict] | None:
    """The raised alarms of each /api/v1/alarms answer (one JSON document a line), as
    [{"host", "name", "status", "info"}]; None when Netdata gave none (not there yet)."""
    raised, answered = [], False
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        answered = True
        for alarm in (document.get("alarms") or {}).values():
            if alarm.get("status") in ("WARNING", "CRITICAL"):
                raised.append({"host": document.get("hostname", ""), "name": alarm.get("name", ""),
                               "status": alarm["status"], "info": alarm.get("info", "")})
    return raised if answered else None


def _secret(line: str) -> dict:
    """A "Secret NAMESPACE NAME TYPE LABELS" line (TEMPLATE) as an object of kind Secret with
    those fields alone."""
    _, namespace, name, kind, labels = (line.split(" ", 4) + ["", ""])[:5]
    return {"kind": "Secret", "type": kind,
            "metadata": {"namespace": namespace, "name": name,
                         "labels": json.loads(labels) if labels else {}}}


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
    targets: tuple[tuple[str, str, str], ...] = ()  # (kind, namespace, name) of its events


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
        """The last events about an object, oldest first: "Reason: message". Events of a
        cluster-scoped object (a Node) are in namespace ``default`` (client-go v0.36
        tools/record/event.go makeEvent)."""
        return [f"{e.get('reason', '')}: {' '.join(str(e.get('message', '')).split())}"
                for e in self.event_objects(kind, namespace, name)[-count:]]

    def event_objects(self, kind: str, namespace: str, name: str) -> list[dict]:
        """The Events about an object, oldest first (by lastTimestamp, else eventTime)."""
        found = [
            event for event in self.of("Event", (namespace,))
            if event.get("involvedObject", {}).get("kind") == kind
            and event["involvedObject"].get("name") == name
        ]
        return sorted(found, key=event_time)


def event_time(event: dict) -> str:
    """When an Event last happened (RFC 3339, comparable as text)."""
    return event.get("lastTimestamp") or event.get("eventTime") or ""


def _condition(item: dict, kind: str) -> dict | None:
    """The object's status condition of type ``kind`` when it is True (its reason and
    message), else None."""
    return next((c for c in item.get("status", {}).get("conditions", []) or []
                 if c.get("type") == kind and c.get("status") == "True"), None)


def spec_time(item: dict | None) -> str:
    """When an object's spec last changed: the newest managedFields entry that is not a status
    update (RFC 3339, comparable as text); its creation time without managedFields; "" for
    no object."""
    if item is None:
        return ""
    times = [entry.get("time", "") for entry in item["metadata"].get("managedFields", [])
             if entry.get("subresource") != "status"]
    return max(times, default=item["metadata"].get("creationTimestamp", ""))


# -- charts: helm-controller v0.17.7 pkg/controllers/chart/chart.go and klipper-helm's entry ----

# Release Secrets (helm's storage driver "secret"): type helm.sh/release.v1, labels owner=helm,
# name=RELEASE (helm-controller names the release after the HelmChart), version=REVISION,
# status, and the configHash label klipper-helm (v0.13 `entry`, `--labels`) gives the release
# from the Job's CONFIG_HASH.
RELEASE_TYPE = "helm.sh/release.v1"
CONFIG_HASH = "helmcharts.helm.cattle.io/configHash"


def newest_release(cluster: Cluster, chart: dict) -> dict:
    """The labels of a HelmChart's newest release Secret (highest ``version`` label), as
    helm-controller's getChartRelease and latestRelease read them: Secrets of type
    helm.sh/release.v1 labelled owner=helm and name=CHART in the chart's targetNamespace; {}
    when there is none. Without a targetNamespace (k3s's own Traefik) helm-controller lists
    every namespace (getChartRelease lists Secrets in namespace "") while klipper-helm
    installs into the chart's own namespace, which is where this reads."""
    name = chart["metadata"]["name"]
    target = chart.get("spec", {}).get("targetNamespace") or chart["metadata"]["namespace"]
    newest: dict = {}
    for secret in cluster.of("Secret", (target,)):
        labels = secret["metadata"].get("labels") or {}
        if (secret.get("type") == RELEASE_TYPE and labels.get("owner") == "helm"
                and labels.get("name") == name and labels.get("version", "").isdigit()
                and int(labels["version"]) > int(newest.get("version", 0))):
            newest = labels
    return newest


def job_config_hash(job: dict) -> str:
    """The configHash helm-controller expects of a Job's release: its pod template's
    annotation "SHA256=HEX" after the "=", cut to 63 characters (a label value's most)."""
    annotations = job.get("spec", {}).get("template", {}).get("metadata", {}).get("annotations") or {}
    return annotations.get(CONFIG_HASH, "").partition("=")[2][:63]


def job_pods(cluster: Cluster, job: dict) -> list[dict]:
    """The pods of an install Job, by their ownerReference (the Job's uid where the read has
    one: a pod of a replaced Job of the same name is not the Job's)."""
    metadata = job["metadata"]
    return [pod for pod in cluster.of("Pod", (metadata["namespace"],))
            if any(o.get("kind") == "Job" and o.get("name") == metadata["name"]
                   and o.get("uid") == metadata.get("uid")
                   for o in pod["metadata"].get("ownerReferences") or [])]


def restarted_helm(cluster: Cluster, job: dict) -> tuple[dict, dict] | None:
    """The install Job's pod (job_pods) and container status whose helm has failed
    INSTALL_RESTARTS times or more (restartCount), if any."""
    for pod in job_pods(cluster, job):
        for status in pod.get("status", {}).get("containerStatuses", []) or []:
            if status.get("restartCount", 0) >= INSTALL_RESTARTS:
                return pod, status
    return None


def helm_error(cluster: Cluster, job: dict) -> str:
    """helm's error as the install Job's newest pod logged it (the read's helm_logs): from its
    last line starting "Error:" (helm's own prefix) to the end, as one line; else its last
    line; "" without a log."""
    pods = job_pods(cluster, job)
    if not pods:
        return ""
    newest = max(pods, key=lambda pod: pod["metadata"].get("creationTimestamp", ""))
    lines = cluster.read.get("helm_logs", {}).get(newest["metadata"]["name"], [])
    starts = [index for index, line in enumerate(lines) if line.startswith("Error:")]
    return " ".join(lines[starts[-1]:] if starts else lines[-1:])


def chart_component(cluster: Cluster, chart: dict, pinned: str) -> Component:
    """A HelmChart, as helm-controller v0.17.7 judges its install done: the Job helm-install-NAME
    made for the chart's current spec (and its HelmChartConfig's) is Complete, and the
    release's newest Secret says status=deployed with the Job's configHash. Failed when the
    HelmChart's Failed condition is True (helm-controller could not make the Job, or the Job
    failed), when the newest release is `failed` for the Job's configHash (klipper-helm's
    failed install or upgrade; with failurePolicy retry it then exits 0, so the Job still ends
    Complete), or when helm has failed INSTALL_RESTARTS times in the Job's pod (OnFailure: each
    failure is a container restart); a failure's detail ends with helm's error (helm_error)."""
    name, namespace = chart["metadata"]["name"], chart["metadata"]["namespace"]
    job_name = f"helm-install-{name}"
    job = cluster.get("Job", namespace, job_name)
    requested = chart["spec"].get("version") or chart["spec"].get("chart", "").rsplit("/", 1)[-1]
    common = dict(
        name=f"chart {name}", pinned=pinned, logs=(namespace, f"job/{job_name}"),
        targets=(("HelmChart", namespace, name), ("Job", namespace, job_name)),
        look=f"k3s kubectl --namespace {namespace} logs job/{job_name}",
    )
    failed = _condition(chart, "Failed")
    if failed:
        return Component(state=FAILED, detail=f"{failed.get('reason', 'Failed')}: "
                         f"{failed.get('message', '')}".rstrip(": "), **common)
    if job is None:
        return Component(state=WAITING, detail="no install Job yet (helm-controller)", **common)
    config = cluster.get("HelmChartConfig", namespace, name)
    if job["metadata"].get("creationTimestamp", "") < max(spec_time(chart), spec_time(config)):
        return Component(state=WAITING, detail="install Job predates the chart's spec", **common)
    release, expected = newest_release(cluster, chart), job_config_hash(job)
    revision, status = release.get("version", "0"), release.get("status", "")
    current = release.get(CONFIG_HASH) == expected
    if _condition(job, "Complete") and status == "deployed" and current:
        return Component(state=READY, detail=f"installed (revision {revision})", running=requested,
                         **common)
    error = helm_error(cluster, job)
    error = f": {error}" if error else ""
    if status == "failed" and current:
        return Component(state=FAILED, detail=f"helm failed: release revision {revision} is "
                         f"failed{error}", **common)
    crashing = restarted_helm(cluster, job)
    if crashing:
        pod, container = crashing
        waiting = (container.get("state", {}).get("waiting") or {}).get("reason", "")
        common["targets"] += (("Pod", namespace, pod["metadata"]["name"]),)
        return Component(state=FAILED, detail=f"helm failed {container['restartCount']} times"
                         + (f" ({waiting})" if waiting else "") + error, **common)
    if _condition(job, "Failed"):
        return Component(state=FAILED, detail=f"install Job failed{error}", **common)
    if _condition(job, "Complete"):
        return Component(state=WAITING, detail=(
            f"install Job complete, release revision {revision} {status or 'missing'}"
            f"{'' if current else ' for another spec'}: helm-controller runs it again"), **common)
    return Component(state=WAITING, detail="installing", **common)


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
        progressing = next((c for c in status.get("conditions", []) or []
                            if c.get("type") == "Progressing"), {})
        if progressing.get("reason") == "ProgressDeadlineExceeded":
            return FAILED, f"exceeded its progress deadline: {progressing.get('message', '')}".rstrip(": ")
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
            return WAITING, f"{status.get('updatedNumberScheduled', 0)} of {desired} new pods updated"
        if available < desired:
            return WAITING, f"{available} of {desired} pods available"
        return READY, f"{available}/{desired} available"
    if observed == 0 or generation > observed:
        return WAITING, "spec not yet seen"
    ready = status.get("readyReplicas", 0)
    if ready < replicas:
        return WAITING, f"{ready}/{replicas} ready"
    strategy = spec.get("updateStrategy") or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
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
    images = sorted({c["image"].rsplit(":", 1)[-1] for c in
                     spec.get("template", {}).get("spec", {}).get("containers", [])
                     if ":" in c.get("image", "")})
    namespace, name = metadata.get("namespace", ""), metadata["name"]
    return Component(
        name=f"{kind.lower()} {namespace}/{name}", state=state, detail=detail,
        running=", ".join(images), targets=((kind, namespace, name),),
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
            pinned=settings.k3s_version, targets=(("Node", "default", node["metadata"]["name"]),),
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
    Traefik, every model present, the certificate served (certificate_component)."""
    cluster = Cluster(read)
    components = [chart_component(cluster, chart, APP_CHARTS[chart["metadata"]["name"]].version)
                  for chart in cluster.of("HelmChart")
                  if chart["metadata"]["name"] in APP_CHARTS]
    postgres = cluster.get("Cluster", NAMESPACE, POSTGRES_CLUSTER)
    status = (postgres or {}).get("status", {})
    healthy = status.get("phase") == "Cluster in healthy state" and \
        status.get("readyInstances", 0) >= (postgres or {}).get("spec", {}).get("instances", 1)
    components.append(Component(
        "postgres", READY if healthy else WAITING,
        status.get("phase") or "no CloudNativePG Cluster yet",
        running=status.get("image", "").rsplit(":", 1)[-1],
        pinned=PINNED_VERSIONS["postgresql image"].rsplit(":", 1)[-1],
        targets=(("Cluster", NAMESPACE, POSTGRES_CLUSTER),),
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
    missing = missing_models(settings.models, read.get("models", []))
    components.append(Component(
        "models", WAITING if missing else READY,
        f"missing {', '.join(missing)}" if missing else ", ".join(settings.models),
        # `logs` takes a selector or a name, not both (`logs job -l ...` is a usage error):
        # the puller Job's pods carry its template's label.
        look=f"k3s kubectl --namespace {NAMESPACE} logs --selector "
             f"app.kubernetes.io/name={MODEL_PULLER_LABEL} --tail 20",
    ))
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
    detail = certificate and f"{certificate['issuer']}, valid until {certificate['not_after']}"
    look = (f"k3s kubectl --namespace {TRAEFIK.namespace} logs {TRAEFIK.workload.ref} "
            f"| grep -i {'tls' if settings.tls_certificate else 'acme'}")
    if settings.acme_ca == "none" and not settings.tls_certificate:
        return Component("certificate", READY, f"acme_ca none: {detail or 'none served yet'}",
                         look=look)
    covered = certificate is not None and any(
        covers(name, settings.webui_domain) for name in certificate["names"])
    if not covered and settings.tls_certificate:
        return Component(
            "certificate", WAITING,
            f"Traefik does not serve tls_certificate for {settings.webui_domain} yet (it serves "
            f"{detail or 'none'}): its Secret {TLS_SECRET} in {TRAEFIK.namespace} is read by "
            "the TLSStore default", look=look)
    if not covered:
        how = (f"that the DNS provider {settings.acme_dns_provider} accepts the credentials of "
               "acme_dns_credentials_file (DNS-01 challenge)" if settings.acme_dns_provider else
               "that its DNS points to this server, that port 80 is open from the internet "
               "(the HTTP challenge)")
        return Component(
            "certificate", WARNING,
            f"no Let's Encrypt certificate for {settings.webui_domain} yet: check {how}, and "
            "Let's Encrypt's rate limits", look=look)
    # openssl x509 -enddate prints e.g. "Feb  7 20:00:00 2027 GMT" (day padded with a space).
    try:
        expires = datetime.strptime(" ".join(certificate["not_after"].split()[:4]),
                                    "%b %d %H:%M:%S %Y").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return Component("certificate", WARNING, f"expiry unreadable: {detail}", look=look)
    days = (expires - read["now"]) / 86400
    warn_days, renew = ((OWN_CERTIFICATE_WARN_DAYS, ": renew tls_certificate and deploy again")
                        if settings.tls_certificate else (CERTIFICATE_WARN_DAYS, ""))
    if days <= 0:
        return Component("certificate", FAILED, f"expired: {detail}{renew}", look=look)
    if days < warn_days:
        return Component("certificate", WARNING, f"expires in {days:.0f} days: {detail}{renew}",
                         look=look)
    return Component("certificate", READY, detail, look=look)


# -- reading once per run, and the gate ---------------------------------------------------------

def latest_read(settings: Settings, fresh: bool = False) -> dict:
    """This host's newest read in this run; read now when there is none or ``fresh``
    (fact_batch.read_fact, the deploy's one cache of facts; ApplianceRead is kept for the run)."""
    return read_fact(host, ApplianceRead, fresh=fresh, domain=settings.webui_domain)


def secret_names(read: dict, namespace: str) -> set[str]:
    """Names of the Secrets of a namespace, as read: ``secret_names(read, "llm")``."""
    return {secret["metadata"]["name"] for secret in Cluster(read).of("Secret", (namespace,))}


def labelled_nodes(read: dict, label: str) -> set[str]:
    """Names of the nodes whose ``label`` is "true", as read:
    ``labelled_nodes(read, "nvidia.com/gpu.present")``."""
    return {node["metadata"]["name"] for node in Cluster(read).of("Node")
            if (node["metadata"].get("labels") or {}).get(label) == "true"}


LAYER_COMPONENTS = {"k3s": k3s_components, "apps": apps_components}


def report(component: Component, cluster: Cluster) -> list[str]:
    """What explains a component that is not ready: state, last events, log tail, command."""
    lines = [f"{component.name}: {component.state}, {component.detail}"]
    for target in component.targets:
        lines += [f"  event: {event}" for event in cluster.events(*target)]
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


# -- what k3s applied: k3s pkg/deploy/controller.go (main, commit 0301210f; v1.36.5's own ----
# copy could not be read). The deploy controller scans the manifests folder every 15 s and
# applies a file whose sha256 differs from the checksum its Addon records (kube-system, named
# after the file up to its first dot). It reads only files whose mtime changed, but every file,
# whatever its checksum, in the passes after a start until one applies them all. It records
# the new checksum only after the apply succeeded, and reports a file it could not read,
# parse, validate or apply as a Warning Event of one of these reasons on the Addon, trying
# again at the next scan.
ADDON_FAILURES = ("ReadManifestFailed", "ParseManifestFailed", "ValidateManifestFailed",
                  "ApplyManifestFailed")
# k3s tries a failed file again at every scan (listFilesIn keeps no modTime for it), and
# client-go's recorder counts a repeated Event up (tools/record/events_cache.go): a failure
# is waiting until k3s has met it this many times (a minute of scans), failed after. A kind
# whose CRD a chart of the same run installs (CloudNativePG's Cluster) is refused until helm
# has run; a value the CRD's schema refuses stays refused.
ADDON_RETRIES = 5


def addon_failure(event: dict) -> tuple[str, str]:
    """(state, detail) of a failure Event on an Addon (ADDON_FAILURES): FAILED once it
    counts ADDON_RETRIES, else WAITING; the detail is "REASON: k3s's message"."""
    message = " ".join(str(event.get("message", "")).split())
    state = FAILED if event.get("count", 1) >= ADDON_RETRIES else WAITING
    return state, f"{event['reason']}: {message}"


def written_manifests(host_files) -> tuple[tuple[str, str], ...]:
    """The manifests among rendered files (``rendering.HostFile``s under MANIFESTS_DIR) as
    (path, sha256 of the content written) pairs, the form the gate takes."""
    return tuple((f.path, hashlib.sha256(f.content.encode()).hexdigest()) for f in host_files
                 if f.path.startswith(f"{MANIFESTS_DIR}/"))


def manifest_components(cluster: Cluster, manifests: tuple[tuple[str, str], ...],
                        since: str = "") -> list[Component]:
    """Whether k3s applied each manifest as written (``(path, sha256)``, written_manifests):
    ready when its Addon's spec.checksum is that sha256; on a failure Event (ADDON_FAILURES)
    on the Addon later than ``since`` (RFC 3339: when the gate began, so that an earlier
    file's failure does not count), k3s's message, failed once k3s met it ADDON_RETRIES times
    (addon_failure); waiting otherwise (k3s has not scanned the folder since the file was
    written)."""
    components = []
    for path, checksum in manifests:
        name = path.rsplit("/", 1)[-1].split(".", 1)[0]
        addon = cluster.get("Addon", "kube-system", name) or {}
        common = dict(name=f"manifest {name}", targets=(("Addon", "kube-system", name),),
                      look=f"k3s kubectl --namespace kube-system describe addon {name}")
        failures = [event for event in cluster.event_objects("Addon", "kube-system", name)
                    if event.get("reason") in ADDON_FAILURES and event_time(event) > since]
        if (addon.get("spec") or {}).get("checksum") == checksum:
            components.append(Component(state=READY, detail="applied by k3s", **common))
        elif failures:
            state, detail = addon_failure(failures[-1])
            components.append(Component(state=state, detail=detail, **common))
        else:
            components.append(Component(
                state=WAITING, detail="not applied by k3s yet (it scans its manifests every 15 s)",
                **common))
    return components


def read_errors(read: dict) -> list[Component]:
    """The objects' get, when kubectl reported an error (a list that failed: the other kinds
    were read, that one was not): WAITING, with kubectl's message, as the judgments made
    without that kind are not to be trusted."""
    if not read.get("errors"):
        return []
    return [Component("cluster read", WAITING, "; ".join(read["errors"]),
                      look="journalctl -u k3s -n 50")]


def layer_components(layer: str, read: dict, settings: Settings,
                     manifests: tuple[tuple[str, str], ...] = (), since: str = "") -> list[Component]:
    """A layer's components (LAYER_COMPONENTS), after those of the manifests it wrote."""
    return (manifest_components(Cluster(read), manifests, since)
            + LAYER_COMPONENTS[layer](read, settings))


@operation()
def ready_gate(layer: str, settings: Settings, timeout_minutes: int,
               manifests: tuple[tuple[str, str], ...] = ()):
    """
    Wait until k3s applied the layer's ``manifests`` as written (written_manifests) and the
    layer's components are ready (reads only: no change), printing a line per component as its
    state changes; on a failure or the timeout, print what explains it and fail the run.

    .. code:: python

        ready_gate(name="Wait until the apps are ready", layer="apps", settings=settings,
                   timeout_minutes=30, manifests=written_manifests(host_files))
    """
    if not host.state.is_executing:
        yield f"echo 'llm-appliance: waits until the {layer} layer is ready'"
        return
    problems = wait_until_ready(layer, settings, timeout_minutes, manifests)
    if problems:
        host.log_styled("\n".join(problems), fg="red", log_func=logger.error)
        yield StringCommand(
            "echo", shlex.quote(f"llm-appliance: the {layer} layer is not ready (see above)"),
            ">&2;", "exit", "1",
        )


def rfc3339(seconds: int) -> str:
    """A Unix time as Kubernetes writes times: ``rfc3339(0)`` is '1970-01-01T00:00:00Z'."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def wait_until_ready(layer: str, settings: Settings, timeout_minutes: int,
                     manifests: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """Poll until ready; [] when ready, else the lines that explain why not."""
    import gevent

    started = time.monotonic()
    seen: dict[str, str] = {}
    since = None
    while True:
        read = latest_read(settings, fresh=True)
        since = since or rfc3339(read["now"])
        components = layer_components(layer, read, settings, manifests, since)
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


def gate_needed(components: list[Component], will_change: bool) -> bool:
    """Whether a layer needs its gate: some operation will change the host, or a component of
    the plan-time read (with the manifests to write: one k3s has not applied as they will be
    written counts as waiting) is not ready."""
    return will_change or not all(c.state in (READY, WARNING) for c in components)


def gate(layer: str, settings: Settings, changes, host_files=()) -> None:
    """End a layer with its readiness gate, unless the plan-time read is healthy, k3s applied
    every manifest among ``host_files`` (the layer's rendering.HostFiles) as it will be
    written, and none of the layer's operations (``changes``) will change anything."""
    manifests = written_manifests(host_files)
    components = layer_components(layer, latest_read(settings), settings, manifests)
    if not gate_needed(components, any(op.will_change for op in changes)):
        return
    ready_gate(
        name=f"Wait until the {layer} layer is ready (up to {settings.ready_timeout_minutes} min)",
        layer=layer, settings=settings, timeout_minutes=settings.ready_timeout_minutes,
        manifests=manifests,
    )


# -- appliance status ---------------------------------------------------------------------------


# The off-site timer runs hourly and a snapshot can take a while: allowed on top of the
# longest time between two backups (backup_schedule) before the last snapshot counts as late.
OFFSITE_ALLOWANCE_HOURS = 2


def offsite_component(read: dict, settings: Settings) -> Component:
    """The last off-site snapshot: failed when the off-site unit's last run failed, when there
    is none, or when it is older than the longest time between two backups plus
    OFFSITE_ALLOWANCE_HOURS (26 h with the daily default)."""
    offsite = read.get("offsite") or {"time": None, "failed": {}}
    gap = cron_longest_gap_hours(settings.backup_schedule)
    limit = None if gap is None else gap + OFFSITE_ALLOWANCE_HOURS
    age = None if offsite["time"] is None else (read["now"] - offsite["time"]) / 3600
    failed = offsite["failed"]
    if failed:
        state = FAILED
        detail = "; ".join(f"{unit}.service: {what}" for unit, what in failed.items())
    elif age is None:
        state, detail = FAILED, f"none yet in {settings.backup_repository}"
    elif limit is not None and age > limit:
        state, detail = FAILED, f"{age:.0f} h ago, later than {limit:g} h (backup_schedule)"
    else:
        state, detail = READY, f"{age:.0f} h ago"
    return Component("off-site snapshot", state, detail,
                     look=f"journalctl -u {next(iter(failed), OFFSITE_UNIT)} -n 20")


def reboot_component(read: dict, settings: Settings) -> list[Component]:
    """A pending reboot (REBOOT_REQUIRED) as a warning naming the packages that asked for
    it, and when it happens: none when no reboot is pending."""
    packages = read.get("reboot")
    if packages is None:
        return []
    when = (f"unattended-upgrades reboots at {settings.unattended_reboot_time} (unattended_reboot)"
            if settings.unattended_reboot else "reboot when convenient (unattended_reboot is off)")
    return [Component("reboot", WARNING, f"needed for {', '.join(packages) or 'an update'}: {when}",
                      look=f"cat {REBOOT_REQUIRED}.pkgs")]


def alarms_component(read: dict) -> list[Component]:
    """Netdata's raised alarms (``read["alarms"]``): failed with a CRITICAL one, a warning
    with WARNING ones, ready with none; nothing while Netdata's API does not answer (its
    workloads' own rows say why)."""
    alarms = read.get("alarms")
    if alarms is None:
        return []
    look = "https://<monitor_domain>/ (Netdata); `appliance alerts test` tries the routes"
    if not alarms:
        return [Component("netdata alarms", READY, "none raised", look=look)]
    state = FAILED if any(alarm["status"] == "CRITICAL" for alarm in alarms) else WARNING
    detail = "; ".join(f"{alarm['status']} {alarm['name']} on {alarm['host']}" for alarm in alarms)
    return [Component("netdata alarms", state, detail, look=look)]


def host_components(read: dict, settings: Settings, backups: bool) -> list[Component]:
    """The host's free disk (under /var/lib/rancher) and memory, a pending reboot
    (reboot_component), and the newest backup's age when the host keeps backups: details,
    never a failure; then, with a backup_repository, the last off-site snapshot
    (offsite_component)."""
    def gib(kib):
        return "unknown" if kib is None else f"{kib / 1024 ** 2:.1f} GiB free"

    components = [
        Component("disk", READY, f"{gib(read.get('disk_free_kib'))} under /var/lib/rancher"),
        Component("memory", READY, gib(read.get("memory_available_kib")).replace("free", "available")),
        *reboot_component(read, settings),
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


def refused_manifests(cluster: Cluster) -> list[Component]:
    """The appliance's manifests (Addons named llm-appliance-*) whose last outcome in k3s is a
    failure: a failure Event (ADDON_FAILURES) newer than the last AppliedManifest. k3s tries a
    refused file again at every scan (pkg/deploy/controller.go), so its failure Event stays
    fresh while it lasts: waiting with k3s's message, failed once k3s met it ADDON_RETRIES
    times (addon_failure)."""
    components = []
    for addon in cluster.of("Addon", ("kube-system",)):
        name = addon["metadata"]["name"]
        outcomes = [event for event in cluster.event_objects("Addon", "kube-system", name)
                    if event.get("reason") in (*ADDON_FAILURES, "AppliedManifest")]
        if name.startswith("llm-appliance-") and outcomes and outcomes[-1]["reason"] != "AppliedManifest":
            state, detail = addon_failure(outcomes[-1])
            components.append(Component(
                f"manifest {name}", state, detail,
                targets=(("Addon", "kube-system", name),),
                look=f"k3s kubectl --namespace kube-system describe addon {name}"))
    return components


def server_components(read: dict) -> list[Component]:
    """What a server's read shows of the cluster as a whole: a list kubectl could not read
    (read_errors) and any manifest of the appliance k3s refuses (refused_manifests)."""
    return read_errors(read) + refused_manifests(Cluster(read))


def status_components(read: dict, settings: Settings, role: str, first_server: bool) -> list[Component]:
    """What `appliance status` shows for one host: on a server, server_components, then its
    layers' components (the apps on the first server only; agents have no kubeconfig), then
    the host's details."""
    components = []
    if role == "server":
        components += server_components(read)
    if "k3s" in settings.layers and role == "server":
        components += k3s_components(read, settings)
    if "apps" in settings.layers and first_server:
        components += apps_components(read, settings) + alarms_component(read)
    return components + host_components(read, settings, "apps" in settings.layers and first_server)


def table(components: list[Component]) -> list[str]:
    """Components as aligned text rows: component, state, running, pinned, detail."""
    rows = [("component", "state", "running", "pinned", "detail")] + [
        (c.name, c.state, c.running or "-", c.pinned or "-", c.detail) for c in components]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4]
            for row in rows]
