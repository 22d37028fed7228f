"""The shipped k3s and apps checks (tests/host/test_k3s.py, test_apps.py) proved to pass, not only
to fail: a rehearsal host gets the host layer for real, the k3s and apps layers' rendered files
at their paths, and the `k3s kubectl` stand-in serving the cluster a converged deploy leaves
(tests/integration/deployed_state.py). Every check passes there; each then fails when one
promise is broken in the served state."""

import copy
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from cluster_state import config_hash, release
from deployed_state import deployed_state

from appliance.cli import main
from appliance.inventory import inventory_hosts
from appliance.rehearsal import run_pyinfra
from operations.settings import load

HERE = Path(__file__).resolve().parent
ADMIN_CIDR = "198.51.100.0/24"
STATE = "/var/lib/standin-k3s"
K3S_UNIT = """\
[Unit]
Description=k3s stand-in (tests/integration/standin_k3s.py): Traefik's ports from the served state
[Service]
ExecStart=/usr/local/bin/k3s server
[Install]
WantedBy=multi-user.target
"""


def served(host, state: dict) -> None:
    """Serve `state` through the stand-in: objects.json and the exec answers."""
    host.ssh(f"rm -rf {STATE}/exec && mkdir -p -m 700 {STATE} && cat > {STATE}/objects.json",
             input=json.dumps({"apiVersion": "v1", "kind": "List", "items": state["items"]}))
    for path, output in state["exec"].items():
        folder, _, command = path.rpartition("/")
        host.ssh(f"mkdir -p '{STATE}/exec/{folder}' && cat > '{STATE}/exec/{folder}/{command}'", input=output)


@pytest.fixture(scope="module")
def deployed(rehearsal, inventory, tmp_path_factory):
    """The host layer deployed for real, the other layers' files and served state in place."""
    path = inventory("deployed.py", layers="host", admin_cidrs=[ADMIN_CIDR])
    run = run_pyinfra(path, "deploy.py")
    assert run.returncode == 0, run.stderr[-3000:]

    out = tmp_path_factory.mktemp("rendered")
    result = CliRunner().invoke(main, ["render", str(path), "--data", "layers=k3s,apps", "--out", str(out)])
    assert result.exit_code == 0, result.output
    archive = subprocess.run(["tar", "-C", str(out), "-cf", "-", "etc", "var"], check=True, capture_output=True).stdout
    subprocess.run(["ssh", *rehearsal.ssh_options(), f"root@{rehearsal.address}",
                    "tar -C / --no-overwrite-dir -xpf -"],
                   input=archive, check=True, capture_output=True)
    subprocess.run(["scp", *rehearsal.ssh_options(), str(HERE / "standin_k3s.py"),
                    f"root@{rehearsal.address}:/usr/local/bin/k3s"], check=True, capture_output=True)
    rehearsal.ssh("chmod 755 /usr/local/bin/k3s && install -m 600 /dev/null /etc/rancher/k3s/k3s.yaml && "
                  f"mkdir -p -m 700 {STATE} && cat > /etc/systemd/system/k3s.service", input=K3S_UNIT)
    rehearsal.ssh(f"echo 'k3s version v1.36.5+k3s1 (8f2b6c1e)' > {STATE}/version")

    documents = [document for manifest in sorted(out.glob("var/lib/rancher/k3s/server/manifests/llm-appliance-*.yaml"))
                 if "traefik" not in manifest.name
                 for document in yaml.safe_load_all(manifest.read_text())]
    (node,) = inventory_hosts(str(path))
    state = deployed_state(documents, load(node.data))
    served(rehearsal, state)
    rehearsal.ssh("systemctl daemon-reload && systemctl enable --now k3s && "
                  "for i in $(seq 100); do ss -Htln | grep -q ':443 ' && break; sleep 0.1; done")
    return path, state


def failed_checks(result: subprocess.CompletedProcess) -> list[str]:
    """The failed checks' names, with their own parameter (`[llm]`) but not testinfra's host."""
    names = []
    for test in re.findall(r"^FAILED \S+::(\S+)", result.stdout, re.M):
        name, _, parameters = test.partition("[")
        own = re.findall(r"-(llm|monitoring)\]$", test)
        names.append(f"{name}[{own[0]}]" if own else name)
    return sorted(names)


