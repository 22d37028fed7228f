"""The appliance command's own logic: init, help texts, and the run summary."""

import inspect
import os
import pty
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.runner import project_environment
from operations.summary import summary_lines

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INIT = [
    "--address",
    "203.0.113.10",
    "--ssh-user",
    "ubuntu",
    "--webui-domain",
    "chat.example.com",
    "--monitor-domain",
    "monitor.example.com",
    "--acme-ca",
    "production",
    "--acme-email",
    "admin@example.com",
    "--admin-cidr",
    "198.51.100.0/24",
]


def test_init_writes_a_valid_inventory_and_never_overwrites(tmp_path):
    path = tmp_path / "mine.py"
    result = CliRunner().invoke(main, ["init", str(path), *INIT])
    assert result.exit_code == 0, result.output
    check = CliRunner().invoke(main, ["check", str(path), "--offline"])
    assert check.exit_code == 0, check.output
    assert '"_sudo": True' in path.read_text()
    again = CliRunner().invoke(main, ["init", str(path), *INIT])
    assert again.exit_code == 1 and "init never overwrites" in again.output


def test_an_inventory_without_hosts_is_refused(tmp_path):
    empty = tmp_path / "empty.py"
    empty.write_text("# no hosts yet\n")
    result = CliRunner().invoke(main, ["check", str(empty)])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {empty}: the inventory lists no hosts; add your server, "
        'e.g. hosts = ["203.0.113.10"] (appliance init writes one)\n'
    )


def test_init_refuses_bad_settings(tmp_path):
    bad = [*INIT[:5], "chat_example", *INIT[6:]]
    result = CliRunner().invoke(main, ["init", str(tmp_path / "bad.py"), *bad])
    assert result.exit_code == 1
    assert "webui_domain = 'chat_example' is not a fully qualified domain name" in result.output
    assert not (tmp_path / "bad.py").exists()


def example_lines(command) -> list[str]:
    """The lines of a command's docstring example: the paragraph after its `\\b` marker."""
    paragraphs = inspect.cleandoc(command.callback.__doc__).split("\n\n")
    return [
        line.strip()
        for paragraph in paragraphs
        if paragraph.startswith("\b")
        for line in paragraph.splitlines()[1:]
    ]


def test_init_without_a_terminal_never_asks_and_names_the_missing_flag(tmp_path):
    without_address = [arg for arg in INIT if arg not in ("--address", "203.0.113.10")]
    result = CliRunner().invoke(main, ["init", str(tmp_path / "mine.py"), *without_address])
    assert result.exit_code == 2
    assert "--address is missing, and there is no terminal to ask on; give it" in result.output
    assert not (tmp_path / "mine.py").exists()


def test_init_with_acme_none_asks_for_the_admin_email_not_the_acme_one(tmp_path):
    rehearsal = [
        "--address",
        "192.0.2.7",
        "--webui-domain",
        "chat.example.test",
        "--monitor-domain",
        "monitor.example.test",
        "--acme-ca",
        "none",
    ]
    result = CliRunner().invoke(main, ["init", str(tmp_path / "a.py"), *rehearsal])
    assert result.exit_code == 2
    assert "--admin-email is missing" in result.output and "--acme-email" not in result.output
    path = tmp_path / "b.py"
    result = CliRunner().invoke(
        main, ["init", str(path), *rehearsal, "--admin-email", "admin@example.test"]
    )
    assert result.exit_code == 0, result.output
    text = path.read_text()
    assert '"webui_admin_email": "admin@example.test"' in text and "acme_email" not in text
    assert '"ssh_user": "ubuntu"' in text  # the default, taken without asking


