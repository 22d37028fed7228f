"""The host preflight, on fact values as the real facts return them."""

import json
from pathlib import Path

import pytest

from appliance.inventory import parse_data
from operations.memory import loaded_together
from operations.ollama_facts import OllamaModelDownload, ollama_manifest_url
from operations.preflight import host_problems, k3s_network_problems, sized_settings
from operations.settings import load

GIB = 1024 * 1024
UBUNTU_2404 = {"name": "Ubuntu", "major": 24, "minor": 4}
ROOMY_DISK = {"mount": "/", "free_kib": 100 * GIB, "used_by_path_kib": 0}


# MemTotal of the 8 GB reference box (operations/sizing.py REFERENCE_MEM_TOTAL_KIB), in kB.
REFERENCE_KIB = 8139012


@pytest.fixture(scope="session")
def check(base_settings_no_acme):
    """check(settings=..., distribution=..., ...) -> host_problems of the reference box, each
    argument replaceable."""

    def check(
        settings=None,
        distribution=UBUNTU_2404,
        arch="x86_64",
        cpus=4,
        mem_kib=REFERENCE_KIB,
        disk=ROOMY_DISK,
        listening=None,
    ):
        return host_problems(
            settings or base_settings_no_acme,
            distribution,
            arch,
            cpus,
            mem_kib,
            disk,
            listening or {22: {"sshd"}},
        )

    return check


def test_reference_box_passes(check):
    assert check() == []


@pytest.mark.parametrize(
    "distribution",
    [
        {"name": "Ubuntu", "major": 22, "minor": 4},
        {"name": "Ubuntu", "major": 24, "minor": 4},
        {"name": "Debian", "major": 12, "minor": 7},
    ],
)
def test_supported_systems(check, distribution):
    assert check(distribution=distribution) == []


@pytest.mark.parametrize(
    "distribution, shown",
    [
        ({"name": "Ubuntu", "major": 20, "minor": 4}, "Ubuntu 20.04"),
        ({"name": "Debian", "major": 11, "minor": 9}, "Debian 11"),
        ({"name": "CentOS", "major": 9, "minor": None}, "CentOS 9"),
    ],
)
def test_unsupported_systems(check, distribution, shown):
    assert check(distribution=distribution) == [
        f"operating system {shown} is not supported; install one of: Ubuntu 22.04, 24.04; Debian 12, 13"
    ]


def test_arm64_is_supported_and_others_are_not(check):
    assert check(arch="aarch64") == []
    assert "architecture armv7l is not supported" in check(arch="armv7l")[0]


def test_model_too_large_for_ram(check, base_data_no_acme):
    big = load({**base_data_no_acme, "ollama_models": ["llama3.2:3b", "gemma3:27b"]})
    (problem,) = check(settings=big)
    # gemma3:27b's shape is not in the table: 15.9 GiB x 1.2 + 64 MiB, an estimate.
    assert problem == (
        "ollama_models: Ollama needs 22168 MiB with gemma3:27b (19602 MiB, estimated: its shape "
        "is not in the table) and llama3.2:3b (2310 MiB) loaded together (context 4096, KV "
        "cache q8_0, parallel 1, prompt cache 0 MiB, server 256 MiB); the host leaves it 5238 "
        "MiB of its 7948 MiB after the system (896 MiB) and the platform's requests (1814 MiB), "
        "16930 MiB short: drop one of the chat models gemma3:27b and llama3.2:3b from "
        "ollama_models (Ollama holds the 2 largest models together); or choose a smaller model "
        "or a host with more RAM"
    )
    sourced = host_problems(
        big,
        UBUNTU_2404,
        "x86_64",
        4,
        REFERENCE_KIB,
        ROOMY_DISK,
        {22: {"sshd"}},
        size_sources={"gemma3:27b": "built-in table"},
    )
    assert sourced == [problem + " (size of gemma3:27b: built-in table)"]


def test_disk_counts_what_the_appliance_already_uses(check):
    tight = {"mount": "/", "free_kib": 10 * GIB, "used_by_path_kib": 8 * GIB}
    assert check(disk=tight) == []
    (problem,) = check(disk={**tight, "used_by_path_kib": 0})
    assert problem.startswith("ollama_models: /var/lib/rancher (on /) has 10.0 GiB")


def test_ports_held_by_others_but_not_by_the_appliance(check):
    assert check(listening={6443: {"k3s-server"}, 22: {"sshd"}}) == []
    problems = check(listening={80: {"nginx"}, 443: {"nginx"}, 8080: {"java"}})
    assert [p.split(";")[0] for p in problems] == [
        "port 80 is held by nginx",
        "port 443 is held by nginx",
    ]


