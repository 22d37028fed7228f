"""The `k3s kubectl` stand-in answers as kubectl does. The expected outputs are what a real
kubectl (v1.32) printed for the same objects, served by an API server, in November 2026."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

STANDIN = Path(__file__).parents[1] / "integration" / "standin_k3s.py"
OBJECTS = [
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
     "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    {"apiVersion": "apps/v1", "kind": "Deployment",
     "metadata": {"name": "ollama", "namespace": "llm", "labels": {"app": "ollama"}},
     "spec": {"replicas": 1}, "status": {"availableReplicas": 1}},
    {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": "llm"},
     "message": "line1\nline2\ttab \"q\"", "reason": "X"},
]


@pytest.fixture
def kubectl(tmp_path):
    (tmp_path / "objects.json").write_text(json.dumps({"kind": "List", "items": OBJECTS}))
    (tmp_path / "llm").mkdir()
    (tmp_path / "llm" / "s1.json").write_text(json.dumps({"password": "secret"}))
    (tmp_path / "logs" / "kube-system" / "job").mkdir(parents=True)
    (tmp_path / "logs" / "kube-system" / "job" / "helm-install-ollama").write_text("a\nb\nc\n")
    (tmp_path / "exec" / "llm" / "deploy" / "ollama").mkdir(parents=True)
    (tmp_path / "exec" / "llm" / "deploy" / "ollama" / "ollama list").write_text(
        "NAME ID SIZE MODIFIED\nllama3.2:3b a80c4f17acd5 2.0 GB 2 days ago\n")

    def run(*arguments):
        result = subprocess.run([sys.executable, str(STANDIN), "kubectl", *arguments],
                                capture_output=True, text=True,
                                env={"STANDIN_K3S_STATE": str(tmp_path)})
        return result.returncode, result.stdout

    run.state = tmp_path
    return run


def test_objects_without_secret_values_in_one_read(kubectl):
    template = ('{range .items[?(@.kind!="Secret")]}{@}{"\\n"}{end}'
                '{range .items[?(@.kind=="Secret")]}Secret {.metadata.namespace} '
                '{.metadata.name}{"\\n"}{end}')
    assert kubectl("get", "nodes,deployments,secrets,events", "-A", "-o",
                   f"jsonpath={template}") == (0, (
        '{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"},'
        '"status":{"conditions":[{"status":"True","type":"Ready"}]}}\n'
        '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"labels":{"app":"ollama"},'
        '"name":"ollama","namespace":"llm"},"spec":{"replicas":1},'
        '"status":{"availableReplicas":1}}\n'
        '{"apiVersion":"v1","kind":"Event","message":"line1\\nline2\\ttab \\"q\\"",'
        '"metadata":{"name":"e1","namespace":"llm"},"reason":"X"}\n'
        "Secret llm s1\n"))
    log = (kubectl.state / "argv.log").read_text().splitlines()
    assert json.loads(log[-1])[:3] == ["kubectl", "get", "nodes,deployments,secrets,events"]


def test_the_forms_the_shipped_checks_use(kubectl):
    assert kubectl("get", "nodes", "-o", "jsonpath={.items[0].status.conditions}") == (
        0, '[{"status":"True","type":"Ready"}]')
    assert kubectl("get", "deployments", "-n", "llm", "-o", "name") == (
        0, "deployment.apps/ollama\n")
    assert kubectl("--namespace", "llm", "get", "deployment", "ollama",
                   "-o", "jsonpath={.spec.replicas}") == (0, "1")
    assert kubectl("get", "deploy", "-A", "-l", "app=ollama",
                   "-o", "jsonpath={.items[*].metadata.name}") == (0, "ollama")
    assert kubectl("get", "secrets", "-A", "-o",
                   "custom-columns=NS:.metadata.namespace,NAME:.metadata.name",
                   "--no-headers") == (0, "llm   s1\n")
    assert kubectl("-n", "llm", "get", "secret", "s1", "-o", "jsonpath={.data.password}") == (
        0, "c2VjcmV0")
    assert kubectl("-n", "llm", "get", "secret", "nope", "-o", "name") == (1, "")
    assert kubectl("get", "widgets") == (1, "")


def test_logs_and_exec(kubectl):
    assert kubectl("logs", "job/helm-install-ollama", "-n", "kube-system", "--tail", "2") == (
        0, "b\nc\n")
    assert kubectl("-n", "llm", "exec", "deploy/ollama", "--", "ollama", "list") == (
        0, "NAME ID SIZE MODIFIED\nllama3.2:3b a80c4f17acd5 2.0 GB 2 days ago\n")
    assert kubectl("-n", "llm", "exec", "deploy/webui", "--", "true") == (1, "")


def test_scale_finds_the_object_or_fails_as_kubectl(kubectl):
    # What `appliance restore` runs on Open WebUI (operations/backup.py); a kind that is not
    # served fails, as kubectl's `Error from server (NotFound)` does.
    assert kubectl("scale", "deployment/ollama", "--namespace", "llm", "--replicas=0") == (
        0, "deployment.apps/ollama scaled\n")
    assert kubectl("scale", "statefulset/ollama", "--namespace", "llm", "--replicas=0") == (1, "")
    assert kubectl("scale", "deployment/ollama", "--namespace", "default", "--replicas=0") == (1, "")
