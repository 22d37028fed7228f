"""The k3s layer: a pinned, verified k3s with its config on every node (servers and agents),
its plan and its install; Traefik's own configuration is operations/traefik.py's.

``plan(settings, node)`` gives the layer's files, copies, folders, unit and fact reads
(rendering.LayerPlan); ``install(settings)`` deploys that plan. k3s-ansible's way: place a
verified binary, then run the official install script of the same release with
``INSTALL_K3S_SKIP_DOWNLOAD=true`` for its systemd unit. Every step is guarded by a fact or by
a changed file, so a converged host is a no-op. Which host is a server or an agent is decided
in operations/cluster.py. A server's layer ends with its readiness gate
(operations/readiness_gate.py): the node Ready, k3s's charts installed, Traefik redirecting to
HTTPS.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pyinfra import host, inventory
from pyinfra.api import OperationError, deploy, operation
from pyinfra.facts.files import Sha1File
from pyinfra.facts.server import Arch
from pyinfra.operations import files, server

from operations import health, read_parser, readiness_gate, recovery
from operations.cluster import Node, NodeRole, deployed_node
from operations.components import TRAEFIK
from operations.errors import stop
from operations.fact_batch import batch_reads, fact_key, read_fact
from operations.facts import K3sJoinToken, K3sVersion
from operations.gpu import k3s_gpu_runtime
from operations.host_facts import FileState, SystemdUnit
from operations.local_files import K3S_ASSETS, airgap_lacks
from operations.names import (
    FIRST_SERVER_LABEL,
    K3S_BINARY,
    MANIFESTS_DIR,
    PUT_SECRET,
    SCRIPTS_DIR,
    TRAEFIK_SECRETS_DIR,
)
from operations.rendering import (
    PROJECT_ROOT,
    HostFile,
    LayerPlan,
    manifest,
    private_upload,
    put_host_file,
    render,
)
from operations.settings import Settings
from operations.sizing import (
    KUBELET_EVICTION_MEMORY_MIB,
    KUBELET_KUBE_RESERVED_MIB,
    KUBELET_SYSTEM_RESERVED_MIB,
)
from operations.system import unit_running
from operations.traefik import traefik_config, traefik_secret, traefik_secrets

CONFIG_FILE = "/etc/rancher/k3s/config.yaml"
KUBECONFIG_FILE = "/etc/rancher/k3s/k3s.yaml"
JOIN_TOKEN_FILE = "/var/lib/rancher/k3s/server/token"
TRAEFIK_CONFIG_FILE = f"{MANIFESTS_DIR}/llm-appliance-traefik.yaml"
AIRGAP_IMAGES_DIR = "/var/lib/rancher/k3s/agent/images"
RELEASES_URL = "https://github.com/k3s-io/k3s/releases/download"
INSTALL_SCRIPT_URL = "https://raw.githubusercontent.com/k3s-io/k3s/{version}/install.sh"
# -- what goes on the host ---------------------------------------------------------------------


JOIN_TOKEN_PLACEHOLDER = "__JOIN_TOKEN__"


def k3s_files(
    settings: Settings,
    address: str,
    role: str,
    join_url: str | None = None,
    cluster_init: bool = False,
) -> list[HostFile]:
    """A node's k3s config (and, on a server, the Traefik values). A joining node's config
    carries JOIN_TOKEN_PLACEHOLDER: the token is filled in on the host at deploy time."""
    config = render(
        "k3s/config.yaml.j2",
        role=role,
        cluster_cidr=settings.k3s_cluster_cidr,
        service_cidr=settings.k3s_service_cidr,
        tls_sans=list(dict.fromkeys([address, *settings.k3s_tls_sans])),
        cluster_init=cluster_init,
        join_url=join_url,
        token=JOIN_TOKEN_PLACEHOLDER,
        first_server_label=FIRST_SERVER_LABEL if join_url is None else None,
        system_reserved_mib=KUBELET_SYSTEM_RESERVED_MIB,
        kube_reserved_mib=KUBELET_KUBE_RESERVED_MIB,
        eviction_memory_mib=KUBELET_EVICTION_MEMORY_MIB,
    )
    host_files = [HostFile(CONFIG_FILE, config, "600")]
    if role == "server":
        host_files.append(
            manifest(
                TRAEFIK_CONFIG_FILE,
                [traefik_config(settings)],
                (
                    "Managed by llm-appliance (operations/k3s.py). k3s merges these values into its\n"
                    f"packaged Traefik chart (+up{settings.traefik_upstream_chart}); never edit k3s's own "
                    "traefik.yaml,"
                    "\nwhich k3s rewrites at start."
                ),
            )
        )
        if traefik_secrets(settings):
            host_files.append(
                HostFile(PUT_SECRET, (PROJECT_ROOT / "files/put-secret.sh").read_text(), "755")
            )
    return host_files


# -- operations --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AirgapFiles:
    """The air-gap folder's files for one architecture, checked against the release's sums."""

    binary: Path
    install_script: Path
    images: Path | None

    @classmethod
    def find(cls, folder: str, arch: str) -> AirgapFiles:
        """Raises ValueError naming what is missing or does not match its published sum."""
        asset, release_arch = K3S_ASSETS[arch]
        root = Path(folder)
        binary, sums, script = (
            root / asset,
            root / f"sha256sum-{release_arch}.txt",
            root / "install.sh",
        )
        missing = airgap_lacks(root, arch)
        if missing:
            raise ValueError(f"k3s_airgap_dir = {folder!r} lacks {', '.join(missing)}")
        published = {
            line.split()[1]: line.split()[0]
            for line in sums.read_text().splitlines()
            if len(line.split()) == 2
        }
        actual = hashlib.sha256(binary.read_bytes()).hexdigest()
        if published.get(asset) != actual:
            raise ValueError(
                f"k3s_airgap_dir: {binary} does not match its sum in {sums.name}; "
                "download both again from the same release"
            )
        images = sorted(root.glob(f"k3s-airgap-images-{release_arch}.tar*"))
        return cls(binary, script, images[0] if images else None)


@operation()
def k3s_binary(version: str, arch: str):
    """
    Install the k3s binary of exactly ``version``, verified against the release's published
    sha256 sums; nothing when that version is installed already.

    .. code:: python

        k3s_binary(version="v1.36.5+k3s1", arch="x86_64")
    """
    if read_fact(host, K3sVersion, path=K3S_BINARY) == version:
        host.noop(f"k3s {version} is installed")
        return
    asset, release_arch = K3S_ASSETS[arch]
    release = f"{RELEASES_URL}/{quote(version)}"
    yield (
        'set -e; dir=$(mktemp -d); trap \'rm -rf "$dir"\' EXIT; cd "$dir"; '
        f"curl -sfL --retry 3 -o sums {release}/sha256sum-{release_arch}.txt; "
        f"curl -sfL --retry 3 -o {asset} {release}/{asset}; "
        f"grep -E ' {asset}$' sums | sha256sum -c --status || "
        f"{{ echo 'k3s {version}: the download does not match the published sha256 sum' >&2; exit 1; }}; "
        f"install -m 755 {asset} {shlex.quote(K3S_BINARY + '.new')} && "
        f"mv {shlex.quote(K3S_BINARY + '.new')} {shlex.quote(K3S_BINARY)}"
    )


@operation()
def join_config(content_before_token: str, server_node, token_path: str = JOIN_TOKEN_FILE):
    """
    Write a joining node's k3s config with the server's join token, read from the server at
    this moment; the token goes nowhere else (not in any output, not on any command line).

    .. code:: python

        join_config(content_before_token="...", server_node=inventory.get_host("server-1"))
    """
    token = server_node.get_fact(K3sJoinToken, path=token_path)
    if token is None:
        if host.state.is_executing:
            raise OperationError(
                f"no k3s join token on {server_node.name} ({token_path}): deploy the server first"
            )
        yield f"echo 'k3s config waits for the join token of {server_node.name}'"
        return
    content = content_before_token.replace(JOIN_TOKEN_PLACEHOLDER, token.unmask())
    if host.get_fact(Sha1File, path=CONFIG_FILE) != hashlib.sha1(content.encode()).hexdigest():
        yield from private_upload(content.encode(), CONFIG_FILE)
    else:
        host.noop(f"{CONFIG_FILE} holds the join token of {server_node.name}")


def install_script_path(settings: Settings) -> str:
    """Where the release's install script goes on the host (named by version when downloaded)."""
    if settings.k3s_airgap_dir:
        return f"{SCRIPTS_DIR}/k3s-install.sh"
    return f"{SCRIPTS_DIR}/k3s-install-{settings.k3s_version}.sh"


