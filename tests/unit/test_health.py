"""The readiness reads: what the one read's output parses to, and each check passing on a
converged cluster and failing on a broken one (operations/health.py)."""

import json

from operations.health import (
    READY,
    WAITING,
    apps_components,
    k3s_components,
    parse_read,
    secret_names,
)
from operations.settings import load
from cluster_state import converged, workload

SETTINGS = load({"webui_domain": "chat.example.com", "monitor_domain": "monitor.example.com",
                 "acme_ca": "none", "webui_admin_email": "admin@example.com"})
ACME = load({"webui_domain": "chat.example.com", "monitor_domain": "monitor.example.com",
             "acme_email": "admin@example.com"})
NODE = ('{"apiVersion":"v1","kind":"Node","metadata":{"name":"s1"},"status":{"conditions":'
        '[{"status":"True","type":"Ready"}],"nodeInfo":{"kubeletVersion":"v1.36.4+k3s1"}}}')
# What the fact's command prints on a converged server (k3s v1.36, Debian 12).
OUTPUT = [
    "## now", "1795982400",
    "## memory", "MemAvailable:    5120000 kB",
    "## disk", "/dev/vda1  81000000 40000000 41000000  50% /",
    "## backup", "1795964400 /var/backups/llm-appliance/llm-appliance-20261129-033000.tar",
    "## offsite", "time 1795968000", "unit inactive",
    "## restored",
    "## k3s", "installed",
    "## objects", NODE, "Secret llm open-webui-secrets", "Secret monitoring netdata-basic-auth",
    "## models", "NAME                       ID              SIZE      MODIFIED",
    "llama3.2:3b                a80c4f17acd5    2.0 GB    2 days ago",
    "nomic-embed-text:latest    0a109f422b47    274 MB    2 days ago",
    "## redirect", "301 https://127.0.0.1/",
    "## health", "200",
    "## certificate", "issuer=C = US, O = Let's Encrypt, CN = R11",
    "notAfter=Feb 27 20:00:00 2027 GMT", "X509v3 Subject Alternative Name: ",
    "    DNS:chat.example.com",
]


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
        "backup": {"time": 1795964400,
                   "path": "/var/backups/llm-appliance/llm-appliance-20261129-033000.tar"},
        "offsite": {"time": 1795968000, "failed": False},
        "restored": None,
        "k3s": True,
        "objects": [json.loads(NODE)],
        "secrets": [["llm", "open-webui-secrets"], ["monitoring", "netdata-basic-auth"]],
        "models": ["llama3.2:3b", "nomic-embed-text:latest"],
        "redirect": "301 https://127.0.0.1/",
        "health": "200",
        "certificate": {"issuer": "C = US, O = Let's Encrypt, CN = R11",
                        "not_after": "Feb 27 20:00:00 2027 GMT", "names": ["chat.example.com"]},
    }
    assert secret_names(parsed, "llm") == {"open-webui-secrets"}


def test_a_host_without_k3s_parses_to_empty_sections():
    parsed = parse_read(["## now", "1795982400", "## memory", "MemAvailable: 10 kB", "## disk",
                         "## backup", "## k3s"])
    assert (parsed["k3s"], parsed["objects"], parsed["models"], parsed["health"],
            parsed["certificate"], parsed["backup"]) == (False, [], [], "", None, None)
    assert states(k3s_components(parsed, SETTINGS)) == [("k3s", WAITING)]


def test_converged_k3s_is_ready():
    assert states(k3s_components(read(), SETTINGS)) == [
        ("node s1", READY), ("chart traefik", READY), ("deployment kube-system/traefik", READY),
        ("deployment kube-system/coredns", READY), ("traefik http -> https", READY),
    ]


def test_k3s_not_ready_node_and_missing_redirect():
    objects = converged()
    objects[0]["status"]["conditions"][0]["status"] = "False"
    assert states(k3s_components(read(objects), SETTINGS)) == [("node s1", WAITING)]
    components = k3s_components(read(redirect="000 "), SETTINGS)
    assert components[-1].state == WAITING
    assert components[-1].detail == "http://127.0.0.1/ answers 000 "


def test_converged_apps_are_ready():
    components = apps_components(read(), SETTINGS)
    assert states(components) == [
        ("chart cloudnative-pg", READY), ("chart ollama", READY), ("chart open-webui", READY),
        ("chart netdata", READY), ("postgres", READY),
        ("deployment cnpg-system/cloudnative-pg", READY), ("deployment llm/ollama", READY),
        ("deployment llm/open-webui", READY), ("deployment monitoring/netdata-parent", READY),
        ("daemonset monitoring/netdata-child", READY),
        ("open-webui /health", READY), ("models", READY),
    ]
    postgres = components[4]
    assert (postgres.running, postgres.pinned) == ("18.6-standard-trixie", "18.6-standard-trixie")
    assert components[1].running == "1.0.0" and components[1].pinned == "1.77.0"


