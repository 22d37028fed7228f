"""Monitoring: Netdata (parent, children, Kubernetes state) behind HTTP basic authentication.

Part of the apps layer. The chart's own Ingress (written for nginx) is off; an Ingress through
Traefik on `monitor_domain` carries TLS from the `letsencrypt` resolver and a basicAuth
Middleware whose credentials are generated on the host (`appliance monitor-password`).
Anonymous statistics and Netdata Cloud claiming are off: the appliance exists for privacy.
Alarms: operations/alarms.py; their routes: operations/alerts.py; their probes:
operations/alert_probes.py.
"""

from __future__ import annotations

from typing import Any

from operations import alert_probes, alerts, middlewares
from operations.components import NETDATA
from operations.names import BASIC_AUTH_SECRET, MONITORING_NAMESPACE
from operations.pins import PINNED_VERSIONS
from operations.settings import Settings

MIDDLEWARE = "netdata-basic-auth"
RESOURCES = {
    # The parent keeps the metrics of every node (dbengine, capped below); the others don't.
    "netdata-parent": {
        "requests": {"cpu": "100m", "memory": "192Mi"},
        "limits": {"memory": "512Mi"},
    },
    "netdata-child": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    "netdata-k8s-state": {
        "requests": {"cpu": "50m", "memory": "96Mi"},
        "limits": {"memory": "192Mi"},
    },
}
# The image reads this file to skip anonymous statistics; mounting it works for every
# component (the DO_NOT_TRACK variable makes the parent, which runs unprivileged, crash).
_OPT_OUT = {"enabled": True, "path": "/etc/netdata/.opt-out-from-anonymous-statistics", "data": ""}
# The chart's parent netdata.conf, with its metrics store capped: two tiers of 256 MiB
# (3 days per second) and 128 MiB (30 days per minute), no machine learning. Netdata v2.11.0
# (the chart's appVersion) takes both sizes as given: it raises only a size below 25 MiB
# (RRDENG_MIN_DISK_SPACE_MB, src/database/engine/rrdengineapi.h; applied in rrdeng_init,
# src/database/engine/rrdengineapi.c, and for tier 0 in src/daemon/config/netdata-conf-db.c).
# A tier's data goes when its size or its time is exceeded, whichever comes first, by whole
# datafiles after the fact (src/database/README.md, "Retention Size Enforcement"): the store can
# briefly exceed 384 MiB, which the parent's 1 GiB volume leaves room for.
PARENT_NETDATA_CONF = """\
[global]
  hostname = {{ .Values.parent.hostname }}
[db]
  mode = dbengine
  storage tiers = 2
  dbengine page cache size = 32MiB
  dbengine tier 0 retention size = 256MiB
  dbengine tier 0 retention time = 3d
  dbengine tier 1 retention size = 128MiB
  dbengine tier 1 retention time = 30d
[ml]
  enabled = no
[plugins]
  cgroups = no
  tc = no
  enable running new plugins = no
  check for new plugins every = 72000
  python.d = no
  charts.d = no
  go.d = no
  node.d = no
  apps = no
  proc = no
  idlejitter = no
  diskspace = no
"""


def netdata_values(settings: Settings) -> dict:
    """Values for netdata/helmchart: resources set, metrics capped, no telemetry, no cloud;
    the alarms and their routes (operations/alarms.py, alerts.py, alert_probes.py)."""
    values: dict[str, Any] = {
        "image": {"pullPolicy": "IfNotPresent"},
        "initContainersImage": {
            "repository": "alpine",
            "tag": PINNED_VERSIONS["alpine image tag"],
            "pullPolicy": "IfNotPresent",
        },
        "ingress": {"enabled": False},
        "parent": {
            "resources": RESOURCES["netdata-parent"],
            "database": {"persistence": True, "volumesize": "1Gi"},
            "alarms": {"persistence": True, "volumesize": "100Mi"},
            "claiming": {"enabled": False},
            "configs": {
                "netdata": {
                    "enabled": True,
                    "path": "/etc/netdata/netdata.conf",
                    "data": PARENT_NETDATA_CONF,
                },
                "optout": _OPT_OUT,
            },
        },
        "child": {
            "resources": RESOURCES["netdata-child"],
            "claiming": {"enabled": False},
            "configs": {"optout": _OPT_OUT},
        },
        "k8sState": {
            "resources": RESOURCES["netdata-k8s-state"],
            "persistence": {"enabled": True, "volumesize": "256Mi"},
            "claiming": {"enabled": False},
            "configs": {"optout": _OPT_OUT},
        },
    }
    for role, extra in (
        ("parent", alerts.parent_values(settings)),
        ("child", alert_probes.child_values(settings)),
        ("k8sState", alert_probes.k8s_state_values(settings)),
    ):
        values[role]["configs"].update(extra.pop("configs", {}))
        values[role].update(extra)
    return values


def basic_auth_middleware() -> dict:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": MIDDLEWARE, "namespace": MONITORING_NAMESPACE},
        "spec": {
            "basicAuth": {
                "secret": BASIC_AUTH_SECRET,
                "realm": "llm-appliance monitoring",
                "removeHeader": True,
            }
        },
    }


def ingress(settings: Settings) -> dict:
    """Netdata on monitor_domain through Traefik: TLS, the security headers, and credentials
    asked first."""
    annotations = {
        "traefik.ingress.kubernetes.io/router.entrypoints": "websecure",
        "traefik.ingress.kubernetes.io/router.tls": "true",
        # The security headers first, so that the 401 asking for credentials carries them too.
        "traefik.ingress.kubernetes.io/router.middlewares": ",".join(
            middlewares.reference(MONITORING_NAMESPACE, name)
            for name in (middlewares.SECURITY_HEADERS, MIDDLEWARE)
        ),
    }
    if settings.acme_ca != "none":
        annotations["traefik.ingress.kubernetes.io/router.tls.certresolver"] = "letsencrypt"
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "netdata",
            "namespace": MONITORING_NAMESPACE,
            "annotations": annotations,
        },
        "spec": {
            "ingressClassName": "traefik",
            "rules": [
                {
                    "host": settings.monitor_domain,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {
                                        "name": NETDATA.service,
                                        "port": {"number": NETDATA.port},
                                    }
                                },
                            }
                        ]
                    },
                }
            ],
        },
    }
