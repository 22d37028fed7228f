"""Traefik as k3s packages it, configured by the appliance: its chart values (HTTP to HTTPS,
Let's Encrypt, the pinned image, the operator's certificate) as the k3s layer's HelmChartConfig,
the arguments those values make Traefik run with, and the Secrets Traefik reads, put from the
operator's files.

    traefik_arguments(settings)[0]  # '--entryPoints.web.http.redirections.entryPoint.to=:443'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import Sha1File

from operations.components import TRAEFIK
from operations.fact_batch import read_fact
from operations.names import ACME_DNS_SECRET, PUT_SECRET, TLS_SECRET, TRAEFIK_SECRETS_DIR
from operations.pins import PINNED_VERSIONS
from operations.rendering import FAILURE_POLICY, private_upload, to_yaml
from operations.settings import Settings

ACME_CA_SERVERS = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
ACME_STORAGE = "/data/acme.json"
# The Traefik version the upstream chart's templates are told (`versionOverride`, values.yaml:
# "overrides the default version extracted from image.tag"), by upstream chart. Its
# templates/requirements.yaml refuses an image tag above Chart.yaml's
# `traefik.io/proxy-max-version` (v40.1.0: v3.7.1, so the pinned image failed to install), and
# every version gate of v40.1.0's templates is at a minor or below (`<v3.7.0-0` ...): v3.7.15
# renders exactly as v3.7.1 does. Read in traefik/traefik-helm-chart at tag v40.1.0
# (traefik/Chart.yaml, templates/requirements.yaml, templates/_helpers.tpl
# traefik.proxyVersion). Chart 41.4.0 (k3s v1.37) could not be read: it gets no override, and
# its own check judges the tag (41.3.0 allows up to v3.7.11 and gates at v3.7.3, v3.7.6 and
# v3.7.11, so no override could stand for it unread).
TRAEFIK_VERSION_OVERRIDE = {"40.1.0": "v3.7.1"}


def traefik_values(settings: Settings) -> dict:
    """Values for k3s's packaged Traefik chart, in the layout of charts 40 and 41."""
    websecure_tls: dict[str, Any] = {"enabled": True}
    repository, tag = PINNED_VERSIONS["traefik image"].rsplit(":", 1)
    values: dict[str, Any] = {
        # `image.repository` and `image.tag` of the upstream charts' values.yaml (v40.1.0,
        # v41.3.0). k3s's packages of the chart drop `image.registry` and render the image as
        # "[global.systemDefaultRegistry/]repository:tag" (k3s-io/k3s-charts
        # packages/traefik/generated-changes/patch/templates/_helpers.tpl.patch and
        # _podtemplate.tpl.patch, the package of chart 39.0.7, the newest in its stored
        # snapshot). They win over the tag k3s's own traefik.yaml sets: the install Job gets
        # the HelmChart's values as values-0-000-HelmChart-ValuesContent.yaml and this
        # HelmChartConfig's after them, values-1-000-... (helm-controller v0.17.7
        # pkg/controllers/chart/chart.go).
        "image": {"repository": repository, "tag": tag},
        **(
            {"versionOverride": TRAEFIK_VERSION_OVERRIDE[settings.traefik_upstream_chart]}
            if settings.traefik_upstream_chart in TRAEFIK_VERSION_OVERRIDE
            else {}
        ),
        "ports": {
            "web": {
                "http": {
                    "redirections": {
                        "entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}
                    }
                }
            },
            "websecure": {"http": {"tls": websecure_tls}},
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"memory": "192Mi"},
        },
    }
    if settings.tls_certificate:
        # The operator's certificate as the default certificate of Traefik's default TLS store,
        # served for every name no other certificate matches (so for webui_domain and
        # monitor_domain, whose routers name no resolver then). Chart v40.1.0
        # templates/tlsstore.yaml makes a TLSStore of each `tlsStore` entry in the release's
        # namespace, its value the spec; traefik v3.7.9 pkg/provider/kubernetes/crd/kubernetes.go
        # buildTLSStores reads a TLSStore named `default`'s defaultCertificate from the Secret
        # of that name in the TLSStore's namespace (tls.crt, tls.key).
        values["tlsStore"] = {"default": {"defaultCertificate": {"secretName": TLS_SECRET}}}
    if settings.acme_ca != "none":
        websecure_tls["certResolver"] = "letsencrypt"
        values["certificatesResolvers"] = {
            "letsencrypt": {
                "acme": {
                    "email": settings.acme_email,
                    "caServer": ACME_CA_SERVERS[settings.acme_ca],
                    "storage": ACME_STORAGE,
                    **acme_challenge(settings),
                }
            }
        }
        if settings.acme_dns_credentials_file:
            # The DNS provider's credentials reach Traefik as environment variables, from the
            # Secret (chart v40.1.0 `envFrom`, the container's envFrom as given), which lego's
            # providers read (go-acme/lego v5.2.2 platform/env).
            values["envFrom"] = [{"secretRef": {"name": ACME_DNS_SECRET}}]
        # acme.json (certificates and the account key) survives restarts; Traefik creates it
        # with mode 0600. One replica owns the ReadWriteOnce volume: replace, never overlap.
        values["persistence"] = {"enabled": True, "size": "128Mi", "path": "/data"}
        values["updateStrategy"] = {"type": "Recreate"}
        values["deployment"] = {"replicas": 1}
    return values


