#!/bin/sh
# Create a Kubernetes Secret once; a Secret that exists already is left as it is, so values
# stay stable across deploys. Each KEY gets a fresh random value; KEY=VALUE sets a fixed one.
#
#   ensure-secret.sh NAMESPACE NAME TYPE KEY[=VALUE] [KEY[=VALUE]...]
#   ensure-secret.sh llm open-webui-secrets Opaque secret-key admin-password
#
# Values are made here, on the host, and live only in this shell and in kubectl's standard
# input: never on a command line, in a file, or in the output. Installed by llm-appliance.
set -eu
namespace=$1 name=$2 type=$3
shift 3
kubectl() { /usr/local/bin/k3s kubectl "$@"; }

kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace" >/dev/null
kubectl --namespace "$namespace" get secret "$name" >/dev/null 2>&1 && exit 0
{
    printf 'apiVersion: v1\nkind: Secret\ntype: %s\nmetadata:\n' "$type"
    printf '  name: %s\n  namespace: %s\n' "$name" "$namespace"
    printf '  labels:\n    app.kubernetes.io/managed-by: llm-appliance\nstringData:\n'
    for key in "$@"; do
        case $key in
            *=*) value=${key#*=} key=${key%%=*} ;;
            *) value=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32) ;;
        esac
        printf '  %s: "%s"\n' "$key" "$value"
    done
} | kubectl create --filename - >/dev/null
echo "created secret $namespace/$name"
