"""Custom pyinfra facts of the host's own system, read before deciding what to change: its
kernel modules, memory, disk, listening ports, firewall (ufw), systemd units and time sync,
sshd's port, its primary address, dpkg's state, apt keyrings, files and installed packages.

k3s's and the cluster's facts are in operations/facts.py, Ollama's in operations/ollama_facts.py,
the NVIDIA GPU's in operations/gpu_facts.py; operations/fact_batch.py reads several of them in
one round trip (``read_fact``).
"""

from __future__ import annotations

import re

from pyinfra.api import FactBase

from operations.firewall import FirewallRule


class KernelModules(FactBase):
    """
    Names among the given kernel modules that are present in the running kernel: loaded, or
    built in. Decided from ``/sys/module/NAME`` and ``modules.builtin``, never ``/proc/modules``
    (absent on kernels built without module support).

    .. code:: python

        host.get_fact(KernelModules, names=("overlay", "br_netfilter"))  # {"overlay"}
    """

    default = set

    def command(self, names):
        checks = " ".join(names)
        return (
            f'builtin="/lib/modules/$(uname -r)/modules.builtin"; for name in {checks}; do '
            '{ [ -d "/sys/module/$name" ] || grep -qs "/$name.ko$" "$builtin"; } && echo "$name"; '
            "done; true"
        )

    def process(self, output):
        return {line.strip() for line in output if line.strip()}


class MemTotal(FactBase):
    """
    Memory of the host in KiB, from ``/proc/meminfo``.

    .. code:: python

        host.get_fact(MemTotal)  # 8023548
    """

    def command(self):
        return "grep '^MemTotal:' /proc/meminfo"

    def process(self, output):
        return int(output[0].split()[1])


class DiskSpace(FactBase):
    """
    Space for a directory that may not exist yet: free KiB on the file system that will hold it
    (its nearest existing parent), plus what the directory already uses (it is the appliance's).

    .. code:: python

        host.get_fact(DiskSpace, path="/var/lib/rancher")
        # {"mount": "/", "free_kib": 52428800, "used_by_path_kib": 0}
    """

    def command(self, path):
        return (
            f'p="{path}"; while [ ! -e "$p" ]; do p=$(dirname "$p"); done; '
            'df -Pk "$p" | tail -n 1; '
            f'if [ -e "{path}" ]; then du -sxk "{path}" 2>/dev/null | cut -f1; else echo 0; fi'
        )

    def process(self, output):
        fields = output[0].split()
        used = output[1].strip() if len(output) > 1 else "0"
        return {
            "mount": fields[5],
            "free_kib": int(fields[3]),
            "used_by_path_kib": int(used) if used.isdigit() else 0,
        }


class ListeningTcpPorts(FactBase):
    """
    Listening TCP ports and the names of the programs holding them, from ``ss``.

    .. code:: python

        host.get_fact(ListeningTcpPorts)  # {22: {"sshd"}, 6443: {"k3s-server"}}
    """

    default = dict

    def requires_command(self):
        return "ss"

    def command(self):
        return "ss -Htlnp"

    def process(self, output):
        ports: dict[int, set[str]] = {}
        for line in output:
            fields = line.split()
            if len(fields) < 4:
                continue
            port = fields[3].rsplit(":", 1)[-1]
            if not port.isdigit():
                continue
            # users:(("sshd",pid=510,fd=3),("sshd",pid=511,fd=3))
            names = re.findall(r'\("([^"]+)",', line.partition("users:")[2])
            ports.setdefault(int(port), set()).update(names)
        return ports


class Ufw(FactBase):
    """
    The state of ufw, read from its own files instead of starting its program: whether it is
    active (enabled in ``/etc/ufw/ufw.conf`` and its chains loaded, as ``ufw status`` decides),
    its default incoming and outgoing policies (``/etc/default/ufw``) and its incoming rules
    (the ``### tuple ###`` lines of ``/etc/ufw/user.rules`` and ``user6.rules``) in ufw's
    stored form, each rule once (see operations/firewall.py). None without ufw.

    .. code:: python

        host.get_fact(Ufw)
        # {"active": True, "incoming": "deny", "outgoing": "allow",
        #  "rules": [FirewallRule("allow", "tcp", "22"),
        #            FirewallRule("allow", source="10.42.0.0/16")]}
    """

    def command(self):
        return (
            "if [ -r /etc/ufw/ufw.conf ]; then "
            "grep -hE '^(ENABLED|IPV6|DEFAULT_INPUT_POLICY|DEFAULT_OUTPUT_POLICY)=' "
            "/etc/default/ufw /etc/ufw/ufw.conf; "
            "grep -H '^### tuple ###' /etc/ufw/user.rules /etc/ufw/user6.rules; "
            "iptables -n -L ufw-user-input >/dev/null 2>&1 && echo LOADED=yes; fi; true"
        )

    def process(self, output):
        # ufw reads these files as KEY=value, lower-cases the values and drops the quotes;
        # a policy other than accept or reject is deny (ufw 0.36.2 src/backend.py).
        settings: dict[str, str] = {}
        rules: list[FirewallRule] = []
        for line in output:
            if "### tuple ###" in line:
                rule = FirewallRule.from_tuple(line)
                in_use = (
                    not line.startswith("/etc/ufw/user6.rules") or settings.get("IPV6") == "yes"
                )
                if rule and in_use and rule not in rules:
                    rules.append(rule)
            elif "=" in line:
                key, _, value = line.partition("=")
                settings[key.strip()] = value.strip().strip("\"'").lower()
        policies = {"accept": "allow", "reject": "reject"}
        return {
            "active": settings.get("ENABLED") == "yes" and settings.get("LOADED") == "yes",
            "incoming": policies.get(settings.get("DEFAULT_INPUT_POLICY", ""), "deny"),
            "outgoing": policies.get(settings.get("DEFAULT_OUTPUT_POLICY", ""), "deny"),
            "rules": rules,
        }


