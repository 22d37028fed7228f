#!/usr/bin/python3
"""A stand-in for `k3s kubectl`, installed as /usr/local/bin/k3s on a rehearsal host where k3s
cannot be downloaded. It keeps namespaces and Secrets as files under /var/lib/standin-k3s
(mode 0700) and logs every command line it is given to argv.log, so that tests can prove what
reaches kubectl's command line (never a secret value) and what reaches its standard input.

It implements only what the appliance's secret handling calls:
  kubectl get namespace NS | create namespace NS
  kubectl --namespace NS get secret NAME [--output jsonpath={.data.KEY}]
  kubectl get secrets --namespace NS --output name
  kubectl create --filename -        (a Secret as YAML on standard input)
"""

import base64
import json
import os
import sys

STATE = "/var/lib/standin-k3s"


def main(argv):
    os.makedirs(STATE, mode=0o700, exist_ok=True)
    with open(f"{STATE}/argv.log", "a") as log:
        log.write(json.dumps(argv) + "\n")
    if argv[:1] != ["kubectl"]:
        return 1
    args, options = [], {}
    tokens = iter(argv[1:])
    for token in tokens:
        if token.startswith("--") and token not in ("--filename",):
            name, _, value = token[2:].partition("=")
            options[name] = value or next(tokens)
        else:
            args.append(token)
    namespace, output = options.get("namespace"), options.get("output")
    if args[:2] == ["get", "namespace"]:
        return 0 if os.path.isdir(f"{STATE}/{args[2]}") else 1
    if args[:2] == ["create", "namespace"]:
        os.makedirs(f"{STATE}/{args[2]}", mode=0o700)
        return 0
    if args[:2] == ["get", "secret"]:
        path = f"{STATE}/{namespace}/{args[2]}.json"
        if not os.path.exists(path):
            return 1
        if output and output.startswith("jsonpath={.data."):
            key = output[len("jsonpath={.data."):-1]
            value = json.load(open(path))[key]
            sys.stdout.write(base64.b64encode(value.encode()).decode())
        return 0
    if args[:2] == ["get", "secrets"]:
        folder = f"{STATE}/{namespace}"
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            print(f"secret/{name[:-5]}")
        return 0
    if args[:2] == ["create", "--filename"] and args[2] == "-":
        secret = parse_secret(sys.stdin.read())
        path = f"{STATE}/{secret['namespace']}/{secret['name']}.json"
        if os.path.exists(path):
            return 1
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stored:
            json.dump(secret["data"], stored)
        return 0
    return 2


def parse_secret(text):
    """The few lines ensure-secret.sh writes: metadata name/namespace and stringData."""
    secret, section = {"data": {}}, None
    for line in text.splitlines():
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
