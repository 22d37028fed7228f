#!/bin/sh
# Make a Kubernetes Secret from files on this host, or replace it with their content: a TLS
# Secret (tls.crt, tls.key) from a certificate and its key, or an Opaque one from an env file
# (KEY=VALUE lines). Waits up to 5 minutes for the API server (k3s may have just started).
#
#   put-secret.sh NAMESPACE NAME tls CERTIFICATE_FILE KEY_FILE
#   put-secret.sh kube-system llm-appliance-acme-dns env /etc/llm-appliance/traefik/acme-dns.env
#
# The values go from the files to kubectl's standard input and the API server: never on a
# command line or in the output. Replaced, not applied: `kubectl apply` would copy them into
# the kubectl.kubernetes.io/last-applied-configuration annotation, a second copy outside the
# Secret's data that `kubectl get -o yaml` and `kubectl apply view-last-applied` print
# (`kubectl describe` skips that annotation: kubectl v0.36.3 pkg/describe/describe.go
# skipAnnotations). Installed by llm-appliance.
set -eu
namespace=$1 name=$2 kind=$3
shift 3
kubectl() { /usr/local/bin/k3s kubectl "$@"; }

tries=0
until kubectl get namespace "$namespace" >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 150 ]; then
        echo "put-secret.sh: the Kubernetes API did not answer (or has no namespace $namespace) within 5 minutes" >&2
        exit 1
    fi
    sleep 2
done
case $kind in
    tls) made="secret tls $name --cert=$1 --key=$2" ;;
    env) made="secret generic $name --from-env-file=$1" ;;
    *) echo "put-secret.sh: unknown kind $kind (tls or env)" >&2; exit 2 ;;
esac
verb=create
kubectl --namespace "$namespace" get secret "$name" >/dev/null 2>&1 && verb=replace
# shellcheck disable=SC2086 # $made is words: the paths are the appliance's, without spaces
kubectl --namespace "$namespace" create $made --dry-run=client --output yaml \
    | kubectl "$verb" --filename -
