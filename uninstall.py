"""Remove k3s and everything the appliance put on top of it, leaving the host layer in place.

    pyinfra inventories/prod.py uninstall.py

Runs k3s's own uninstall script (it stops k3s and removes its binary, units, data under
/var/lib/rancher/k3s and /etc/rancher/k3s, and its network interfaces: k3s install.sh
create_uninstall, read at k3s-io/k3s commit 0136cf2), then what the k3s and apps layers' plans
put there (operations/k3s.py and operations/apps.py ``plan``): the folders they own whole, then
each path of theirs outside those folders. On the first server with off-site backups, their
timers stop and go first (operations/offsite.py offsite_removed, as when backup_repository is
unset): each run copies the k3s datastore, which is gone after the uninstall, so every later
run would fail. Backups in /var/backups/llm-appliance, the off-site repository, its password
and credentials (/etc/llm-appliance/backup) are kept, for a restore. Idempotent: on a host
without k3s or the appliance's files it changes nothing.
"""

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import files, server

from operations import apps as apps_layer
from operations import k3s as k3s_layer
from operations import offsite
from operations.cluster import deployed_node
from operations.preflight import settings_or_stop

settings = settings_or_stop()
# A GPU manifest may be there wherever Ollama may have used a GPU.
node = deployed_node(cluster_gpu=settings.ollama_gpu != "none")
plans = [k3s_layer.plan(settings, node), apps_layer.plan(settings, node)]
folders = list(dict.fromkeys(folder for plan in plans for folder in plan.folders))
paths = [
    path
    for path in dict.fromkeys(path for plan in plans for path in plan.paths)
    if not any(path.startswith(f"{folder}/") for folder in folders)
]

offsite.offsite_removed(name="Stop and remove the off-site timers (the datastore they copy goes)")
for script in ("k3s-uninstall.sh", "k3s-agent-uninstall.sh"):
    if host.get_fact(File, path=f"/usr/local/bin/{script}"):
        server.shell(name=f"Run {script}", commands=[f"/usr/local/bin/{script}"])
# Unnamed: pyinfra names each by its arguments (files.directory (path=..., present=False)).
for folder in folders:
    files.directory(path=folder, present=False)
for path in paths:
    files.file(path=path, present=False)
