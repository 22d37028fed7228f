"""Offline validation of the manifests the appliance writes into k3s's manifests folder.

Kubernetes kinds are validated by `kubernetes-validate` (it bundles the API schemas).
helm-controller's kinds (HelmChart, HelmChartConfig) are validated against the spec schema of
helm-controller v0.17.7, the version k3s v1.36 ships: the fields below, their types and enums,
are those of its generated CRDs (pkg/crds/yaml/generated/helm.cattle.io_*.yaml), read there.
CloudNativePG's Cluster is checked against the names and types of its CRD at operator 1.30
(chart 0.29.0). The API server prunes unknown fields of a structural schema silently, so an
unknown field is a bug here (additionalProperties: false).
"""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.36"

_OBJECT = {"type": "object"}
_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean"}
_NAME_REF = {"type": "object", "properties": {"name": _STRING}, "additionalProperties": False}
_VALUES_SECRETS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "name": _STRING,
            "keys": {"type": "array", "items": _STRING},
            "ignoreUpdates": _BOOLEAN,
        },
        "additionalProperties": False,
    },
}
_FAILURE_POLICY = {"type": "string", "enum": ["abort", "reinstall", "retry"]}
_SERVER_SIDE = {"type": "string", "enum": ["true", "false", "auto"]}

HELM_CHART_CONFIG_SPEC = {
    "type": "object",
    "properties": {
        "failurePolicy": _FAILURE_POLICY,
        "forceConflicts": _BOOLEAN,
        "serverSide": _SERVER_SIDE,
        "values": {},
        "valuesContent": _STRING,
        "valuesSecrets": _VALUES_SECRETS,
    },
    "additionalProperties": False,
}
HELM_CHART_SPEC = {
    "type": "object",
    "properties": {
        "authPassCredentials": _BOOLEAN,
        "authSecret": _NAME_REF,
        "backOffLimit": {"type": "integer"},
        "bootstrap": _BOOLEAN,
        "chart": _STRING,
        "chartContent": _STRING,
        "createNamespace": _BOOLEAN,
        "dockerRegistrySecret": _NAME_REF,
        "driver": {"type": "string", "enum": ["secret", "configmap"]},
        "failurePolicy": _FAILURE_POLICY,
        "forceConflicts": _BOOLEAN,
        "helmVersion": _STRING,
        "insecureSkipTLSVerify": _BOOLEAN,
        "jobImage": _STRING,
        "plainHTTP": _BOOLEAN,
        "podSecurityContext": _OBJECT,
        "repo": _STRING,
        "repoCA": _STRING,
        "repoCAConfigMap": _NAME_REF,
        "securityContext": _OBJECT,
        "serverSide": _SERVER_SIDE,
        "set": {"type": "object", "additionalProperties": {"type": ["integer", "string"]}},
        "takeOwnership": _BOOLEAN,
        "targetNamespace": _STRING,
        "timeout": _STRING,
        "values": {},
        "valuesContent": _STRING,
        "valuesSecrets": _VALUES_SECRETS,
        "version": _STRING,
    },
    "additionalProperties": False,
}
_METADATA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "labels": {"type": "object", "additionalProperties": _STRING},
        "annotations": {"type": "object", "additionalProperties": _STRING},
    },
    "required": ["name", "namespace"],
    "additionalProperties": False,
}
# CloudNativePG 1.30 (chart 0.29.0, templates/crds/crds.yaml): every property of a Cluster's
# spec by name, with the types of those the appliance sets; `instances` is the one required.
_CLUSTER_SPEC_NAMES = (
    "affinity backup bootstrap certificates description enablePDB enableSuperuserAccess env "
    "envFrom ephemeralVolumeSource ephemeralVolumesSizeLimit externalClusters failoverDelay "
    "imageCatalogRef imageName imagePullPolicy imagePullSecrets inheritedMetadata instances "
    "livenessProbeTimeout logLevel managed maxSyncReplicas minSyncReplicas monitoring "
    "nodeMaintenanceWindow plugins podSecurityContext podSelectorRefs postgresGID postgresUID "
    "postgresql primaryLease primaryUpdateMethod primaryUpdateStrategy priorityClassName probes "
    "projectedVolumeTemplate replica replicationSlots resources schedulerName seccompProfile "
    "securityContext serviceAccountName serviceAccountTemplate smartShutdownTimeout startDelay "
    "stopDelay storage superuserSecret switchoverDelay tablespaces topologySpreadConstraints "
    "walStorage"
).split()
_RESOURCES = {
    "type": "object",
    "properties": {
        "requests": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
        "limits": {"type": "object", "additionalProperties": {"type": ["string", "integer"]}},
    },
    "additionalProperties": False,
}
CLUSTER_SPEC = {
    "type": "object",
    "properties": {
        **{name: {} for name in _CLUSTER_SPEC_NAMES},
        "instances": {"type": "integer", "minimum": 1},
        "imageName": {"type": "string", "pattern": r"^[^:@]+:\d[^@]*$"},
        "enableSuperuserAccess": _BOOLEAN,
        "storage": {
            "type": "object",
            "properties": {
                "size": _STRING,
                "storageClass": _STRING,
                "resizeInUseVolumes": _BOOLEAN,
            },
            "additionalProperties": False,
        },
        "resources": _RESOURCES,
        "postgresql": {
            "type": "object",
            "properties": {"parameters": {"type": "object", "additionalProperties": _STRING}},
        },
        "bootstrap": {
            "type": "object",
            "properties": {
                "initdb": {
                    "type": "object",
                    "properties": {
                        "database": _STRING,
                        "owner": _STRING,
                        "secret": _NAME_REF,
                        "postInitApplicationSQL": {"type": "array", "items": _STRING},
                        "postInitSQL": {"type": "array", "items": _STRING},
                        "postInitTemplateSQL": {"type": "array", "items": _STRING},
                        "dataChecksums": _BOOLEAN,
                        "encoding": _STRING,
                    },
                    "additionalProperties": False,
                    # The operator's webhook: database and owner go together.
                    "dependentRequired": {"database": ["owner"], "owner": ["database"]},
                }
            },
        },
    },
    "required": ["instances"],
    "additionalProperties": False,
}


