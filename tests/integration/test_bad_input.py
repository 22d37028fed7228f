"""Every bad input stops the run with one clear message, before anything on the host changes.

Each case runs the real deploy against a fresh rehearsal host, then proves that no file on it
is newer than a marker set just before the run (the journal aside).
"""

import subprocess
import sys

import pytest

from appliance.runner import project_environment, run_pyinfra

CHANGED_FILES = (
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp "
    "-o -path /var/log \\) -prune -o -newer /run/before-deploy -print"
)

SETTING_CASES = {
    "malformed domain": (
        {"webui_domain": "chat_example"},
        "webui_domain = 'chat_example' is not a fully qualified domain name; use a name like",
    ),
    "missing domain": (
        {"monitor_domain": None},
        "monitor_domain: missing; set it in the inventory",
    ),
    "missing ACME e-mail": (
        {"acme_ca": "production"},
        "acme_email: missing while acme_ca = 'production'; set an e-mail address",
    ),
    "malformed ACME e-mail": (
        {"acme_ca": "staging", "acme_email": "admin-at-example.com"},
        "acme_email = 'admin-at-example.com' is not an e-mail address",
    ),
    "unknown ACME CA": (
        {"acme_ca": "letsencrypt"},
        "acme_ca = 'letsencrypt' must be one of: production, staging, none",
    ),
    "malformed k3s version": (
        {"k3s_version": "1.36"},
        "k3s_version = '1.36' is not a k3s release; use the form vX.Y.Z+k3sN",
    ),
    "malformed model name": (
        {"ollama_models": ["llama3.2"]},
        "ollama_models = ['llama3.2'] has malformed model names ['llama3.2']",
    ),
    "unknown layer": ({"layers": "host,k8s"}, "layers = 'host,k8s' names unknown layers ['k8s']"),
    "misspelled setting": (
        {"webui_domian": "chat.example.com"},
        "webui_domian: unknown setting; did you mean 'webui_domain'?",
    ),
    "SSH hardening while logging in with a password": (
        {"ssh_hardening": True, "ssh_password": "not-used-the-key-logs-in"},
        "ssh_hardening: true while the inventory logs in with ssh_password; the deploy would lock you out",
    ),
    # The rehearsal host has no curl or wget (python3 reads the registry) and resolves no
    # name but its Debian mirror's, as an air-gapped server would not reach registry.ollama.ai.
    "model size neither set, nor built in, nor in reach": (
        {"ollama_models": ["mymodel:7b"]},
        "ollama_models: the size of mymodel:7b is not known: the host could not read it from "
        "registry.ollama.ai (urllib.error.URLError: <urlopen error [Errno -2] Name or service "
        "not known>); on an air-gapped host add it to ollama_model_sizes in GiB",
    ),
    "too little RAM and disk": (
        {"ollama_models": ["llama3.1:405b"]},
        "ollama_models: Ollama needs",
    ),
}


@pytest.fixture
def untouched(rehearsal):
    """Mark the time before a run; afterwards, assert nothing on the host is newer."""
    rehearsal.ssh("touch /run/before-deploy && sleep 1")
    yield
    changed = rehearsal.ssh(CHANGED_FILES).stdout.split()
    assert changed == [], f"the failed run changed the host: {changed}"


def assert_stopped(run, message):
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert "stopped before changing anything" in output
    assert message in output, output[-2000:]
    assert "Traceback" not in output
    assert "Beginning operation run" not in output


@pytest.mark.parametrize("case", sorted(SETTING_CASES))
def test_bad_setting_stops_the_run(case, inventory, untouched):
    settings, message = SETTING_CASES[case]
    path = inventory(f"{case.replace(' ', '_')}.py", **settings)
    assert_stopped(run_pyinfra(path, "deploy.py"), message)


@pytest.fixture
def foreign_os(rehearsal):
    """The host claims to be Ubuntu 20.04 (os-release replaced, then restored)."""
    rehearsal.ssh(
        "rm /etc/os-release && sed -e 's/^ID=.*/ID=ubuntu/' -e 's/^VERSION_ID=.*/VERSION_ID=\"20.04\"/' "
        "-e 's/^NAME=.*/NAME=\"Ubuntu\"/' /usr/lib/os-release > /etc/os-release"
    )
    yield
    rehearsal.ssh("ln -sf ../usr/lib/os-release /etc/os-release")


@pytest.fixture
def foreign_architecture(rehearsal):
    """A uname first on root's PATH that reports another machine, as a foreign box would."""
    rehearsal.ssh(
        'printf \'#!/bin/sh\\n[ "$1" = -m ] && exec echo riscv64\\nexec /usr/bin/uname "$@"\\n\''
        " > /usr/local/bin/uname && chmod +x /usr/local/bin/uname"
    )
    yield
    rehearsal.ssh("rm /usr/local/bin/uname")