def test_a_failed_helm_install_fails_its_chart():
    components = {c.name: c for c in apps_components(read(converged("ollama")), SETTINGS)}
    chart = components["chart ollama"]
    assert (chart.state, chart.detail) == ("failed", "helm failed (3 attempts)")
    assert chart.logs == ("kube-system", "job/helm-install-ollama")
    assert chart.look == "k3s kubectl --namespace kube-system logs job/helm-install-ollama"
    assert (components["deployment llm/ollama"].state,
            components["deployment llm/ollama"].detail) == (WAITING, "0/1 available")


def test_an_install_job_older_than_the_spec_is_not_ready():
    objects = converged()
    ollama = next(o for o in objects if o["kind"] == "HelmChart" and o["metadata"]["name"] == "ollama")
    ollama["metadata"]["managedFields"][0]["time"] = "2026-11-29T21:00:00Z"
    chart = apps_components(read(objects), SETTINGS)[1]
    assert (chart.name, chart.state, chart.detail) == (
        "chart ollama", WAITING, "install Job predates the chart's spec")


def test_postgres_models_and_health_not_ready():
    objects = [o for o in converged() if o["kind"] != "Cluster"]
    components = {c.name: c for c in apps_components(
        read(objects, health="502", models=["llama3.2:3b"]), SETTINGS)}
    assert (components["postgres"].state, components["postgres"].detail) == (
        WAITING, "no CloudNativePG Cluster yet")
    assert (components["models"].state, components["models"].detail) == (
        WAITING, "missing nomic-embed-text:latest")
    assert (components["open-webui /health"].state, components["open-webui /health"].detail) == (
        WAITING, "https://chat.example.com/health through Traefik: 502")


def test_the_certificate_warns_without_failing():
    assert apps_components(read(), ACME)[-1].state == READY
    missing = apps_components(read(certificate=None), ACME)[-1]
    assert (missing.name, missing.state) == ("certificate", "warning")
    assert missing.detail == (
        "no Let's Encrypt certificate for chat.example.com yet: check that its DNS points to "
        "this server, that port 80 is open from the internet (the HTTP challenge), and Let's "
        "Encrypt's rate limits")


def test_status_of_a_first_server_and_its_table():
    from operations.health import status_components, table

    components = status_components(read(), SETTINGS, "server", first_server=True)
    assert [c.name for c in components[-3:]] == ["disk", "memory", "last backup"]
    assert [c.detail for c in components[-3:]] == [
        "39.1 GiB free under /var/lib/rancher", "4.9 GiB available",
        "5 h ago: /var/backups/llm-appliance/llm-appliance-20261129-033000.tar"]
    assert table(components[:1]) == [
        "component  state  running       pinned        detail",
        "node s1    ready  v1.36.4+k3s1  v1.36.5+k3s1  Ready",
    ]
    assert [c.look for c in components[-3:]] == ["", "", "appliance backup INVENTORY"]
    agent = status_components(read(), SETTINGS, "agent", first_server=False)
    assert [c.name for c in agent] == ["disk", "memory"]


OFFSITE_DATA = {"webui_domain": "chat.example.com", "monitor_domain": "monitor.example.com",
                "acme_ca": "none", "webui_admin_email": "admin@example.com",
                "backup_repository": "sftp:backup@nas.example.com:/srv/restic"}
OFFSITE = load(OFFSITE_DATA)


def test_status_shows_the_last_off_site_snapshot_with_a_repository():
    from operations.health import status_components, table

    components = status_components(read(), OFFSITE, "server", first_server=True)
    assert table(components[-2:]) == [
        "component          state  running  pinned  detail",
        "last backup        ready  -        -       5 h ago: /var/backups/llm-appliance/llm-appliance-20261129-033000.tar",
        "off-site snapshot  ready  -        -       4 h ago",
    ]
    assert components[-1].look == "journalctl -u llm-appliance-offsite -n 20"
    assert "off-site snapshot" not in [c.name for c in status_components(read(), SETTINGS, "server", True)]


