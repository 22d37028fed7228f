"""Files the appliance puts on a host, rendered once for both the deploy and `appliance render`.

Each layer's plan (``LayerPlan``) lists its files as ``HostFile``s; the deploy uploads them with
``put_host_file`` and ``appliance render`` writes the very same bytes under a local folder.
"""

from __future__ import annotations

import hashlib
import io
import shlex
from dataclasses import dataclass
from pathlib import Path

import jinja2
import yaml
from pyinfra import host
from pyinfra.api import FileUploadCommand, operation

from operations.components import Chart
from operations.fact_batch import read_fact
from operations.host_facts import FileState

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(PROJECT_ROOT / "templates"),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)


@dataclass(frozen=True)
class HostFile:
    """A file on the host: its path there, its content and its mode."""

    path: str
    content: str
    mode: str = "644"


@dataclass(frozen=True)
class LayerPlan:
    """What one layer puts on one node, decided from the settings and the node alone (each
    layer's ``plan(settings, node)``, node an operations/cluster.py ``Node``): the layer's
    ``install()`` deploys it and reads ``reads`` in one round trip, ``appliance render`` writes
    ``files``, uninstall.py removes ``folders`` and ``paths``.

    - ``files``: rendered here (``HostFile``), uploaded by ``put_host_file``;
    - ``copies``: host paths placed from elsewhere, not rendered (a download, the operator's
      own files, a secret made on the host);
    - ``folders``: folders the layer owns whole, with whatever is inside;
    - ``packages``, ``units``: Debian packages it installs, systemd units it runs;
    - ``reads``: the facts its operations read, as ``facts.fact_key`` tuples.
    """

    files: tuple[HostFile, ...] = ()
    copies: tuple[str, ...] = ()
    folders: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    reads: tuple[tuple, ...] = ()

    def file(self, path: str) -> HostFile:
        """The planned file at ``path``; KeyError when the plan has none there."""
        found = {host_file.path: host_file for host_file in self.files}
        return found[path]

    @property
    def paths(self) -> tuple[str, ...]:
        """Every host path the layer writes: its files', then its copies', each once."""
        return tuple(dict.fromkeys([*(host_file.path for host_file in self.files), *self.copies]))


class _BlockStyleDumper(yaml.SafeDumper):
    """Multi-line strings (a chart's values, a script) as readable `|` blocks; a value used
    twice is written out twice, never as a YAML anchor and alias (`&id001`, `*id001`)."""

    def ignore_aliases(self, data) -> bool:
        return True


_BlockStyleDumper.add_representer(
    str,
    lambda dumper, text: dumper.represent_scalar(
        "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None
    ),
)


def to_yaml(data) -> str:
    """YAML as the appliance writes it everywhere (manifests, chart values): keys in their
    order, no anchors. ``to_yaml({"a": [1]})`` gives 'a:\\n- 1\\n'."""
    return yaml.dump(data, Dumper=_BlockStyleDumper, sort_keys=False)


