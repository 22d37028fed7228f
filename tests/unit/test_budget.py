"""The memory budget of the rendered appliance, and README's table of it."""

import json
import re
from pathlib import Path

from click.testing import CliRunner

from appliance.budget import budget, markdown_table, mebibytes
from appliance.cli import main
from operations.sizing import DEVICE_PLUGIN_REQUEST_MIB, PLATFORM_REQUESTS_MIB

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHARTS = PROJECT_ROOT / "tests/data/charts"


def rendered_budget(tmp_path):
    result = CliRunner().invoke(
        main, ["render", str(PROJECT_ROOT / "inventories/prod.py"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    return budget(tmp_path)


def chart_requests_mib(record: dict) -> dict[str, float]:
    """Each running container's memory request (MiB) in a recorded chart render, by
    workload/container (init containers run before the others: not added)."""
    found = {}
    for item in record["objects"]:
        pod = item.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            memory = container.get("resources", {}).get("requests", {}).get("memory")
            if memory:
                found[f"{item['metadata']['name']}/{container['name']}"] = mebibytes(memory)
    return found


# What the real helm rendered from the appliance's values (tests/data/charts, recorded by
# tests/record_charts.py), written out: the charts' share of the platform's requests.
CHART_REQUESTS_MIB = {
    "traefik": {"traefik/traefik": 64},
    "cloudnative-pg": {"cloudnative-pg/manager": 96},
    "netdata": {
        "netdata-child/netdata": 128,
        "netdata-k8s-state/netdata": 96,
        "netdata-parent/netdata": 192,
    },
    "open-webui": {"open-webui/open-webui": 816},
}
# The appliance's own manifests (rendered by `appliance render`) and k3s's own pods.
OWN_REQUESTS_MIB = {
    "postgres": 256,
    "llm-appliance-backup (CronJob)": 64,
    "ollama-models (Job)": 32,
    "k3s coredns": 70,
}


def test_the_recorded_renders_request_this():
    for name, expected in CHART_REQUESTS_MIB.items():
        assert chart_requests_mib(json.loads((CHARTS / f"{name}.json").read_text())) == expected


def test_the_platforms_requests_are_the_renders_sum(tmp_path):
    entries = {
        entry.component: entry.request_mib for entry in rendered_budget(tmp_path) if not entry.init
    }
    assert {name: entries[name] for name in OWN_REQUESTS_MIB} == OWN_REQUESTS_MIB
    charts = sum(sum(requests.values()) for requests in CHART_REQUESTS_MIB.values())
    assert (charts, sum(OWN_REQUESTS_MIB.values())) == (1392, 422)
    assert PLATFORM_REQUESTS_MIB == charts + sum(OWN_REQUESTS_MIB.values()) == 1814
    # Every request the deploy writes is counted: all but Ollama's are the platform's.
    assert sum(mib for name, mib in entries.items() if name != "ollama") == PLATFORM_REQUESTS_MIB


def test_with_a_gpu_the_device_plugin_adds_its_request(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "render",
            str(PROJECT_ROOT / "inventories/prod.py"),
            "--out",
            str(tmp_path),
            "--data",
            "ollama_gpu=nvidia",
        ],
    )
    assert result.exit_code == 0, result.output
    entries = [
        entry for entry in budget(tmp_path) if not entry.init and entry.component != "ollama"
    ]
    plugin = json.loads((CHARTS / "nvidia-device-plugin.json").read_text())
    assert chart_requests_mib(plugin)["nvidia-device-plugin/nvidia-device-plugin-ctr"] == 32
    assert (
        sum(entry.request_mib for entry in entries)
        == PLATFORM_REQUESTS_MIB + DEVICE_PLUGIN_REQUEST_MIB
        == 1846
    )


def test_a_request_left_out_of_the_sum_fails():
    render = json.loads((CHARTS / "open-webui.json").read_text())
    render["objects"].append(
        {
            "kind": "Deployment",
            "metadata": {"name": "sidecar"},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "extra", "resources": {"requests": {"memory": "64Mi"}}}
                        ]
                    }
                }
            },
        }
    )
    assert chart_requests_mib(render) != CHART_REQUESTS_MIB["open-webui"]


def test_quantities():
    assert mebibytes("1Gi") == 1024 and mebibytes("384Mi") == 384 and mebibytes("512Ki") == 0.5
    assert round(mebibytes("1G"), 1) == 953.7


def test_readme_budget_table_matches(tmp_path):
    text = (PROJECT_ROOT / "README.md").read_text()
    block = re.search(r"<!-- budget-table:.*?-->\n(.*?)\n<!-- /budget-table -->", text, re.S)
    assert block, "README.md has lost its budget table markers"
    # Regenerate: python bench/memory_budget.py --markdown
    assert block.group(1) == markdown_table(rendered_budget(tmp_path))
