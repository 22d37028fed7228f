"""README.md stays true: its settings table is the one the code generates."""

import math
import re
from pathlib import Path

import pytest

from operations.memory import fit_table, refusal
from operations.model_memory import MODEL_SHAPES, resident_bytes
from operations.settings import load
from operations.settings_table import markdown_table
from operations.sizing import REFERENCE_MEM_TOTAL_KIB

README = Path(__file__).resolve().parents[2] / "README.md"


def test_settings_table_matches_code():
    text = README.read_text()
    block = re.search(r"<!-- settings-table:.*?-->\n(.*?)\n<!-- /settings-table -->", text, re.S)
    assert block, "README.md has lost its settings table markers"
    # Regenerate: python -c 'from operations.settings import markdown_table as t; print(t())'
    assert block.group(1) == markdown_table()


def test_the_8_gb_box_table_and_refusal_are_the_codes(base_data):
    text = README.read_text()
    block = re.search(r"<!-- fit-table:.*?-->\n(.*?)\n<!-- /fit-table -->", text, re.S)
    assert block, "README.md has lost its fit table markers"
    # Regenerate: python bench/memory_budget.py --fits
    assert block.group(1) == fit_table(load(base_data), REFERENCE_MEM_TOTAL_KIB)
    sample = re.search(r"`qwen2.5:7b` on the 8 GB box:\n\n((?:    .*\n)+)", text).group(1)
    qwen = load({**base_data, "ollama_models": ["qwen2.5:7b"]})
    assert " ".join(sample.split()) == refusal(qwen, REFERENCE_MEM_TOTAL_KIB)


def test_the_model_benchmark_tables_predictions_are_the_codes():
    """README's bench/model_memory.py table ("Tests and benchmark"): the predicted column is
    operations/model_memory.py's prediction in whole MiB rounded up (what operations/memory.py
    gives Ollama, and the limit the runs had), and the margin is predicted less measured. The
    measured column is as measured."""
    rows = re.findall(
        r"^  \| ([\w.:-]+) \| (\d+) \| ([\w, ]+) \| (\d+) \| \d+ \| (\d+) \| ([+-]\d+) \|$",
        README.read_text(),
        re.M,
    )
    assert len(rows) == 20, "README.md's model memory table has lost rows"
    for model, context, kv, predicted, measured, margin in rows:
        kv_type, _, no_flash = kv.partition(", ")
        expected = resident_bytes(MODEL_SHAPES[model], int(context), kv_type, 1, not no_flash)
        # The prediction alone: resident_bytes; the measurement: bench/model_memory.py (root).
        assert int(predicted) == math.ceil(expected / 2**20), (model, context, kv)
        assert int(margin) == int(predicted) - int(measured), (model, context, kv)


def readme_commands(heading: str) -> list[str]:
    """The commands of the ```sh blocks in one README section, in order."""
    section = README.read_text().split(f"\n## {heading}\n")[1].split("\n## ")[0]
    return [
        line
        for block in re.findall(r"```sh\n(.*?)\n```", section, re.S)
        for line in block.splitlines()
    ]


def test_ci_runs_the_readme_commands_with_the_system_python():
    commands = readme_commands("Set up and test")
    assert commands[:2] == [
        "apt-get update && apt-get install -y python3-venv debootstrap systemd-container iproute2 "
        "nftables openssh-client ruby strace pebble",
        "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && . .venv/bin/activate",
    ]
    # The linters before the tests, one command a line: under `set -e`, a failure in an
    # `a && b` list but its last does not stop the script.
    assert commands[2:6] == ["ruff check .", "ruff format --check .", "mypy", "pytest"]
    ci = (README.parent / ".ci/run").read_text().splitlines()
    # The set-up, then the linters and the tests, exactly as README.md shows them, after PATH
    # names the system's own python3 (this machine's default python3 may be another).
    system_python = ci.index("export PATH=/usr/sbin:/usr/bin:/sbin:/bin")
    assert ci[system_python + 1] == 'test "$(command -v python3)" = /usr/bin/python3'
    at = [ci.index(command) for command in commands[:6]]
    assert system_python < at[0] and at == [at[0], at[0] + 1, *range(at[0] + 3, at[0] + 7)]
    assert "set -euo pipefail" in ci  # a failing linter or test fails CI