def manifest(path: str, documents: list[dict], comment: str) -> HostFile:
    """A Kubernetes manifest file (mode 0600) of the given documents, under a comment."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    body = yaml.dump_all(documents, Dumper=_BlockStyleDumper, sort_keys=False)
    return HostFile(path, header + body, "600")


def render(template: str, **context) -> str:
    """Render ``templates/<template>`` with the given context."""
    return TEMPLATES.get_template(template).render(**context)


@operation()
def file_content(path: str, content: str, mode: str):
    """
    A root-owned file with exactly this content and mode: uploaded when its SHA-1 differs
    (or it is missing), its mode and owner set when they differ (one command for both); a
    no-op otherwise.

    .. code:: python

        file_content(path="/etc/modules-load.d/k8s.conf", content="overlay\n", mode="644")
    """
    present = read_fact(host, FileState, path=path)
    if not present or present["sha1"] != hashlib.sha1(content.encode()).hexdigest():
        if not present:
            yield f"mkdir -p {shlex.quote(str(Path(path).parent))}"
        yield FileUploadCommand(
            io.StringIO(content), path, remote_temp_filename=host.get_temp_filename(path)
        )
        present = None
    fixes = []
    if not present or (present["user"], present["group"]) != ("root", "root"):
        fixes.append(f"chown root:root {shlex.quote(path)}")
    if not present or present["mode"] != mode:
        fixes.append(f"chmod {mode} {shlex.quote(path)}")
    if fixes:
        yield " && ".join(fixes)


@operation()
def file_absent(path: str):
    """
    No file at ``path``.

    .. code:: python

        file_absent(path="/etc/ssh/sshd_config.d/10-llm-appliance.conf")
    """
    if read_fact(host, FileState, path=path):
        yield f"rm -f {shlex.quote(path)}"


def private_upload(content: bytes, path: str):
    """The commands that put a secret at ``path``, readable by root only: the folder 0700, the
    file 0600 before the secret lands in it (an upload keeps the mode of the file it replaces);
    with sudo the upload passes through the SSH user's home, not a world-readable /tmp. The
    secret is never on a command line. In an operation:
    ``yield from private_upload(b"K10...", "/etc/rancher/k3s/config.yaml")``."""
    quoted = shlex.quote(path)
    yield f"install -d -m 700 {shlex.quote(str(Path(path).parent))}"
    yield f"[ -f {quoted} ] || install -m 600 /dev/null {quoted}"
    yield f"chmod 600 {quoted}"
    yield FileUploadCommand(io.BytesIO(content), path, remote_temp_filename=".llm-appliance-upload")


def put_host_file(host_file: HostFile, **kwargs):
    """Upload a rendered file (``file_content``): an unchanged file is a no-op."""
    return file_content(
        name=f"Put {host_file.path}",
        path=host_file.path,
        content=host_file.content,
        mode=host_file.mode,
        **kwargs,
    )


def write_tree(host_files: list[HostFile], out_dir: Path) -> list[Path]:
    """Write each file at its host path under ``out_dir``; returns the paths written."""
    written = []
    for host_file in host_files:
        target = out_dir / host_file.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(host_file.content)
        target.chmod(int(host_file.mode, 8))
        written.append(target)
    return written


# What helm-controller does when a chart's install or upgrade failed: `helm upgrade` again.
# Sources: helm-controller v0.17.7 pkg/apis/helm.cattle.io/v1/types.go (enum abort, reinstall,
# retry; retry added in v0.17.6, commit f27efd8) and pkg/controllers/chart/chart.go
# (getJobAndRelatedResources: reinstall unless the HelmChart or its HelmChartConfig names one);
# klipper-helm v0.13.3-build20260727 `entry` (reinstall: `helm uninstall`, then install; abort:
# exit 1, the release stays failed; retry: `helm upgrade`). k3s v1.36.0-v1.36.2 ship
# helm-controller v0.17.1, whose enum has no retry (their release notes); k3s's release-1.36
# branch took v0.17.6 in k3s-io/k3s#14442 (2026-07-22, which also set retry on k3s's own Traefik
# charts) and v0.17.7 in #14475 (2026-07-28): the pinned v1.36.5, a later release of that
# branch, accepts retry. (k3s's go.mod at the v1.36.5+k3s1 tag itself could not be read here: the
# repository is too large to fetch; the stored go.mod of its main branch names v0.17.7.)
FAILURE_POLICY = "retry"

# On an object a chart makes: helm never deletes it, neither at an uninstall (a HelmChart
# deleted, failurePolicy reinstall) nor at an upgrade that no longer renders it, and a later
# install of the same release takes it back (its managed-by label and release annotations stay).
# Read in Helm v4.1.4, the Helm of klipper-helm v0.13.3 (its Dockerfile): pkg/action/uninstall.go
# and resource_policy.go (filterManifestsToKeep), pkg/kube/client.go (delete skips it),
# pkg/action/validate.go (existingResourceConflict, checkOwnership).
HELM_KEEP = {"helm.sh/resource-policy": "keep"}

# A container of Open WebUI's or Ollama's: still uid 0, as their images are built (Open WebUI:
# open-webui/open-webui Dockerfile `ARG UID=0` "non-root configurations are untested", HOME=/root,
# `USER $UID:$GID`; read at commit 08d67bf, the version stored here, its v0.12.4 tag could not
# be; Ollama: ollama/ollama v0.32.15 Dockerfile, ubuntu:24.04 with no USER, models under
# $HOME/.ollama, envconfig/config.go Models), and their volumes hold what root wrote there; but
# with no capability at all (containerd's default set, oci/spec.go defaultUnixCaps, holds 14,
# among them DAC_OVERRIDE, which lets root read and write any file, CHOWN, SETUID, NET_RAW) and
# none to gain through a setuid or file-capability binary (no_new_privs). Root then reaches only
# what root owns or what is open to all. Open WebUI 0.12.4 serves, stores uploads and embeds
# so in tests/realapps (setpriv, the same process state); Ollama is not run in the tests.
NO_CAPABILITIES = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def helm_chart(chart: Chart, values: dict) -> dict:
    """A k3s HelmChart resource: helm-controller installs and upgrades ``chart`` (a component
    record's, operations/components.py) with ``values`` from it."""
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": chart.name, "namespace": "kube-system"},
        "spec": {
            "repo": chart.repo,
            "chart": chart.chart,
            "version": chart.version,
            "targetNamespace": chart.namespace,
            "createNamespace": True,
            # A failed install or upgrade is retried by `helm upgrade`, never uninstalled first
            # (helm-controller's default, reinstall, would): see FAILURE_POLICY.
            "failurePolicy": FAILURE_POLICY,
            "valuesContent": to_yaml(values),
        },
    }
