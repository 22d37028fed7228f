"""The GPU path against a real rehearsal host: facts read over SSH, the preflight's decision, and
the GPU operations planned by pyinfra (`--dry`; nothing is installed: NVIDIA's repository and
charts cannot be reached here, and the machine has no GPU).

The GPU host has a SHIM at /usr/bin/nvidia-smi: a shell script, not NVIDIA's program, that
prints an output recorded from a real GeForce RTX 2080 (Ricks-Lab/gpu-utils issue #83, see
tests/unit/test_gpu.py). The PCI check still reads the machine's real sysfs (no NVIDIA device).
"""

import pytest
from test_k3s_and_apps_layers import planned

from appliance.rehearsal import REHEARSAL_SETTINGS, RehearsalHost, write_inventory
from appliance.runner import run_pyinfra

SHIM = """#!/bin/sh
# SHIM for tests/integration/test_gpu_plan.py, not NVIDIA's nvidia-smi: prints an output
# recorded from a real GeForce RTX 2080 (Ricks-Lab/gpu-utils issue #83).
echo 'GeForce RTX 2080, 7979, 440.64'
"""
GPU_STEPS = (
    "Host layer | Install gpg (checks NVIDIA's signing key)",
    "Host layer | Trust NVIDIA's toolkit repository key (pinned fingerprint)",
    "Host layer | Put /etc/apt/sources.list.d/nvidia-container-toolkit.list",
    "Host layer | Install the NVIDIA Container Toolkit 1.20.0-1",
    "Apps layer | Label the GPU nodes",
    "Apps layer | Put /var/lib/rancher/k3s/server/manifests/"
    "llm-appliance-nvidia-device-plugin.yaml",
)


def test_nvidia_without_a_gpu_stops_before_any_change(inventory):
    run = run_pyinfra(inventory(ollama_gpu="nvidia"), "deploy.py", "--dry")
    assert run.returncode == 1
    assert (
        "ollama_gpu: nvidia, but this host has no NVIDIA GPU (no PCI display controller of "
        "vendor 10de); set ollama_gpu to auto or none, or deploy on a host with one"
    ) in run.stdout + run.stderr


def test_auto_without_a_gpu_plans_nothing_of_the_gpu_path(inventory):
    run = run_pyinfra(inventory(), "deploy.py", "--dry")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Ollama: CPU: no NVIDIA GPU on this host" in run.stderr
    plan = planned(run)
    assert [step for step in GPU_STEPS if step in plan] == []
    assert "k3s layer | Restart k3s once for the NVIDIA runtime" not in plan


def install_shim(node):
    node.ssh(f"cat > /usr/bin/nvidia-smi <<'EOF'\n{SHIM}EOF\nchmod 755 /usr/bin/nvidia-smi")


@pytest.fixture
def nvidia_smi_shim(rehearsal):
    install_shim(rehearsal)
    yield
    rehearsal.ssh("rm -f /usr/bin/nvidia-smi")


def test_a_gpu_host_plans_the_nvidia_path(rehearsal, inventory, nvidia_smi_shim):
    run = run_pyinfra(inventory(ollama_gpu="nvidia"), "deploy.py", "--dry")
    assert run.returncode == 0, run.stderr[-3000:]
    assert (
        "Ollama: GPU: GeForce RTX 2080 (7979 MiB, driver 440.64); model weights in GPU memory"
    ) in run.stderr
    plan = planned(run)
    for step in GPU_STEPS:
        assert plan[step] == [rehearsal.address], step
    # No toolkit yet, so no restart for it.
    assert plan["k3s layer | Restart k3s once for the NVIDIA runtime"] == []
    # --dry changed nothing.
    assert (
        rehearsal.ssh(
            "test -e /etc/apt/sources.list.d/nvidia-container-toolkit.list", check=False
        ).returncode
        == 1
    )


def test_shipped_gpu_check_skips_on_a_cpu_host_saying_why(inventory, shipped_suite):
    run = shipped_suite(inventory(), "-k", "container_toolkit", "-rs")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Ollama runs on the CPU here (CPU: no NVIDIA GPU on this host)" in run.stdout


def test_shipped_gpu_check_fails_on_a_gpu_host_without_the_toolkit(
    inventory, shipped_suite, nvidia_smi_shim
):
    run = shipped_suite(inventory(ollama_gpu="nvidia"), "-k", "container_toolkit")
    assert run.returncode == 1
    assert "AssertionError: nvidia-container-toolkit" in run.stdout


def test_a_gpu_agent_is_labelled_and_only_it_gets_the_toolkit(rehearsal, tmp_path):
    """Server without a GPU, agent with one (shim), both `auto`: the agent gets the toolkit,
    the server labels it and writes the device plugin; Ollama then lands on the agent (its
    nvidia.com/gpu request)."""
    with RehearsalHost.boot() as agent:
        install_shim(agent)
        path = write_inventory(
            tmp_path / "cluster.py",
            {"k3s_servers": [rehearsal], "k3s_agents": [agent]},
            REHEARSAL_SETTINGS,
        )
        run = run_pyinfra(path, "deploy.py", "--dry")
        assert run.returncode == 0, run.stderr[-3000:]
    plan = planned(run)
    for step in GPU_STEPS[:4]:
        assert plan[step] == [agent.address], step
    for step in GPU_STEPS[4:]:
        assert plan[step] == [rehearsal.address], step
    assert "Ollama: CPU: no NVIDIA GPU on this host" in run.stderr
    assert "Ollama: GPU: GeForce RTX 2080 (7979 MiB, driver 440.64)" in run.stderr


def test_the_signing_key_is_trusted_only_with_the_pinned_fingerprint(rehearsal, inventory):
    """The key step for real, on a key served from a file (NVIDIA's server is out of reach
    here): Debian's own archive key stands in for NVIDIA's."""
    rehearsal.ssh("apt-get update -qq && apt-get install -y -qq gpg curl >/dev/null", timeout=600)
    rehearsal.ssh(
        "gpg --no-default-keyring --keyring /usr/share/keyrings/debian-archive-keyring.gpg"
        " --export --armor > /root/key.asc"
    )
    fingerprint = rehearsal.ssh(
        "gpg --show-keys --with-colons /root/key.asc | awk -F: '$1 == \"fpr\" {print $10; exit}'"
    ).stdout.strip()
    assert len(fingerprint) == 40
    path = inventory()

    def key_step(pinned, keyring):
        return run_pyinfra(
            path,
            "operations.gpu.apt_key_pinned",
            "url=file:///root/key.asc",
            f"fingerprint={pinned}",
            f"keyring={keyring}",
        )

    first = key_step(fingerprint, "/root/pinned.gpg")
    assert first.returncode == 0 and first.totals["success"] == 1, first.stderr[-2000:]
    again = key_step(fingerprint, "/root/pinned.gpg")
    assert again.returncode == 0 and again.totals == {"success": 0, "error": 0, "no_change": 1}
    wrong = key_step("0" * 40, "/root/wrong.gpg")
    assert wrong.returncode == 1
    assert "is not the pinned" in wrong.stderr, wrong.stderr[-2000:]
    assert rehearsal.ssh("test -e /root/wrong.gpg", check=False).returncode == 1
