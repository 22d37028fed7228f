"""What k3s adds to the stand-in API server (tests/kube_api.py): helm-controller, the install
Jobs' klipper-helm entry script, the HelmChart CRD's schema, and the deploy controller that
applies the manifests folder. Each behaviour cites the source it was read in.

Versions: k3s v1.36.5+k3s1 vendors helm-controller >= v0.17.6: k3s PR #14442
("[release-1.36] Bump helm-controller and klipper-helm for `--force-conflicts` support",
merged 2026-07-22, after v1.36.2) bumped release-1.36 to the helm-controller that first has
``retry`` (k3s-io/helm-controller commit f27efd8, first tagged v0.17.6) and set ``retry`` for
k3s's own Traefik charts; k3s main's go.mod (commit 00014d28) requires v0.17.7. The v1.36.5 tag's
own go.mod could not be read here (the k3s snapshot is over the fetch limit), so the version is
a parameter: ``k3s_api(helm_controller="v0.17.1")`` gives the older CRD enum.
helm-controller sources: v0.17.7 pkg/controllers/chart/chart.go and
pkg/crds/yaml/generated/helm.cattle.io_helmcharts.yaml; klipper-helm: entry at
v0.13.3-build20260727; deploy controller: k3s pkg/deploy/controller.go (main, commit 0301210f).

    api = k3s_api().start()
    api.helm_results[("kube-system", "ollama")] = [HelmResult("Error: INSTALLATION FAILED: ...")]
    deploy = DeployController(api, manifests_dir)   # deploy.scan() applies what changed
    api.add([helm_chart])                            # install Job, release Secret, chart objects
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

import kube_api
from kube_api import DEFAULTS, VALIDATIONS, APIError, KubeAPI, Resource, clone, invalid
from kube_controllers import (
    KUBERNETES_CONTROLLERS,
    owner_reference,
    pod_status,
    restart_crashed,
    write,
)

HELM_CONTROLLER = "v0.17.7"
CHART_LABEL = "helmcharts.helm.cattle.io/chart"  # chart.go LabelChartName
CONFIG_HASH = "helmcharts.helm.cattle.io/configHash"  # chart.go KeyConfigHash
MANAGED_BY = "helmcharts.cattle.io/managed-by"  # chart.go AnnotationManagedBy
RELEASE_TYPE = "helm.sh/release.v1"  # chart.go ReleaseType
RENDERS = Path(__file__).parent / "data" / "charts"


def failure_policies(version: str) -> tuple[str, ...]:
    """The HelmChart CRD's failurePolicy enum: abort and reinstall, and retry from v0.17.6
    (helm.cattle.io_helmcharts.yaml at v0.17.1 and v0.17.7; commit f27efd8)."""
    major_minor_patch = tuple(int(p) for p in version.lstrip("v").split("."))
    return ("abort", "reinstall") + (("retry",) if major_minor_patch >= (0, 17, 6) else ())


def helm_chart_schema(api: KubeAPI, resource: Resource, item: dict) -> None:
    """The HelmChart and HelmChartConfig CRDs' OpenAPI schema as the API server applies it:
    failurePolicy defaults to reinstall; a value outside the enum is 422 Invalid with
    field.NotSupported's message (k8s.io/apimachinery pkg/util/validation/field/errors.go)."""
    if resource.kind not in ("HelmChart", "HelmChartConfig"):
        return
    spec = item.setdefault("spec", {})
    spec.setdefault("failurePolicy", "reinstall")
    allowed = failure_policies(getattr(api, "helm_controller", HELM_CONTROLLER))
    if spec["failurePolicy"] not in allowed:
        supported = ", ".join(f'"{value}"' for value in allowed)
        raise invalid(
            resource,
            item["metadata"]["name"],
            [
                (
                    "spec.failurePolicy",
                    f'Unsupported value: "{spec["failurePolicy"]}": supported values: {supported}',
                )
            ],
        )


# -- helm-controller ---------------------------------------------------------------------------


