"""Remove k3s and everything the appliance put on top of it, leaving the host layer in place.

    pyinfra inventories/prod.py uninstall.py

Runs k3s's own uninstall script (it stops k3s and removes its binary, units, data under
/var/lib/rancher and /etc/rancher, and its network interfaces), then the appliance's own files.
Backups in /var/backups/llm-appliance are kept. Idempotent: on a host without k3s it changes
nothing.
"""

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from operations import k3s as k3s_layer

for script in ("k3s-uninstall.sh", "k3s-agent-uninstall.sh"):
    if host.get_fact(File, path=f"/usr/local/bin/{script}"):
        server.shell(name=f"Run {script}", commands=[f"/usr/local/bin/{script}"])
files.directory(name="Remove the appliance's k3s scripts", path=k3s_layer.SCRIPTS_DIR, present=False)
files.directory(name="Remove k3s's config folder", path="/etc/rancher/k3s", present=False)
files.directory(name="Remove the appliance's data folder", path="/var/lib/llm-appliance",
                present=False)
