#!/usr/bin/python3
"""A stand-in for `k3s kubectl`, installed as /usr/local/bin/k3s on a rehearsal host where k3s
cannot be downloaded. It logs every command line it is given to argv.log, so that tests can
prove what reaches kubectl's command line (never a secret value) and count the invocations, and
answers from files under /var/lib/standin-k3s (mode 0700):

  objects.json               the cluster's objects, as a kubectl List (a test writes it)
  NS/NAME.json               Secrets made through `create --filename -` (ensure-secret.sh)
  logs/NS/KIND/NAME          what `kubectl logs KIND/NAME` prints
  exec/NS/KIND/NAME/COMMAND  what `kubectl exec KIND/NAME -- COMMAND` prints
  version                    what `k3s --version` prints
  /var/lib/rancher/k3s/server/manifests   an Addon per file, as k3s records one it applied

Besides kubectl, as k3s does: `k3s secrets-encrypt status` (Enabled when the k3s config,
/etc/rancher/k3s/config.yaml, says `secrets-encryption: true`) and `k3s server`, which stands
in for Traefik: port 80 redirects to HTTPS when the served Traefik Deployment runs with the
redirect arguments; port 443 (a self-signed certificate, as Traefik's default) routes each
request by the served Ingresses, asks for credentials when a router's basicAuth Middleware is
served, and answers 200 when the backend Service is served, 404 otherwise.

It implements what the appliance and its shipped checks call:
  kubectl get namespace NS | create namespace NS
  kubectl get KIND[,KIND...] [NAME] [-n NS | -A] [-l KEY=VALUE | -l KEY] [-o json | name |
      jsonpath=TEMPLATE | custom-columns=SPEC] [--no-headers]
  kubectl create --filename -        (a Secret as YAML on standard input)
  kubectl logs KIND/NAME [-n NS] [--tail N]
  kubectl exec KIND/NAME [-n NS] -- COMMAND...
  kubectl delete KIND NAME... [-n NS] [--ignore-not-found] [--wait=false]   (Nodes,
      PersistentVolumes, their claims and Pods leave objects.json; other kinds stay, as their
      controllers would make them again at once)
  kubectl scale KIND/NAME [-n NS] --replicas=N   (the object must be served: kubectl's NotFound
      otherwise; its replicas stay as served)
  kubectl wait --for=delete ...               (nothing to do here)
  kubectl apply --filename FILE               (a Job, kept under jobs/NS/NAME.json)
  kubectl wait --for=condition=complete job/NAME [-n NS]   runs that Job's container here, as
      its kubelet would: its command, its environment (Secret keys from the stand-in's Secrets),
      its volumes bind-mounted at their mount paths (a ConfigMap of objects.json; a claim at the
      host folder volumes/NS/CLAIM names; a hostPath); its output is the Job's log

JSONPath as kubectl's: literal text, {"string"}, {.a.b[0]}, {.items[*].x}, {@},
{range ...}{end} and filters {.items[?(@.kind=="Secret")]} with == and !=.
"""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile

STATE = os.environ.get("STANDIN_K3S_STATE", "/var/lib/standin-k3s")
K3S_CONFIG = "/etc/rancher/k3s/config.yaml"
MANIFESTS = "/var/lib/rancher/k3s/server/manifests"
REDIRECT_ARGUMENTS = ("--entryPoints.web.http.redirections.entryPoint.to=:443",
                      "--entryPoints.web.http.redirections.entryPoint.scheme=https")

