"""What each component of the appliance is, written once: the HelmChart that k3s's
helm-controller installs it from (chart, version, release, target namespace), its workloads
with the labels that select their pods, the claims that hold its data and its Service port.

Values, network policies, backup and restore commands, readiness, ``appliance status``, the
README's component facts and the tests' stand-in API server all take these facts from here.
Each record agrees with what its chart renders at the pinned version with the appliance's
values (``helm template``, recorded under ``tests/data/charts/`` by ``tests/record_charts.py``;
``tests/unit/test_components.py`` holds the two together).

    from operations.components import OPEN_WEBUI
    OPEN_WEBUI.workload.ref         # "deployment/open-webui"
    OPEN_WEBUI.workload.selector    # "app.kubernetes.io/component=open-webui,app.kubernetes.io/instance=open-webui"
    OPEN_WEBUI.chart.version        # the pinned chart version
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from operations.names import (
    BACKUP_LABEL,
    DEVICE_PLUGIN_NAMESPACE,
    MODEL_PULLER_LABEL,
    MONITORING_NAMESPACE,
    NAMESPACE,
    OPERATOR_NAMESPACE,
    POSTGRES_CLUSTER,
)
from operations.pins import PINNED_VERSIONS


def _labels(labels: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(labels)


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet, DaemonSet or the pods of a Job, and labels that select its
    pods and no other (its pods carry them; they may carry more)."""

    kind: str
    name: str
    namespace: str
    pod_labels: Mapping[str, str]

    @property
    def selector(self) -> str:
        """The pod labels as kubectl's ``--selector``: ``"key=value,key=value"``, sorted."""
        return ",".join(f"{key}={value}" for key, value in sorted(self.pod_labels.items()))

    @property
    def ref(self) -> str:
        """kubectl's TYPE/NAME: ``"deployment/open-webui"``."""
        return f"{self.kind.lower()}/{self.name}"


@dataclass(frozen=True)
class Chart:
    """A HelmChart: helm-controller installs ``chart`` of ``repo`` at ``version`` as the
    release named like the HelmChart (``name``) in ``namespace`` (spec.targetNamespace)."""

    name: str
    repo: str
    chart: str
    version: str
    namespace: str


@dataclass(frozen=True)
class Component:
    """One component: its chart (None for what the appliance writes itself), its workloads,
    the claims that hold its data (kept when its release goes), its Service with its port, and
    the port its pods listen on (network policies name that one)."""

    name: str
    namespace: str
    chart: Chart | None = None
    workloads: tuple[Workload, ...] = ()
    claims: tuple[str, ...] = ()
    service: str = ""
    port: int | None = None
    pod_port: int | None = None

    @property
    def workload(self) -> Workload:
        """The component's workload, for those with exactly one."""
        (only,) = self.workloads
        return only

    @property
    def installed_chart(self) -> Chart:
        """Its chart, for a component installed from one; ValueError for one the appliance
        writes itself (chart None)."""
        if self.chart is None:
            raise ValueError(f"{self.name} is not installed from a chart")
        return self.chart

    @property
    def listening_port(self) -> int:
        """The port its pods listen on; ValueError for a component without one (pod_port None)."""
        if self.pod_port is None:
            raise ValueError(f"{self.name} has no pod port")
        return self.pod_port

    @property
    def url(self) -> str:
        """Its Service inside the cluster: ``"http://ollama.llm.svc.cluster.local:11434"``."""
        return f"http://{self.service}.{self.namespace}.svc.cluster.local:{self.port}"