@dataclass
class K3sAPI(KubeAPI):
    """The stand-in API server as k3s serves it: the helm-controller version whose HelmChart CRD
    it applies, helm's scripted outcomes by (chart namespace, name) (see klipper_helm), and the
    tick() at which helm_controller last replaced each chart's Job."""

    helm_controller: str = HELM_CONTROLLER
    helm_results: dict[tuple[str, str], list[HelmResult]] = field(default_factory=dict)
    helm_replaced: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class HelmResult:
    """What one helm install/upgrade in an install Job does: succeed (``error`` empty) or fail
    with helm's message; ``recorded``: the failure came after helm wrote the release (an
    apply error, an immutable field) so a failed revision exists, not before it (a values
    schema error)."""

    error: str = ""
    recorded: bool = False


def chart_render(name: str) -> dict | None:
    """A recorded render (tests/data/charts/NAME.json: chart, version, release, namespace,
    values_sha256, objects), or None where none is recorded."""
    path = RENDERS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def releases(api: KubeAPI, namespace: str, name: str) -> list[dict]:
    """A release's Secrets (helm's secrets driver), oldest revision first."""
    found = [
        s
        for s in api.list("Secret", namespace, f"owner=helm,name={name}")
        if s.get("type") == RELEASE_TYPE
    ]
    return sorted(found, key=lambda s: int(s["metadata"]["labels"]["version"]))


def latest_release(api: KubeAPI, namespace: str, name: str) -> dict:
    """chart.go latestRelease: revision, status and configHash label of the highest version."""
    found = releases(api, namespace, name)
    if not found:
        return {"revision": 0, "status": "", "hash": ""}
    labels = found[-1]["metadata"]["labels"]
    return {
        "revision": int(labels["version"]),
        "status": labels["status"],
        "hash": labels.get(CONFIG_HASH, ""),
    }


def install_job(api: KubeAPI, chart: dict, config: dict | None) -> tuple[dict, dict]:
    """chart.go job() and getJobAndRelatedResources: the Job helm-install-NAME (suspended,
    backoffLimit 1000 unless spec.backOffLimit, restartPolicy OnFailure, label and template
    label helmcharts.helm.cattle.io/chart, template annotation configHash) and the values
    Secret chart-values-NAME. The hash (hashObjects) is SHA-256 over backoffLimit, the pod
    template and the values Secret's data, written SHA256=HEX as chart.go does, though not
    byte for byte Go's JSON. EXPECTED_RELEASE_REVISION and CONFIG_HASH are added after."""
    metadata, spec = chart["metadata"], chart["spec"]
    name = metadata["name"]
    target = spec.get("targetNamespace") or metadata["namespace"]
    policy = spec.get("failurePolicy") or "reinstall"
    values = {}
    if spec.get("valuesContent"):
        values["HelmChartValuesContent"] = spec["valuesContent"]
    if config:
        if config["spec"].get("valuesContent"):
            values["HelmChartConfigValuesContent"] = config["spec"]["valuesContent"]
        policy = config["spec"].get("failurePolicy") or policy
    arguments = (
        ["install"]
        + (["--namespace", target] if spec.get("targetNamespace") else [])
        + (["--create-namespace"] if spec.get("createNamespace") else [])
        + (["--version", spec["version"]] if spec.get("version") else [])
    )
    chart_name = f"{name}/{spec['chart']}" if spec.get("repo") else spec.get("chart", "")
    env = [
        {"name": k, "value": v}
        for k, v in (
            ("NAME", name),
            ("VERSION", spec.get("version", "")),
            ("REPO", spec.get("repo", "")),
            ("HELM_DRIVER", "secret"),
            ("CHART_NAMESPACE", metadata["namespace"]),
            ("CHART", chart_name),
            ("HELM_VERSION", ""),
            ("TARGET_NAMESPACE", target),
            ("AUTH_PASS_CREDENTIALS", "false"),
            ("INSECURE_SKIP_TLS_VERIFY", "false"),
            ("PLAIN_HTTP", "false"),
            ("FAILURE_POLICY", policy),
        )
    ]
    backoff = spec.get("backOffLimit", 1000)
    template: dict = {
        "metadata": {"annotations": {}, "labels": {CHART_LABEL: name}},
        "spec": {
            "restartPolicy": "OnFailure",
            "serviceAccountName": f"helm-{name}",
            "priorityClassName": "system-cluster-critical",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "containers": [
                {
                    "name": "helm",
                    "image": "rancher/klipper-helm:latest",
                    "imagePullPolicy": "IfNotPresent",
                    "args": arguments,
                    "env": env,
                }
            ],
        },
    }
    digest = hashlib.sha256(str(backoff).encode())
    digest.update(json.dumps(template, sort_keys=True, separators=(",", ":")).encode())
    for key in sorted(values):
        digest.update(key.encode() + values[key].encode())
    template["metadata"]["annotations"][CONFIG_HASH] = f"SHA256={digest.hexdigest().upper()}"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"helm-install-{name}",
            "namespace": metadata["namespace"],
            "labels": {CHART_LABEL: name},
            "ownerReferences": [owner_reference(chart)],
        },
        "spec": {"suspend": True, "backoffLimit": backoff, "template": template},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "helmcharts.helm.cattle.io/values",
        "metadata": {
            "name": f"chart-values-{name}",
            "namespace": metadata["namespace"],
            "ownerReferences": [owner_reference(chart)],
        },
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }
    return job, secret