# Resource names kubectl accepts (plural, singular, short) -> (kind, apiVersion, namespaced).
KINDS = {}
for names, kind, api_version, namespaced in (
    (("nodes", "node", "no"), "Node", "v1", False),
    (("namespaces", "namespace", "ns"), "Namespace", "v1", False),
    (("pods", "pod", "po"), "Pod", "v1", True),
    (("services", "service", "svc"), "Service", "v1", True),
    (("secrets", "secret"), "Secret", "v1", True),
    (("configmaps", "configmap", "cm"), "ConfigMap", "v1", True),
    (("events", "event", "ev"), "Event", "v1", True),
    (("persistentvolumeclaims", "persistentvolumeclaim", "pvc"), "PersistentVolumeClaim", "v1",
     True),
    (("persistentvolumes", "persistentvolume", "pv"), "PersistentVolume", "v1", False),
    (("addons", "addon"), "Addon", "k3s.cattle.io/v1", True),
    (("deployments", "deployment", "deploy"), "Deployment", "apps/v1", True),
    (("statefulsets", "statefulset", "sts"), "StatefulSet", "apps/v1", True),
    (("daemonsets", "daemonset", "ds"), "DaemonSet", "apps/v1", True),
    (("jobs", "job"), "Job", "batch/v1", True),
    (("cronjobs", "cronjob", "cj"), "CronJob", "batch/v1", True),
    (("ingresses", "ingress", "ing"), "Ingress", "networking.k8s.io/v1", True),
    (("networkpolicies", "networkpolicy", "netpol"), "NetworkPolicy", "networking.k8s.io/v1",
     True),
    (("helmcharts", "helmchart"), "HelmChart", "helm.cattle.io/v1", True),
    (("helmchartconfigs", "helmchartconfig"), "HelmChartConfig", "helm.cattle.io/v1", True),
    (("clusters", "cluster"), "Cluster", "postgresql.cnpg.io/v1", True),
    (("middlewares", "middleware"), "Middleware", "traefik.io/v1alpha1", True),
):
    for name in names:
        KINDS[name] = (kind, api_version, namespaced)


class Failure(Exception):
    """kubectl's error: printed on standard error, exit status 1."""


def main(argv):
    os.makedirs(STATE, mode=0o700, exist_ok=True)
    with open(f"{STATE}/argv.log", "a") as log:
        log.write(json.dumps(argv) + "\n")
    if argv == ["--version"]:
        sys.stdout.write(read_file("version"))
        return 0
    if argv == ["secrets-encrypt", "status"]:
        with open(K3S_CONFIG) as config:
            enabled = "secrets-encryption: true" in config.read().splitlines()
        print(f"Encryption Status: {'Enabled' if enabled else 'Disabled'}")
        return 0
    if argv == ["server"]:
        return serve_traefik()
    if argv[:1] != ["kubectl"]:
        return 1
    try:
        return kubectl(argv[1:])
    except Failure as error:
        sys.stderr.write(f"{error}\n")
        return 1


def kubectl(argv):
    args, options, command = [], {}, []
    tokens = iter(argv)
    for token in tokens:
        if token == "--":
            command = list(tokens)
        elif token in ("-A", "--all-namespaces"):
            options["all-namespaces"] = True
        elif token in ("--no-headers", "--ignore-not-found"):
            options[token[2:]] = True
        elif token.startswith("-") and token not in ("--filename", "-"):
            name, _, value = token.lstrip("-").partition("=")
            name = {"n": "namespace", "o": "output", "l": "selector"}.get(name, name)
            options[name] = value or next(tokens)
        else:
            args.append(token)
    namespace = options.get("namespace", "default")
    if args[:2] == ["get", "namespace"] and len(args) == 3:
        return 0 if os.path.isdir(f"{STATE}/{args[2]}") else 1
    if args[:2] == ["create", "namespace"]:
        os.makedirs(f"{STATE}/{args[2]}", mode=0o700)
        return 0
    if args[:2] == ["create", "--filename"] and args[2] == "-":
        return create_secret(sys.stdin.read())
    if args[:1] == ["get"] and len(args) in (2, 3):
        found = select(args[1], args[2] if len(args) == 3 else None, namespace,
                       options.get("all-namespaces"), options.get("selector"))
        sys.stdout.write(printed(found, len(args) == 3, options))
        return 0
    if args[:1] == ["logs"] and len(args) == 2:
        lines = read_file(f"logs/{namespace}/{args[1]}").splitlines(keepends=True)
        sys.stdout.write("".join(lines[-int(options.get("tail", len(lines) or 1)):]))
        return 0
    if args[:1] == ["exec"] and len(args) == 2 and command:
        sys.stdout.write(read_file(f"exec/{namespace}/{args[1]}/{' '.join(command)}"))
        return 0
    if args[:1] == ["delete"] and len(args) >= 3:
        return delete(args[1], args[2:], namespace)
    if args[:1] == ["scale"] and len(args) == 2 and "/" in args[1]:
        return scale(*args[1].split("/"), namespace)
    if args[:1] == ["wait"] and options.get("for") == "delete":
        return 0
    if args[:2] == ["apply", "--filename"] and len(args) == 3:
        return keep_job(args[2])
    if args[:1] == ["wait"] and options.get("for") == "condition=complete" and len(args) == 2:
        return run_job(namespace, args[1].removeprefix("job/"))
    return 2