def test_one_inventory_name_throughout():
    text = README.read_text()
    assert set(re.findall(r"inventories/\w+\.py", text)) == {
        "inventories/mine.py",
        "inventories/prod.py",
        "inventories/vagrant.py",
    }
    # prod.py only as the example to copy; every step uses the file step 1 writes.
    assert text.count("inventories/prod.py") == 1
    assert "copy\n   `inventories/prod.py` to it" in text


def test_deploy_commands_do_not_wait_for_enter():
    deploys = re.findall(r"pyinfra [^`\n]*(?:deploy|uninstall)\.py", README.read_text())
    assert len(deploys) >= 4 and all(d.startswith("pyinfra -y ") for d in deploys), deploys


def test_the_command_table_lists_every_option():
    """Each command's row in "The appliance command" names each of its options (init's many
    answers are named by `appliance init --help`, which its row points to)."""
    from appliance.cli import main

    rows = re.findall(r"^\| `appliance ([a-z-]+)(.*?)` \|", README.read_text(), re.M)
    for name, command in main.commands.items():
        shown = " ".join(usage for row, usage in rows if row == name)
        assert shown, f"appliance {name} has no row in README's command table"
        if name == "init":
            continue
        for parameter in command.params:
            for option in getattr(parameter, "opts", []):
                if option.startswith("--"):
                    assert option in shown, f"appliance {name} {option} is not in its row"
    assert "--version" in [row for row, _ in rows]


@pytest.mark.parametrize(
    "told, path",
    [
        ("Write an inventory for your server, `inventories/mine.py`", "inventories/mine.py"),
        # The SMTP password's file; the README's other secret files are outside the checkout
        # (~/certs, ~/.ssh).
        ('"alert_secrets_file": "alert-secrets.env",  # on your machine', "alert-secrets.env"),
    ],
)
def test_the_files_readme_tells_you_to_write_in_the_checkout_are_kept_out_of_git(told, path):
    import subprocess

    assert told in README.read_text()
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "-v", path],
        cwd=README.parent,
        capture_output=True,
        text=True,
    )
    assert ignored.returncode == 0, f"git would add {path}"
    assert ignored.stdout.startswith(".gitignore:")


def test_the_alert_secrets_example_pastes_as_a_working_file(base_data, tmp_path):
    """The sample alert-secrets.env, pasted as it is: a token without prose in it, so the
    webhook's header is one Authorization: Bearer TOKEN."""
    from operations import alerts

    example = re.search(r"and `alert-secrets.env` .*?```sh\n(.*?)```", README.read_text(), re.S)
    assert example, "the Alerts section's sample alert-secrets.env"
    (tmp_path / "alert-secrets.env").write_text(example.group(1))
    settings = load({**base_data, "alert_secrets_file": str(tmp_path / "alert-secrets.env")})
    env = dict(line.split("=", 1) for line in alerts.secret_env(settings).splitlines())
    assert re.fullmatch(r"Authorization: Bearer [^\s]+", env["WEBHOOK_HEADER"])
    assert " " not in env["SMTP_PASSWORD"]


def test_alarms_table_matches_code():
    """The alarms table is the one operations/alarms.py renders for a daily backup_schedule."""
    from operations import alarms
    from operations.settings import load

    settings = load(
        {
            "webui_domain": "chat.example.com",
            "monitor_domain": "monitor.example.com",
            "acme_email": "admin@example.com",
            "backup_repository": "/srv/offsite-restic",
        }
    )
    block = re.search(
        r"<!-- alarms-table:.*?-->\n(.*?)\n<!-- /alarms-table -->", README.read_text(), re.S
    )
    assert block, "README.md has lost its alarms table markers"
    assert block.group(1) == alarms.markdown_table(settings)