def config_hash(job: dict) -> str:
    """The hash's hex part, cut to 63 characters (a label value), as chart.go does."""
    return job["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH].partition("=")[2][:63]


def _condition(item: dict | None, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in (item or {}).get("status", {}).get("conditions", [])
    )


def _template_without_release(job: dict) -> dict:
    """chart.go templateChanged: the pod template without CONFIG_HASH and
    EXPECTED_RELEASE_REVISION and without its labels (the API server adds some)."""
    template = clone(job["spec"]["template"])
    template["metadata"].pop("labels", None)
    for container in template["spec"].get("containers", []):
        container["env"] = [
            e
            for e in container.get("env", [])
            if e["name"] not in ("CONFIG_HASH", "EXPECTED_RELEASE_REVISION")
        ]
    return {
        "metadata": template["metadata"],
        "spec": {
            k: template["spec"].get(k)
            for k in ("restartPolicy", "containers", "serviceAccountName")
        },
    }


def helm_controller(api: K3sAPI) -> None:
    """helm-controller v0.17.7 chart.go OnChange for every HelmChart: claim it (managed-by
    annotation, shouldManage); a Job whose controller set Failed gives condition Failed and
    event JobFailed; a suspended, synced Job is resumed (jobReady/setJobSuspended); a Complete
    Job counts only when the newest release Secret says deployed with the Job's configHash,
    else the Job is made again (reconcileJob: ErrReplace once no pod is active); an unfinished
    Job, failed or not, is left alone unless its template changed (then suspended, and
    replaced once its pods are gone). Status: jobName and conditions JobCreated / Failed;
    event ApplyJob when a Job is made."""
    for chart in api.list("HelmChart"):
        metadata = chart["metadata"]
        if not chart.get("spec", {}).get("chart") and not chart.get("spec", {}).get("chartContent"):
            continue
        if (metadata.get("annotations") or {}).get(MANAGED_BY) != "helm-controller":
            metadata.setdefault("annotations", {})[MANAGED_BY] = "helm-controller"
            chart = api.save(api.resource("HelmChart"), chart, manager="helm-controller")
        namespace, name = metadata["namespace"], chart["metadata"]["name"]
        config = api.get("HelmChartConfig", namespace, name)
        job, values = install_job(api, chart, config)
        target = chart["spec"].get("targetNamespace") or namespace
        current = api.get("Job", namespace, job["metadata"]["name"])
        if _condition(current, "Failed"):
            failed = [
                c
                for c in chart.get("status", {}).get("conditions", [])
                if c["type"] == "Failed" and c["status"] == "True"
            ]
            if not failed:
                api.record_event(
                    chart,
                    "JobFailed",
                    "Job has reached configured number of retries without succeeding",
                    kind="Warning",
                    component="helm-controller",
                )
                chart["status"] = {
                    **chart.get("status", {}),
                    "conditions": [
                        {
                            "type": "JobCreated",
                            "status": "True",
                            "reason": "Job created",
                            "message": f"Applying HelmChart using Job {namespace}/{job['metadata']['name']}",
                        },
                        {
                            "type": "Failed",
                            "status": "True",
                            "reason": "Job failed",
                            "message": "Job has reached configured number of retries without succeeding",
                        },
                    ],
                }
                api.save(
                    api.resource("HelmChart"),
                    chart,
                    manager="helm-controller",
                    subresource="status",
                )
            # OnChange goes on: getJobAndRelatedResources skips a failed Job whose template
            # is unchanged and replaces it (reconcileJob) once the chart's spec changed it.
        if (
            current is not None
            and current["spec"].get("suspend")
            and current["metadata"].get("generation") == 1
            and _condition(current, "Suspended")
        ):
            patched = clone(current)
            patched["spec"]["suspend"] = False
            api.save(api.resource("Job"), patched, manager="helm-controller")
            api.record_event(
                chart,
                "ResumeJob",
                f"Resumed synced Job {namespace}/{current['metadata']['name']}",
                component="helm-controller",
            )
            continue
        release = latest_release(api, target, name)
        replace = current is None
        if current is not None and _condition(current, "Complete"):
            replace = not (release["status"] == "deployed" and release["hash"] == config_hash(job))
            # The workqueue's rate limiting, roughly: one replacement per chart per tick(), so
            # that a release that stays failed does not loop within one reconcile().
            if replace and api.helm_replaced.get((namespace, name)) == api.tick_count:
                continue
            if replace:
                api.helm_replaced[(namespace, name)] = api.tick_count
        elif current is not None:
            if _template_without_release(current) != _template_without_release(job):
                if current.get("status", {}).get("active"):
                    if not current["spec"].get("suspend"):
                        suspended = clone(current)
                        suspended["spec"]["suspend"] = True
                        api.save(api.resource("Job"), suspended, manager="helm-controller")
                    continue
                replace = bool(current.get("status", {}).get("conditions"))
        if not replace:
            continue
        if current is not None:
            api.remove(api.resource("Job"), namespace, current["metadata"]["name"])
        for container in job["spec"]["template"]["spec"]["containers"]:
            container["env"] += [
                {"name": "EXPECTED_RELEASE_REVISION", "value": str(release["revision"])},
                {"name": "CONFIG_HASH", "value": config_hash(job)},
            ]
        write(api, values)
        api.job_runs[(namespace, job["metadata"]["name"])] = klipper_helm
        created = kube_api.create(
            api, api.resource("Job"), namespace, job, False, "helm-controller"
        )[1]
        api.record_event(
            chart,
            "ApplyJob",
            f"Applying HelmChart from {chart_source(chart)} using Job "
            f"{namespace}/{created['metadata']['name']} ",
            component="helm-controller",
        )
        stored = api.get("HelmChart", namespace, name)
        assert stored is not None, "record_event keeps the HelmChart"
        stored["status"] = {
            "jobName": created["metadata"]["name"],
            "conditions": [
                {
                    "type": "JobCreated",
                    "status": "True",
                    "reason": "Job created",
                    "message": f"Applying HelmChart using Job {namespace}/{created['metadata']['name']}",
                },
                {"type": "Failed", "status": "False"},
            ],
        }
        api.save(api.resource("HelmChart"), stored, manager="helm-controller", subresource="status")


def chart_source(chart: dict) -> str:
    """chart.go chartSource, for a chart from a repository."""
    spec = chart["spec"]
    if "://" in spec.get("chart", ""):
        return spec["chart"]
    if spec.get("version"):
        return f"{spec['chart']} version {spec['version']} from chart repository {spec.get('repo', '')}"
    return f"latest stable version of {spec['chart']} from chart repository {spec.get('repo', '')}"


# -- klipper-helm's entry, as the install Job's container ---------------------------------------


def klipper_helm(api: K3sAPI, job: dict, pod: dict) -> tuple[int, str]:
    """One run of klipper-helm's entry (v0.13.3-build20260727) for an install Job: no release
    yet: helm install; a revision other than EXPECTED_RELEASE_REVISION: "does not match" and
    exit 0 (check_revision); deployed: helm upgrade; failed: by FAILURE_POLICY, abort exits 1,
    reinstall uninstalls then installs, retry runs helm upgrade and exits 0 whatever it did.
    helm's own outcome comes from ``api.helm_results[(chart namespace, name)]`` (a list, one
    HelmResult per helm command; success once it is empty)."""
    env = {
        e["name"]: e.get("value", "")
        for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    name, target = env["NAME"], env["TARGET_NAMESPACE"]
    release = latest_release(api, target, name)
    log: list[str] = []
    if release["revision"] and env.get("EXPECTED_RELEASE_REVISION") != str(release["revision"]):
        return 0, (
            f"Current release revision {release['revision']} does not match expected "
            f"revision {env.get('EXPECTED_RELEASE_REVISION')}\n"
        )
    if not release["revision"]:
        return helm(api, job, env, "install", log)
    if release["status"] == "deployed":
        log.append(f"Already installed {name}")
        log.append(f"Upgrading {name}")
        return helm(api, job, env, "upgrade", log)
    policy = env.get("FAILURE_POLICY") or "reinstall"
    if policy == "abort":
        message = (
            f"Release status is '{release['status']}' and failure policy is '{policy}'; "
            "waiting for operator intervention"
        )
        return 1, message + "\n"
    if policy == "reinstall":
        uninstall(api, target, name)
        log.append("Deleted")
        return helm(api, job, env, "install", log)
    _, text = helm(api, job, env, "upgrade", log)  # retry: exit 0 whatever helm did
    return 0, text


def helm(api: K3sAPI, job: dict, env: dict, command: str, log: list[str]) -> tuple[int, str]:
    """helm install/upgrade: the chart's recorded render applied to the target namespace and
    a release Secret sh.helm.release.v1.NAME.vN (labels name, owner=helm, status, version and
    klipper-helm's --labels configHash); the revision before becomes superseded. A failure
    writes a failed revision only when ``recorded``."""
    name, target = env["NAME"], env["TARGET_NAMESPACE"]
    scripted = api.helm_results.get((job["metadata"]["namespace"], name)) or []
    result = scripted.pop(0) if scripted else HelmResult()
    previous = releases(api, target, name)
    revision = int(previous[-1]["metadata"]["labels"]["version"]) + 1 if previous else 1
    if (
        command == "install"
        and "--create-namespace" in job["spec"]["template"]["spec"]["containers"][0]["args"]
        and api.get("Namespace", "", target) is None
    ):
        api.add(
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target}}],
            reconcile=False,
        )
    if result.error and not result.recorded:
        return 1, "\n".join(log + [result.error]) + "\n"
    if not result.error:
        for secret in previous:
            if secret["metadata"]["labels"]["status"] == "deployed":
                secret["metadata"]["labels"]["status"] = "superseded"
                write(api, secret)
        apply_render(api, name, target, release_values(api, job))
    api.save(
        api.resource("Secret"),
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": RELEASE_TYPE,
            "metadata": {
                "name": f"sh.helm.release.v1.{name}.v{revision}",
                "namespace": target,
                "labels": {
                    "name": name,
                    "owner": "helm",
                    "status": "failed" if result.error else "deployed",
                    "version": str(revision),
                    CONFIG_HASH: env.get("CONFIG_HASH", ""),
                },
            },
            "data": {"release": base64.b64encode(b"stand-in release record").decode()},
        },
    )
    if result.error:
        return 1, "\n".join(log + [result.error]) + "\n"
    return 0, "\n".join(
        log + [f"NAME: {name}", f"NAMESPACE: {target}", "STATUS: deployed", f"REVISION: {revision}"]
    ) + "\n"