def test_every_k3s_and_apps_check_passes_on_the_deployed_state(deployed, shipped_suite):
    path, _ = deployed
    result = shipped_suite(path, "-m", "k3s or apps", "-rA")
    assert result.returncode == 0, result.stdout[-4000:]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))
    assert passed == 24, result.stdout[-4000:]
    # Skipped only: ACME storage (acme_ca: none on the rehearsal host) and the GPU checks.
    for skipped in re.findall(r"^SKIPPED .*", result.stdout, re.M):
        assert "no ACME storage without a CA" in skipped or "Ollama runs on the CPU" in skipped, skipped


def _objects(state, kind, namespace, name):
    return [item for item in state["items"] if item["kind"] == kind and item["metadata"]["name"] == name
            and item["metadata"].get("namespace") == namespace]


def rename_ollama_policy(state):
    _objects(state, "NetworkPolicy", "llm", "ollama")[0]["metadata"]["name"] = "ollama-clients-only"


def expose_ollama(state):
    _objects(state, "Service", "llm", "ollama")[0]["spec"]["type"] = "NodePort"


def drop_monitoring_middleware(state):
    annotations = _objects(state, "Ingress", "monitoring", "netdata")[0]["metadata"]["annotations"]
    del annotations["traefik.ingress.kubernetes.io/router.middlewares"]


def open_webui_not_ready(state):
    _objects(state, "Pod", "llm", "open-webui-6f8d9c7b4-k8p2m")[0]["status"]["conditions"][0]["status"] = "False"


def netdata_child_not_ready(state):
    _objects(state, "Pod", "monitoring", "netdata-child-7xk2p")[0]["status"] = {"phase": "Pending"}


def no_default_deny(state):
    state["items"].remove(_objects(state, "NetworkPolicy", "monitoring", "default-deny")[0])


def other_schedule(state):
    _objects(state, "CronJob", "llm", "llm-appliance-backup")[0]["spec"]["schedule"] = "0 4 * * *"


def model_missing(state):
    state["exec"]["llm/deployment/ollama/ollama list"] = "\n".join(
        state["exec"]["llm/deployment/ollama/ollama list"].splitlines()[:2]) + "\n"


def vector_missing(state):
    key = next(key for key in state["exec"] if key.startswith("llm/postgres-1/"))
    state["exec"][key] = "plpgsql\n"


def no_webui_service(state):
    state["items"].remove(_objects(state, "Service", "llm", "open-webui")[0])


def node_not_ready(state):
    node = next(item for item in state["items"] if item["kind"] == "Node")
    node["status"]["conditions"][0]["status"] = "False"