def scale(resource, name, namespace):
    """`kubectl scale KIND/NAME`: kubectl's NotFound when no such object is served, else what
    kubectl prints (`deployment.apps/NAME scaled`); the served replicas stay."""
    select(resource, name, namespace, False, None)
    kind, api_version, _ = KINDS[resource]
    group = api_version.rpartition("/")[0]
    print(f"{kind.lower()}{'.' + group if group else ''}/{name} scaled")
    return 0


# Kinds a delete takes out of objects.json; the others' controllers make them again at once.
DELETED_KINDS = ("Node", "PersistentVolume", "PersistentVolumeClaim", "Pod")


def delete(resource, names, namespace):
    kind, _, namespaced = KINDS[resource.split(".")[0]]
    if kind not in DELETED_KINDS:
        return 0
    with open(f"{STATE}/objects.json") as stored:
        listing = json.load(stored)
    listing["items"] = [
        item for item in listing["items"]
        if not (item["kind"] == kind and item["metadata"]["name"] in names
                and (not namespaced or item["metadata"].get("namespace") == namespace))]
    with open(f"{STATE}/objects.json", "w") as stored:
        json.dump(listing, stored)
    return 0


def keep_job(path):
    import yaml

    with open(path) as manifest:
        job = yaml.safe_load(manifest)
    metadata = job["metadata"]
    os.makedirs(f"{STATE}/jobs/{metadata['namespace']}", mode=0o700, exist_ok=True)
    with open(f"{STATE}/jobs/{metadata['namespace']}/{metadata['name']}.json", "w") as stored:
        json.dump(job, stored)
    print(f"job.batch/{metadata['name']} created")
    return 0


def run_job(namespace, name):
    """Run a kept Job's only container here, as its kubelet would (see the docstring)."""
    with open(f"{STATE}/jobs/{namespace}/{name}.json") as stored:
        pod = json.load(stored)["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    environment = {"PATH": "/usr/bin:/bin"}
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        else:
            reference = variable["valueFrom"]["secretKeyRef"]
            with open(f"{STATE}/{namespace}/{reference['name']}.json") as stored:
                environment[variable["name"]] = json.load(stored)[reference["key"]]
    sources = {}
    for volume in pod["volumes"]:
        if "configMap" in volume:
            (config_map,) = [item for item in objects() if item["kind"] == "ConfigMap"
                             and item["metadata"]["name"] == volume["configMap"]["name"]]
            folder = tempfile.mkdtemp()
            for file_name, text in config_map["data"].items():
                with open(f"{folder}/{file_name}", "w") as written:
                    written.write(text)
                os.chmod(f"{folder}/{file_name}", volume["configMap"].get("defaultMode", 0o644))
            sources[volume["name"]] = folder
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            sources[volume["name"]] = read_file(f"volumes/{namespace}/{claim}").strip()
        else:
            os.makedirs(volume["hostPath"]["path"], exist_ok=True)
            sources[volume["name"]] = volume["hostPath"]["path"]
    mounted = []
    try:
        for mount in container["volumeMounts"]:
            os.makedirs(mount["mountPath"], exist_ok=True)
            subprocess.run(["mount", "--bind", sources[mount["name"]], mount["mountPath"]], check=True)
            mounted.append(mount["mountPath"])
        result = subprocess.run(container["command"], env=environment, capture_output=True, text=True)
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", path], check=True)
    os.makedirs(f"{STATE}/logs/{namespace}/job", mode=0o700, exist_ok=True)
    with open(f"{STATE}/logs/{namespace}/job/{name}", "w") as log:
        log.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise Failure(f"error: timed out waiting for the condition on jobs/{name}")
    print(f"job.batch/{name} condition met")
    return 0


def read_file(path):
    try:
        with open(f"{STATE}/{path}") as stored:
            return stored.read()
    except OSError:
        raise Failure(f"Error from server (NotFound): {path} not found") from None


def objects():
    """Every object: objects.json's, with the Secrets the stand-in made (data base64, as the
    API serves them) and an Addon for each manifest in k3s's manifests folder, as k3s's deploy
    controller (pkg/deploy/controller.go) records one once it applied the file: in
    kube-system, named after the file up to its first dot, spec.checksum the file's sha256."""
    import hashlib

    try:
        with open(f"{STATE}/objects.json") as stored:
            found = json.load(stored)["items"]
    except FileNotFoundError:
        found = []
    if os.path.isdir(MANIFESTS):
        for file_name in sorted(os.listdir(MANIFESTS)):
            with open(f"{MANIFESTS}/{file_name}", "rb") as manifest:
                checksum = hashlib.sha256(manifest.read()).hexdigest()
            found.append({"apiVersion": "k3s.cattle.io/v1", "kind": "Addon",
                          "metadata": {"name": file_name.split(".", 1)[0], "namespace": "kube-system"},
                          "spec": {"source": f"{MANIFESTS}/{file_name}", "checksum": checksum}})
    for namespace in sorted(os.listdir(STATE)):
        folder = f"{STATE}/{namespace}"
        if namespace in ("logs", "exec", "jobs", "volumes") or not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            with open(f"{folder}/{name}") as stored:
                data = json.load(stored)
            found.append({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name[:-len(".json")], "namespace": namespace},
                "data": {key: base64.b64encode(value.encode()).decode()
                         for key, value in data.items()},
            })
    return found