def acme_challenge(settings: Settings) -> dict:
    """The ACME resolver's challenge: DNS-01 through ``acme_dns_provider`` (a lego provider
    name, traefik v3.7.9 pkg/provider/acme/provider.go DNSChallenge.Provider), else HTTP-01 on
    the web entry point."""
    if settings.acme_dns_provider:
        return {"dnsChallenge": {"provider": settings.acme_dns_provider}}
    return {"httpChallenge": {"entryPoint": "web"}}


def traefik_arguments(settings: Settings) -> list[str]:
    """The Traefik arguments the chart renders from `traefik_values` (its _podtemplate.tpl):
    what a deployed Traefik must run with. Checked by tests/host on real hosts."""
    arguments = [
        "--entryPoints.web.http.redirections.entryPoint.to=:443",
        "--entryPoints.web.http.redirections.entryPoint.scheme=https",
        "--entryPoints.web.http.redirections.entryPoint.permanent=true",
        "--entryPoints.websecure.http.tls=true",
    ]
    if settings.acme_ca != "none":
        arguments += [
            "--entryPoints.websecure.http.tls.certResolver=letsencrypt",
            f"--certificatesresolvers.letsencrypt.acme.caServer={ACME_CA_SERVERS[settings.acme_ca]}",
            f"--certificatesresolvers.letsencrypt.acme.email={settings.acme_email}",
            *(
                f"--certificatesresolvers.letsencrypt.acme.{challenge}.{key}={value}"
                for challenge, options in acme_challenge(settings).items()
                for key, value in options.items()
            ),
            f"--certificatesresolvers.letsencrypt.acme.storage={ACME_STORAGE}",
        ]
    return arguments


@dataclass(frozen=True)
class TraefikSecret:
    """A Secret Traefik reads, made from files on the operator's machine by files/put-secret.sh
    (``kind``: its tls or env): ``files`` pairs each file's copy on the host (in
    TRAEFIK_SECRETS_DIR, root's only) with its path here, in put-secret.sh's order."""

    name: str
    kind: str
    files: tuple[tuple[str, str], ...]


def traefik_secrets(settings: Settings) -> list[TraefikSecret]:
    """The Secrets the settings give Traefik: the certificate and key of tls_certificate, the
    DNS provider's credentials of acme_dns_credentials_file; none by default."""
    secrets = []
    if settings.tls_certificate and settings.tls_key:  # settings.load refuses one alone
        secrets.append(
            TraefikSecret(
                TLS_SECRET,
                "tls",
                (
                    (f"{TRAEFIK_SECRETS_DIR}/tls.crt", settings.tls_certificate),
                    (f"{TRAEFIK_SECRETS_DIR}/tls.key", settings.tls_key),
                ),
            )
        )
    if settings.acme_dns_credentials_file:
        secrets.append(
            TraefikSecret(
                ACME_DNS_SECRET,
                "env",
                ((f"{TRAEFIK_SECRETS_DIR}/acme-dns.env", settings.acme_dns_credentials_file),),
            )
        )
    return secrets


@operation()
def traefik_secret(secret: TraefikSecret, present: bool):
    """
    Put a Secret Traefik reads: each file whose copy on the host differs is uploaded, root's
    only (rendering.private_upload), then files/put-secret.sh makes or replaces the Secret
    from the copies. The values are never on a command line or in the output. Nothing when
    every copy equals its file and the Secret is there (``present``: the plan-time read).

    .. code:: python

        traefik_secret(secret=traefik_secrets(settings)[0], present=False)
    """
    changed = [
        (remote, local)
        for remote, local in secret.files
        if read_fact(host, Sha1File, path=remote)
        != hashlib.sha1(Path(local).read_bytes()).hexdigest()
    ]
    if present and not changed:
        host.noop(f"the Secret {secret.name} is there, made from the files as they are")
        return
    for remote, local in changed:
        yield from private_upload(Path(local).read_bytes(), remote)
    yield " ".join(
        [
            PUT_SECRET,
            TRAEFIK.namespace,
            secret.name,
            secret.kind,
            *(remote for remote, _ in secret.files),
        ]
    )


def traefik_config(settings: Settings) -> dict:
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {"name": "traefik", "namespace": "kube-system"},
        "spec": {
            # What k3s's manifests/traefik.yaml sets for its Traefik charts since
            # k3s-io/k3s#14442 (release-1.36, July 2026), said again here so that this file
            # never falls back to helm-controller's default, reinstall (an uninstall first).
            "failurePolicy": FAILURE_POLICY,
            "valuesContent": to_yaml(traefik_values(settings)),
        },
    }