def traefik_without_redirect(state):
    container = _objects(state, "Deployment", "kube-system", "traefik")[0]["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [arg for arg in container["args"] if "redirections" not in arg]


def ollama_upgrade_failed(state):
    # helm's upgrade to the Job's spec failed: its newest release Secret says so (the Job
    # still ends Complete: klipper-helm's entry exits 0), the old pods stay available.
    state["items"].append(release("ollama", "llm", 2, "failed", config_hash("ollama")))


def traefik_rollout_unfinished(state):
    # A surge rollout: the old pod still available beside the new one that is not.
    _objects(state, "Deployment", "kube-system", "traefik")[0]["status"].update(
        replicas=2, unavailableReplicas=1)


def secret_missing(state):
    state["items"].remove(_objects(state, "Secret", "llm", "open-webui-secrets")[0])


# (broken promise, change to the served state, or to the host and how to undo it; checks that fail)
BROKEN = [
    ("ollama-policy-renamed", rename_ollama_policy, None, None,
     ["test_namespaces_deny_by_default[llm]", "test_ollama_is_cluster_internal"]),
    ("ollama-exposed", expose_ollama, None, None, ["test_ollama_is_cluster_internal"]),
    ("monitoring-without-password", drop_monitoring_middleware, None, None,
     ["test_monitoring_refuses_a_request_without_credentials"]),
    ("webui-not-ready", open_webui_not_ready, None, None, ["test_every_pod_ready"]),
    ("netdata-child-not-ready", netdata_child_not_ready, None, None, ["test_monitoring_pods_ready"]),
    ("monitoring-allows-by-default", no_default_deny, None, None, ["test_namespaces_deny_by_default[monitoring]"]),
    ("backups-at-another-time", other_schedule, None, None, ["test_backups_are_scheduled"]),
    ("model-missing", model_missing, None, None, ["test_every_model_is_listed"]),
    ("no-pgvector", vector_missing, None, None, ["test_postgres_accepts_connections_with_vector"]),
    ("webui-not-served", no_webui_service, None, None, ["test_webui_health_through_traefik"]),
    ("webui-secret-missing", secret_missing, None, None, ["test_secrets_exist_and_are_not_in_the_manifests"]),
    ("node-not-ready", node_not_ready, None, None,
     ["test_k3s_is_ready_as_the_deploy_gate_judges_it", "test_nodes_ready"]),
    ("chart-upgrade-failed", ollama_upgrade_failed, None, None,
     ["test_apps_are_ready_as_the_deploy_gate_judges_them"]),
    ("traefik-rollout-unfinished", traefik_rollout_unfinished, None, None,
     ["test_k3s_is_ready_as_the_deploy_gate_judges_it"]),
    ("traefik-without-redirect", traefik_without_redirect, None, None,
     ["test_traefik_runs_with_the_appliance_arguments", "test_traefik_serves_http_and_https"]),
    ("secret-in-a-manifest", None,
     "printf 'kind: Secret\\n' > /var/lib/rancher/k3s/server/manifests/llm-appliance-stray.yaml",
     "rm /var/lib/rancher/k3s/server/manifests/llm-appliance-stray.yaml",
     ["test_secrets_exist_and_are_not_in_the_manifests"]),
    ("secrets-not-encrypted", None,
     "sed -i 's/^secrets-encryption: true/secrets-encryption: false/' /etc/rancher/k3s/config.yaml",
     "sed -i 's/^secrets-encryption: false/secrets-encryption: true/' /etc/rancher/k3s/config.yaml",
     ["test_secrets_are_encrypted_at_rest"]),
    ("config-readable", None, "chmod 644 /etc/rancher/k3s/config.yaml", "chmod 600 /etc/rancher/k3s/config.yaml",
     ["test_config_is_private"]),
    ("kubeconfig-readable", None, "chmod 644 /etc/rancher/k3s/k3s.yaml", "chmod 600 /etc/rancher/k3s/k3s.yaml",
     ["test_kubeconfig_is_not_world_readable"]),
    ("other-k3s-version", None,
     f"echo 'k3s version v1.36.3+k3s1 (0a1b2c3d)' > {STATE}/version",
     f"echo 'k3s version v1.36.5+k3s1 (8f2b6c1e)' > {STATE}/version",
     ["test_binary_is_the_pinned_version"]),
    ("api-open-to-all", None, "ufw allow 6443/tcp", "ufw delete allow 6443/tcp",
     ["test_api_server_closed_to_all_but_admins"]),
    ("k3s-stopped", None, "systemctl stop k3s", "systemctl start k3s && "
     "for i in $(seq 100); do ss -Htln | grep -q ':443 ' && break; sleep 0.1; done",
     ["test_service_running_and_enabled", "test_traefik_serves_http_and_https"]),
]


@pytest.mark.parametrize("promise, change, breaking, undo, failing", BROKEN, ids=[case[0] for case in BROKEN])
def test_each_check_fails_when_its_promise_is_broken(deployed, rehearsal, shipped_suite, promise, change,
                                                     breaking, undo, failing):
    path, state = deployed
    if change:
        broken = copy.deepcopy(state)
        change(broken)
        served(rehearsal, broken)
    else:
        rehearsal.ssh(breaking)
    try:
        selection = " or ".join(sorted({name.split("[")[0] for name in failing}))
        result = shipped_suite(path, "-m", "k3s or apps", "-k", selection)
    finally:
        if change:
            served(rehearsal, state)
        else:
            rehearsal.ssh(undo)
    assert result.returncode != 0, result.stdout[-3000:]
    assert failed_checks(result) == sorted(failing), result.stdout[-3000:]
