"""The bench/ scripts explain themselves (--help, a usage) and fail in one line, booting nothing."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.runner import project_environment
from mutation import output_of

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench(script: str, *arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `python bench/SCRIPT ARGUMENTS...` with this checkout's code."""
    return subprocess.run(
        [sys.executable, str(BENCH / script), *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=project_environment(),
    )


@pytest.mark.parametrize(
    "script, usage, summary",
    [
        (
            "lynis.py",
            "Usage: lynis.py [OPTIONS]",
            "Benchmark: Lynis hardening index of a bare Debian 12 host, then after the",
        ),
        (
            "host_layer.py",
            "Usage: host_layer.py [OPTIONS]",
            "Time the host layer's first converge and no-op re-run on fresh rehearsal",
        ),
        (
            "memory_budget.py",
            "Usage: memory_budget.py [OPTIONS] [INVENTORY]",
            "Print the platform's memory requests and limits per container, and what is",
        ),
        (
            "model_memory.py",
            "Usage: model_memory.py [OPTIONS]",
            "Measure the resident memory of each model in llama-server, as Ollama runs it",
        ),
        (
            "mutation.py",
            "Usage: mutation.py [OPTIONS]",
            "Print the share of mutants the fast tests kill, per module.",
        ),
    ],
)
def test_help_says_what_each_benchmark_does(tmp_path, script, usage, summary):
    result = bench(script, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == usage and lines[2] == f"  {summary}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "arguments, status",
    [(["--help"], 0), (["-h"], 0), ([], 2), (["trace.json"], 2), (["-y", "inventory.py"], 2)],
)
def test_tracer_prints_its_usage_instead_of_running_pyinfra(tmp_path, arguments, status):
    result = bench("pyinfra_trace.py", *arguments, cwd=tmp_path)
    assert result.returncode == status
    usage = result.stdout if status == 0 else result.stderr
    assert (
        usage.splitlines()[0] == "usage: python bench/pyinfra_trace.py TRACE_JSON PYINFRA_ARGS..."
    )
    assert "bench/host_layer.py" in usage
    assert list(tmp_path.iterdir()) == []  # no trace written, no pyinfra run


def test_mutation_without_mutmut_says_how_to_install_it(tmp_path):
    # As `python bench/mutation.py` where mutmut is absent: importlib finds no module so named.
    program = (
        f"import runpy, sys; sys.modules['mutmut'] = None; "
        f"sys.argv = ['mutation.py', '--workdir', {str(tmp_path / 'work')!r}]; "
        f"runpy.run_path({str(BENCH / 'mutation.py')!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=project_environment(),
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "mutmut is not installed: pip install mutmut (3.x)\n",
    )
    assert list(tmp_path.iterdir()) == []


def test_a_failing_command_ends_in_one_line_naming_it(tmp_path):
    (tmp_path / "fails.py").write_text(
        "import sys\nprint('Traceback (most recent call last):', file=sys.stderr)\n"
        "sys.exit('mutmut.NoMutants: none')\n"
    )
    with pytest.raises(SystemExit) as stopped:
        output_of([sys.executable, "fails.py", "results"], tmp_path)
    assert stopped.value.code == "python fails.py results failed (exit 1): mutmut.NoMutants: none"


def test_readme_names_every_benchmark_with_how_to_run_it():
    section = (BENCH.parent / "README.md").read_text().split("\n## Tests and benchmark\n")[1]
    items = re.findall(
        r"^- `bench/(\w+\.py)`(.*?)(?=^- |^\n)", section.split("\n## ")[0], re.M | re.S
    )
    assert (
        sorted(name for name, _ in items)
        == sorted(path.name for path in BENCH.glob("*.py"))
        == [
            "host_layer.py",
            "lynis.py",
            "memory_budget.py",
            "model_memory.py",
            "mutation.py",
            "pyinfra_trace.py",
        ]
    )
    for name, text in items:
        assert f"`python bench/{name}" in text or "not run by hand" in text, name


@pytest.mark.parametrize(
    "data, problem",
    [
        ("typo_setting=1", "typo_setting: unknown setting; see the settings table in README.md"),
        (
            'ollama_model_sizes={"mymodel:7b": -1}',
            "ollama_model_sizes = {'mymodel:7b': -1} gives mymodel:7b the size -1; use a positive "
            "number of GiB",
        ),
        (
            "ollama_models=mistral",
            "ollama_models = 'mistral' has malformed model names ['mistral']; use name:tag in "
            "lower case, e.g. llama3.2:3b (the tag pins what is pulled: `ollama pull llama3.2` "
            "takes llama3.2:latest)",
        ),
    ],
)
def test_the_memory_bench_names_a_bad_setting_as_appliance_check_does(tmp_path, data, problem):
    inventory = str(BENCH.parent / "inventories" / "prod.py")
    result = bench("memory_budget.py", inventory, "--data", data, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    # appliance/options.py load_hosts' message: the inventory, then one line per problem.
    assert result.stderr.splitlines() == [
        f"{inventory}: the settings need fixing:",
        f"    - 203.0.113.10: {problem}",
    ]


def test_the_memory_bench_refuses_data_without_a_value_in_one_line(tmp_path):
    inventory = str(BENCH.parent / "inventories" / "prod.py")
    result = bench("memory_budget.py", inventory, "--data", "foo", cwd=tmp_path)
    # click's usage error: the command line is at fault, not the inventory.
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "Error: --data 'foo': use KEY=VALUE"
    assert "Traceback" not in result.stderr


def test_the_memory_benchs_fit_table_says_it_reads_no_ollama_models(tmp_path):
    inventory = str(BENCH.parent / "inventories" / "prod.py")
    usage = bench("memory_budget.py", "--help", cwd=tmp_path).stdout
    assert "ollama_models is not read" in " ".join(usage.split())
    fixed = bench("memory_budget.py", inventory, "--fits", cwd=tmp_path)
    mine = bench(
        "memory_budget.py", inventory, "--fits", "--data", "ollama_models=mistral:7b", cwd=tmp_path
    )
    assert fixed.returncode == mine.returncode == 0
    assert mine.stdout == fixed.stdout


def memory_bench(*data: str) -> str:
    """What bench/memory_budget.py prints, from the checkout (its default inventory is
    inventories/prod.py), with these --data KEY=VALUE pairs; it must exit 0."""
    run = bench(
        "memory_budget.py", *(a for pair in data for a in ("--data", pair)), cwd=BENCH.parent
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_the_memory_bench_prints_the_preflights_figure():
    output = memory_bench("ollama_models=qwen2.5:7b")
    assert (
        "Ollama's request and limit (CPU): 5494 MiB, with qwen2.5:7b 4800 MiB, "
        "nomic-embed-text:latest 438 MiB loaded together"
    ) in output
    assert (
        "on the 8 GB reference box (MemTotal 8139012 kB) Ollama has 5238 MiB: "
        "ollama_models: Ollama needs 5494 MiB with qwen2.5:7b"
    ) in output
    # A model of unknown size: counted as its runner alone, and said so, not "admits".
    unsized = memory_bench("ollama_models=mymodel:7b")
    assert "mymodel:7b 64 MiB (its runner only: size not known)" in unsized
    assert (
        "Ollama has 5238 MiB: ollama_models: the size of mymodel:7b is not known offline"
    ) in unsized
    assert "the preflight admits" not in unsized


def test_the_memory_bench_prints_what_the_preflight_checks_on_a_gpu_host():
    """With ollama_gpu nvidia the preflight checks the host's RAM (the platform, the device
    plugin and Ollama's 2 GiB beside the GPU) and the GPU's memory, not the CPU's figures."""
    output = memory_bench("ollama_gpu=nvidia", "ollama_models=llama3.1:8b")
    summary = output.splitlines()[-4:]
    assert summary[0].endswith(
        "of which the platform (all but Ollama) 1846 MiB (operations/sizing.py "
        "PLATFORM_REQUESTS_MIB 1814 and the NVIDIA device plugin's DEVICE_PLUGIN_REQUEST_MIB 32)"
    )
    # 4.58 GiB of weights x 1.2.
    assert summary[1] == (
        "Ollama's request and limit (GPU): 2048 MiB of RAM, the server and CUDA's host side with "
        "any prompt cache; its models load into the GPU's memory, where the largest, "
        "llama3.1:8b, needs 5.5 GiB (its 4.6 GiB of weights x 1.2) (operations/memory.py)"
    )
    # 896 (the system) + 1814 + 32 + 2048.
    assert summary[2] == (
        "on the 8 GB reference box (MemTotal 8139012 kB) the host needs 4790 MiB of RAM: "
        "the preflight admits that RAM"
    )
    assert summary[3] == (
        "the GPU's memory: the preflight reads it on the host (nvidia-smi), this offline bench "
        "cannot; the GPU must hold 5.5 GiB for llama3.1:8b"
    )
    assert "(CPU)" not in output and "short" not in output
