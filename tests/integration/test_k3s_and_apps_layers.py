"""The k3s and apps layers against real rehearsal hosts. k3s, images and charts cannot be
downloaded here, so these layers are planned (`--dry`, facts read for real over SSH) rather
than converged; what does run for real: the cluster and air-gap checks that stop a run,
kubeconfig, uninstall, and proof that the shipped k3s and apps checks fail on a host without
them."""

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost, write_inventory
from appliance.runner import run_pyinfra
from dry_plan import dry_plan

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def agent_host():
    """A second rehearsal host, to join as an agent."""
    with RehearsalHost.boot() as host:
        yield host


def planned(run) -> dict[str, list[str]]:
    """Operation name -> hosts it would (or might) change, from a --dry --json run."""

    plan = json.loads(run.stdout)["plan"]
    return {
        op["name"]: op["hosts_with_change"] + op["hosts_with_conditional_change"] for op in plan
    }


def test_single_server_plans_cleanly(rehearsal, inventory):
    run = run_pyinfra(inventory(), "deploy.py", "--dry")
    assert run.returncode == 0, run.stderr[-3000:]
    plan = planned(run)
    for step in (
        "k3s layer | Install the pinned, verified k3s binary",
        "k3s layer | Put /etc/rancher/k3s/config.yaml",
        "k3s layer | Put /var/lib/rancher/k3s/server/manifests/llm-appliance-traefik.yaml",
        "k3s layer | Install the k3s systemd unit with the release's install script",
        "k3s layer | Run k3s (k3s or k3s-agent)",
        "k3s layer | Wait until the k3s layer is ready (up to 60 min)",
    ):
        assert plan[step] == [rehearsal.address], step
    # --dry changed nothing.
    assert rehearsal.ssh("test -e /etc/rancher/k3s/config.yaml", check=False).returncode == 1


