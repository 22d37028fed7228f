"""The settings-change matrix (tests/settings_matrix.py) against a real rehearsal host.

Host layer: a real deploy with BASE, then one with every host row's change at once; each row's
command on the host shows its change. k3s and apps layers (which cannot converge here): the
host holds the files a deploy with BASE writes and k3s at the pinned version; `pyinfra --dry`
with each change then plans the upload of exactly the files the change rewrites, and the
operations the rows name; a change k3s would not take stops the deploy, which changes nothing.
"""

import io
import subprocess
import tarfile

import pytest

from appliance.inventory import InventoryHost
from appliance.render import rendered_files
from appliance.runner import run_pyinfra
from operations.names import K3S_BINARY
from operations.pins import PINNED_VERSIONS
from operations.settings import load
from settings_matrix import BASE, ROWS, Live, Planned, Refused, Rendered, batched, changed

HOST_ROWS = [row for row in ROWS if row.of(Live)]
PLANNED_ROWS = [
    row
    for row in ROWS
    if (row.of(Planned) or row.of(Rendered)) and not row.of(Refused) and not row.host_test
]
REFUSED_ROWS = [row for row in ROWS if row.of(Refused)]


def deploy_ok(run) -> None:
    assert run.returncode == 0 and run.totals["error"] == 0, run.stderr[-3000:]


@pytest.fixture(scope="module")
def host_outputs(rehearsal, inventory):
    """Each host row's command outputs after a deploy with BASE and after one with the changes."""

    def outputs() -> dict[str, list[str]]:
        return {
            row.setting: [rehearsal.ssh(proof.command).stdout.strip() for proof in row.of(Live)]
            for row in HOST_ROWS
        }

    deploy_ok(run_pyinfra(inventory("base.py", **{**BASE, "layers": "host"}), "deploy.py"))
    before = outputs()
    changed_host = inventory("host-changes.py", **{**batched(HOST_ROWS), "layers": "host"})
    deploy_ok(run_pyinfra(changed_host, "deploy.py"))
    return before, outputs(), changed_host


@pytest.mark.parametrize("row", HOST_ROWS, ids=lambda row: row.setting)
def test_the_host_follows_the_change(host_outputs, row):
    before, after, _ = host_outputs
    for proof, seen_before, seen_after in zip(
        row.of(Live), before[row.setting], after[row.setting], strict=True
    ):
        assert (seen_before, seen_after) == (proof.before, proof.after), proof.command


def test_the_shipped_suite_agrees_with_the_changed_host(host_outputs, shipped_suite):
    result = shipped_suite(host_outputs[2], "-m", "host")
    assert result.returncode == 0, result.stdout[-3000:]


def _rendered(data: dict, address: str) -> dict:
    node = InventoryHost(address, data, ())
    return {f.path: f for f in rendered_files(node, load(data), [node])}


def _upload(rehearsal, files: list[tuple[str, bytes, int]]) -> None:
    """Put files (path, content, mode) on the host as root, in one SSH session."""
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for path, content, mode in files:
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode = len(content), mode
            tar.addfile(info, io.BytesIO(content))
    subprocess.run(
        [
            "ssh",
            *rehearsal.ssh_options(),
            f"root@{rehearsal.address}",
            "tar -C / --no-same-owner -xf -",
        ],
        input=archive.getvalue(),
        check=True,
        timeout=60,
    )


def planned(run) -> set[str]:
    """The operations a --dry --json run would (or might) change something with."""
    import json

    return {
        op["name"]
        for op in json.loads(run.stdout)["plan"]
        if op["hosts_with_change"] or op["hosts_with_conditional_change"]
    }


@pytest.fixture(scope="module")
def plans(rehearsal, inventory, host_outputs):
    """Dry runs against a host that looks deployed with BASE: one with BASE, one with every
    row's change at once but for the rows planned alone, and one per row planned alone."""
    # What a deploy with BASE left: the k3s and apps files, and k3s at the pinned version.
    base, host_only = (
        _rendered(data, rehearsal.address) for data in (BASE, {**BASE, "layers": ["host"]})
    )
    stand_in = f'#!/bin/sh\n[ "$1" = --version ] && echo "k3s version {PINNED_VERSIONS["k3s"]}"\n'
    _upload(
        rehearsal,
        [(K3S_BINARY, stand_in.encode(), 0o755)]
        + [
            (f.path, f.content.encode(), int(f.mode, 8))
            for path, f in base.items()
            if path not in host_only
        ],
    )

    def plan(name: str, data: dict) -> set[str]:
        # Without the host layer, which the real deploys above prove.
        layers = [layer for layer in data.get("layers", ("host", "k3s", "apps")) if layer != "host"]
        run = run_pyinfra(inventory(name, **{**data, "layers": layers}), "deploy.py", "--dry")
        assert run.returncode == 0, run.stderr[-3000:]
        return planned(run)

    together = plan("together.py", batched([row for row in PLANNED_ROWS if not row.alone]))
    after = {
        row.setting: plan(f"{row.setting}.py", changed(row)) if row.alone else together
        for row in PLANNED_ROWS
    }
    written = {row.setting: set(_rendered(changed(row), rehearsal.address)) for row in PLANNED_ROWS}
    return plan("base-dry.py", BASE), after, set(base) - set(host_only), written, inventory


def _upload_of(path: str, plan: set[str]) -> bool:
    return any(name.endswith(f" | Put {path}") for name in plan)


@pytest.mark.parametrize("row", PLANNED_ROWS, ids=lambda row: row.setting)
def test_the_deploy_plans_the_change(plans, row):
    before, after, cluster_files, written, _ = plans
    for proof in row.of(Planned):
        assert (proof.operation in before, proof.operation in after[row.setting]) == (
            proof.before,
            proof.after,
        ), proof.operation
    for path in {proof.path for proof in row.of(Rendered)} & cluster_files:
        # The host holds the file as BASE writes it: the deploy uploads it again only after the
        # change, which rewrites it (unless the change stops writing it).
        assert (_upload_of(path, before), _upload_of(path, after[row.setting])) == (
            False,
            path in written[row.setting],
        ), path


@pytest.mark.parametrize("row", REFUSED_ROWS, ids=lambda row: row.setting)
def test_the_deploy_refuses_a_first_install_setting(rehearsal, plans, row):
    config = "sha256sum /etc/rancher/k3s/config.yaml"
    kept = rehearsal.ssh(config).stdout
    run = run_pyinfra(plans[4](f"refused-{row.setting}.py", **changed(row)), "deploy.py")
    assert run.returncode == 1
    for proof in row.of(Refused):
        assert proof.message in run.stderr, run.stderr[-3000:]
    assert "Beginning operation run" not in run.stderr and "Traceback" not in run.stderr
    assert rehearsal.ssh(config).stdout == kept
