"""The host preflight, on fact values as the real facts return them."""

import pytest

from operations.preflight import host_problems
from operations.settings import load

SETTINGS = load({"webui_domain": "chat.example.com", "monitor_domain": "mon.example.com",
                 "acme_ca": "none", "webui_admin_email": "admin@example.com"})
GIB = 1024 * 1024
UBUNTU_2404 = {"name": "Ubuntu", "major": 24, "minor": 4}
ROOMY_DISK = {"mount": "/", "free_kib": 100 * GIB, "used_by_path_kib": 0}


def check(settings=SETTINGS, distribution=UBUNTU_2404, arch="x86_64", cpus=4, mem_gib=7.7,
          disk=ROOMY_DISK, listening=None):
    return host_problems(settings, distribution, arch, cpus, int(mem_gib * GIB), disk,
                         listening or {22: {"sshd"}})


def test_reference_box_passes():
    assert check() == []


@pytest.mark.parametrize("distribution", [
    {"name": "Ubuntu", "major": 22, "minor": 4},
    {"name": "Ubuntu", "major": 24, "minor": 4},
    {"name": "Debian", "major": 12, "minor": 7},
])
def test_supported_systems(distribution):
    assert check(distribution=distribution) == []


@pytest.mark.parametrize("distribution, shown", [
    ({"name": "Ubuntu", "major": 20, "minor": 4}, "Ubuntu 20.04"),
    ({"name": "Debian", "major": 11, "minor": 9}, "Debian 11"),
    ({"name": "CentOS", "major": 9, "minor": None}, "CentOS 9"),
])
def test_unsupported_systems(distribution, shown):
    assert check(distribution=distribution) == [
        f"operating system {shown} is not supported; install one of: Ubuntu 22.04, 24.04; Debian 12"
    ]


def test_arm64_is_supported_and_others_are_not():
    assert check(arch="aarch64") == []
    assert "architecture armv7l is not supported" in check(arch="armv7l")[0]


def test_model_too_large_for_ram():
    big = load({"webui_domain": "chat.example.com", "monitor_domain": "mon.example.com",
                "acme_ca": "none", "webui_admin_email": "admin@example.com", "ollama_models": ["llama3.2:3b", "gemma3:27b"]})
    (problem,) = check(settings=big)
    assert problem.startswith(
        "ollama_models: the host has 7.7 GiB of RAM, the platform and gemma3:27b "
        "(15.9 GiB of weights) need 23.0 GiB"
    )


def test_disk_counts_what_the_appliance_already_uses():
    tight = {"mount": "/", "free_kib": 10 * GIB, "used_by_path_kib": 8 * GIB}
    assert check(disk=tight) == []
    (problem,) = check(disk={**tight, "used_by_path_kib": 0})
    assert problem.startswith("ollama_models: /var/lib/rancher (on /) has 10.0 GiB")


def test_ports_held_by_others_but_not_by_the_appliance():
    assert check(listening={6443: {"k3s-server"}, 22: {"sshd"}}) == []
    problems = check(listening={80: {"nginx"}, 443: {"nginx"}, 8080: {"java"}})
    assert [p.split(";")[0] for p in problems] == [
        "port 80 is held by nginx", "port 443 is held by nginx"
    ]


def test_cpus_below_the_minimum_are_refused():
    assert check(cpus=2) == []
    assert check(cpus=1) == [
        "the host has 1 CPU; the appliance needs at least 2 (the reference server has 4 vCPU): "
        "choose a larger host"
    ]
