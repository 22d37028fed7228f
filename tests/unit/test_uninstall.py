"""uninstall.py removes exactly what the k3s and apps layers' plans put on a host, after the
off-site timers.

What it removes is read from pyinfra's own plan of a `--dry` run against @local
(tests/pyinfra_capture.py: the arguments pyinfra attaches to each operation), not from the
plans; nothing on this machine changes, and no k3s uninstall script is here to run.
"""

from pathlib import Path

from appliance.inventory import InventoryHost
from appliance.render import node_plans
from dry_plan import dry_plan
from operations.settings import load

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = PROJECT_ROOT / "tests/data"
SETTINGS = {
    "webui_domain": "chat.rehearsal.test",
    "monitor_domain": "monitor.rehearsal.test",
    "acme_ca": "none",
    "webui_admin_email": "admin@rehearsal.test",
}
# The operator's own files: Traefik's certificate, the alert routes' secrets, a model file.
OWN_FILES = {
    "tls_certificate": str(DATA / "tls/rehearsal.crt"),
    "tls_key": str(DATA / "tls/rehearsal.key"),
    "alert_email_to": ["ops@rehearsal.test"],
    "alert_email_from": "netdata@rehearsal.test",
    "alert_smtp_host": "smtp.rehearsal.test",
    "alert_secrets_file": str(DATA / "alert-secrets.env"),
    "ollama_models": ["mine:1b"],
    "ollama_model_sizes": {"mine:1b": 0.5},
    "ollama_model_files": {"mine:1b": str(DATA / "mine-1b.gguf")},
}
MANIFESTS = "/var/lib/rancher/k3s/server/manifests/llm-appliance-"
OFFSITE_TIMERS_REMOVED = "Stop and remove the off-site timers (the datastore they copy goes)"


def removals(tmp_path: Path, data: dict) -> list[tuple[str, str]]:
    """(operation, path) of each removal a dry run of uninstall.py plans, in order; the first
    operation, which stops the off-site timers, as (its name, "")."""
    inventory = tmp_path / "local.py"
    inventory.write_text(f"hosts = [('@local', {data!r})]\n")
    found = []
    for operation in dry_plan(inventory, "uninstall.py", tmp_path / "planned.json")["operations"]:
        (name,) = operation["names"]
        if name.endswith(OFFSITE_TIMERS_REMOVED):
            found.append((OFFSITE_TIMERS_REMOVED, ""))
            continue
        assert "present=False" in operation["args"], operation
        (path,) = [
            arg.removeprefix("path=") for arg in operation["args"] if arg.startswith("path=")
        ]
        found.append((name.split(" | ")[-1], path))
    return found


def test_uninstall_removes_the_folders_and_files_the_k3s_and_apps_layers_put(tmp_path):
    assert removals(tmp_path, SETTINGS) == [
        (OFFSITE_TIMERS_REMOVED, ""),
        ("files.directory", "/etc/rancher/k3s"),
        ("files.directory", "/usr/local/lib/llm-appliance"),
        ("files.directory", "/etc/llm-appliance/traefik"),
        ("files.directory", "/var/lib/llm-appliance"),
        ("files.directory", "/etc/llm-appliance/alerts"),
        ("files.file", f"{MANIFESTS}traefik.yaml"),
        ("files.file", "/usr/local/bin/k3s"),
        *(
            ("files.file", f"{MANIFESTS}{name}.yaml")
            for name in (
                "namespaces",
                "postgres-operator",
                "postgres",
                "ollama",
                "ollama-models",
                "open-webui",
                "backup",
                "monitoring",
                "network-policies",
                "nvidia-device-plugin",
            )
        ),
    ]


def test_uninstall_removes_every_path_of_the_plans_and_nothing_else(tmp_path):
    # The k3s and apps layers' plans, as render makes them, GPU manifests too (uninstall.py
    # removes those wherever ollama_gpu is not none).
    data = {**SETTINGS, **OWN_FILES, "layers": ["k3s", "apps"], "ollama_gpu": "nvidia"}
    removed = removals(tmp_path, data)[1:]
    folders = {path for operation, path in removed if operation == "files.directory"}
    files = {path for operation, path in removed if operation == "files.file"}
    node = InventoryHost("@local", data, ())
    plans = node_plans(node, load(data), [node])
    planned = {path for plan in plans for path in plan.paths}
    assert folders == {folder for plan in plans for folder in plan.folders}
    # Each path the plans put is removed: itself, or with its folder.
    assert {
        path for path in planned if not any(path.startswith(f"{folder}/") for folder in folders)
    } == files
    # The operator's files' copies are among them (the Traefik Secret's, the alert secrets').
    inside = {path for path in planned if path not in files}
    assert inside >= {
        "/etc/llm-appliance/traefik/tls.crt",
        "/etc/llm-appliance/traefik/tls.key",
        "/etc/llm-appliance/alerts/secrets.env",
        "/etc/rancher/k3s/config.yaml",
        "/usr/local/lib/llm-appliance/put-secret.sh",
        "/usr/local/lib/llm-appliance/ensure-secret.sh",
        "/usr/local/lib/llm-appliance/k3s-install-v1.36.5+k3s1.sh",
        "/var/lib/llm-appliance/models/mine-1b.gguf",
    }