class SystemdUnit(FactBase):
    """
    The state of a systemd unit: unit file state, active state and whether its start
    conditions held.

    .. code:: python

        host.get_fact(SystemdUnit, unit="apt-daily-upgrade.timer")
        # {"UnitFileState": "enabled", "ActiveState": "active", "ConditionResult": "yes"}
    """

    default = dict

    def command(self, unit):
        return (
            f"systemctl show {unit} "
            "--property=UnitFileState --property=ActiveState --property=ConditionResult"
        )

    def process(self, output):
        return dict(line.strip().split("=", 1) for line in output if "=" in line)


class TimeSyncService(SystemdUnit):
    """
    The state of ``systemd-timesyncd`` (see ``SystemdUnit``); in a container it is skipped by
    design (``ConditionResult=no``): the clock is the host's.

    .. code:: python

        host.get_fact(TimeSyncService)
        # {"UnitFileState": "enabled", "ActiveState": "active", "ConditionResult": "yes"}
    """

    def command(self, unit: str = "systemd-timesyncd.service"):
        return super().command(unit)


class SshServerPort(FactBase):
    """
    The port of the SSH server this very connection came in on (from ``$SSH_CONNECTION``):
    the one port the firewall must keep open whatever the inventory or an SSH config says.
    None when the connection is not SSH.

    .. code:: python

        host.get_fact(SshServerPort)  # 22
    """

    def command(self):
        return 'echo "$SSH_CONNECTION"'

    def process(self, output):
        fields = output[0].split() if output else []
        return int(fields[3]) if len(fields) == 4 and fields[3].isdigit() else None


class PrimaryAddress(FactBase):
    """
    The IPv4 address the host sends from by default: how other nodes of the cluster see it.
    (A route lookup only; nothing is sent.)

    .. code:: python

        host.get_fact(PrimaryAddress)  # "192.0.2.10"
    """

    def command(self):
        return "ip -4 -o route get 192.0.2.1 2>/dev/null || true"

    def process(self, output):
        words = " ".join(output).split()
        return words[words.index("src") + 1] if "src" in words else None


class DpkgInterrupted(FactBase):
    """
    Whether dpkg was interrupted mid-install (its journal in /var/lib/dpkg/updates is not
    empty), so that apt refuses to run until ``dpkg --configure -a``.

    .. code:: python

        host.get_fact(DpkgInterrupted)  # False
    """

    def command(self):
        return "ls -A /var/lib/dpkg/updates 2>/dev/null | head -n 1"

    def process(self, output):
        return any(line.strip() for line in output)


class KeyringFingerprints(FactBase):
    """
    Fingerprints of the keys in an apt keyring file (empty without the file or without gpg).

    .. code:: python

        host.get_fact(KeyringFingerprints,
                      path="/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg")
        # {"C95B321B61E88C1809C4F759DDCAE044F796ECB0"}
    """

    default = set

    def command(self, path):
        return (
            f"if [ -s {path} ] && command -v gpg >/dev/null 2>&1; then "
            f"gpg --show-keys --with-colons {path} 2>/dev/null; fi; true"
        )

    def process(self, output):
        return {line.split(":")[9] for line in output if line.startswith("fpr:")}


class FileState(FactBase):
    """
    Mode, owner, group and SHA-1 of a file; None when there is no file.

    .. code:: python

        host.get_fact(FileState, path="/etc/sysctl.d/90-llm-appliance.conf")
        # {"mode": "644", "user": "root", "group": "root", "sha1": "5d41402abc4b2a76b9719d91..."}
    """

    def command(self, path):
        return (
            f"if [ -f {path} ]; then stat -c '%a %U %G' {path} && "
            f"sha1sum {path} | cut -d ' ' -f 1; fi; true"
        )

    def process(self, output):
        if len(output) < 2:
            return None
        mode, user, group = output[0].split()
        return {"mode": mode, "user": user, "group": group, "sha1": output[1].strip()}


class InstalledPackages(FactBase):
    """
    Which of the given Debian packages are installed (``dpkg-query`` asked about those only,
    not the whole package list).

    .. code:: python

        host.get_fact(InstalledPackages, names=("curl", "ufw"))  # {"curl"}
    """

    default = set

    def command(self, names):
        return f"dpkg-query -W -f='${{Package}} ${{db:Status-Abbrev}}\\n' {' '.join(names)} 2>/dev/null; true"

    def process(self, output):
        # db:Status-Abbrev: wanted, state, error flags; state "i" is installed and configured.
        return {
            fields[0]
            for line in output
            if len(fields := line.split()) == 2 and fields[1][1:2] == "i"
        }
