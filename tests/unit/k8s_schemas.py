"""Offline validation of the manifests the appliance writes into k3s's manifests folder.

Kubernetes kinds are validated by `kubernetes-validate` (it bundles the API schemas).
helm-controller's kinds (HelmChart, HelmChartConfig) are validated against the spec schema of
helm-controller v0.17.7, the version k3s v1.36 ships: the fields below, their types and enums,
are those of its generated CRDs (pkg/crds/yaml/generated/helm.cattle.io_*.yaml), read there.
The API server prunes unknown fields of a structural schema silently, so an unknown field is
a bug here (additionalProperties: false).
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
        "properties": {"name": _STRING, "keys": {"type": "array", "items": _STRING},
                       "ignoreUpdates": _BOOLEAN},
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
CRD_SCHEMAS = {
    ("helm.cattle.io/v1", kind): {
        "type": "object",
        "properties": {"apiVersion": _STRING, "kind": _STRING, "metadata": _METADATA, "spec": spec},
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
    }
    for kind, spec in (("HelmChartConfig", HELM_CHART_CONFIG_SPEC), ("HelmChart", HELM_CHART_SPEC))
}


def validate_manifest(text: str) -> list[dict]:
    """Validate every document of a manifest file; returns them. Raises on the first error."""
    documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    for document in documents:
        key = (document.get("apiVersion"), document.get("kind"))
        if key in CRD_SCHEMAS:
            jsonschema.validate(document, CRD_SCHEMAS[key])
            yaml.safe_load(document["spec"].get("valuesContent") or "{}")
        else:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    return documents
