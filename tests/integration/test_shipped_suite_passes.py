"""The shipped k3s and apps checks (tests/host/test_k3s.py, test_apps.py) proved to pass, not only
to fail: a rehearsal host deployed for real (every layer) on k3s that runs the stand-in API
server (k3s_standins.install_k3s, guest_k3s.py; the real kubectl), whose datastore starts as the
converged appliance its controllers made from the apps layer's manifests for the inventory's
settings (status_harness.converged_appliance). Every check passes there; each then fails when one
promise is broken: through the real kubectl as an operator or a controller would break it, by a
failure injected into the stand-in as upstream meets it (guest_k3s.py faults.json: a crash-looping
container, helm's error; execs.json: what `kubectl exec` answers), or on the host. After each
case the stand-in's datastore and answers go back to the converged ones (k3s restarted)."""

import json
import re

import pytest
from k3s_standins import GUEST_PACKAGES, STATE, WAIT_FOR_API, start_converged

from appliance.rehearsal import RehearsalHost
from appliance.runner import run_pyinfra

ADMIN_CIDR = "198.51.100.0/24"
# What psql prints of the Open WebUI database's extensions (tests/host/test_apps.py asks
# `SELECT extname FROM pg_extension` with --tuples-only --no-align): pgvector's `vector` created.
PSQL = (
    "llm",
    "postgres-1",
    [
        "psql",
        "--dbname=openwebui",
        "--tuples-only",
        "--no-align",
        "--command=SELECT extname FROM pg_extension",
    ],
)
HELM_ERROR = (
    'Error: UPGRADE FAILED: cannot patch "ollama" with kind Deployment: '
    'Deployment.apps "ollama" is invalid: spec.selector: Invalid value: '
    "v1.LabelSelector{...}: field is immutable"
)


@pytest.fixture(scope="module")
def rehearsal():
    """A rehearsal host with what the stand-in API server needs (python3-yaml)."""
    with RehearsalHost.boot(extra_packages=GUEST_PACKAGES) as host:
        yield host


def restart_k3s(host, faults: dict | None = None, execs: list | None = None) -> None:
    """k3s restarted on the converged datastore and exec answers (saved by ``deployed``), or
    on ``execs``, with ``faults`` (guest_k3s.FAULTS) from its start on."""
    host.ssh(
        f"systemctl stop k3s && cp {STATE}/datastore.converged {STATE}/datastore.json && "
        f"rm -f {STATE}/faults.json"
    )
    host.ssh(
        f"umask 077 && cat > {STATE}/execs.json",
        input=json.dumps(execs)
        if execs is not None
        else host.ssh(f"cat {STATE}/execs.converged").stdout,
    )
    if faults:
        host.ssh(f"umask 077 && cat > {STATE}/faults.json", input=json.dumps(faults))
    host.ssh("systemctl start k3s && " + WAIT_FOR_API)


@pytest.fixture(scope="module")
def deployed(rehearsal, inventory):
    """Every layer deployed for real on the stand-in k3s; its converged datastore and exec
    answers saved (restart_k3s)."""
    path = inventory("deployed.py", admin_cidrs=[ADMIN_CIDR])
    execs = start_converged(rehearsal, path, extra_execs=([*PSQL, 0, "plpgsql\nvector\n"],))
    run = run_pyinfra(path, "deploy.py")
    assert run.returncode == 0, run.stderr[-3000:]
    rehearsal.ssh(
        f"systemctl stop k3s && cp {STATE}/datastore.json {STATE}/datastore.converged && "
        f"cp {STATE}/execs.json {STATE}/execs.converged && systemctl start k3s && " + WAIT_FOR_API
    )
    return path, execs


def failed_checks(result) -> list[str]:
    """The failed checks' names, with their own parameter (`[llm]`, `[netdata]`) but not
    testinfra's host."""
    names = []
    for test in re.findall(r"^FAILED \S+::(\S+)", result.stdout, re.M):
        name, _, parameters = test.partition("[")
        own = re.findall(r"-(llm|monitoring|ollama|open-webui|netdata)\]$", test)
        names.append(f"{name}[{own[0]}]" if own else name)
    return sorted(names)


def test_every_k3s_and_apps_check_passes_on_the_deployed_state(deployed, shipped_suite):
    path, _ = deployed
    result = shipped_suite(path, "-m", "k3s or apps", "-rA")
    assert result.returncode == 0, result.stdout[-4000:]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))
    assert passed == 25, result.stdout[-4000:]
    # Skipped only: ACME storage (acme_ca: none on the rehearsal host) and the GPU checks.
    for skipped in re.findall(r"^SKIPPED .*", result.stdout, re.M):
        assert "no ACME storage without a CA" in skipped or "Ollama runs on the CPU" in skipped, (
            skipped
        )