def uninstall(api: KubeAPI, namespace: str, name: str) -> None:
    """helm uninstall: the release's objects (but those annotated helm.sh/resource-policy:
    keep) and every release Secret go."""
    for secret in releases(api, namespace, name):
        api.remove(api.resource("Secret"), namespace, secret["metadata"]["name"])
    for item in installed_objects(api, namespace, name):
        if (item["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") != "keep":
            api.remove(
                api.resource_of(item),
                item["metadata"].get("namespace", ""),
                item["metadata"]["name"],
            )


def installed_objects(api: KubeAPI, namespace: str, name: str) -> list[dict]:
    found = []
    for item in list(api.objects.values()):
        annotations = item["metadata"].get("annotations") or {}
        if (
            annotations.get("meta.helm.sh/release-name") == name
            and annotations.get("meta.helm.sh/release-namespace") == namespace
        ):
            found.append(clone(item))
    return found


def release_values(api: KubeAPI, job: dict) -> dict:
    """The values helm installs with: the HelmChart's valuesContent that helm-controller put in
    the values Secret chart-values-NAME (chart.go valuesSecret: HelmChartValuesContent), as
    YAML; {} without one."""
    name = job["metadata"]["name"].removeprefix("helm-install-")
    secret = api.get("Secret", job["metadata"]["namespace"], f"chart-values-{name}") or {}
    text = secret.get("data", {}).get("HelmChartValuesContent")
    return (yaml.safe_load(base64.b64decode(text)) or {}) if text else {}


def _open_webui_ingress_host(item: dict, values: dict) -> None:
    """open-webui chart 16.0.0 templates/ingress.yaml: the rule's host and the TLS hosts are
    `.Values.ingress.host` (the recorded render has the recording's values)."""
    host = values.get("ingress", {}).get("host")
    if host:
        item["spec"]["rules"][0]["host"] = host
        for tls in item["spec"].get("tls", []):
            tls["hosts"][0] = host


# What of a recorded render follows this release's values: (chart, kind) -> edit(item, values).
TEMPLATED = {("open-webui", "Ingress"): _open_webui_ingress_host}


def apply_render(api: KubeAPI, name: str, namespace: str, values: dict | None = None) -> None:
    """Create or update the objects of the chart's recorded render (tests/data/charts), with
    helm's ownership annotations meta.helm.sh/release-name and -namespace; kinds the stand-in
    does not serve (RBAC, ServiceAccounts) are left out; objects in the render's namespace go
    to ``namespace``; a CustomResourceDefinition of an
    optional kind (CloudNativePG's Cluster) makes that kind served. The render was recorded
    with the appliance's values for the recording's settings: where TEMPLATED says so, an
    object takes this release's ``values`` instead."""
    render = chart_render(name)
    if render is None:
        return
    for item in render.get("objects", []):
        item = clone(item)
        if (name, item["kind"]) in TEMPLATED:
            TEMPLATED[(name, item["kind"])](item, values or {})
        if item["kind"] == "CustomResourceDefinition":
            api.install_crd(item["metadata"]["name"])
            continue
        try:
            resource = api.resource_of(item)
        except KeyError:
            continue
        metadata = item["metadata"]
        if resource.namespaced and metadata.get("namespace") in (None, render["namespace"]):
            # The render's release namespace stands for the one this release goes to.
            metadata["namespace"] = namespace
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            "meta.helm.sh/release-name": name,
            "meta.helm.sh/release-namespace": namespace,
        }
        stored = api.get(resource.kind, metadata.get("namespace", ""), metadata["name"])
        if stored is None:
            for default in DEFAULTS:
                default(api, resource, item)
            api.save(resource, item, manager="helm")
        else:
            item["status"] = stored.get("status", {})
            if not item["status"]:
                del item["status"]
            kube_api.update(api, resource, stored, item, "", False, "helm")


