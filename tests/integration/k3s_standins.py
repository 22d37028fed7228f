"""k3s v1.36.5+k3s1 as far as the layers can tell, on a rehearsal host where k3s cannot run:
the `k3s kubectl` stand-in (standin_k3s.py) as the k3s binary, the release's install script in
place, Ollama's model list, and a k3s unit that runs the Traefik stand-in (standin_traefik.py).

    install_k3s_standins(host)               # the unit started, as after a deploy
    install_k3s_standins(host, start=False)  # a fresh server: k3s installed, not running
"""

from __future__ import annotations

import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
STATE = "/var/lib/standin-k3s"
TRAEFIK_UNIT = """[Unit]
Description=Stand-in for k3s: Traefik's answers on 80 and 443
[Service]
ExecStart=/usr/bin/python3 /usr/local/lib/standin-traefik.py
[Install]
WantedBy=multi-user.target
"""
OLLAMA_LIST = ("NAME                       ID              SIZE      MODIFIED\n"
               "llama3.2:3b                a80c4f17acd5    2.0 GB    2 days ago\n"
               "nomic-embed-text:latest    0a109f422b47    274 MB    2 days ago\n")


def install_k3s_standins(host, start: bool = True) -> None:
    for source, target in (("standin_k3s.py", "/usr/local/bin/k3s"),
                           ("standin_traefik.py", "/usr/local/lib/standin-traefik.py")):
        subprocess.run(["scp", *host.ssh_options(), str(HERE / source),
                        f"root@{host.address}:{target}"], check=True, capture_output=True)
    host.ssh(
        f"chmod 755 /usr/local/bin/k3s && install -d -m 700 {STATE} "
        f"{STATE}/exec/llm/deploy/ollama && echo 'k3s version v1.36.5+k3s1 (stand-in)' > {STATE}/version && "
        "install -d /usr/local/lib/llm-appliance && printf '#!/bin/sh\\nexit 0\\n' > "
        "'/usr/local/lib/llm-appliance/k3s-install-v1.36.5+k3s1.sh' && "
        f"cat > /etc/systemd/system/k3s.service <<'EOF'\n{TRAEFIK_UNIT}EOF\n"
        "systemctl daemon-reload" + (" && systemctl enable --now k3s.service" if start else "")
    )
    host.ssh(f"cat > '{STATE}/exec/llm/deploy/ollama/ollama list' <<'EOF'\n{OLLAMA_LIST}EOF")