# The records follow the charts' templates at their pinned tags with the appliance's values;
# tests/unit/test_components.py checks each against the recorded `helm template` output.
POSTGRES_OPERATOR = Component(
    "cloudnative-pg",
    OPERATOR_NAMESPACE,
    Chart(
        "cloudnative-pg",
        "https://cloudnative-pg.github.io/charts",
        "cloudnative-pg",
        PINNED_VERSIONS["cloudnative-pg chart"],
        OPERATOR_NAMESPACE,
    ),
    workloads=(
        Workload(
            "Deployment",
            "cloudnative-pg",
            OPERATOR_NAMESPACE,
            _labels({"app.kubernetes.io/name": "cloudnative-pg"}),
        ),
    ),
)
# The CloudNativePG Cluster (operations/postgres.py): the operator names the instance's pod
# and claim NAME-1 and labels both cnpg.io/cluster=NAME; clients reach it at NAME-rw.
POSTGRES = Component(
    "postgres",
    NAMESPACE,
    workloads=(
        Workload(
            "Pod",
            f"{POSTGRES_CLUSTER}-1",
            NAMESPACE,
            _labels({"cnpg.io/cluster": POSTGRES_CLUSTER}),
        ),
    ),
    claims=(f"{POSTGRES_CLUSTER}-1",),
    service=f"{POSTGRES_CLUSTER}-rw",
    port=5432,
    pod_port=5432,
)
OLLAMA = Component(
    "ollama",
    NAMESPACE,
    Chart(
        "ollama",
        "https://otwld.github.io/ollama-helm/",
        "ollama",
        PINNED_VERSIONS["ollama chart"],
        NAMESPACE,
    ),
    workloads=(
        Workload(
            "Deployment",
            "ollama",
            NAMESPACE,
            _labels({"app.kubernetes.io/name": "ollama", "app.kubernetes.io/instance": "ollama"}),
        ),
    ),
    claims=("ollama",),
    service="ollama",
    port=11434,
    pod_port=11434,
)
# Chart open-webui 16.0.0 (open-webui/helm-charts, tag open-webui-16.0.0, charts/open-webui/
# templates/): open-webui.fullname is the release name, as it contains the chart's name
# (_helpers.tpl); workload-manager.yaml makes a `workload.kind` (webui_values: Deployment) of
# that name, selecting its pods by open-webui.selectorLabels (instance = release, component =
# chart name); pvc.yaml makes the claim of that name (persistence.enabled, no existingClaim).
OPEN_WEBUI = Component(
    "open-webui",
    NAMESPACE,
    Chart(
        "open-webui",
        "https://helm.openwebui.com/",
        "open-webui",
        PINNED_VERSIONS["open-webui chart"],
        NAMESPACE,
    ),
    workloads=(
        Workload(
            "Deployment",
            "open-webui",
            NAMESPACE,
            _labels(
                {
                    "app.kubernetes.io/component": "open-webui",
                    "app.kubernetes.io/instance": "open-webui",
                }
            ),
        ),
    ),
    claims=("open-webui",),
    service="open-webui",
    port=80,
    pod_port=8080,
)
NETDATA = Component(
    "netdata",
    MONITORING_NAMESPACE,
    Chart(
        "netdata",
        "https://netdata.github.io/helmchart/",
        "netdata",
        PINNED_VERSIONS["netdata chart"],
        MONITORING_NAMESPACE,
    ),
    workloads=(
        Workload(
            "Deployment",
            "netdata-parent",
            MONITORING_NAMESPACE,
            _labels({"app": "netdata", "role": "parent"}),
        ),
        Workload(
            "DaemonSet",
            "netdata-child",
            MONITORING_NAMESPACE,
            _labels({"app": "netdata", "role": "child"}),
        ),
        Workload(
            "Deployment",
            "netdata-k8s-state",
            MONITORING_NAMESPACE,
            _labels({"app": "netdata", "role": "k8sState"}),
        ),
    ),
    claims=("netdata-parent-database", "netdata-parent-alarms", "netdata-k8s-state-varlib"),
    service="netdata",
    port=19999,
    pod_port=19999,
)
DEVICE_PLUGIN = Component(
    "nvidia-device-plugin",
    DEVICE_PLUGIN_NAMESPACE,
    Chart(
        "nvidia-device-plugin",
        "https://nvidia.github.io/k8s-device-plugin",
        "nvidia-device-plugin",
        PINNED_VERSIONS["nvidia device plugin chart"],
        DEVICE_PLUGIN_NAMESPACE,
    ),
    # The plugin on every GPU node, and MPS's control daemon, scheduled only where
    # nvidia.com/mps.capable=true (chart 0.20.0 renders both, with the same pod labels).
    workloads=tuple(
        Workload(
            "DaemonSet",
            name,
            DEVICE_PLUGIN_NAMESPACE,
            _labels(
                {
                    "app.kubernetes.io/name": "nvidia-device-plugin",
                    "app.kubernetes.io/instance": "nvidia-device-plugin",
                }
            ),
        )
        for name in ("nvidia-device-plugin", "nvidia-device-plugin-mps-control-daemon")
    ),
)
# The appliance's own Jobs: the model puller (operations/ollama.py) and the backups
# (operations/backup.py), selected by the label their pods carry.
MODEL_PULLER = Component(
    "ollama-model-puller",
    NAMESPACE,
    workloads=(
        Workload(
            "Job",
            "ollama-models",
            NAMESPACE,
            _labels({"app.kubernetes.io/name": MODEL_PULLER_LABEL}),
        ),
    ),
)
BACKUP = Component(
    "backup",
    NAMESPACE,
    workloads=(
        Workload(
            "Job",
            "llm-appliance-backup",
            NAMESPACE,
            _labels({"app.kubernetes.io/name": BACKUP_LABEL}),
        ),
    ),
)
# k3s's own: Traefik from its packaged chart (k3s manifests/traefik.yaml) and CoreDNS.
TRAEFIK = Component(
    "traefik",
    "kube-system",
    workloads=(
        Workload(
            "Deployment", "traefik", "kube-system", _labels({"app.kubernetes.io/name": "traefik"})
        ),
    ),
    claims=("traefik",),  # acme.json: the account key and certificates (operations/traefik.py)
    service="traefik",
    port=443,
)
CLUSTER_DNS = Component(
    "coredns",
    "kube-system",
    workloads=(Workload("Deployment", "coredns", "kube-system", _labels({"k8s-app": "kube-dns"})),),
    service="kube-dns",
    port=53,
)

# The charts the apps layer installs, by HelmChart name.
APP_CHARTS = MappingProxyType(
    {
        c.installed_chart.name: c.installed_chart
        for c in (POSTGRES_OPERATOR, OLLAMA, OPEN_WEBUI, NETDATA, DEVICE_PLUGIN)
    }
)