@pytest.fixture
def one_cpu(rehearsal):
    """A getconf first on root's PATH that reports one CPU online, as a 1-vCPU box would."""
    rehearsal.ssh(
        'printf \'#!/bin/sh\\ncase "$1" in *NPROCESSORS_ONLN) exec echo 1;; esac\\n'
        'exec /usr/bin/getconf "$@"\\n\' > /usr/local/bin/getconf && chmod +x /usr/local/bin/getconf'
    )
    yield
    rehearsal.ssh("rm /usr/local/bin/getconf")


@pytest.fixture
def small_disk(rehearsal):
    """/var/lib/rancher on a 2 GiB file system."""
    rehearsal.ssh("mkdir -p /var/lib/rancher && mount -t tmpfs -o size=2g tmpfs /var/lib/rancher")
    yield
    rehearsal.ssh("umount /var/lib/rancher && rmdir /var/lib/rancher")


@pytest.fixture(params=[80, 443, 6443])
def squatted_port(request, rehearsal):
    """Another service listening on a port the appliance serves."""
    port = request.param
    rehearsal.ssh(f"systemd-run --unit=squatter-{port} python3 -m http.server {port}")
    rehearsal.ssh(f"for i in $(seq 50); do ss -Htln | grep -q ':{port} ' && break; sleep 0.1; done")
    yield port
    rehearsal.ssh(f"systemctl stop squatter-{port}")


def test_unsupported_os(foreign_os, untouched, inventory):
    run = run_pyinfra(inventory(), "deploy.py")
    assert_stopped(run, "operating system Ubuntu 20.04 is not supported; install one of")


def test_unsupported_architecture(foreign_architecture, untouched, inventory):
    run = run_pyinfra(inventory(), "deploy.py")
    assert_stopped(run, "architecture riscv64 is not supported")


def test_too_few_cpus(one_cpu, untouched, inventory):
    run = run_pyinfra(inventory(), "deploy.py")
    assert_stopped(
        run, "the host has 1 CPU; the appliance needs at least 2 (the reference server has 4 vCPU)"
    )


def test_too_little_disk(small_disk, untouched, inventory):
    run = run_pyinfra(inventory(), "deploy.py")
    assert_stopped(run, "/var/lib/rancher (on /var/lib/rancher) has 2.0 GiB for the appliance")


def test_port_held_by_another_service(squatted_port, untouched, inventory):
    run = run_pyinfra(inventory(), "deploy.py")
    assert_stopped(run, f"port {squatted_port} is held by python3; the appliance serves it")


def appliance_check(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", "check", str(path)],
        capture_output=True,
        text=True,
        env=project_environment(),
    )


def test_appliance_check_runs_the_preflight_and_prints_its_own_lines_only(rehearsal, inventory):
    result = appliance_check(inventory("check.py"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "settings: 1 host(s) valid",
        f"preflight: {rehearsal.address}: Ollama: CPU: no NVIDIA GPU on this host",
        f"preflight: {rehearsal.address}: model sizes: llama3.2:3b 1.90 GiB (built-in table), "
        "nomic-embed-text:latest 0.26 GiB (built-in table)",
        "preflight: every host can run the appliance as set",
    ]
    assert result.stderr == ""  # pyinfra's frame (--> Loading config..., Grand total) stays out
    # Ollama is the apps layer's: a host layer alone has no GPU line (no GPU here).
    host_only = appliance_check(inventory("check-host.py", layers="host"))
    assert host_only.returncode == 0, host_only.stderr
    assert host_only.stdout.splitlines() == [
        "settings: 1 host(s) valid",
        "preflight: every host can run the appliance as set",
    ]


APPS_WITHOUT_K3S = (
    "layers = apps: k3s is not installed on this host (the apps layer runs on it); the host "
    "layer has not run on this host (the k3s layer needs its packages, such as curl, and kernel "
    "parameters); deploy with --data layers=host,k3s,apps (every layer: the default, when layers "
    "is left out)"
)


def test_a_layer_without_its_prerequisite_on_the_host_is_refused(rehearsal, inventory, untouched):
    """layers=apps on a fresh server: refused by the deploy and by check, with the fix (it failed
    later with `k3s: not found`)."""
    path = inventory("apps-only.py", layers="apps")
    assert_stopped(run_pyinfra(path, "deploy.py"), APPS_WITHOUT_K3S)
    result = appliance_check(path)
    assert result.returncode == 1
    assert result.stderr == (
        f"preflight: stopped before changing anything: {rehearsal.address} cannot run the "
        f"appliance as set\n    - {APPS_WITHOUT_K3S}\n"
    )


def test_appliance_check_stops_on_a_host_problem(squatted_port, untouched, inventory):
    result = appliance_check(inventory("check.py"))
    assert result.returncode == 1
    assert f"port {squatted_port} is held by python3" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
