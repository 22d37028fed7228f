#!/bin/sh
# Create a Kubernetes Secret with a fresh random value for each KEY, once; a Secret that
# exists already is left as it is, so values stay stable across deploys.
#
#   ensure-secret.sh NAMESPACE NAME KEY [KEY...]
#
# Values are made here, on the host, and live only in this shell and in kubectl's standard
# input: never on a command line, in a file, or in the output. Installed by llm-appliance.
set -eu
namespace=$1 name=$2
shift 2
kubectl() { /usr/local/bin/k3s kubectl "$@"; }

kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace" >/dev/null
kubectl --namespace "$namespace" get secret "$name" >/dev/null 2>&1 && exit 0
{
    printf 'apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata:\n'
    printf '  name: %s\n  namespace: %s\n' "$name" "$namespace"
    printf '  labels:\n    app.kubernetes.io/managed-by: llm-appliance\nstringData:\n'
    for key in "$@"; do
        value=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)
        printf '  %s: "%s"\n' "$key" "$value"
    done
} | kubectl create --filename - >/dev/null
echo "created secret $namespace/$name"