def _binary_and_script(settings: Settings, arch: str):
    """Place the pinned k3s binary and its release's install script (downloaded, or uploaded
    from the air-gap folder); returns both operations and the script's path on the host."""
    script_path = install_script_path(settings)
    if not settings.k3s_airgap_dir:
        script = files.download(
            name="Download the install script of the pinned k3s release",
            src=INSTALL_SCRIPT_URL.format(version=quote(settings.k3s_version)),
            dest=script_path,
            mode="755",
        )
        binary = k3s_binary(
            name="Install the pinned, verified k3s binary", version=settings.k3s_version, arch=arch
        )
        return binary, script, script_path

    try:
        airgap = AirgapFiles.find(settings.k3s_airgap_dir, arch)
    except ValueError as error:
        stop([str(error)], f"{host.name}: the air-gap folder cannot be used")
    script = files.put(
        name="Upload the k3s install script",
        src=str(airgap.install_script),
        dest=script_path,
        mode="755",
    )
    binary = files.put(
        name="Upload the verified k3s binary", src=str(airgap.binary), dest=K3S_BINARY, mode="755"
    )
    if airgap.images:
        files.put(
            name="Upload the k3s images",
            src=str(airgap.images),
            dest=f"{AIRGAP_IMAGES_DIR}/{airgap.images.name}",
            mode="644",
        )
    return binary, script, script_path