# Traefik v3's Middleware (traefik.io/v1alpha1): one key per kind of middleware; the fields of
# basicAuth, headers and rateLimit that the appliance sets as the CRD names and types them
# (traefik v3.7.9 docs/content/reference/dynamic-configuration/traefik.io_middlewares.yaml;
# rateLimit's period is int-or-string).
_MIDDLEWARE_KINDS = (
    "addPrefix basicAuth buffering chain circuitBreaker compress contentType digestAuth errors "
    "forwardAuth grpcWeb headers inFlightReq ipAllowList ipWhiteList passTLSClientCert plugin "
    "rateLimit redirectRegex redirectScheme replacePath replacePathRegex retry stripPrefix "
    "stripPrefixRegex"
).split()
MIDDLEWARE_SPEC = {
    "type": "object",
    "properties": {
        **{name: _OBJECT for name in _MIDDLEWARE_KINDS},
        "basicAuth": {
            "type": "object",
            "properties": {
                "secret": _STRING,
                "realm": _STRING,
                "removeHeader": _BOOLEAN,
                "headerField": _STRING,
            },
            "required": ["secret"],
            "additionalProperties": False,
        },
        "headers": {
            "type": "object",
            "properties": {
                "contentTypeNosniff": _BOOLEAN,
                "customFrameOptionsValue": _STRING,
                "contentSecurityPolicy": _STRING,
                "referrerPolicy": _STRING,
                "stsSeconds": {"type": "integer", "minimum": 0},
            },
            "additionalProperties": False,
        },
        "rateLimit": {
            "type": "object",
            "properties": {
                "average": {"type": "integer"},
                "burst": {"type": "integer"},
                "period": {"anyOf": [{"type": "integer"}, _STRING]},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}


def _custom_resource(spec: dict) -> dict:
    return {
        "type": "object",
        "properties": {"apiVersion": _STRING, "kind": _STRING, "metadata": _METADATA, "spec": spec},
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
    }


CRD_SCHEMAS = {
    ("helm.cattle.io/v1", "HelmChartConfig"): _custom_resource(HELM_CHART_CONFIG_SPEC),
    ("helm.cattle.io/v1", "HelmChart"): _custom_resource(HELM_CHART_SPEC),
    ("postgresql.cnpg.io/v1", "Cluster"): _custom_resource(CLUSTER_SPEC),
    ("traefik.io/v1alpha1", "Middleware"): _custom_resource(MIDDLEWARE_SPEC),
}


def validate_manifest(text: str) -> list[dict]:
    """Validate every document of a manifest file; returns them. Raises on the first error."""
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    for document in documents:
        key = (document.get("apiVersion"), document.get("kind"))
        if key in CRD_SCHEMAS:
            jsonschema.validate(document, CRD_SCHEMAS[key], cls=jsonschema.Draft202012Validator)
            yaml.safe_load(document["spec"].get("valuesContent") or "{}")
        else:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    return documents


def leaf_paths(values: dict, prefix: str = ""):
    """Dotted paths of a chart values tree's leaves (an empty map is a leaf)."""
    for key, value in values.items():
        if isinstance(value, dict) and value:
            yield from leaf_paths(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def unknown_value_paths(values: dict, known: set[str], free_form: tuple[str, ...]) -> list[str]:
    """Leaf paths a chart does not read: neither known nor under a map it passes on as is."""
    return [
        path for path in leaf_paths(values) if path not in known and not path.startswith(free_form)
    ]