def test_a_missing_late_or_failed_off_site_snapshot_is_unhealthy():
    from operations.health import offsite_component

    def judged(offsite, settings=OFFSITE):
        component = offsite_component(read(offsite=offsite), settings)
        return component.state, component.detail

    now = 1795982400
    assert judged({"time": None, "failed": False}) == (
        "failed", "none yet in sftp:backup@nas.example.com:/srv/restic")
    assert judged({"time": now - 26 * 3600, "failed": False}) == ("ready", "26 h ago")
    assert judged({"time": now - 27 * 3600, "failed": False}) == (
        "failed", "27 h ago, later than 26 h (backup_schedule)")
    assert judged({"time": now - 26 * 3600 - 5, "failed": False}) == (
        "failed", "26 h ago, later than 26 h (backup_schedule)")
    assert judged({"time": now - 3600, "failed": True}) == (
        "failed", "the last run of llm-appliance-offsite.service failed")
    # Weekly backups: a snapshot may be a week and two hours old.
    weekly = load({**OFFSITE_DATA, "backup_schedule": "0 3 * * 0"})
    assert judged({"time": now - 100 * 3600, "failed": False}, weekly) == ("ready", "100 h ago")
    assert judged({"time": now - 171 * 3600, "failed": False}, weekly) == (
        "failed", "171 h ago, later than 170 h (backup_schedule)")


# -- each check's verdict and what it shows, written out ----------------------------------------

V136 = load({"webui_domain": "chat.example.com", "monitor_domain": "monitor.example.com",
             "acme_ca": "none", "webui_admin_email": "admin@example.com",
             "k3s_version": "v1.36.5+k3s1"})


def fields(component):
    return (component.name, component.state, component.detail, component.running,
            component.pinned, component.look, component.target)


def test_sections_before_the_first_and_empty_sections_are_ignored():
    parsed = parse_read(["Warning: a banner line", "## now", "## memory", "## disk", "## health", "200",
                         "## restored", "4f2a9c1e"])  # the snapshot files/offsite.sh restored
    assert (parsed["now"], parsed["memory_available_kib"], parsed["disk_free_kib"], parsed["health"],
            parsed["restored"]) == (0, None, None, "200", "4f2a9c1e")


def test_k3s_not_installed_then_not_answering():
    assert [fields(c) for c in k3s_components(read(k3s=False), V136)] == [
        ("k3s", WAITING, "not installed", "", "v1.36.5+k3s1", "systemctl status k3s", None)]
    assert [fields(c) for c in k3s_components(read(objects=[]), V136)] == [
        ("k3s", WAITING, "the API server does not answer yet", "", "v1.36.5+k3s1",
         "journalctl -u k3s -n 50", None)]


def test_converged_k3s_components_in_full():
    objects = converged()
    del objects[0]["status"]["nodeInfo"]  # a node whose kubelet has not reported yet
    objects += [workload("StatefulSet", "kube-system", "etcd-backup", "rancher/etcd:3.5.21"),
                workload("DaemonSet", "kube-system", "svclb-traefik", "rancher/klipper-lb:v0.4.13")]
    traefik = next(o for o in objects if o["kind"] == "HelmChart" and o["metadata"]["name"] == "traefik")
    del traefik["spec"]["version"]  # k3s's own chart names its version in the chart's URL
    traefik["spec"]["chart"] = "https://%{KUBERNETES_API}%/static/charts/traefik-40.1.0+up40.1.0.tgz"
    components = k3s_components(read(objects), V136)
    assert [fields(c) for c in components[:2]] == [
        ("node s1", READY, "Ready", "", "v1.36.5+k3s1", "k3s kubectl describe node s1", ("Node", "", "s1")),
        ("chart traefik", READY, "installed", "traefik-40.1.0+up40.1.0.tgz", "+up40.1.0",
         "k3s kubectl --namespace kube-system logs job/helm-install-traefik",
         ("Job", "kube-system", "helm-install-traefik")),
    ]
    assert [(c.name, c.state, c.running) for c in components[2:6]] == [
        ("deployment kube-system/traefik", READY, "3.6.1"),
        ("deployment kube-system/coredns", READY, "1.13.1"),
        ("statefulset kube-system/etcd-backup", READY, "3.5.21"),
        ("daemonset kube-system/svclb-traefik", READY, "v0.4.13"),
    ]


def chart_with_job(job_status: dict | None, status_time: str = "2026-11-29T20:00:05Z"):
    objects = converged()
    ollama = next(o for o in objects if o["kind"] == "HelmChart" and o["metadata"]["name"] == "ollama")
    ollama["metadata"]["managedFields"][1]["time"] = status_time  # helm-controller's status update
    install = next(o for o in objects if o["kind"] == "Job" and o["metadata"]["name"] == "helm-install-ollama")
    install.pop("status")
    if job_status is not None:
        install["status"] = job_status
    chart = apps_components(read(objects), SETTINGS)[1]
    assert chart.name == "chart ollama"
    return chart.state, chart.detail