def test_init_writes_the_size_of_a_model_the_table_lacks(tmp_path):
    path = tmp_path / "mine.py"
    result = CliRunner().invoke(
        main, ["init", str(path), *INIT, "--model", "mymodel:7b", "--model-size", "mymodel:7b=4.5"]
    )
    assert result.exit_code == 0, result.output
    assert '"ollama_model_sizes": {"mymodel:7b": 4.5}' in path.read_text()
    assert CliRunner().invoke(main, ["check", str(path), "--offline"]).exit_code == 0
    bad = CliRunner().invoke(
        main, ["init", str(tmp_path / "x.py"), *INIT, "--model-size", "mymodel:7b=big"]
    )
    assert bad.exit_code == 2 and "use NAME:TAG=GiB, e.g. mymodel:7b=4.5" in bad.output


def test_init_on_a_terminal_asks_only_what_is_needed(tmp_path):
    """Through a real pseudo-terminal: CA none, so the admin e-mail is asked, the ACME one not;
    the network that may reach the Kubernetes API is asked too (none given as a flag)."""
    path = tmp_path / "asked.py"
    answers = [
        "203.0.113.10",
        "root",
        "chat.example.com",
        "monitor.example.com",
        "none",
        "admin@example.com",
        "198.51.100.0/24",
    ]
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "init", str(path)],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=project_environment(),
        close_fds=True,
    )
    os.close(secondary)
    output = b""
    for answer in answers:
        while not output.rstrip().endswith((b":", b"]")):
            output += os.read(primary, 4096)
        os.write(primary, answer.encode() + b"\n")
        output += os.read(primary, 4096)
    assert process.wait(timeout=60) == 0
    while True:  # the rest of the output, until the terminal closes
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    assert output.decode().splitlines()[:7] == [
        "Server address (IP or DNS name): 203.0.113.10",
        "SSH user (root, or a user with sudo) [ubuntu]: root",
        "Public name of Open WebUI (e.g. chat.example.com): chat.example.com",
        "Public name of the monitoring UI (e.g. monitor.example.com): monitor.example.com",
        "Let's Encrypt CA (production, staging, none) [production]: none",
        "E-mail of Open WebUI's first admin account: admin@example.com",
        "Network allowed to reach the Kubernetes API, as CIDR (e.g. 198.51.100.0/24; empty: "
        "kubectl on the server only): 198.51.100.0/24",
    ]
    assert '"webui_admin_email": "admin@example.com"' in path.read_text()
    assert '"admin_cidrs": ["198.51.100.0/24"]' in path.read_text()


@pytest.mark.parametrize(
    "address",
    [
        "203.0.113.10 ",
        "chat example com",
        "ssh://203.0.113.10",
        "root@203.0.113.10",
        "-host",
        "host_1.example.com",
    ],
)
def test_init_refuses_an_address_that_is_no_host_and_writes_nothing(tmp_path, address):
    """Found trying the first hour: any text was written into the inventory as the address."""
    path = tmp_path / "mine.py"
    arguments = [address if item == "203.0.113.10" else item for item in INIT]
    result = CliRunner().invoke(main, ["init", str(path), *arguments])
    assert result.exit_code == 2
    assert (
        f"Invalid value for --address: {address!r} is neither an IP address nor a host "
        "name; give one like 192.0.2.10 or server.example.com"
    ) in " ".join(result.output.split())
    assert not path.exists()


@pytest.mark.parametrize("address", ["2001:db8::10", "server1", "llm.lan", "Server.Example.COM."])
def test_init_takes_ip_addresses_and_host_names(tmp_path, address):
    path = tmp_path / "mine.py"
    arguments = [address if item == "203.0.113.10" else item for item in INIT]
    assert CliRunner().invoke(main, ["init", str(path), *arguments]).exit_code == 0
    assert f'"{address}"' in path.read_text()


def test_readme_init_example_runs_without_a_terminal(tmp_path):
    readme = (PROJECT_ROOT / "README.md").read_text()
    (line,) = [
        line.strip()
        for line in readme.splitlines()
        if line.strip().startswith("appliance init inventories/mine.py --")
    ]
    command = shlex.split(line.replace("inventories/mine.py", str(tmp_path / "mine.py")))
    result = subprocess.run(
        [sys.executable, "-m", "appliance.cli", *command[1:]],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"wrote {tmp_path / 'mine.py'}; next: appliance check")