def select(resources, name, namespace, all_namespaces, selector):
    kinds = []
    for resource in resources.split(","):
        if resource.split(".")[0] not in KINDS:
            raise Failure(f'error: the server doesn\'t have a resource type "{resource}"')
        kinds.append(KINDS[resource.split(".")[0]])
    # KEY=VALUE selects that value; a bare KEY, any object with that label.
    wanted = dict((pair.split("=", 1) + [None])[:2] for pair in selector.split(",")) if selector else {}
    found = []
    for kind, _, namespaced in kinds:
        for item in objects():
            metadata = item["metadata"]
            if item["kind"] != kind or (name and metadata["name"] != name):
                continue
            if namespaced and not all_namespaces and metadata.get("namespace") != namespace:
                continue
            labels = metadata.get("labels") or {}
            if any(key not in labels if value is None else labels.get(key) != value
                   for key, value in wanted.items()):
                continue
            found.append(item)
    if name and not found:
        raise Failure(f'Error from server (NotFound): {resources} "{name}" not found')
    return found


def printed(found, single, options):
    output = options.get("output", "")
    data = found[0] if single else {
        "apiVersion": "v1", "items": found, "kind": "List", "metadata": {"resourceVersion": ""}}
    if output == "json":
        return json.dumps(data, indent=4, sort_keys=True) + "\n"
    if output == "name":
        return "".join(f"{qualified(item)}/{item['metadata']['name']}\n" for item in found)
    if output.startswith("jsonpath="):
        return jsonpath(output[len("jsonpath="):], data)
    if output.startswith("custom-columns="):
        columns = [column.split(":", 1) for column in output[len("custom-columns="):].split(",")]
        rows = [] if options.get("no-headers") else [[title for title, _ in columns]]
        for item in found:
            rows.append([" ".join(map(text, evaluate(path, item, item))) or "<none>"
                         for _, path in columns])
        return "".join("   ".join(row) + "\n" for row in rows)
    return "".join(f"{item['metadata']['name']}\n" for item in found)


def qualified(item):
    group = item["apiVersion"].rpartition("/")[0]
    return item["kind"].lower() + (f".{group}" if group else "")


# -- JSONPath, as kubectl prints it --------------------------------------------------------------


def jsonpath(template, data):
    template = template.strip("'")
    if "{" not in template:
        template = "{" + template + "}"
    tokens = re.findall(r'\{((?:"(?:[^"\\]|\\.)*"|[^}"])*)\}|([^{]+)', template)
    out, _ = render(tokens, 0, data, data)
    return out


def render(tokens, position, current, root):
    """Print tokens from `position` on with `current` as @; returns (text, position after)."""
    out = []
    while position < len(tokens):
        action, literal = tokens[position]
        position += 1
        action = action.strip()
        if literal:
            out.append(literal)
        elif action == "end":
            return "".join(out), position
        elif action.startswith("range "):
            items = evaluate(action[len("range "):], current, root)
            end = skip(tokens, position)
            for item in items:
                out.append(render(tokens, position, item, root)[0])
            position = end
        elif action.startswith('"'):
            out.append(json.loads(action))
        else:
            out.append(" ".join(map(text, evaluate(action, current, root))))
    return "".join(out), position


def skip(tokens, position):
    """The position after the {end} that closes a {range} starting at `position`."""
    depth = 1
    while depth:
        action = tokens[position][0].strip()
        depth += action.startswith("range ") - (action == "end")
        position += 1
    return position


