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
from cluster_state import converged

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
        ("deployment monitoring/netdata-parent", READY),
        ("statefulset llm/open-webui", READY), ("daemonset monitoring/netdata-child", READY),
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
    assert components["open-webui /health"].detail == (
        "https://chat.example.com/health through Traefik: 502")


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
    assert judged({"time": now - 3600, "failed": True}) == (
        "failed", "the last run of llm-appliance-offsite.service failed")
    # Weekly backups: a snapshot may be a week and two hours old.
    weekly = load({**OFFSITE_DATA, "backup_schedule": "0 3 * * 0"})
    assert judged({"time": now - 100 * 3600, "failed": False}, weekly) == ("ready", "100 h ago")
    assert judged({"time": now - 171 * 3600, "failed": False}, weekly) == (
        "failed", "171 h ago, later than 170 h (backup_schedule)")
