"""One record per component (operations/components.py): the HelmCharts the apps layer writes
are the records' charts, and the records say, literally, what each component is."""

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from operations import components
from operations.apps import app_files
from operations.pins import PINNED_VERSIONS

CHARTS = Path(__file__).resolve().parents[1] / "data" / "charts"


@pytest.fixture(scope="session")
def written_charts(base_settings):
    def written_charts(gpu_used: bool) -> dict:
        return {
            document["metadata"]["name"]: document["spec"]
            for host_file in app_files(base_settings, gpu_used=gpu_used)
            for document in yaml.safe_load_all(host_file.content)
            if document and document["kind"] == "HelmChart"
        }

    return written_charts


def test_the_apps_layer_writes_each_chart_as_its_record_says(written_charts):
    charts = written_charts(gpu_used=True)
    assert set(charts) == set(components.APP_CHARTS)
    for name, chart in components.APP_CHARTS.items():
        spec = charts[name]
        assert (spec["repo"], spec["chart"], spec["version"], spec["targetNamespace"]) == (
            chart.repo,
            chart.chart,
            chart.version,
            chart.namespace,
        ), name


def test_the_records_pin_the_charts_of_settings():
    assert {name: chart.version for name, chart in components.APP_CHARTS.items()} == {
        "cloudnative-pg": PINNED_VERSIONS["cloudnative-pg chart"],
        "ollama": PINNED_VERSIONS["ollama chart"],
        "open-webui": PINNED_VERSIONS["open-webui chart"],
        "netdata": PINNED_VERSIONS["netdata chart"],
        "nvidia-device-plugin": PINNED_VERSIONS["nvidia device plugin chart"],
    }


def test_what_each_component_is():
    assert [
        (w.ref, w.namespace, w.selector)
        for c in (
            components.OPEN_WEBUI,
            components.OLLAMA,
            components.NETDATA,
            components.POSTGRES_OPERATOR,
            components.TRAEFIK,
        )
        for w in c.workloads
    ] == [
        (
            "deployment/open-webui",
            "llm",
            "app.kubernetes.io/component=open-webui,app.kubernetes.io/instance=open-webui",
        ),
        (
            "deployment/ollama",
            "llm",
            "app.kubernetes.io/instance=ollama,app.kubernetes.io/name=ollama",
        ),
        ("deployment/netdata-parent", "monitoring", "app=netdata,role=parent"),
        ("daemonset/netdata-child", "monitoring", "app=netdata,role=child"),
        ("deployment/netdata-k8s-state", "monitoring", "app=netdata,role=k8sState"),
        ("deployment/cloudnative-pg", "cnpg-system", "app.kubernetes.io/name=cloudnative-pg"),
        ("deployment/traefik", "kube-system", "app.kubernetes.io/name=traefik"),
    ]
    assert components.OPEN_WEBUI.claims == ("open-webui",)
    assert components.OLLAMA.claims == ("ollama",)
    assert components.POSTGRES.claims == ("postgres-1",)
    assert components.OLLAMA.url == "http://ollama.llm.svc.cluster.local:11434"


def rendered(release: str) -> list[dict]:
    """The objects of a chart's recorded `helm template` (tests/record_charts.py)."""
    return json.loads((CHARTS / f"{release}.json").read_text())["objects"]


CHARTED = {
    "ollama": components.OLLAMA,
    "open-webui": components.OPEN_WEBUI,
    "netdata": components.NETDATA,
    "cloudnative-pg": components.POSTGRES_OPERATOR,
    "nvidia-device-plugin": components.DEVICE_PLUGIN,
    "traefik": components.TRAEFIK,
}


@pytest.mark.parametrize("release", sorted(CHARTED))
def test_each_record_is_what_its_chart_renders(release):
    """Every workload of the record is in the render with its kind, name and namespace, and
    its pods carry the record's labels; its claims are the render's claims; its Service
    serves the record's port and sends it to the record's pod port."""
    record, objects = CHARTED[release], rendered(release)
    workloads = {
        (o["kind"], o["metadata"]["name"], o["metadata"].get("namespace", record.namespace)): o
        for o in objects
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet")
    }
    assert {(w.kind, w.name, w.namespace) for w in record.workloads} == set(workloads)
    for workload in record.workloads:
        labels = workloads[(workload.kind, workload.name, workload.namespace)]["spec"]["template"][
            "metadata"
        ]["labels"]
        assert dict(workload.pod_labels).items() <= labels.items(), workload.name
    assert set(record.claims) == {
        o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"
    }
    if record.service:
        (service,) = [
            o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == record.service
        ]
        ports = {port["port"]: port for port in service["spec"]["ports"]}
        assert record.port in ports
        if record.pod_port:
            containers = {
                port["name"]: port["containerPort"]
                for w in workloads.values()
                for c in w["spec"]["template"]["spec"]["containers"]
                for port in c.get("ports", [])
            }
            target = ports[record.port]["targetPort"]
            assert containers.get(target, target) == record.pod_port


def test_the_check_sees_a_record_the_render_contradicts(monkeypatch):
    wrong = dataclasses.replace(
        components.OPEN_WEBUI,
        workloads=(
            components.Workload(
                "StatefulSet", "open-webui", "llm", {"app.kubernetes.io/instance": "open-webui"}
            ),
        ),
    )
    monkeypatch.setitem(CHARTED, "open-webui", wrong)
    with pytest.raises(AssertionError):
        test_each_record_is_what_its_chart_renders("open-webui")
