"""The probes the alarms need (operations/alarms.py), as the Netdata chart's values of the pod
that runs each once: the certificate of webui_domain (x509check) and Open WebUI's /health
(httpcheck) from the k8s-state pod; the host's file systems (diskspace) and the off-site
snapshot's time (filecheck) from the children, which see the host's root at /host/root.
operations/monitoring.py merges these values.

    alert_probes.child_values(settings)["extraVolumeMounts"][0]["mountPath"]
    # '/host/root'
"""

from __future__ import annotations

import yaml

from operations.markers import OFFSITE_LAST_FILE
from operations.settings import Settings

# The children mount the host's root here, read-only. Netdata's diskspace reads the host's
# mount table only through it (v2.11.0 src/collectors/proc.plugin/proc_self_mountinfo.c
# mountinfo_read: NETDATA_HOST_PREFIX/root/proc/1/mountinfo, else the container's own
# /proc/self/mountinfo, where the host's /var/lib/rancher is no mount point), so without it
# llm_disk_free's mount_point labels match only the container's /. The chart's own example
# (netdata/helmchart 3.7.172 values.yaml, child.extraVolumes, "to mount all disks under / to be
# monitored via the diskspace plugin"); the child already runs privileged with hostPID
# (templates/child/daemonset.yaml), so a read-only view of / grants it nothing new.
HOST_ROOT_MOUNT = "/host/root"


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
    """The children's part: the host's root, read-only, for diskspace and, with off-site
    backups, for filecheck's job on the last snapshot's time."""
    values: dict = {
        "extraVolumes": [{"name": "hostroot", "hostPath": {"path": "/"}}],
        "extraVolumeMounts": [
            {
                "name": "hostroot",
                "mountPath": HOST_ROOT_MOUNT,
                "readOnly": True,
                "mountPropagation": "HostToContainer",
            }
        ],
    }
    if settings.backup_repository:
        values["configs"] = {
            "go.d-filecheck": netdata_config(
                "/etc/netdata/go.d/filecheck.conf",
                _jobs(
                    {
                        "name": "offsite",
                        "update_every": 60,
                        "files": {"include": [HOST_ROOT_MOUNT + OFFSITE_LAST_FILE]},
                    }
                ),
            )
        }
    return values
