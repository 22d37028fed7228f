"""Secrets are made on the host, once, and never leave it: proved with the real
files/ensure-secret.sh and the real deploy operation over SSH. k3s cannot be downloaded here,
so a stand-in for `k3s kubectl` (tests/integration/standin_k3s.py) keeps the Secrets and logs
every command line it receives."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from appliance.rehearsal import run_pyinfra

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("standin_k3s.py")
SECRET_FILE = "/var/lib/standin-k3s/llm/open-webui-secrets.json"
MONITORING_FILE = "/var/lib/standin-k3s/monitoring/netdata-basic-auth.json"


@pytest.fixture(scope="module")
def standin_k3s(rehearsal):
    subprocess.run(
        ["scp", *rehearsal.ssh_options(), str(STANDIN), f"root@{rehearsal.address}:/usr/local/bin/k3s"],
        check=True, capture_output=True,
    )
    rehearsal.ssh("chmod 755 /usr/local/bin/k3s")
    return rehearsal


@pytest.fixture(scope="module")
def deploy_file(tmp_path_factory):
    """The apps layer's secret steps alone (the rest needs a running k3s)."""
    path = tmp_path_factory.mktemp("deploy") / "secrets_deploy.py"
    path.write_text(
        "from pyinfra import host\n"
        "from pyinfra.operations import files\n"
        "from operations import apps, names\n"
        "from operations.rendering import PROJECT_ROOT\n"
        "from operations.settings import load\n"
        "settings = load(host.data.dict())\n"
        "files.put(name='Install ensure-secret.sh', src=str(PROJECT_ROOT / 'files/ensure-secret.sh'),"
        " dest=apps.ENSURE_SECRET, mode='755')\n"
        "apps.secret_present(name='Generate secrets', namespace=names.NAMESPACE,"
        " secret=names.WEBUI_SECRETS, keys=names.WEBUI_SECRET_KEYS, settings=settings)\n"
        "apps.secret_present(name='Generate the monitoring password', namespace='monitoring',"
        " secret=names.BASIC_AUTH_SECRET, keys=('username=admin', 'password'),"
        " secret_type='kubernetes.io/basic-auth', settings=settings)\n"
    )
    return path


@pytest.fixture(scope="module")
def two_runs(standin_k3s, inventory, deploy_file):
    path = inventory("secrets.py")
    first = run_pyinfra(path, str(deploy_file))
    stored_after_first = standin_k3s.ssh(f"cat {SECRET_FILE}").stdout
    second = run_pyinfra(path, str(deploy_file))
    return first, second, json.loads(stored_after_first), path


def test_generated_once_and_stable(two_runs, standin_k3s):
    first, second, values, _ = two_runs
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.changed == ["Install ensure-secret.sh", "Generate secrets",
                             "Generate the monitoring password"]
    assert second.returncode == 0 and second.changed == []
    assert json.loads(standin_k3s.ssh(f"cat {SECRET_FILE}").stdout) == values
    assert set(values) == {"secret-key", "admin-password"}
    for value in values.values():
        assert re.fullmatch(r"[A-Za-z0-9]{32}", value)  # ~190 bits, and <= 72 bytes for bcrypt
    assert values["secret-key"] != values["admin-password"]


def test_never_in_pyinfra_output(two_runs):
    first, second, values, _ = two_runs
    for run in (first, second):
        for value in values.values():
            assert value not in run.stdout + run.stderr


def test_never_on_a_command_line(two_runs, standin_k3s):
    _, _, values, _ = two_runs
    argv_log = standin_k3s.ssh("cat /var/lib/standin-k3s/argv.log").stdout
    assert "create" in argv_log
    for value in values.values():
        assert value not in argv_log


def test_never_in_a_world_readable_file(two_runs, standin_k3s):
    _, _, values, _ = two_runs
    # Search the whole host for the values; only the (stand-in) cluster store may hold them.
    pattern = "|".join(values.values())
    found = standin_k3s.ssh(
        f"grep -rlE '{pattern}' / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
        "--exclude-dir=run 2>/dev/null || true"
    ).stdout.split()
    assert found == [SECRET_FILE]  # the monitoring password is another value
    assert standin_k3s.ssh(f"stat -c %a {SECRET_FILE} /var/lib/standin-k3s").stdout.split() == ["600", "700"]


def test_never_in_git(two_runs):
    _, _, values, _ = two_runs
    tracked = subprocess.run(["git", "grep", "-lE", "|".join(values.values())], cwd=PROJECT_ROOT,
                             capture_output=True, text=True)
    assert tracked.stdout == ""


def test_admin_password_command_shows_it(two_runs):
    from click.testing import CliRunner

    from appliance.cli import main

    _, _, values, path = two_runs
    result = CliRunner().invoke(main, ["admin-password", str(path)])
    assert result.exit_code == 0, result.output
    assert f"password:   {values['admin-password']}" in result.output
    assert "e-mail:     admin@rehearsal.test" in result.output


def test_monitoring_credentials(two_runs, standin_k3s):
    from click.testing import CliRunner

    from appliance.cli import main

    *_, path = two_runs
    stored = json.loads(standin_k3s.ssh(f"cat {MONITORING_FILE}").stdout)
    assert stored["username"] == "admin" and re.fullmatch(r"[A-Za-z0-9]{32}", stored["password"])
    result = CliRunner().invoke(main, ["monitor-password", str(path)])
    assert result.exit_code == 0, result.output
    assert f"password: {stored['password']}" in result.output
    assert "Netdata:  https://monitor.rehearsal.test/" in result.output
