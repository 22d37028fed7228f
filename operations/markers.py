"""The appliance's state on the first server kept in marker files, and every write and read of
them: where they are, the shell that sets, clears or reads each, and the paths files/offsite.sh
is given (it writes them on the host, in the shell).

- OFFSITE_LAST_FILE: the name of the archive last sent off-site; its time is the last
  snapshot's (`appliance status`, Netdata's filecheck). Written by offsite.sh.
- RESTORING_FILE: `appliance restore --from-repository` is under way (set by
  offsite.password_restored, cleared by `offsite.sh restore` once the snapshot is in place);
  meanwhile no repository is ever made (`offsite.sh init` refuses).
- RESTORED_FILE: a restored k3s datastore still holds the lost server (set by `offsite.sh
  restore`, holding the snapshot's ID; read by the k3s layer, through ApplianceRead, and
  cleared by recovery.restored_cluster_repaired once repaired).

Imports nothing of the project: every layer and the status read may use it.

    SET_RESTORING  # 'install -d /var/lib/llm-appliance && touch /var/lib/llm-appliance/restoring-from-repository'
"""

import shlex

STATE_DIR = "/var/lib/llm-appliance"
OFFSITE_LAST_FILE = f"{STATE_DIR}/offsite-last"
RESTORING_FILE = f"{STATE_DIR}/restoring-from-repository"
RESTORED_FILE = f"{STATE_DIR}/restored-from-repository"

# files/offsite.sh's variables for the three (read from restic.env, operations/offsite.py).
OFFSITE_SCRIPT_PATHS = {
    "LAST": OFFSITE_LAST_FILE,
    "RESTORING": RESTORING_FILE,
    "RESTORED": RESTORED_FILE,
}

SET_RESTORING = f"install -d {shlex.quote(STATE_DIR)} && touch {shlex.quote(RESTORING_FILE)}"
CLEAR_RESTORED = f"rm -f {shlex.quote(RESTORED_FILE)}"
# What ApplianceRead prints of them: the last snapshot's time ("time 1794993600"; nothing
# before the first), and the restored snapshot's ID (nothing once repaired).
READ_OFFSITE_TIME = f"stat -c 'time %Y' {shlex.quote(OFFSITE_LAST_FILE)} 2>/dev/null"
READ_RESTORED = f"cat {shlex.quote(RESTORED_FILE)} 2>/dev/null"
