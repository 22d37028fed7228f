"""The appliance command's own logic: init, help texts, and the run summary."""

import inspect

import pytest
from click.testing import CliRunner

from appliance.cli import main
from operations.settings import load
from operations.summary import summary_lines

INIT = ["--address", "203.0.113.10", "--ssh-user", "ubuntu", "--webui-domain", "chat.example.com",
        "--monitor-domain", "monitor.example.com", "--acme-ca", "production",
        "--acme-email", "admin@example.com", "--admin-cidr", "198.51.100.0/24"]


def test_init_writes_a_valid_inventory_and_never_overwrites(tmp_path):
    path = tmp_path / "mine.py"
    result = CliRunner().invoke(main, ["init", str(path), *INIT])
    assert result.exit_code == 0, result.output
    check = CliRunner().invoke(main, ["check", str(path), "--offline"])
    assert check.exit_code == 0, check.output
    assert '"_sudo": True' in path.read_text()
    again = CliRunner().invoke(main, ["init", str(path), *INIT])
    assert again.exit_code == 1 and "init never overwrites" in again.output


def test_init_refuses_bad_settings(tmp_path):
    bad = [*INIT[:5], "chat_example", *INIT[6:]]
    result = CliRunner().invoke(main, ["init", str(tmp_path / "bad.py"), *bad])
    assert result.exit_code == 1
    assert "webui_domain = 'chat_example' is not a fully qualified domain name" in result.output
    assert not (tmp_path / "bad.py").exists()


def example_lines(command) -> list[str]:
    """The lines of a command's docstring example: the paragraph after its `\\b` marker."""
    paragraphs = inspect.cleandoc(command.callback.__doc__).split("\n\n")
    return [line.strip() for paragraph in paragraphs if paragraph.startswith("\b")
            for line in paragraph.splitlines()[1:]]


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


SETTINGS = load({"webui_domain": "chat.example.com", "monitor_domain": "mon.example.com",
                 "acme_email": "admin@example.com"})


def test_summary_of_a_converged_first_server():
    lines = summary_lines(SETTINGS, "inventories/prod.py", True,
                          {"llama3.2:3b", "nomic-embed-text:latest"}, [])
    assert lines == [
        "Open WebUI:  https://chat.example.com/  (admin admin@example.com; password: "
        "appliance admin-password inventories/prod.py)",
        "Monitoring:  https://mon.example.com/  (user admin; password: appliance "
        "monitor-password inventories/prod.py)",
        "Models:      llama3.2:3b, nomic-embed-text:latest (all present)",
        "Kubernetes:  appliance kubeconfig inventories/prod.py",
        "Changed:     nothing (the host was converged)",
    ]


def test_summary_of_changes_and_missing_models():
    changed = [f"Host layer | step {n}" for n in range(8)]
    lines = summary_lines(SETTINGS, "INVENTORY", True, {"llama3.2:3b"}, changed)
    assert "(still missing: nomic-embed-text:latest)" in lines[2]
    assert lines[-1] == ("Changed:     8 operations: step 0; step 1; step 2; step 3; step 4; "
                         "step 5 and 2 more")
    agent = summary_lines(SETTINGS, "INVENTORY", False, None, changed[:1])
    assert agent == ["Changed:     1 operations: step 0"]
