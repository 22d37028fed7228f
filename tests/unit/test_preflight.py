"""The host preflight, on fact values as the real facts return them."""

import pytest

import json
from pathlib import Path

from appliance.inventory import parse_data
from operations.facts import OllamaModelDownload, ollama_manifest_url
from operations.preflight import host_problems, k3s_network_problems, sized_settings
from operations.settings import load

SETTINGS_DATA = {"webui_domain": "chat.example.com", "monitor_domain": "mon.example.com",
                 "acme_ca": "none", "webui_admin_email": "admin@example.com"}
SETTINGS = load(SETTINGS_DATA)
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
        f"operating system {shown} is not supported; install one of: Ubuntu 22.04, 24.04; Debian 12, 13"
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
    sourced = host_problems(big, UBUNTU_2404, "x86_64", 4, int(7.7 * GIB), ROOMY_DISK,
                            {22: {"sshd"}}, size_sources={"gemma3:27b": "built-in table"})
    assert sourced[0].startswith("ollama_models: the host has 7.7 GiB of RAM, the platform and "
                                 "gemma3:27b (15.9 GiB of weights, built-in table) need 23.0 GiB")


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


# The manifest Ollama 0.1.48 stored after `ollama pull gemma:2b` (the registry's manifest, as
# pullModelManifest decodes it), as printed in a public LLM Zoomcamp homework write-up on
# GitHub; this machine cannot reach the registry.
RECORDED_MANIFEST = Path(__file__).with_name("data") / "ollama-manifest-gemma-2b.json"


def test_registry_manifest_url_and_size():
    assert ollama_manifest_url("gemma:2b") == "https://registry.ollama.ai/v2/library/gemma/manifests/2b"
    assert ollama_manifest_url("me/mine:1b") == "https://registry.ollama.ai/v2/me/mine/manifests/1b"
    lines = RECORDED_MANIFEST.read_text().splitlines()
    # 483 (config) + 1678447520 (weights) + 8433 + 136 + 84
    assert OllamaModelDownload().process(lines) == {"bytes": 1678456656}
    assert OllamaModelDownload().process(["curl: (6) Could not resolve host: registry.ollama.ai"]) \
        == {"error": "curl: (6) Could not resolve host: registry.ollama.ai"}


def test_models_the_table_lacks_are_sized_from_the_registry_saying_where_from():
    gemma = load({**SETTINGS_DATA, "ollama_models": ["gemma:2b", "llama3.2:3b"],
                  "ollama_model_sizes": {"llama3.2:3b": 2.0}})
    manifest = json.loads(RECORDED_MANIFEST.read_text())
    sized, sources, problems = sized_settings(
        gemma, lambda model: OllamaModelDownload().process([json.dumps(manifest)]))
    assert problems == []
    assert sources == {"gemma:2b": "registry.ollama.ai, read from the host",
                       "llama3.2:3b": "ollama_model_sizes",
                       "nomic-embed-text:latest": "built-in table"}
    assert round(sized.model_size_gib("gemma:2b"), 3) == 1.563
    assert sized.largest_model == ("llama3.2:3b", 2.0)


def test_a_size_no_source_gives_is_a_problem_naming_the_air_gap_setting():
    mine = load({**SETTINGS_DATA, "ollama_models": ["mine:7b"]})
    _, _, problems = sized_settings(mine, lambda model: {"error": "curl: (7) Failed to connect"})
    assert problems == [
        "ollama_models: the size of mine:7b is not known: the host could not read it from "
        "registry.ollama.ai (curl: (7) Failed to connect); on an air-gapped host add it to "
        'ollama_model_sizes in GiB, e.g. {"mine:7b": 4.5}'
    ]
    # The form suggested is accepted, in an inventory and through --data alike.
    assert load({**SETTINGS_DATA, "ollama_models": ["mine:7b"],
                 **parse_data(['ollama_model_sizes={"mine:7b": 4.5}'])}).unsized_models == ()


def test_k3s_networks_cannot_change_under_a_running_k3s():
    running = {"cluster-cidr": "10.42.0.0/16", "service-cidr": "10.43.0.0/16"}
    assert k3s_network_problems(SETTINGS, running) == []
    assert k3s_network_problems(SETTINGS, {}) == []  # no k3s yet: any networks
    moved = load({**SETTINGS_DATA, "k3s_cluster_cidr": "10.52.0.0/16"})
    assert k3s_network_problems(moved, running) == [
        "k3s_cluster_cidr = '10.52.0.0/16', but k3s on this host runs with 10.42.0.0/16, and k3s "
        "keeps the networks it started with; set k3s_cluster_cidr back to '10.42.0.0/16', or "
        "uninstall (uninstall.py) and deploy again"]


def test_a_layer_whose_prerequisite_is_not_on_the_host_is_refused_with_the_fix():
    from operations.preflight import layer_problems

    assert layer_problems(("apps",), host_layer_ran=True, k3s_installed=False) == [
        "layers = apps: k3s is not installed on this host (the apps layer runs on it); deploy "
        "with --data layers=k3s,apps"]
    assert layer_problems(("apps",), host_layer_ran=False, k3s_installed=False) == [
        "layers = apps: k3s is not installed on this host (the apps layer runs on it); the host "
        "layer has not run on this host (the k3s layer needs its packages, such as curl, and "
        "kernel parameters); deploy with --data layers=host,k3s,apps (every layer: the default, when "
        "layers is left out)"]
    assert layer_problems(("k3s", "apps"), host_layer_ran=False, k3s_installed=False) == [
        "layers = k3s,apps: the host layer has not run on this host (the k3s layer needs its "
        "packages, such as curl, and kernel parameters); deploy with --data layers=host,k3s,apps (every "
        "layer: the default, when layers is left out)"]
    # Prerequisites in the run, or on the host already: nothing to refuse.
    assert layer_problems(("apps",), host_layer_ran=True, k3s_installed=True) == []
    assert layer_problems(("k3s", "apps"), host_layer_ran=True, k3s_installed=False) == []
    assert layer_problems(("host", "k3s", "apps"), host_layer_ran=False, k3s_installed=False) == []
    assert layer_problems(("host",), host_layer_ran=False, k3s_installed=False) == []


def test_one_figure_for_the_models_the_reference_box_takes():
    """Issue 23, item 5: the preflight, init's warning and bench/memory_budget.py give one
    figure from one function. 7.75 GiB - 0.875 (system and k3s) - 2.5 (platform) - 0.5 (prompt
    cache) = 3.875 GiB for a loaded model, / 1.2 per GiB of weights."""
    from operations.settings import weights_admitted_gib

    assert round(weights_admitted_gib(7.75), 2) == 3.23
    assert round(weights_admitted_gib(16.0), 2) == 10.1
    # A model of that size passes on the reference box (MemTotal 7.75 GiB); a bigger one is refused.
    for size, refused in ((3.2, False), (3.3, True)):
        settings = load({**SETTINGS_DATA, "ollama_models": ["big:1b"],
                         "ollama_model_sizes": {"big:1b": size}})
        problems = check(settings=settings, mem_gib=7.75)
        assert any("RAM" in problem for problem in problems) is refused, (size, problems)


def test_the_memory_bench_prints_the_preflights_figure():
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    output = subprocess.run([sys.executable, "bench/memory_budget.py"], cwd=root, text=True,
                            capture_output=True, timeout=120, check=True).stdout
    assert ("models the preflight admits on the 8 GB box (7.75 GiB, 0.88 GiB of it system and "
            "k3s): up to 3.2 GiB of weights") in output
    assert "left for models" not in output