@pytest.mark.parametrize("command", [c for c in main.commands])
def test_every_command_has_help_with_an_example_shown_as_written(command):
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    shown = [line.strip() for line in result.output.splitlines()]
    examples = example_lines(main.commands[command])
    assert examples and all("appliance" in line for line in examples[:1])
    # Not re-wrapped by click: each line pastes as written (continuation lines included).
    for line in examples:
        assert line in shown, (line, result.output)


def test_summary_of_a_converged_first_server(base_settings):
    lines = summary_lines(
        base_settings,
        "inventories/prod.py",
        True,
        {"llama3.2:3b", "nomic-embed-text:latest"},
        [],
        "CPU: no NVIDIA GPU on this host",
    )
    assert lines == [
        "Open WebUI:  https://chat.example.com/  (admin admin@example.com; password: "
        "appliance admin-password inventories/prod.py)",
        "Monitoring:  https://monitor.example.com/  (user admin; password: appliance "
        "monitor-password inventories/prod.py)",
        "Models:      llama3.2:3b, nomic-embed-text:latest (all present)",
        "Ollama:      CPU: no NVIDIA GPU on this host",
        "Kubernetes:  appliance kubeconfig inventories/prod.py",
        "Changed:     nothing (the host was converged)",
    ]


def test_summary_of_changes_and_missing_models(base_settings):
    changed = [f"Host layer | step {n}" for n in range(8)]
    lines = summary_lines(base_settings, "INVENTORY", True, {"llama3.2:3b"}, changed, "CPU")
    assert "(still missing: nomic-embed-text:latest)" in lines[2]
    assert lines[-1] == (
        "Changed:     8 operations: step 0; step 1; step 2; step 3; step 4; step 5 and 2 more"
    )
    agent = summary_lines(base_settings, "INVENTORY", False, None, changed[:1], "")
    assert agent == ["Changed:     1 operations: step 0"]


def test_init_writes_the_ssh_key_pyinfra_logs_in_with(tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("not a real key\n")
    path = tmp_path / "mine.py"
    result = CliRunner().invoke(main, ["init", str(path), *INIT, "--ssh-key", str(key)])
    assert result.exit_code == 0, result.output
    assert f'"ssh_key": "{key}"' in path.read_text()
    without = tmp_path / "without.py"
    assert CliRunner().invoke(main, ["init", str(without), *INIT]).exit_code == 0
    assert '"ssh_key":' not in without.read_text()


def test_a_run_the_preflight_stopped_gives_its_reason_not_a_host_line():
    from appliance.runner import last_error_line

    output = (
        "--> Preparing operation files...\n"
        "    [10.213.2.2] Ollama: CPU: no NVIDIA GPU on this host\n"
        "--> llm-appliance: stopped before changing anything: 10.213.2.2 cannot run the "
        "appliance as set\n"
        "    - operating system Debian 11 is not supported; install one of: Ubuntu 22.04, "
        "24.04; Debian 12, 13\n"
    )
    assert last_error_line(output) == (
        "stopped before changing anything: 10.213.2.2 cannot run the appliance as set: operating "
        "system Debian 11 is not supported; install one of: Ubuntu 22.04, 24.04; Debian 12, 13"
    )


MISSING_KEY = (
    "ssh_key = '/nonexistent' is not a file on this machine; give the private key "
    "pyinfra logs in with (e.g. ~/.ssh/id_ed25519; `ssh-keygen -t ed25519` makes one), "
    "or leave ssh_key out to log in with your SSH agent and ~/.ssh keys"
)


def test_init_refuses_an_ssh_key_that_is_not_there(tmp_path):
    path = tmp_path / "mine.py"
    result = CliRunner().invoke(main, ["init", str(path), *INIT, "--ssh-key", "/nonexistent"])
    assert result.exit_code == 1
    assert result.output == f"Error: {MISSING_KEY}\n"
    assert not path.exists()


def inventory_with_missing_key(tmp_path) -> Path:
    path = tmp_path / "mine.py"
    assert CliRunner().invoke(main, ["init", str(path), *INIT]).exit_code == 0
    path.write_text(
        path.read_text().replace('"_sudo": True,', '"_sudo": True, "ssh_key": "/nonexistent",')
    )
    return path


def test_check_names_a_missing_ssh_key_in_one_line(tmp_path):
    path = inventory_with_missing_key(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "check", str(path)],
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"{path}: the settings need fixing:\n    - 203.0.113.10: {MISSING_KEY}\n"
    )