def _config(layer: LayerPlan, node: NodeRole):
    """Write this node's k3s config and the layer's other files (on servers, the Traefik
    values); returns the config's operation, the others' operations and the others
    (rendering.HostFile)."""
    config = layer.file(CONFIG_FILE)
    server_manifests = [host_file for host_file in layer.files if host_file is not config]
    manifest_writes = [put_host_file(server_manifest) for server_manifest in server_manifests]
    if node.join_url is None:
        return put_host_file(config), manifest_writes, server_manifests
    return (
        join_config(
            name=f"Write k3s config (joining {node.first_server})",
            content_before_token=config.content,
            server_node=inventory.get_host(node.first_server),
        ),
        manifest_writes,
        server_manifests,
    )


def plan(settings: Settings, node: Node) -> LayerPlan:
    """The k3s layer's plan for ``node``: ``k3s_files``; the binary, the release's install
    script and, on the first server, the copies of Traefik's Secrets' files; the folders only
    the appliance's k3s uses; the k3s unit; every fact its operations read (the readiness gate
    reads the cluster on its own, operations/health.py)."""
    role = node.role
    service = "k3s" if role.role == "server" else "k3s-agent"
    files = k3s_files(settings, node.address, role.role, role.join_url, role.cluster_init)
    secrets = traefik_secrets(settings) if role.role == "server" and role.join_url is None else []
    copies = [remote for secret in secrets for remote, _ in secret.files]
    return LayerPlan(
        files=tuple(files),
        copies=(K3S_BINARY, install_script_path(settings), *copies),
        folders=(str(Path(CONFIG_FILE).parent), SCRIPTS_DIR, TRAEFIK_SECRETS_DIR),
        units=(f"{service}.service",),
        reads=(
            fact_key(Arch),
            fact_key(K3sVersion, path=K3S_BINARY),
            *(
                fact_key(FileState, path=path)
                for path in (
                    *(host_file.path for host_file in files),
                    f"/etc/systemd/system/{service}.service",
                )
            ),
            fact_key(SystemdUnit, unit=f"{service}.service"),
            *(fact_key(Sha1File, path=remote) for remote in copies),
        ),
    )


@deploy("k3s layer")
def install(settings: Settings):
    this = deployed_node()
    layer, node = plan(settings, this), this.role
    service = "k3s" if node.role == "server" else "k3s-agent"
    batch_reads(host, *layer.reads)
    binary, script, script_path = _binary_and_script(settings, read_fact(host, Arch))
    config, manifest_writes, manifests = _config(layer, node)

    unit_missing = not read_fact(host, FileState, path=f"/etc/systemd/system/{service}.service")
    server.shell(
        name="Install the k3s systemd unit with the release's install script",
        commands=[
            "INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_SKIP_START=true "
            f"INSTALL_K3S_VERSION='{settings.k3s_version}' INSTALL_K3S_EXEC={node.role} "
            f"sh {script_path}"
        ],
        _if=lambda: unit_missing or script.did_change() or binary.did_change(),
    )
    server.shell(
        name="Restart k3s for its new binary or config",
        commands=[f"systemctl restart {service}"],
        _if=lambda: not unit_missing and (config.did_change() or binary.did_change()),
    )
    running = unit_running(name="Run k3s (k3s or k3s-agent)", unit=f"{service}.service")
    k3s_gpu_runtime(settings, service)
    repaired, secrets_put = [], []
    if node.join_url is None and health.latest_read(settings).get("restored"):
        repaired.append(
            recovery.restored_cluster_repaired(
                name="Repair what the restored datastore holds of the lost server",
                settings=settings,
            )
        )
    secrets = traefik_secrets(settings) if node.join_url is None and node.role == "server" else []
    if secrets:
        # Once, on the first server: Secrets are the cluster's.
        present = read_parser.secret_names(health.latest_read(settings), TRAEFIK.namespace)
        secrets_put = [
            traefik_secret(
                name=f"Put the Secret {secret.name} for Traefik (from "
                f"{', '.join(local for _, local in secret.files)})",
                secret=secret,
                present=secret.name in present,
            )
            for secret in secrets
        ]
    if node.role == "server":
        # The Traefik HelmChartConfig changes nothing k3s restarts for, but helm-controller
        # upgrades Traefik with it: its write is one of the gate's changes, and the gate waits
        # until k3s applied it as written.
        readiness_gate.gate(
            "k3s",
            settings,
            [binary, script, config, running, *repaired, *secrets_put, *manifest_writes],
            manifests,
        )