def test_render_writes_what_a_dry_deploy_uploads(rehearsal, inventory, tmp_path):
    # What the deploy uploads, read from pyinfra's own plan (tests/pyinfra_capture.py: each
    # operation's FileUploadCommands and chmods), against `appliance render`'s folder.
    path = inventory()
    uploads = dry_plan(path, "deploy.py", tmp_path / "planned.json", timeout=900)["uploads"]
    out = tmp_path / "rendered"
    result = CliRunner().invoke(main, ["render", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rendered = {
        f"/{file.relative_to(out)}": {
            "content": file.read_text(),
            "mode": f"{file.stat().st_mode & 0o777:o}",
        }
        for file in out.rglob("*")
        if file.is_file()
    }
    assert sorted(uploads) == sorted(rendered)
    assert uploads == rendered
    # The apps layer's script, which render left out before the layers' plans (issue 25).
    assert uploads["/usr/local/lib/llm-appliance/ensure-secret.sh"]["mode"] == "755"


def test_server_and_agent_plan_cleanly(rehearsal, agent_host, tmp_path):
    path = write_inventory(
        tmp_path / "cluster.py",
        {"k3s_servers": [rehearsal], "k3s_agents": [agent_host]},
        REHEARSAL_SETTINGS,
    )
    run = run_pyinfra(path, "deploy.py", "--dry")
    assert run.returncode == 0, run.stderr[-3000:]
    plan = planned(run)
    assert plan[f"k3s layer | Write k3s config (joining {rehearsal.address})"] == [
        agent_host.address
    ]
    assert plan["k3s layer | Run k3s (k3s or k3s-agent)"] == [rehearsal.address, agent_host.address]
    assert plan["k3s layer | Put /etc/rancher/k3s/config.yaml"] == [rehearsal.address]
    # Each node's firewall admits the other.
    assert "Host layer | Firewall: admit only the appliance" in plan


def test_even_number_of_servers_stops_the_run(rehearsal, agent_host, tmp_path):
    path = write_inventory(
        tmp_path / "even.py", {"k3s_servers": [rehearsal, agent_host]}, REHEARSAL_SETTINGS
    )
    run = run_pyinfra(path, "deploy.py")
    assert run.returncode == 1
    assert "embedded etcd needs an odd number" in run.stderr
    assert "Beginning operation run" not in run.stderr


def airgap_folder(folder, binary: bytes, published: str | None = None):
    folder.mkdir()
    (folder / "k3s").write_bytes(binary)
    (folder / "install.sh").write_text("#!/bin/sh\nexit 0\n")
    digest = published or hashlib.sha256(binary).hexdigest()
    (folder / "sha256sum-amd64.txt").write_text(f"{digest}  k3s\n")
    # The settings refuse a folder without the images (operations/local_files.py airgap_lacks).
    (folder / "k3s-airgap-images-amd64.tar.zst").write_bytes(b"images")
    return folder


def test_airgap_binary_with_a_wrong_sum_stops_the_run(rehearsal, inventory, tmp_path):
    folder = airgap_folder(tmp_path / "airgap", b"not k3s", published="0" * 64)
    run = run_pyinfra(inventory("airgap-bad.py", k3s_airgap_dir=str(folder)), "deploy.py")
    assert run.returncode == 1
    assert "does not match its sum in sha256sum-amd64.txt" in run.stderr
    assert "Beginning operation run" not in run.stderr


def test_airgap_plans_uploads_instead_of_downloads(rehearsal, inventory, tmp_path):
    folder = airgap_folder(tmp_path / "airgap", b"k3s stand-in bytes")
    run = run_pyinfra(inventory("airgap.py", k3s_airgap_dir=str(folder)), "deploy.py", "--dry")
    assert run.returncode == 0, run.stderr[-3000:]
    plan = planned(run)
    assert "k3s layer | Upload the verified k3s binary" in plan
    assert "k3s layer | Upload the k3s images" in plan
    assert not [name for name in plan if "Download" in name]


def test_without_internet_the_download_fails_clearly(rehearsal, inventory):
    run = run_pyinfra(inventory("online.py"), "deploy.py")  # the host layer converges first
    assert run.returncode != 0
    assert "Status: active" in rehearsal.ssh("ufw status").stdout
    assert "Could not resolve host: raw.githubusercontent.com" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_shipped_k3s_checks_fail_without_k3s(rehearsal, inventory, shipped_suite):
    result = shipped_suite(inventory(), "-m", "k3s")
    assert result.returncode != 0
    for check in (
        "test_binary_is_the_pinned_version",
        "test_service_running_and_enabled",
        "test_config_is_private",
        "test_nodes_ready",
    ):
        assert check in result.stdout, result.stdout[-3000:]


def test_kubeconfig(rehearsal, inventory, tmp_path):
    from click.testing import CliRunner

    from appliance.cli import main

    path = inventory()
    missing = CliRunner().invoke(main, ["kubeconfig", str(path), "--out", str(tmp_path / "kc")])
    assert missing.exit_code == 1
    assert "could not read /etc/rancher/k3s/k3s.yaml" in missing.output

    rehearsal.ssh(
        "install -d /etc/rancher/k3s && install -m 600 /dev/null /etc/rancher/k3s/k3s.yaml && "
        "printf 'clusters:\\n- cluster:\\n    server: https://127.0.0.1:6443\\n' "
        "> /etc/rancher/k3s/k3s.yaml"
    )
    try:
        result = CliRunner().invoke(main, ["kubeconfig", str(path), "--out", str(tmp_path / "kc")])
        assert result.exit_code == 0, result.output
        written = tmp_path / "kc"
        assert written.stat().st_mode & 0o777 == 0o600
        assert f"server: https://{rehearsal.address}:6443" in written.read_text()
    finally:
        rehearsal.ssh("rm -rf /etc/rancher/k3s")


OFFSITE_TIMERS = ("llm-appliance-offsite", "llm-appliance-offsite-check")


def test_uninstall_removes_the_appliance_files_and_is_idempotent(rehearsal, inventory):
    rehearsal.ssh(
        "install -d /usr/local/lib/llm-appliance /etc/rancher/k3s /var/lib/llm-appliance "
        "/var/backups/llm-appliance && touch /etc/rancher/k3s/config.yaml "
        "/var/backups/llm-appliance/llm-appliance-20261124-033000.tar"
    )
    # An earlier deploy's off-site timers, running, and the repository's password.
    for unit in OFFSITE_TIMERS:
        rehearsal.ssh(
            f"printf '[Service]\\nType=oneshot\\nExecStart=/bin/true\\n' "
            f"> /etc/systemd/system/{unit}.service && "
            f"printf '[Timer]\\nOnCalendar=hourly\\n[Install]\\nWantedBy=timers.target\\n' "
            f"> /etc/systemd/system/{unit}.timer"
        )
    rehearsal.ssh(
        "systemctl daemon-reload && systemctl enable --now "
        + " ".join(f"{unit}.timer" for unit in OFFSITE_TIMERS)
        + " && install -d -m 700 /etc/llm-appliance/backup && "
        "install -m 600 /dev/null /etc/llm-appliance/backup/password"
    )
    path = inventory()
    first = run_pyinfra(path, "uninstall.py")
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(first.changed) == 4
    # The off-site timers are stopped and gone (each run would copy the removed datastore);
    # the repository's password stays, for a restore.
    assert rehearsal.ssh(
        "systemctl is-active " + " ".join(f"{unit}.timer" for unit in OFFSITE_TIMERS),
        check=False,
    ).stdout.split() == ["inactive", "inactive"]
    rehearsal.ssh("! ls /etc/systemd/system/llm-appliance-offsite*")
    rehearsal.ssh("test -f /etc/llm-appliance/backup/password")
    assert (
        rehearsal.ssh(
            "test -e /etc/rancher/k3s || test -e /usr/local/lib/llm-appliance || "
            "test -e /var/lib/llm-appliance",
            check=False,
        ).returncode
        == 1
    )
    # Backups are the operator's: kept.
    rehearsal.ssh("test -e /var/backups/llm-appliance/llm-appliance-20261124-033000.tar")
    again = run_pyinfra(path, "uninstall.py")
    assert again.returncode == 0 and again.changed == []


def test_apps_layer_plans_cleanly(rehearsal, inventory):
    # The apps layer alone runs where k3s is installed (the preflight refuses it elsewhere,
    # test_bad_input): a k3s binary that tells its version and answers nothing else stands
    # for one installed and not serving yet.
    rehearsal.ssh(
        'printf \'#!/bin/sh\\n[ "$1" = --version ] && echo "k3s version v1.36.5+k3s1 (stand-in)" && exit 0\\n'
        "exit 1\\n' > /usr/local/bin/k3s && chmod 755 /usr/local/bin/k3s"
    )
    try:
        run = run_pyinfra(inventory("apps.py", layers="apps"), "deploy.py", "--dry")
    finally:
        rehearsal.ssh("rm -f /usr/local/bin/k3s")
    assert run.returncode == 0, run.stderr[-3000:]
    plan = planned(run)
    for manifest in (
        "namespaces",
        "postgres-operator",
        "postgres",
        "ollama",
        "ollama-models",
        "open-webui",
        "backup",
        "monitoring",
        "network-policies",
    ):
        step = (
            f"Apps layer | Put /var/lib/rancher/k3s/server/manifests/llm-appliance-{manifest}.yaml"
        )
        assert plan[step] == [rehearsal.address], step
    assert plan[
        "Apps layer | Generate Open WebUI's secret key and admin password (once, on the host)"
    ]
    assert plan["Apps layer | Generate the monitoring password (once, on the host)"]
    assert plan["Apps layer | Wait until the apps layer is ready (up to 60 min)"] == [
        rehearsal.address
    ]


def test_shipped_apps_checks_fail_without_the_apps(rehearsal, inventory, shipped_suite):
    result = shipped_suite(inventory(), "-m", "apps")
    assert result.returncode != 0
    for check in (
        "test_workloads_rolled_out",
        "test_every_model_is_listed",
        "test_postgres_accepts_connections_with_vector",
        "test_monitoring_refuses_a_request_without_credentials",
        "test_namespaces_deny_by_default",
        "test_backups_are_scheduled",
    ):
        assert check in result.stdout, result.stdout[-3000:]


def test_cluster_hosts_admit_each_other(rehearsal, agent_host, tmp_path, shipped_suite):
    path = write_inventory(
        tmp_path / "pair.py",
        {"k3s_servers": [rehearsal], "k3s_agents": [agent_host]},
        {**REHEARSAL_SETTINGS, "layers": "host"},
    )
    run = run_pyinfra(path, "deploy.py")
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"ufw allow from {agent_host.address}" in rehearsal.ssh("ufw show added").stdout
    assert f"ufw allow from {rehearsal.address}" in agent_host.ssh("ufw show added").stdout
    # The shipped suite expects each host's peers too.
    suite = shipped_suite(path, "-m", "host")
    assert suite.returncode == 0, suite.stdout[-3000:]