# -- k3s's deploy controller --------------------------------------------------------------------


class DeployController:
    """k3s pkg/deploy/controller.go: every ``period`` seconds (15 in k3s) list the manifests
    folder (sorted; dotfiles, *.skip'd files and names not ending .yaml/.yml/.json left out);
    a file is looked at when its mtime changed or in a forced pass: the first after start, and
    every next one until a pass deploys every file without an error (watcher.start keeps
    ``force`` until listFiles returns nil);
    an Addon named after the file up to its first dot, in kube-system, tracks it (spec.source,
    spec.checksum = hex SHA-256 of the file); unless forced, a file whose checksum equals the
    Addon's is skipped; its objects are applied with events ApplyingManifest, then
    AppliedManifest and the new checksum, or ApplyManifestFailed (the API server's error;
    the checksum stays, so the next pass tries again)."""

    def __init__(self, api: KubeAPI, directory: Path, node: str = "server"):
        self.api, self.directory, self.manager = api, Path(directory), f"deploy@{node}"
        self.modified: dict[Path, float] = {}
        self.forced = True
        self.stopped = threading.Event()

    def scan(self) -> None:
        """One pass (forced from start() or construction until one deploys every file)."""
        force, failed = self.forced, False
        files = sorted(p for p in self.directory.rglob("*") if p.is_file())
        skips = {p.name.removesuffix(".skip") for p in files if p.name.endswith(".skip")}
        for path in files:
            if (
                path.name.startswith(".")
                or path.name in skips
                or path.suffix.lower() not in (".yaml", ".yml", ".json")
            ):
                continue
            mtime = path.stat().st_mtime
            if not force and self.modified.get(path) == mtime:
                continue
            if self.deploy(path, compare=not force):
                self.modified[path] = mtime
            else:
                failed = True
        self.forced = force and failed
        with self.api.lock:
            self.api.reconcile()

    def deploy(self, path: Path, compare: bool) -> bool:
        api = self.api
        content = path.read_bytes()
        checksum = hashlib.sha256(content).hexdigest()
        with api.lock:
            name = path.name.split(".", 1)[0]
            addon = api.get("Addon", "kube-system", name) or api.save(
                api.resource("Addon"),
                {
                    "apiVersion": "k3s.cattle.io/v1",
                    "kind": "Addon",
                    "metadata": {"name": name, "namespace": "kube-system"},
                    "spec": {"source": str(path)},
                },
                manager=self.manager,
            )
            if compare and addon["spec"].get("checksum") == checksum:
                return True
            api.record_event(
                addon, "ApplyingManifest", f'Applying manifest at "{path}"', component="deploy"
            )
            try:
                for item in yaml.safe_load_all(content):
                    if item:
                        self.apply(addon, item)
            except APIError as error:
                api.record_event(
                    addon,
                    "ApplyManifestFailed",
                    f'Applying manifest at "{path}" failed: {error.message}',
                    kind="Warning",
                    component="deploy",
                )
                return False
            api.record_event(
                addon, "AppliedManifest", f'Applied manifest at "{path}"', component="deploy"
            )
            stored = api.get("Addon", "kube-system", name)
            assert stored is not None, "record_event keeps the Addon"
            stored["spec"].update(source=str(path), checksum=checksum)
            api.save(api.resource("Addon"), stored, manager=self.manager)
            api.reconcile()
            return True

    def apply(self, addon: dict, item: dict) -> None:
        """wrangler apply WithOwner(addon): owner annotations, then create or update."""
        api = self.api
        resource = api.resource_of(item)
        metadata = item.setdefault("metadata", {})
        metadata["annotations"] = {
            **(metadata.get("annotations") or {}),
            "objectset.rio.cattle.io/id": "",
            "objectset.rio.cattle.io/owner-gvk": "k3s.cattle.io/v1, Kind=Addon",
            "objectset.rio.cattle.io/owner-name": addon["metadata"]["name"],
            "objectset.rio.cattle.io/owner-namespace": "kube-system",
        }
        namespace = metadata.get("namespace", "default") if resource.namespaced else ""
        stored = api.get(resource.kind, namespace, metadata["name"])
        if stored is None:
            kube_api.create(api, resource, namespace, item, False, self.manager)
        elif _holds(
            {k: v for k, v in item.items() if k not in ("apiVersion", "kind", "status")}, stored
        ):
            # wrangler pkg/apply/desiredset_compare.go applyPatch: an empty ("{}") three-way
            # patch sends nothing, so a forced pass leaves an unchanged object (and its
            # managedFields times) alone. Fields only the previous apply had are not pruned here.
            return
        else:
            # A 3-way apply keeps what others added (helm-controller's managed-by annotation).
            merged = {**stored["metadata"], **metadata}
            for key in ("labels", "annotations"):
                merged[key] = {**(stored["metadata"].get(key) or {}), **(metadata.get(key) or {})}
            kube_api.update(
                api, resource, stored, {**item, "metadata": merged}, "", False, self.manager
            )

    def start(self, period: float = 15) -> DeployController:
        """Scan every ``period`` seconds in a thread (k3s: 15 s) until stop()."""

        def loop():
            while not self.stopped.is_set():
                self.scan()
                self.stopped.wait(period)

        threading.Thread(target=loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopped.set()


def _holds(desired, live) -> bool:
    """Whether ``live`` already has every field and value of ``desired`` (maps may have more
    keys; lists the same length, item by item)."""
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(
            key in live and _holds(value, live[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(_holds(a, b) for a, b in zip(desired, live, strict=True))
        )
    return desired == live


# k3s v1.36.5's packaged Traefik chart, as far as readiness looks at it (k3s manifests/traefik.yaml:
# the chart served by the API server under /static/charts, named PATCH+upUPSTREAM:
# operations/pins.py TRAEFIK_UPSTREAM_CHART_BY_K3S_MINOR); helm-controller installs it from
# the recorded render (data/charts/traefik.json).
K3S_TRAEFIK_CHART = {
    "apiVersion": "helm.cattle.io/v1",
    "kind": "HelmChart",
    "metadata": {"name": "traefik", "namespace": "kube-system"},
    "spec": {
        "chart": "https://%{KUBERNETES_API}%/static/charts/traefik-40.1.5+up40.1.0.tgz",
        "targetNamespace": "kube-system",
    },
}


# -- CloudNativePG's operator (what the appliance's postgres-operator chart runs) -----------------


def cloudnative_pg(api: KubeAPI) -> None:
    """CloudNativePG's operator for each Cluster, as far as the appliance looks: the status it
    writes for a healthy one (upstream-behaviour.md: phase "Cluster in healthy state",
    readyInstances, the image), its first instance's pod NAME-1 (cloudnative-pg
    pkg/specs/pods.go PodWithExistingStorage, commit 016c52a: labels cnpg.io/cluster,
    cnpg.io/instanceName, cnpg.io/podRole=instance; container ``postgres``), Ready, and the
    application Secret NAME-app unless one exists (pkg/specs/secrets.go CreateSecret, commit
    003f8e8: type kubernetes.io/basic-auth, keys username, user, password, dbname, host
    NAME-rw, port 5432, uri; the bootstrap's database and owner). The instance's claim and
    PostgreSQL itself are not made here."""
    for cluster in api.list("Cluster"):
        namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
        spec = cluster.get("spec", {})
        if not cluster.get("status"):
            cluster["status"] = {
                "phase": "Cluster in healthy state",
                "readyInstances": spec.get("instances", 1),
                "image": spec.get("imageName", ""),
            }
            api.save(
                api.resource("Cluster"), cluster, manager="cloudnative-pg", subresource="status"
            )
        instance = f"{name}-1"
        if api.get("Pod", namespace, instance) is None:
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": instance,
                    "namespace": namespace,
                    "labels": {
                        "cnpg.io/cluster": name,
                        "cnpg.io/instanceName": instance,
                        "cnpg.io/podRole": "instance",
                    },
                    "ownerReferences": [owner_reference(cluster)],
                },
                "spec": {"containers": [{"name": "postgres", "image": spec.get("imageName", "")}]},
            }
            pod["status"] = pod_status(api, pod, restarts=0)
            api.save(api.resource("Pod"), pod, manager="cloudnative-pg")
        if api.get("Secret", namespace, f"{name}-app") is None:
            initdb = spec.get("bootstrap", {}).get("initdb", {})
            database, owner = initdb.get("database", "app"), initdb.get("owner", "app")
            password = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:32]
            host = f"{name}-rw"
            values = {
                "username": owner,
                "user": owner,
                "password": password,
                "dbname": database,
                "host": host,
                "port": "5432",
                "uri": f"postgresql://{owner}:{password}@{host}.{namespace}:5432/{database}",
            }
            api.save(
                api.resource("Secret"),
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "type": "kubernetes.io/basic-auth",
                    "metadata": {
                        "name": f"{name}-app",
                        "namespace": namespace,
                        # pkg/utils/labels_annotations.go UserTypeLabelName, WatchedLabelName
                        "labels": {"cnpg.io/userType": "app", "cnpg.io/reload": "true"},
                    },
                    "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
                },
                manager="cloudnative-pg",
            )


def k3s_api(version: str = HELM_CONTROLLER, **fields) -> K3sAPI:
    """A stand-in API server (not started) with Kubernetes' controllers, helm-controller and
    the HelmChart CRD's schema at helm-controller ``version``."""
    return K3sAPI(
        controllers=[*KUBERNETES_CONTROLLERS, helm_controller],
        ticks=[restart_crashed],
        helm_controller=version,
        **fields,
    )


if helm_chart_schema not in VALIDATIONS:
    VALIDATIONS.append(helm_chart_schema)
