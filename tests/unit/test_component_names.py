"""No component fact is written twice: the names of workloads and claims and the labels that
select pods stand in operations/components.py alone. Every other module of operations/,
appliance/ and files/ that names one takes it from the records, so a chart that renders
another kind or name is changed in one place (issue 19: the restore scaled a StatefulSet the
chart never made, because the kind was written out where the restore needed it)."""

import ast
import re
from pathlib import Path

from operations import components

ROOT = Path(__file__).resolve().parents[2]
# The records, and the names every module may use (namespaces, Secrets, host paths).
ALLOWED = {ROOT / "operations" / "components.py"}
KINDS = (
    r"(?:deploy|deployment|deployments|statefulset|statefulsets|sts|daemonset|daemonsets|ds"
    r"|pvc|persistentvolumeclaim)"
)


def workload_names() -> set[str]:
    records = [
        value for value in vars(components).values() if isinstance(value, components.Component)
    ]
    return {
        workload.name
        for record in records
        for workload in record.workloads
        if workload.kind != "Job"
    } | {claim for record in records for claim in record.claims}


def label_pairs() -> set[tuple[str, str]]:
    return {
        (key, value)
        for value in vars(components).values()
        if isinstance(value, components.Component)
        for workload in value.workloads
        for key, value in workload.pod_labels.items()
    }


def code_strings(path: Path) -> list[tuple[int, str]]:
    """String literals of a Python module but its docstrings, and its dicts' string items as
    "KEY: VALUE", with their lines; a shell script's lines but its comments."""
    if path.suffix != ".py":
        return [
            (number, line)
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if not line.lstrip().startswith("#")
        ]
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    strings = [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]
    # A label written as a dict's item, {"KEY": "VALUE"}, as one string "KEY: VALUE".
    items = [
        (key.lineno, f"{key.value}: {value.value}")
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key, value in zip(node.keys, node.values, strict=True)
        if isinstance(key, ast.Constant)
        and isinstance(value, ast.Constant)
        and isinstance(key.value, str)
        and isinstance(value.value, str)
    ]
    return strings + items


def literal_component_facts(paths) -> list[str]:
    """Each place outside the records that writes out a workload or claim as kubectl names it
    (``deploy/ollama``, ``statefulset open-webui``) or a label the records give to pods."""
    names = "|".join(re.escape(name) for name in sorted(workload_names(), key=len, reverse=True))
    reference = re.compile(rf"\b{KINDS}[/ ]({names})(?![\w.-])")
    labels = [
        (key, value, re.compile(rf"{re.escape(key)}\s*[=:]\s*['\"]?{re.escape(value)}(?![\w.-])"))
        for key, value in label_pairs()
    ]
    found = []
    for path in paths:
        for line, text in code_strings(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            found += [f"{where}: {match.group(0)}" for match in reference.finditer(text)]
            found += [
                f"{where}: {key}={value}" for key, value, pattern in labels if pattern.search(text)
            ]
    return sorted(set(found))


def product_files() -> list[Path]:
    return sorted(
        path
        for folder in ("operations", "appliance", "files")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".sh") and path not in ALLOWED
    )


def test_no_component_fact_is_written_outside_the_records():
    assert literal_component_facts(product_files()) == []


def test_the_check_finds_a_written_out_workload_and_label(tmp_path):
    module = tmp_path / "restore.py"
    module.write_text(
        '"""Scales deploy/ollama in its docstring: fine."""\n'
        'SCALE = "kubectl scale statefulset open-webui --replicas=0"\n'
        'PODS = {"app.kubernetes.io/name": "ollama"}\n'
    )
    script = tmp_path / "restore.sh"
    script.write_text(
        "# kubectl exec deploy/ollama in a comment: fine\n"
        "kubectl wait --for=delete pod -l app.kubernetes.io/instance=open-webui\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert literal_component_facts([module, script]) == [
            "restore.py:2: statefulset open-webui",
            "restore.py:3: app.kubernetes.io/name=ollama",
            "restore.sh:2: app.kubernetes.io/instance=open-webui",
        ]
    finally:
        ROOT = saved