def test_cpus_below_the_minimum_are_refused(check):
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
    assert (
        ollama_manifest_url("gemma:2b")
        == "https://registry.ollama.ai/v2/library/gemma/manifests/2b"
    )
    assert ollama_manifest_url("me/mine:1b") == "https://registry.ollama.ai/v2/me/mine/manifests/1b"
    lines = RECORDED_MANIFEST.read_text().splitlines()
    # 483 (config) + 1678447520 (weights) + 8433 + 136 + 84
    assert OllamaModelDownload().process(lines) == {"bytes": 1678456656}
    assert OllamaModelDownload().process(
        ["curl: (6) Could not resolve host: registry.ollama.ai"]
    ) == {"error": "curl: (6) Could not resolve host: registry.ollama.ai"}


def test_models_the_table_lacks_are_sized_from_the_registry_saying_where_from(base_data_no_acme):
    gemma = load(
        {
            **base_data_no_acme,
            "ollama_models": ["gemma:2b", "llama3.2:3b"],
            "ollama_model_sizes": {"llama3.2:3b": 2.0},
        }
    )
    manifest = json.loads(RECORDED_MANIFEST.read_text())
    sized, sources, problems = sized_settings(
        gemma, lambda model: OllamaModelDownload().process([json.dumps(manifest)])
    )
    assert problems == []
    assert sources == {
        "gemma:2b": "registry.ollama.ai, read from the host",
        "llama3.2:3b": "ollama_model_sizes",
        "nomic-embed-text:latest": "built-in table",
    }
    assert round(sized.model_size_gib("gemma:2b"), 3) == 1.563
    assert sized.largest_model == ("llama3.2:3b", 2.0)


def test_a_size_no_source_gives_is_a_problem_naming_the_air_gap_setting(base_data_no_acme):
    mine = load({**base_data_no_acme, "ollama_models": ["mine:7b"]})
    _, _, problems = sized_settings(mine, lambda model: {"error": "curl: (7) Failed to connect"})
    assert problems == [
        "ollama_models: the size of mine:7b is not known: the host could not read it from "
        "registry.ollama.ai (curl: (7) Failed to connect); on an air-gapped host add it to "
        'ollama_model_sizes in GiB, e.g. {"mine:7b": 4.5}'
    ]
    # The form suggested is accepted, in an inventory and through --data alike.
    assert (
        load(
            {
                **base_data_no_acme,
                "ollama_models": ["mine:7b"],
                **parse_data(['ollama_model_sizes={"mine:7b": 4.5}']),
            }
        ).unsized_models
        == ()
    )


def test_k3s_networks_cannot_change_under_a_running_k3s(base_settings_no_acme, base_data_no_acme):
    running = {"cluster-cidr": "10.42.0.0/16", "service-cidr": "10.43.0.0/16"}
    assert k3s_network_problems(base_settings_no_acme, running) == []
    assert k3s_network_problems(base_settings_no_acme, {}) == []  # no k3s yet: any networks
    moved = load({**base_data_no_acme, "k3s_cluster_cidr": "10.52.0.0/16"})
    assert k3s_network_problems(moved, running) == [
        "k3s_cluster_cidr = '10.52.0.0/16', but k3s on this host runs with 10.42.0.0/16, and k3s "
        "keeps the networks it started with; set k3s_cluster_cidr back to '10.42.0.0/16', or "
        "uninstall (uninstall.py) and deploy again"
    ]


def test_a_layer_whose_prerequisite_is_not_on_the_host_is_refused_with_the_fix():
    from operations.preflight import layer_problems

    assert layer_problems(("apps",), host_layer_ran=True, k3s_installed=False) == [
        "layers = apps: k3s is not installed on this host (the apps layer runs on it); deploy "
        "with --data layers=k3s,apps"
    ]
    assert layer_problems(("apps",), host_layer_ran=False, k3s_installed=False) == [
        "layers = apps: k3s is not installed on this host (the apps layer runs on it); the host "
        "layer has not run on this host (the k3s layer needs its packages, such as curl, and "
        "kernel parameters); deploy with --data layers=host,k3s,apps (every layer: the default, when "
        "layers is left out)"
    ]
    assert layer_problems(("k3s", "apps"), host_layer_ran=False, k3s_installed=False) == [
        "layers = k3s,apps: the host layer has not run on this host (the k3s layer needs its "
        "packages, such as curl, and kernel parameters); deploy with --data layers=host,k3s,apps (every "
        "layer: the default, when layers is left out)"
    ]
    # Prerequisites in the run, or on the host already: nothing to refuse.
    assert layer_problems(("apps",), host_layer_ran=True, k3s_installed=True) == []
    assert layer_problems(("k3s", "apps"), host_layer_ran=True, k3s_installed=False) == []
    assert layer_problems(("host", "k3s", "apps"), host_layer_ran=False, k3s_installed=False) == []
    assert layer_problems(("host",), host_layer_ran=False, k3s_installed=False) == []