def evaluate(path, current, root):
    """The values a JSONPath expression selects (missing keys select nothing)."""
    path = path.strip()
    values = [root if path.startswith("$") else current]
    for step in re.findall(r"\[\?\(.*?\)\]|\[[^\]]*\]|\.[^.\[]+", path.lstrip("$@")):
        selected = []
        for value in values:
            if step.startswith("[?("):
                left, operator, right = re.match(r'\[\?\((.+?)(==|!=)(.+)\)\]', step).groups()
                expected = json.loads(right.strip()) if right.strip()[0] in "\"0123456789" else right
                for item in value if isinstance(value, list) else []:
                    got = evaluate(left.strip(), item, root)
                    if (got[:1] == [expected]) == (operator == "=="):
                        selected.append(item)
            elif step == "[*]":
                selected += value if isinstance(value, list) else list(value.values())
            elif step.startswith("["):
                index = int(step[1:-1])
                if isinstance(value, list) and -len(value) <= index < len(value):
                    selected.append(value[index])
            elif isinstance(value, dict) and step[1:] in value:
                selected.append(value[step[1:]])
        values = selected
    return values


def text(value):
    """A value as kubectl prints it: strings bare, maps and lists as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# -- Traefik, from the served objects -----------------------------------------------------------


def route(host, authorization):
    """(status, headers) Traefik answers on websecure for `host`, from the served Ingresses."""
    served = objects()
    for ingress in (item for item in served if item["kind"] == "Ingress"):
        namespace = ingress["metadata"]["namespace"]
        rules = [rule for rule in ingress["spec"].get("rules", []) if rule.get("host") == host]
        if not rules:
            continue
        annotations = ingress["metadata"].get("annotations") or {}
        for reference in filter(None, annotations.get(
                "traefik.ingress.kubernetes.io/router.middlewares", "").split(",")):
            middleware_namespace, _, name = reference.strip().partition("@")[0].partition("-")
            for item in served:
                if (item["kind"] == "Middleware" and item["metadata"]["name"] == name
                        and item["metadata"]["namespace"] == middleware_namespace
                        and "basicAuth" in item["spec"] and not authorization):
                    realm = item["spec"]["basicAuth"].get("realm", "traefik")
                    return 401, {"WWW-Authenticate": f'Basic realm="{realm}"'}
        backend = rules[0]["http"]["paths"][0]["backend"]["service"]["name"]
        if any(item["kind"] == "Service" and item["metadata"]["name"] == backend
               and item["metadata"]["namespace"] == namespace for item in served):
            return 200, {}
    return 404, {}


def serve_traefik():
    import http.server
    import ssl
    import subprocess
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            host = (self.headers.get("Host") or "").split(":")[0]
            if self.server.server_port == 80:
                traefik = [item for item in objects() if item["kind"] == "Deployment"
                           and item["metadata"]["name"] == "traefik"]
                arguments = traefik[0]["spec"]["template"]["spec"]["containers"][0]["args"] if traefik else []
                status, headers = ((308, {"Location": f"https://{host}{self.path}"})
                                   if set(REDIRECT_ARGUMENTS) <= set(arguments) else (404, {}))
            else:
                status, headers = route(host, self.headers.get("Authorization"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    certificate, key = f"{STATE}/traefik.crt", f"{STATE}/traefik.key"
    if not os.path.exists(certificate):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=TRAEFIK DEFAULT CERT", "-keyout", key, "-out", certificate],
                       check=True, capture_output=True)
    web = http.server.ThreadingHTTPServer(("0.0.0.0", 80), Handler)
    websecure = http.server.ThreadingHTTPServer(("0.0.0.0", 443), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    websecure.socket = context.wrap_socket(websecure.socket, server_side=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    websecure.serve_forever()
    return 0


# -- Secrets made by ensure-secret.sh -----------------------------------------------------------


def create_secret(text_in):
    secret = parse_secret(text_in)
    path = f"{STATE}/{secret['namespace']}/{secret['name']}.json"
    if os.path.exists(path):
        return 1
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as stored:
        json.dump(secret["data"], stored)
    return 0


def parse_secret(text_in):
    """The few lines ensure-secret.sh writes: metadata name/namespace and stringData."""
    secret, section = {"data": {}}, None
    for line in text_in.splitlines():
        stripped = line.strip()
        if not line.startswith(" "):
            section = stripped.rstrip(":")
        elif section == "metadata" and stripped.startswith(("name:", "namespace:")):
            key, value = stripped.split(":", 1)
            secret[key] = value.strip()
        elif section == "stringData":
            key, value = stripped.split(":", 1)
            secret["data"][key] = value.strip().strip('"')
    return secret


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
