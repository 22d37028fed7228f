"""The probes the alarms need (operations/alarms.py), as the Netdata chart's values of the pod
that runs each once: the certificate of webui_domain (x509check) and Open WebUI's /health
(httpcheck) from the k8s-state pod, the off-site snapshot's time (filecheck) from the children,
which see the host's /var/lib/llm-appliance. operations/monitoring.py merges these values.

    alert_probes.child_values(settings)["extraVolumeMounts"][0]["mountPath"]
    # '/host/var/lib/llm-appliance'
"""

from __future__ import annotations

import yaml

from operations.markers import OFFSITE_LAST_FILE
from operations.settings import Settings

# The children mount the host's folder of the appliance's state here (filecheck reads it).
HOST_STATE_MOUNT = "/host/var/lib/llm-appliance"


def netdata_config(path: str, data: str) -> dict:
    """One file of a Netdata pod's ``configs`` (netdata/helmchart values): written at path."""
    return {"enabled": True, "path": path, "data": data}


def _jobs(*jobs: dict) -> str:
    return yaml.safe_dump({"jobs": list(jobs)}, sort_keys=False)


def k8s_state_values(settings: Settings) -> dict:
    """The k8s-state pod's part: besides k8s_state, the certificate of webui_domain (x509check)
    and its /health through Traefik (httpcheck), from inside the cluster, once (the children
    run on every node)."""
    url = f"https://{settings.webui_domain}"
    return {
        "configs": {
            "go.d": netdata_config(
                "/etc/netdata/go.d.conf",
                yaml.safe_dump(
                    {
                        "default_run": False,
                        "modules": {"k8s_state": True, "x509check": True, "httpcheck": True},
                    },
                    sort_keys=False,
                ),
            ),
            "go.d-x509check": netdata_config(
                "/etc/netdata/go.d/x509check.conf",
                _jobs({"name": "webui", "source": f"{url}:443", "update_every": 60}),
            ),
            # The certificate is x509check's concern: /health is checked even when it is not valid.
            "go.d-httpcheck": netdata_config(
                "/etc/netdata/go.d/httpcheck.conf",
                _jobs(
                    {
                        "name": "webui_health",
                        "url": f"{url}/health",
                        "status_accepted": [200],
                        "timeout": 5,
                        "update_every": 10,
                        "tls_skip_verify": True,
                    }
                ),
            ),
        }
    }


def child_values(settings: Settings) -> dict:
    """The children's part, with off-site backups: the last snapshot's time (filecheck), from
    the host's folder mounted read-only."""
    if not settings.backup_repository:
        return {}
    folder = OFFSITE_LAST_FILE.rsplit("/", 1)[0]
    return {
        "configs": {
            "go.d-filecheck": netdata_config(
                "/etc/netdata/go.d/filecheck.conf",
                _jobs(
                    {
                        "name": "offsite",
                        "update_every": 60,
                        "files": {
                            "include": [f"{HOST_STATE_MOUNT}/{OFFSITE_LAST_FILE.rsplit('/', 1)[1]}"]
                        },
                    }
                ),
            )
        },
        "extraVolumes": [
            {"name": "appliance-state", "hostPath": {"path": folder, "type": "DirectoryOrCreate"}}
        ],
        "extraVolumeMounts": [
            {"name": "appliance-state", "mountPath": HOST_STATE_MOUNT, "readOnly": True}
        ],
    }