def test_the_reference_box_takes_mistral_with_the_embedder_and_names_what_others_need(
    check, base_data_no_acme
):
    """Issue 21: on the 8 GB box (MemTotal 8139012 kB: 7948 MiB, 5238 of them left for Ollama
    after the system's 896 and the platform's 1814), by default settings (context 4096, KV
    cache q8_0, parallel 1, no prompt cache) Ollama holds a chat model and
    nomic-embed-text (438 MiB) together, with its server (256 MiB)."""

    def on_the_box(model, **data):
        settings = load({**base_data_no_acme, "ollama_models": [model], **data})
        return check(settings=settings)

    assert on_the_box("mistral:7b") == []  # 4387 + 438 + 256 = 5081 MiB
    assert on_the_box("llama3.2:3b") == []
    (qwen,) = on_the_box("qwen2.5:7b")
    assert qwen == (
        "ollama_models: Ollama needs 5494 MiB with qwen2.5:7b (4800 MiB) and "
        "nomic-embed-text:latest (438 MiB) loaded together (context 4096, KV cache q8_0, "
        "parallel 1, prompt cache 0 MiB, server 256 MiB); the host leaves it 5238 MiB of its "
        "7948 MiB after the system (896 MiB) and the platform's requests (1814 MiB), 256 MiB "
        "short: use the library's smaller quantisation qwen2.5:7b-instruct-q3_K_M (same shape, smaller file); "
        "or choose a smaller model or a host with more RAM"
    )
    (llama,) = on_the_box("llama3.1:8b", ollama_kv_cache_type="f16")
    assert llama == (
        "ollama_models: Ollama needs 6091 MiB with llama3.1:8b (5397 MiB) and "
        "nomic-embed-text:latest (438 MiB) loaded together (context 4096, KV cache f16, "
        "parallel 1, prompt cache 0 MiB, server 256 MiB); the host leaves it 5238 MiB of its "
        "7948 MiB after the system (896 MiB) and the platform's requests (1814 MiB), 853 MiB "
        "short: use the library's smaller quantisation llama3.1:8b-instruct-q3_K_M (same shape, smaller file); "
        "or choose a smaller model or a host with more RAM"
    )
    # mistral:7b at f16 with a prompt cache does not fit; the line names the settings that do.
    (mistral,) = on_the_box("mistral:7b", ollama_kv_cache_type="f16", ollama_prompt_cache_mib=512)
    assert mistral.endswith(
        "(1814 MiB), 595 MiB short: set ollama_kv_cache_type=q8_0, "
        "ollama_prompt_cache_mib=0; or choose a smaller model or a host with "
        "more RAM"
    )
    assert on_the_box("mistral:7b", ollama_kv_cache_type="q8_0", ollama_prompt_cache_mib=0) == []


@pytest.mark.parametrize(
    "model, context, advised",
    [
        # mistral:7b at 8192: 4795 + 438 + 256 = 5489 MiB of 5238; at 4096, 4387 + 694 = 5081.
        ("mistral:7b", 8192, 4096),
        # llama3.2:3b at 65536: 6366 + 694 = 7060 MiB; at 32768, 4114 + 694 = 4808 (its 1926
        # MiB file, 1904 MiB of q8_0 KV cache, 220 MiB of compute buffer at batch 1024, 64).
        ("llama3.2:3b", 65536, 32768),
        # Not a power of two: the largest power of two below it that fits.
        ("mistral:7b", 6000, 4096),
    ],
)
def test_the_context_advised_is_the_largest_that_fits(
    check, base_data_no_acme, model, context, advised
):
    data = {**base_data_no_acme, "ollama_models": [model], "ollama_context_length": context}
    (problem,) = check(settings=load(data))
    assert problem.endswith(
        f"short: set ollama_context_length={advised}; or choose a smaller model or a host with "
        "more RAM"
    )
    # The context advised fits, and the next power of two up does not.
    assert check(settings=load({**data, "ollama_context_length": advised})) == []
    assert check(settings=load({**data, "ollama_context_length": advised * 2})) != []


def test_a_quantisation_of_a_table_model_takes_its_shape_and_the_registrys_size(
    check, base_data_no_acme
):
    """The library's q3_K_M of llama3.1:8b: llama3.1:8b's KV cache and buffers, with the size the
    registry gives (here 3.8 GiB, as ollama_model_sizes would)."""
    model = "llama3.1:8b-instruct-q3_K_M"
    settings = load(
        {**base_data_no_acme, "ollama_models": [model], "ollama_model_sizes": {model: 3.8}}
    )
    # 3891.2 MiB of file + 272 MiB of KV (q8_0) + 124 + 4 of compute + 64: 4356 MiB.
    assert [(one.model, one.mib, one.estimated) for one in loaded_together(settings)] == [
        (model, 4356, False),
        ("nomic-embed-text:latest", 438, False),
    ]
    assert check(settings=settings) == []