def test_the_deploy_stops_on_a_missing_ssh_key_before_it_connects(tmp_path):
    """pyinfra runs config.py's check before connecting (pyinfra would fail in its connection
    greenlet with a traceback); 203.0.113.10 (TEST-NET-3) is never reached."""
    path = inventory_with_missing_key(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", "-y", str(path), "deploy.py"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=60,
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "Connected" not in output
    assert (
        "--> llm-appliance: stopped before changing anything: cannot log in to 203.0.113.10\n"
        f"    - {MISSING_KEY}\n"
    ) in output


def test_version_gives_the_project_and_every_pinned_version_as_read_now(monkeypatch):
    import re
    from types import MappingProxyType

    import operations.pins

    project = re.search(r'^version = "(.+)"$', (PROJECT_ROOT / "pyproject.toml").read_text(), re.M)[
        1
    ]
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert re.fullmatch(
        rf"llm-appliance {re.escape(project)} \(commit [0-9a-f]{{7,40}}\)", lines[0]
    ), lines[0]
    assert lines[1] == "pinned versions (PINNED_VERSIONS, operations/pins.py):"
    assert all(re.fullmatch(r"  [a-z0-9 -]+: \S+", line) for line in lines[2:]), lines
    pins = dict(line.strip().split(": ", 1) for line in lines[2:])
    assert pins == dict(operations.pins.PINNED_VERSIONS) and "k3s" in pins
    # Read when it runs, not written into the command: a planted pin shows.
    monkeypatch.setattr(
        operations.pins, "PINNED_VERSIONS", MappingProxyType({"k3s": "v9.9.9+k3s9"})
    )
    planted = CliRunner().invoke(main, ["--version"]).output.splitlines()
    assert planted[2:] == ["  k3s: v9.9.9+k3s9"]


# ApplianceRead of a rehearsal host with the host layer alone (`appliance rehearse --keep`),
# recorded from `pyinfra --json fact operations.health.ApplianceRead`.
HOST_LAYER_READ: dict[str, Any] = {
    "now": 1796604102,
    "memory_available_kib": 23555884,
    "disk_free_kib": 75033464,
    "backup": None,
    "offsite": {"time": None, "failed": {}},
    "reboot": None,
    "restored": None,
    "k3s": False,
    "objects": [],
    "secrets": [],
    "models": [],
    "redirect": "",
    "health": "",
    "certificate": None,
}


def test_status_of_a_host_layer_says_what_it_did_not_read(tmp_path, monkeypatch):
    """As README says of the rehearsal host: disk and memory, k3s and the apps not read, exit 0."""
    import json

    import appliance.cli

    path = tmp_path / "rehearsal.py"
    path.write_text(
        "hosts = [('10.213.1.2', {'webui_domain': 'chat.rehearsal.test', "
        "'monitor_domain': 'monitor.rehearsal.test', 'acme_ca': 'none', "
        "'webui_admin_email': 'admin@rehearsal.test', 'layers': 'host'})]\n"
    )
    recorded = json.dumps({"operations.health.ApplianceRead": {"10.213.1.2": HOST_LAYER_READ}})
    monkeypatch.setattr(
        appliance.cli,
        "on_host",
        lambda *arguments: subprocess.CompletedProcess(arguments, 0, stdout=recorded, stderr=""),
    )
    result = CliRunner().invoke(main, ["status", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "10.213.1.2 (server)"
    assert [line.split()[:2] for line in lines[2:4]] == [["disk", "ready"], ["memory", "ready"]]
    assert lines[4:] == ["  not read: k3s, apps (not in this inventory's layers: host)"]
    # The same inventory without its layers, given them with --data as the deploy had them.
    path.write_text(path.read_text().replace(", 'layers': 'host'", ""))
    given = CliRunner().invoke(main, ["status", str(path), "--data", "layers=host"])
    assert given.output.splitlines()[4:] == lines[4:]
    readme = (PROJECT_ROOT / "README.md").read_text().replace("\n", " ")
    assert (
        "`appliance status` shows the host's free disk and memory, says `not read: k3s, apps "
        "(not in this inventory's layers: host)` and exits 0"
    ) in readme


REFERENCE_BOX_WARNING = (
    "warning: ollama_models: Ollama needs 5851 MiB with llama3.1:8b (5157 MiB) and "
    "nomic-embed-text:latest (438 MiB) loaded together (context 4096, KV cache q8_0, parallel "
    "1, prompt cache 0 MiB, server 256 MiB); the 8 GB reference box leaves it 5238 MiB of its "
    "7948 MiB after the system (896 MiB) and the platform's requests (1814 MiB), 613 MiB short: "
    "use the library's smaller quantisation llama3.1:8b-instruct-q3_K_M (same shape, smaller file); "
    "or choose a smaller model or a host with more RAM"
)


def test_init_and_check_warn_of_a_model_the_reference_box_cannot_hold(tmp_path):
    path = tmp_path / "mine.py"
    result = CliRunner().invoke(main, ["init", str(path), *INIT, "--model", "llama3.1:8b"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == REFERENCE_BOX_WARNING
    check = CliRunner().invoke(main, ["check", str(path), "--offline"])
    assert check.exit_code == 0
    assert check.output.splitlines() == [
        "settings: 1 host(s) valid",
        REFERENCE_BOX_WARNING.replace("warning: ", "warning: 203.0.113.10: "),
    ]
    # render warns as check --offline does (README: init, check --offline and render warn).
    render = CliRunner().invoke(main, ["render", str(path), "--out", str(tmp_path / "out")])
    assert render.exit_code == 0, render.output
    assert render.output.splitlines()[0] == REFERENCE_BOX_WARNING.replace(
        "warning: ", "warning: 203.0.113.10: "
    )
    # gemma3:4b (3.1 GiB, shape not in the table: 3.1 x 1.2 GiB + 64 MiB, 3873 MiB) fits.
    fits = CliRunner().invoke(
        main, ["init", str(tmp_path / "fits.py"), *INIT, "--model", "gemma3:4b"]
    )
    assert fits.exit_code == 0 and "warning" not in fits.output


UNSIZED_WARNING = (
    "warning: ollama_models: the size of qwen2.5:7b-instruct-q3_K_M is not known offline "
    "(neither ollama_model_sizes, ollama_model_files nor the built-in table gives it), so "
    "Ollama's memory request and limit and the reference box's check count nothing for it: set "
    "ollama_model_sizes to its download size in GiB, e.g. --data "
    "'ollama_model_sizes={\"qwen2.5:7b-instruct-q3_K_M\": GIB}', or run `appliance check` "
    "without --offline, which reads it from the Ollama registry through the host"
)


def test_offline_commands_warn_of_a_model_of_unknown_size(tmp_path):
    """A tag outside the built-in table (a library quantisation, a model of one's own) has no
    size offline: init, check --offline and render say so in one line instead of counting
    the model as the runner alone (64 MiB)."""
    path = tmp_path / "mine.py"
    model = "qwen2.5:7b-instruct-q3_K_M"
    result = CliRunner().invoke(main, ["init", str(path), *INIT, "--model", model])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == UNSIZED_WARNING
    check = CliRunner().invoke(main, ["check", str(path), "--offline"])
    assert (check.exit_code, check.output.splitlines()) == (
        0,
        [
            "settings: 1 host(s) valid",
            UNSIZED_WARNING.replace("warning: ", "warning: 203.0.113.10: "),
        ],
    )
    render = CliRunner().invoke(main, ["render", str(path), "--out", str(tmp_path / "out")])
    assert render.exit_code == 0, render.output
    assert render.output.splitlines()[0] == UNSIZED_WARNING.replace(
        "warning: ", "warning: 203.0.113.10: "
    )
    # Sized in the settings, the model is counted and the warning goes.
    sized = CliRunner().invoke(
        main,
        ["check", str(path), "--offline", "--data", f'ollama_model_sizes={{"{model}": 3.8}}'],
    )
    assert sized.output.splitlines() == ["settings: 1 host(s) valid"]


def test_verify_stops_at_once_where_k3s_is_not_installed(tmp_path, monkeypatch):
    """The K3sVersion fact as `pyinfra --json fact` prints it: null without a k3s binary."""
    import json

    import appliance.cli

    path = tmp_path / "mine.py"
    assert CliRunner().invoke(main, ["init", str(path), *INIT]).exit_code == 0
    answers, asked = {}, []

    def pyinfra(inventory, limit, *arguments):
        asked.append(arguments)
        return subprocess.CompletedProcess(
            arguments,
            0,
            stdout=json.dumps(
                {"operations.facts.K3sVersion (path=/usr/local/bin/k3s)": {limit: answers["k3s"]}}
            ),
        )

    monkeypatch.setattr(appliance.cli, "on_host", pyinfra)
    ran = []
    monkeypatch.setattr(
        appliance.cli.subprocess,
        "run",
        lambda command, **k: ran.append(command) or subprocess.CompletedProcess(command, 0),
    )
    answers["k3s"] = None
    result = CliRunner().invoke(main, ["verify", str(path)])
    assert (result.exit_code, result.output) == (
        1,
        "Error: k3s is not installed on 203.0.113.10: verify with --layers host\n",
    )
    assert asked == [("--json", "fact", "operations.facts.K3sVersion", "path=/usr/local/bin/k3s")]
    assert ran == []
    answers["k3s"] = "v1.36.5+k3s1"
    assert CliRunner().invoke(main, ["verify", str(path)]).exit_code == 0
    assert len(ran) == 1 and "host or k3s or apps" in ran[0]
    # The host layer alone asks nothing of k3s.
    asked.clear()
    assert CliRunner().invoke(main, ["verify", str(path), "--layers", "host"]).exit_code == 0
    assert asked == []


def test_the_shipped_suite_names_bad_settings_in_one_line(tmp_path):
    """Run as README shows it (pytest tests/host --inventory ...): it stops in its
    configuration, before any host is reached (it gave a SettingsError traceback)."""
    path = inventory_with_missing_key(tmp_path)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/host",
            f"--inventory={path}",
            "-p",
            "no:cacheprovider",
            "-m",
            "host",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=project_environment(),
        timeout=120,
    )
    assert result.returncode == 4  # pytest's usage error
    assert (result.stdout + result.stderr).strip() == (
        f"ERROR: {path}: the settings of 203.0.113.10 need fixing: {MISSING_KEY}"
    )


def test_init_refuses_a_folder_that_does_not_exist(tmp_path):
    """It made the missing folders, /nonexistent-dir at the root for a typo (first hour)."""
    path = tmp_path / "no-such-folder" / "mine.py"
    result = CliRunner().invoke(main, ["init", str(path), *INIT])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {tmp_path / 'no-such-folder'} is not a folder: make it "
        "first, or write the inventory into one that exists (e.g. "
        "inventories/)\n"
    )
    assert not path.parent.exists()


def test_verify_refuses_a_layer_that_is_not_one(tmp_path):
    """`--layers hots` ran pytest with `-m hots`: 87 deselected, no check, no error."""
    path = tmp_path / "mine.py"
    assert CliRunner().invoke(main, ["init", str(path), *INIT]).exit_code == 0
    result = CliRunner().invoke(main, ["verify", str(path), "--layers", "host,hots"])
    assert result.exit_code == 2
    assert "Invalid value for --layers: hots is not a layer; give some of host,k3s,apps" in (
        " ".join(result.output.split())
    )


def test_rehearse_refuses_keep_with_clean():
    result = CliRunner().invoke(main, ["rehearse", "--keep", "--clean"])
    assert result.exit_code == 2
    assert "--clean only removes what earlier rehearsals left; run --keep on its own" in (
        " ".join(result.output.split())
    )


def test_a_host_that_does_not_speak_ssh_is_one_line_without_a_traceback(tmp_path):
    """Found trying the first hour: paramiko's transport thread logged 'Exception (client):
    Error reading SSH protocol banner' and its traceback (about 20 lines) before pyinfra's own
    line. A port on 127.0.0.1 that accepts and closes each connection stands for such a host."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def close_each():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.close()

    threading.Thread(target=close_each, daemon=True).start()
    path = tmp_path / "mine.py"
    assert CliRunner().invoke(main, ["init", str(path), *INIT]).exit_code == 0
    path.write_text(
        path.read_text()
        .replace('"203.0.113.10"', '"127.0.0.1"')
        .replace('"_sudo": True,', f'"_sudo": True, "ssh_port": {listener.getsockname()[1]},')
    )
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pyinfra", "-y", str(path), "deploy.py"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            env=project_environment(),
            timeout=60,
        )
    finally:
        listener.close()
    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Traceback" not in output and 'File "' not in output, output
    assert "[127.0.0.1] SSH error (Error reading SSH protocol banner" in output, output


def test_paramiko_keeps_its_error_lines_and_loses_its_tracebacks(caplog):
    """CI found the first fix (paramiko's transport logging at CRITICAL) hiding the one line
    that names a connection cut mid-run, 'Socket exception: Connection reset by peer (104)'.
    Records as paramiko 4.0 Transport.run logs them: the exception line, then util.tb_strings()
    of a chained exception, one record per line."""
    import logging
    import traceback

    from operations.errors import ParamikoTracebackFilter

    try:
        try:
            raise EOFError
        except EOFError as error:
            raise OSError("Error reading SSH protocol banner") from error
    except OSError:
        traceback_lines = "".join(traceback.format_exc()).split("\n")
    logger = logging.getLogger("test.paramiko.transport")
    logger.addFilter(ParamikoTracebackFilter())
    with caplog.at_level(logging.ERROR, logger=logger.name):
        logger.error("Exception (client): Error reading SSH protocol banner")
        for line in traceback_lines:
            logger.error(line)
        logger.error("Socket exception: Connection reset by peer (104)")
    assert len(traceback_lines) > 8
    assert caplog.messages == [
        "Exception (client): Error reading SSH protocol banner",
        "Socket exception: Connection reset by peer (104)",
    ]


def test_a_host_that_cannot_be_reached_gets_the_hint_its_error_calls_for():
    """Found trying the first hour: every failure to reach a host said to set ssh_user and
    ssh_key, a bad DNS name and a server that never answers included."""
    from appliance.runner import connection_hint

    assert connection_hint("Could not resolve hostname ([Errno -2] Name or service not known)") == (
        "the host's address in the inventory does not resolve: check it"
    )
    assert connection_hint("SSH error (Error reading SSH protocol banner)").startswith(
        "nothing answered SSH there: check that the server is up"
    )
    assert connection_hint(
        "Could not connect ([Errno None] Unable to connect to port 22 on 127.0.0.1)"
    ).startswith("nothing answered SSH there")
    assert connection_hint("Authentication error: Authentication failed.") == (
        "pyinfra could not log in: set ssh_user and ssh_key in the inventory "
        "(appliance init --ssh-key)"
    )
    assert connection_hint("Invalid private key file: /tmp/key").startswith(
        "pyinfra could not log in"
    )
