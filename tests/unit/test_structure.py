"""The code's shape: imports run one way, names and settings, then components, then layers,
then the `appliance` command (appliance/), whose modules import the group (cli.py) nowhere.

An import circle makes a module's names depend on import order; this reads every module's
`from operations...` imports (function bodies too) and fails on any circle.
"""

import ast
from pathlib import Path

OPERATIONS = Path(__file__).resolve().parents[2] / "operations"
# The `appliance` command: cli.py holds the group and adds the commands of the other modules.
APPLIANCE = OPERATIONS.parent / "appliance"
# The settings, one concern a module, each importing only those before it here: the constants
# (pins, sizing, the model table) and the engines (cron, sftp), then the value parsers, one
# setting, the rows of the table by the part they configure, the table assembled from them,
# and last the schema that loads and validates them.
SETTINGS_ORDER = (
    "pins",
    "sizing",
    "model_sizes",
    "cron",
    "sftp",
    "parsers",
    "local_files",
    "setting",
    "settings_platform",
    "settings_apps",
    "settings_upkeep",
    "settings_table",
    "alert_settings",
    "settings",
)
# Modules every other may import; they import nothing of the project themselves.
FOUNDATIONS = {
    "names",
    "markers",
    "errors",
    "certificates",
    "webui_env",
    "firewall",
    "facts",
    "host_facts",
    "rendering",
    "components",
    "model_memory",
    "fact_batch",
    "pyinfra_internals",
    "ollama_facts",
    "gpu_facts",
    "alarms",
    "alert_probes",
    *SETTINGS_ORDER,
}
# The readiness code the same way: what a judgement gives and the parser, the cluster read
# (the fact), what k3s applied, the judge, and last the gate (appliance/status_table.py, the
# status command's table, imports them from outside operations/).
READINESS_ORDER = (
    "component_state",
    "read_parser",
    "health",
    "k3s_applied",
    "readiness",
    "readiness_gate",
)
LAYERS = {"host", "k3s", "apps"}


def imports(folder: Path = OPERATIONS, package: str = "operations") -> dict[str, set[str]]:
    """Each module of ``folder`` -> the modules of ``package`` it imports, anywhere in it."""
    graph = {}
    for path in folder.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and (node.module == package or node.module.startswith(package + "."))
            ):
                if node.module == package:
                    found |= {alias.name for alias in node.names}
                else:
                    found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found |= {
                    alias.name.split(".")[1]
                    for alias in node.names
                    if alias.name.startswith(package + ".")
                }
        graph[path.stem] = found
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    found = []

    def walk(module, path):
        for imported in graph.get(module, ()):
            if imported in path:
                found.append(path[path.index(imported) :] + [imported])
            else:
                walk(imported, path + [imported])

    for module in graph:
        walk(module, [module])
    return found


def test_no_import_circles():
    assert circles(imports()) == []


def test_the_circle_check_sees_a_circle():
    assert circles({"apps": {"backup"}, "backup": {"apps"}}) == [
        ["apps", "backup", "apps"],
        ["backup", "apps", "backup"],
    ]


def test_foundations_import_no_component_or_layer():
    graph = imports()
    for module in FOUNDATIONS:
        assert graph[module] <= FOUNDATIONS - {module}, module


def test_components_import_no_layer():
    graph = imports()
    for module, imported in graph.items():
        if module not in LAYERS:
            assert not imported & LAYERS, f"{module} imports the layer(s) {imported & LAYERS}"


def imports_out_of_order(graph: dict[str, set[str]], order: tuple[str, ...]) -> list[str]:
    """'A imports B' for each module A of `order` importing a module B of `order` that comes
    after it (or itself)."""
    return [
        f"{module} imports {imported}"
        for rank, module in enumerate(order)
        for imported in sorted(graph[module] & set(order[rank:]))
    ]


def test_the_settings_modules_import_one_way():
    assert imports_out_of_order(imports(), SETTINGS_ORDER) == []


def test_the_readiness_modules_import_one_way():
    assert imports_out_of_order(imports(), READINESS_ORDER) == []


def test_the_order_check_sees_an_import_back():
    assert imports_out_of_order(
        {"pins": {"settings"}, "settings": {"pins"}}, ("pins", "settings")
    ) == ["pins imports settings"]


def importers_of(graph: dict[str, set[str]], module: str) -> set[str]:
    return {importer for importer, imported in graph.items() if module in imported}


def test_pyinfra_internals_are_read_by_the_fact_batching_alone():
    # What pyinfra does not document as API, in one module: a pyinfra upgrade that changes it
    # breaks that module and the batching, nothing else.
    assert importers_of(imports(), "pyinfra_internals") == {"fact_batch"}
    assert importers_of(
        {"fact_batch": {"pyinfra_internals"}, "host": {"pyinfra_internals"}}, "pyinfra_internals"
    ) == {"fact_batch", "host"}


def test_no_import_circles_in_the_appliance_command():
    assert circles(imports(APPLIANCE, "appliance")) == []


def test_the_commands_modules_never_import_the_command_group():
    graph = imports(APPLIANCE, "appliance")
    assert [module for module, imported in graph.items() if "cli" in imported] == []


def test_the_deploy_imports_nothing_of_the_appliance_command():
    assert {
        module: imported
        for module, imported in imports(OPERATIONS, "appliance").items()
        if imported
    } == {}


def test_the_import_reader_sees_each_form(tmp_path):
    (tmp_path / "restore.py").write_text(
        "from appliance import cli, options\ndef late():\n    from appliance.runner import fact\n"
    )
    (tmp_path / "alone.py").write_text("from appliances import cli\nimport appliance.cli\n")
    assert imports(tmp_path, "appliance") == {
        "restore": {"cli", "options", "runner"},
        "alone": {"cli"},
    }
