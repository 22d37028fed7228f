"""One record per component (operations/components.py): the HelmCharts the apps layer writes
are the records' charts, and the records say, literally, what each component is."""

import yaml

from operations import components
from operations.apps import app_files
from operations.settings import PINNED_VERSIONS, load

SETTINGS = load({"webui_domain": "chat.example.com", "monitor_domain": "monitor.example.com",
                 "acme_email": "admin@example.com"})


def written_charts(gpu_used: bool) -> dict:
    return {document["metadata"]["name"]: document["spec"]
            for host_file in app_files(SETTINGS, gpu_used=gpu_used)
            for document in yaml.safe_load_all(host_file.content)
            if document and document["kind"] == "HelmChart"}


def test_the_apps_layer_writes_each_chart_as_its_record_says():
    charts = written_charts(gpu_used=True)
    assert set(charts) == set(components.APP_CHARTS)
    for name, chart in components.APP_CHARTS.items():
        spec = charts[name]
        assert (spec["repo"], spec["chart"], spec["version"], spec["targetNamespace"]) == (
            chart.repo, chart.chart, chart.version, chart.namespace), name


def test_the_records_pin_the_charts_of_settings():
    assert {name: chart.version for name, chart in components.APP_CHARTS.items()} == {
        "cloudnative-pg": PINNED_VERSIONS["cloudnative-pg chart"],
        "ollama": PINNED_VERSIONS["ollama chart"],
        "open-webui": PINNED_VERSIONS["open-webui chart"],
        "netdata": PINNED_VERSIONS["netdata chart"],
        "nvidia-device-plugin": PINNED_VERSIONS["nvidia device plugin chart"],
    }


def test_what_each_component_is():
    assert [(w.ref, w.namespace, w.selector) for c in (
        components.OPEN_WEBUI, components.OLLAMA, components.NETDATA, components.POSTGRES_OPERATOR,
        components.TRAEFIK) for w in c.workloads] == [
        ("deployment/open-webui", "llm",
         "app.kubernetes.io/component=open-webui,app.kubernetes.io/instance=open-webui"),
        ("deployment/ollama", "llm", "app.kubernetes.io/instance=ollama,app.kubernetes.io/name=ollama"),
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
