"""The cluster read: one fact, ``ApplianceRead``, reads everything the layers' gates, the run
summary and ``appliance status`` need, in one shell round trip: one ``k3s kubectl get`` of every
object of interest in every namespace (again without CloudNativePG's Clusters while their CRD is
not there), one of the pods of helm-controller's install Jobs, and Ollama's own model list. Of
Secrets kubectl prints the namespace, name, type and labels only (a release Secret's labels
say its revision, status and configHash); kubectl itself still receives whole Secrets from
the API server and filters them on the host (kubectl 1.36 ``get -o jsonpath`` prints from the
full objects), so the read never passes a value to pyinfra, but the values do leave the API
server for the server's own kubectl. The same command asks Traefik for Open WebUI's
``/health`` and its certificate under the public name, and the host for its free disk and
memory and its newest backup. ``LogTail`` reads one workload's log when a gate fails.

    read = latest_read(settings)                 # kept for the run; fresh=True reads again
    for component in apps_components(read, settings):   # operations/readiness.py
        print(component.name, component.state, component.detail)

operations/read_parser.py turns the output into data, operations/readiness.py judges it,
operations/readiness_gate.py waits on it, appliance/status_table.py shows it.
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import FactBase

from operations.components import NETDATA, OLLAMA
from operations.fact_batch import read_fact
from operations.markers import READ_OFFSITE_TIME, READ_RESTORED
from operations.names import (
    BACKUP_DIR,
    K3S_BINARY,
    MONITORING_NAMESPACE,
    OFFSITE_CHECK_UNIT,
    OFFSITE_UNIT,
)
from operations.read_parser import parse_read
from operations.settings import Settings

# Read in one `kubectl get` (kubectl_get_everywhere). k3s records what its deploy controller
# applied as Addons (k3s.cattle.io); helm-controller merges a HelmChartConfig into the
# HelmChart of the same name.
KINDS = (
    "nodes,deployments,statefulsets,daemonsets,jobs,helmcharts,helmchartconfigs,"
    "addons.k3s.cattle.io,events,secrets"
)
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
# Left by Debian's and Ubuntu's package scripts (update-notifier-common, unattended-upgrades)
# when an update needs a reboot, with the packages that asked for it in REBOOT_REQUIRED.pkgs.
REBOOT_REQUIRED = "/var/run/reboot-required"
# Netdata's API through the API server's service proxy: the parent keeps the alarms of every
# node that streams to it, each under /host/HOSTNAME/ (its own at the root); the children are
# named after their nodes, the k8s-state pod after the chart's k8sState.hostname
# (netdata/helmchart 3.7.172 values.yaml). /api/v1/alarms lists the raised ones (WARNING or
# CRITICAL) without `all` (Netdata v2.11.0 src/web/api/v1/api_v1_alarms.c,
# src/health/health_json.c health_alarms2json).
NETDATA_API = (
    f"/api/v1/namespaces/{MONITORING_NAMESPACE}/services/{NETDATA.service}:{NETDATA.port}/proxy"
)
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
        for every in (f"{kinds},{OPTIONAL_KINDS}", kinds)
    )
    return (
        f'listed=$({first}); [ -n "$listed" ] || listed=$({fallback}); '
        '[ -z "$listed" ] || printf ' + "'%s\\n'" + ' "$listed"'
    )


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
    '2>/dev/null | grep "^off-site [a-z]* failed: " | tail -n 1 | sed "s/^/error $unit /"'
)


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
            (
                f"echo; echo '## alarms'; for h in '' $({kubectl} get nodes --output "
                "jsonpath='{.items[*].metadata.name}' 2>/dev/null) "
                + " ".join(NETDATA_HOSTS)
                + f'; do {kubectl} get --raw "{NETDATA_API}${{h:+/host/$h}}/api/v1/alarms" '
                "2>/dev/null | tr -d '\\n'; echo; done"
            )
            if alarms
            else "echo"
        )
        return "; ".join(
            [
                "echo '## now'; date +%s",
                "echo '## memory'; grep '^MemAvailable:' /proc/meminfo",
                "echo '## disk'; d=/var/lib/rancher; [ -d $d ] || d=/; df -Pk $d | tail -n 1",
                f"echo '## backup'; ls -1t {BACKUP_DIR}/llm-appliance-*.tar 2>/dev/null | head -n 1 "
                "| xargs -r stat -c '%Y %n'",
                f"echo '## offsite'; {READ_OFFSITE_TIME}; "
                f"for unit in {OFFSITE_UNIT} {OFFSITE_CHECK_UNIT}; do "
                + OFFSITE_FAILURE
                + "; done",
                f"echo '## reboot'; [ -f {REBOOT_REQUIRED} ] && echo required && "
                f"cat {REBOOT_REQUIRED}.pkgs 2>/dev/null",
                f"echo '## restored'; {READ_RESTORED}",
                f"echo '## k3s'; [ -x {K3S_BINARY} ] && echo installed",
                f"if [ -x {K3S_BINARY} ]; then echo '## objects'; errors=$(mktemp); "
                + kubectl_get_everywhere(KINDS, shlex.quote("jsonpath=" + TEMPLATE), '"$errors"'),
                f"{kubectl} get pods --all-namespaces --selector {CHART_LABEL} --output "
                f"{shlex.quote('jsonpath=' + ITEMS)} 2>/dev/null",
                'echo \'## errors\'; cat "$errors"; rm -f "$errors"',
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
            ]
        )

    def process(self, output):
        return parse_read(output)


class LogTail(FactBase):
    """
    The last lines of a workload's log (for a Job, helm's own error is there).

    .. code:: python

        host.get_fact(LogTail, namespace="kube-system", target="job/helm-install-ollama")
    """

    default = list

    def command(self, namespace, target, lines=20):
        return (
            f"{K3S_BINARY} kubectl --namespace {namespace} logs {target} --tail {lines} 2>&1; true"
        )

    def process(self, output):
        return [line.rstrip() for line in output]


def latest_read(settings: Settings, fresh: bool = False) -> dict:
    """This host's newest read in this run; read now when there is none or ``fresh``
    (fact_batch.read_fact, the deploy's one cache of facts; ApplianceRead is kept for the run)."""
    return read_fact(host, ApplianceRead, fresh=fresh, domain=settings.webui_domain)