K = "k3s kubectl"


def edit(kind: str, namespace: str, name: str, python: str, then: str = "replace") -> str:
    """A shell command: the object through `kubectl get -o json`, changed by the Python
    statement ``python`` (on ``o``), sent back with `kubectl replace` (or ``then``)."""
    return (
        f"{K} --namespace {namespace} get {kind} {name} --output json | python3 -c "
        f"'import json, sys; o = json.load(sys.stdin); {python}; json.dump(o, sys.stdout)' | "
        f"{K} {then} --filename -"
    )


def crash_loop(namespace: str, workload: str) -> dict:
    """The workload's new containers crash (guest_k3s.py faults.json: CrashLoopBackOff, never
    Ready)."""
    return {"crash_loops": [[namespace, workload, "exec /app/start.sh: exit status 1\n"]]}


def ollama_list_without_a_model(execs: list) -> list:
    changed = json.loads(json.dumps(execs))
    for answer in changed:
        if answer[2] == ["ollama", "list"]:
            answer[4] = "\n".join(answer[4].splitlines()[:-1]) + "\n"
    return changed


def psql_without_vector(execs: list) -> list:
    return [answer[:4] + ["plpgsql\n"] if answer[:3] == list(PSQL) else answer for answer in execs]


# (broken promise, k3s's faults or exec answers (a function of the converged ones) from a restart
# on, the commands that break it (on the host), and how to undo a change on the host (else k3s
# restarts on the converged datastore); checks that fail)
BROKEN = [
    (
        "ollama-policy-renamed",
        None,
        edit(
            "networkpolicy",
            "llm",
            "ollama",
            'm = o["metadata"]; m["name"] = "ollama-clients-only"; '
            '[m.pop(k, None) for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields")]',
            then="create",
        )
        + f" && {K} --namespace llm delete networkpolicy ollama",
        None,
        ["test_namespaces_deny_by_default[llm]", "test_ollama_is_cluster_internal"],
    ),
    (
        "ollama-exposed",
        None,
        f"{K} --namespace llm patch service ollama --type merge "
        '--patch \'{"spec": {"type": "NodePort"}}\'',
        None,
        ["test_ollama_is_cluster_internal"],
    ),
    (
        "monitoring-without-password",
        None,
        f"{K} --namespace monitoring annotate ingress netdata "
        "traefik.ingress.kubernetes.io/router.middlewares-",
        None,
        ["test_monitoring_refuses_a_request_without_credentials"],
    ),
    (
        "webui-not-ready",
        crash_loop("llm", "open-webui"),
        f"{K} --namespace llm rollout restart deployment/open-webui",
        None,
        ["test_workloads_rolled_out[open-webui]"],
    ),
    (
        "netdata-child-not-ready",
        crash_loop("monitoring", "netdata-child"),
        f"{K} --namespace monitoring rollout restart daemonset/netdata-child",
        None,
        ["test_workloads_rolled_out[netdata]"],
    ),
    (
        "monitoring-allows-by-default",
        None,
        f"{K} --namespace monitoring delete networkpolicy default-deny",
        None,
        ["test_namespaces_deny_by_default[monitoring]"],
    ),
    (
        "backups-at-another-time",
        None,
        f"{K} --namespace llm patch cronjob llm-appliance-backup "
        '--type merge --patch \'{"spec": {"schedule": "0 4 * * *"}}\'',
        None,
        ["test_backups_are_scheduled"],
    ),
    ("model-missing", ollama_list_without_a_model, "true", None, ["test_every_model_is_listed"]),
    (
        "no-pgvector",
        psql_without_vector,
        "true",
        None,
        ["test_postgres_accepts_connections_with_vector"],
    ),
    (
        "webui-not-served",
        None,
        f"{K} --namespace llm delete service open-webui",
        None,
        ["test_webui_health_through_traefik"],
    ),
    (
        "webui-secret-missing",
        None,
        f"{K} --namespace llm delete secret open-webui-secrets",
        None,
        ["test_secrets_exist_and_are_not_in_the_manifests"],
    ),
    # The node lifecycle controller's verdict when the kubelet stops posting its status
    # (kubernetes pkg/controller/nodelifecycle/node_lifecycle_controller.go: Ready Unknown).
    (
        "node-not-ready",
        None,
        f"{K} patch node $(hostname) --subresource status --type json --patch "
        '\'[{"op": "replace", "path": "/status/conditions/0/status", "value": "Unknown"}]\'',
        None,
        ["test_k3s_is_ready_as_the_deploy_gate_judges_it", "test_nodes_ready"],
    ),
    # helm refuses the upgrade that a change of ollama's values starts (a failed revision
    # recorded; failurePolicy retry: the Job still ends Complete, the old pods stay available).
    (
        "chart-upgrade-failed",
        {"helm": [["kube-system", "ollama", HELM_ERROR, True, 1000]]},
        edit("helmchart", "kube-system", "ollama", 'o["spec"]["valuesContent"] += "\\n"'),
        None,
        ["test_apps_are_ready_as_the_deploy_gate_judges_them"],
    ),
    # A surge rollout: the old pod still available beside the new one that crash-loops.
    (
        "traefik-rollout-unfinished",
        crash_loop("kube-system", "traefik"),
        f"{K} --namespace kube-system rollout restart deployment/traefik",
        None,
        ["test_k3s_is_ready_as_the_deploy_gate_judges_it"],
    ),
    (
        "traefik-without-redirect",
        None,
        edit(
            "deployment",
            "kube-system",
            "traefik",
            'c = o["spec"]["template"]["spec"]["containers"][0]; '
            'c["args"] = [a for a in c["args"] if "redirections" not in a]',
        ),
        None,
        ["test_traefik_runs_with_the_appliance_arguments", "test_traefik_serves_http_and_https"],
    ),
    (
        "secret-in-a-manifest",
        None,
        "printf 'kind: Secret\\n' > /var/lib/rancher/k3s/server/manifests/llm-appliance-stray.yaml",
        "rm /var/lib/rancher/k3s/server/manifests/llm-appliance-stray.yaml",
        ["test_secrets_exist_and_are_not_in_the_manifests"],
    ),
    (
        "secrets-not-encrypted",
        None,
        "sed -i 's/^secrets-encryption: true/secrets-encryption: false/' /etc/rancher/k3s/config.yaml",
        "sed -i 's/^secrets-encryption: false/secrets-encryption: true/' /etc/rancher/k3s/config.yaml",
        ["test_secrets_are_encrypted_at_rest"],
    ),
    (
        "config-readable",
        None,
        "chmod 644 /etc/rancher/k3s/config.yaml",
        "chmod 600 /etc/rancher/k3s/config.yaml",
        ["test_config_is_private"],
    ),
    (
        "kubeconfig-readable",
        None,
        "chmod 644 /etc/rancher/k3s/k3s.yaml",
        "chmod 600 /etc/rancher/k3s/k3s.yaml",
        ["test_kubeconfig_is_not_world_readable"],
    ),
    (
        "other-k3s-version",
        None,
        f"echo 'k3s version v1.36.3+k3s1 (0a1b2c3d)' > {STATE}/version",
        f"echo 'k3s version v1.36.5+k3s1 (stand-in)' > {STATE}/version",
        ["test_binary_is_the_pinned_version"],
    ),
    (
        "api-open-to-all",
        None,
        "ufw allow 6443/tcp",
        "ufw delete allow 6443/tcp",
        ["test_api_server_closed_to_all_but_admins"],
    ),
    (
        "k3s-stopped",
        None,
        "systemctl stop k3s",
        None,
        ["test_service_running_and_enabled", "test_traefik_serves_http_and_https"],
    ),
]


@pytest.mark.parametrize(
    "promise, injected, breaking, undo, failing", BROKEN, ids=[case[0] for case in BROKEN]
)
def test_each_check_fails_when_its_promise_is_broken(
    deployed, rehearsal, shipped_suite, promise, injected, breaking, undo, failing
):
    path, execs = deployed
    if callable(injected):
        restart_k3s(rehearsal, execs=injected(execs))
    elif injected:
        restart_k3s(rehearsal, faults=injected)
    try:
        rehearsal.ssh(breaking)
        selection = " or ".join(sorted({name.split("[")[0] for name in failing}))
        result = shipped_suite(path, "-m", "k3s or apps", "-k", selection)
    finally:
        if undo:  # a change on the host, which the datastore does not hold
            rehearsal.ssh(undo)
        else:
            restart_k3s(rehearsal)
    assert result.returncode != 0, result.stdout[-3000:]
    assert failed_checks(result) == sorted(failing), result.stdout[-3000:]