def test_a_chart_is_installed_failed_or_installing_by_its_job():
    complete = {"conditions": [{"type": "Complete", "status": "True"}], "succeeded": 1}
    # A status update after the Job started is no change of the chart's spec.
    assert chart_with_job(complete, status_time="2026-11-29T20:10:00Z") == (READY, "installed")
    assert chart_with_job(None) == (WAITING, "installing (0 failed attempts)")
    assert chart_with_job({"failed": 1}) == (WAITING, "installing (1 failed attempts)")
    # Helm retries: a Job not yet marked Failed has failed for good after 3 attempts.
    assert chart_with_job({"failed": 3}) == ("failed", "helm failed (3 attempts)")


def test_a_workload_is_ready_only_for_its_current_spec():
    from operations.health import Cluster, workload_component

    deployment = workload("Deployment", "llm", "ollama", "ollama/ollama:0.12.3")
    deployment["status"] = {"availableReplicas": 1}  # the controller has not seen generation 1
    assert fields(workload_component(Cluster({}), deployment)) == (
        "deployment llm/ollama", WAITING, "1/1 available, spec not yet seen", "0.12.3", "",
        "k3s kubectl --namespace llm describe deployment ollama", ("Deployment", "llm", "ollama"))
    del deployment["metadata"]["generation"]
    assert workload_component(Cluster({}), deployment).state == READY


def test_postgres_and_models_components_in_full():
    objects = converged()
    postgres = next(o for o in objects if o["kind"] == "Cluster")
    postgres["status"]["image"] = "registry.example.com:5000/postgresql:18.6-standard-trixie"
    components = {c.name: c for c in apps_components(read(objects), SETTINGS)}
    assert fields(components["postgres"]) == (
        "postgres", READY, "Cluster in healthy state", "18.6-standard-trixie", "18.6-standard-trixie",
        "k3s kubectl --namespace llm describe cluster postgres", ("Cluster", "llm", "postgres"))
    assert fields(components["models"]) == (
        "models", READY, "llama3.2:3b, nomic-embed-text:latest", "", "",
        "k3s kubectl --namespace llm logs job -l app.kubernetes.io/name=ollama-model-puller", None)
    assert fields(components["open-webui /health"]) == (
        "open-webui /health", READY, "https://chat.example.com/health through Traefik: 200", "", "",
        "curl -skv --resolve chat.example.com:443:127.0.0.1 https://chat.example.com/health", None)


def test_events_of_an_object_oldest_first_and_only_its_own():
    from operations.health import Cluster

    def event(name, kind, about, time, reason, message, namespace="kube-system"):
        return {"kind": "Event", "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {"kind": kind, "name": about}, "reason": reason,
                "message": message, "lastTimestamp": time}

    objects = [
        event("b", "Job", "helm-install-ollama", "2026-11-29T20:00:09Z", "BackoffLimitExceeded",
              "Job has reached\n  the specified backoff limit"),
        event("a", "Job", "helm-install-ollama", "2026-11-29T20:00:06Z", "SuccessfulCreate", "Created pod"),
        event("c", "Pod", "helm-install-ollama", "2026-11-29T20:00:07Z", "Pulled", "a Pod, not the Job"),
        event("d", "Job", "helm-install-netdata", "2026-11-29T20:00:08Z", "Completed", "another Job"),
        event("e", "Job", "helm-install-ollama", "2026-11-29T20:00:08Z", "Moved", "elsewhere", namespace="llm"),
    ]
    assert Cluster({"objects": objects}).events("Job", "kube-system", "helm-install-ollama") == [
        "SuccessfulCreate: Created pod",
        "BackoffLimitExceeded: Job has reached the specified backoff limit",
    ]
    assert Cluster({"objects": objects}).events("Job", "kube-system", "helm-install-ollama", count=1) == [
        "BackoffLimitExceeded: Job has reached the specified backoff limit"]


def test_labelled_nodes_are_those_whose_label_is_true():
    from operations.health import labelled_nodes

    nodes = [{"kind": "Node", "metadata": {"name": name, **({"labels": labels} if labels is not None else {})}}
             for name, labels in (("gpu1", {"nvidia.com/gpu.present": "true"}),
                                  ("gpu2", {"nvidia.com/gpu.present": "false"}),
                                  ("cpu1", {}), ("cpu2", None))]
    assert labelled_nodes({"objects": nodes}, "nvidia.com/gpu.present") == {"gpu1"}


def test_a_log_tail_never_fails_the_read():
    from operations.health import LogTail

    assert LogTail().command("kube-system", "job/helm-install-ollama") == (
        "/usr/local/bin/k3s kubectl --namespace kube-system logs job/helm-install-ollama --tail 20 2>&1; true")
