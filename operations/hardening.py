"""Host hardening picked from Lynis's suggestions: what an appliance can do without, and k3s too.

Each item was checked against what k3s, the kubelet (``protect-kernel-defaults``) and the pods
need. Left alone on purpose: IP forwarding, ``rp_filter`` (pod traffic through flannel and
kube-proxy), the overlay and bridge modules, USB storage (a local backup repository may be a USB
disk), SSH forwarding (operators tunnel to the API server), ``/etc/issue`` (a conffile: editing
it would hold back ``base-files`` security updates), ``hidepid`` on ``/proc``, ``debsums``
(one Lynis point, 78 to 77; it brought Perl, 9 of the first install's 64 packages, and checks
files against sums an intruder can rewrite as well), and ``fs.protected_fifos=2`` (on hosts
that share a kernel, containers such as the rehearsal hosts, each boot's systemd-sysctl sets
it back to 1, and the deploy would never converge). The host
layer writes these files and applies them (see ``operations/host.py``)::

    [f.path for f in hardening_files(900)][0]  # '/etc/sysctl.d/80-llm-appliance-hardening.conf'
"""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import operation
from pyinfra.facts.files import FileContents

from operations.rendering import HostFile, render

SYSCTL_FILE = "/etc/sysctl.d/80-llm-appliance-hardening.conf"
KERNEL_PARAMETERS = {
    # Neither the kubelet (protect-kernel-defaults checks vm.overcommit_memory, vm.panic_on_oom,
    # kernel.panic, kernel.panic_on_oops and the keyring limits) nor k3s nor the pods need
    # the kernel defaults below.
    "dev.tty.ldisc_autoload": "0",
    "kernel.core_uses_pid": "1",
    "kernel.ctrl-alt-del": "0",
    "kernel.kptr_restrict": "2",
    "kernel.perf_event_paranoid": "3",
    "kernel.unprivileged_bpf_disabled": "1",
    # The host routes pod traffic (forwarding stays on) but never redirects or source-routes.
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.send_redirects": "0",
    "net.ipv4.conf.default.accept_source_route": "0",
    "net.ipv4.conf.all.log_martians": "1",
    "net.ipv4.conf.default.log_martians": "1",
}
# Network protocols and buses nothing on the appliance uses: their modules never load.
BLOCKED_MODULES = ("dccp", "sctp", "rds", "tipc", "firewire-core", "firewire-ohci")
MODPROBE_FILE = "/etc/modprobe.d/llm-appliance-hardening.conf"
COREDUMP_FILE = "/etc/systemd/coredump.conf.d/llm-appliance.conf"
LIMITS_FILE = "/etc/security/limits.d/llm-appliance.conf"
PROFILE_FILE = "/etc/profile.d/llm-appliance.sh"
# TMOUT, read-only, where idle_logout_seconds is above 0; removed at 0.
IDLE_LOGOUT_FILE = "/etc/profile.d/llm-appliance-idle-logout.sh"
# After 10-llm-appliance.conf (ssh_hardening), before the distribution's own drop-ins.
SSHD_FILE = "/etc/ssh/sshd_config.d/20-llm-appliance-hardening.conf"
# sshd asks an unanswering client every ClientAliveInterval seconds and drops it after
# ClientAliveCountMax unanswered asks; ClientAliveCountMax alone does nothing (the interval's
# default, 0, never asks: sshd_config(5)). CIS Ubuntu Linux 24.04 LTS Benchmark v1.0.0,
# 5.1.7 "Ensure sshd ClientAliveInterval and ClientAliveCountMax are configured", asks both
# above 0 (its example: 15 and 3; the benchmark is not public, these are as audit scripts
# quote it); Lynis's SSH-7408 (include/tests_ssh, SSHOPS: ClientAliveCountMax:2,4,16:<)
# scores a count above 2 down. So 15 and 2: dropped after 30 s without an answer.
SSHD_CLIENT_ALIVE_INTERVAL = 15
SSHD_CLIENT_ALIVE_COUNT_MAX = 2
PACKAGES = (
    "acct",  # process accounting: which commands ran, by whom
    "apt-listchanges",  # what an upgrade changes, logged
    "libpam-pwquality",  # password strength, for the accounts that have one
    "libpam-tmpdir",  # a private $TMPDIR per user
)
# /etc/login.defs: new files readable by their group at most, slower password hashes.
LOGIN_DEFS_FILE = "/etc/login.defs"
LOGIN_DEFS = {"UMASK": "027", "SHA_CRYPT_MIN_ROUNDS": "5000", "SHA_CRYPT_MAX_ROUNDS": "50000"}


def hardening_files(idle_logout_seconds: int) -> list[HostFile]:
    """Every file the hardening writes; the idle logout's only where `idle_logout_seconds`
    (the setting) is above 0."""
    files = [
        HostFile(SYSCTL_FILE, render("host/sysctl.conf.j2", parameters=KERNEL_PARAMETERS)),
        HostFile(MODPROBE_FILE, render("host/modprobe-blocked.conf.j2", modules=BLOCKED_MODULES)),
        HostFile(COREDUMP_FILE, render("host/coredump.conf.j2")),
        HostFile(LIMITS_FILE, render("host/limits.conf.j2")),
        HostFile(PROFILE_FILE, render("host/profile.sh.j2")),
        HostFile(
            SSHD_FILE,
            render(
                "host/sshd-hardening.conf.j2",
                alive_interval=SSHD_CLIENT_ALIVE_INTERVAL,
                alive_count_max=SSHD_CLIENT_ALIVE_COUNT_MAX,
            ),
        ),
    ]
    if idle_logout_seconds:
        files.append(
            HostFile(
                IDLE_LOGOUT_FILE, render("host/idle-logout.sh.j2", idle_seconds=idle_logout_seconds)
            )
        )
    return files


@operation()
def login_defs_set(values: dict[str, str]):
    """
    Give keys of ``/etc/login.defs`` these values: a key's line is rewritten in place, a key
    the file lacks (or has only commented out) is appended.

    .. code:: python

        login_defs_set(values={"UMASK": "027"})
    """
    lines = [line.split() for line in host.get_fact(FileContents, path=LOGIN_DEFS_FILE) or []]
    for key, value in values.items():
        settings = [words for words in lines if words[:1] == [key]]
        if settings and all(words == [key, value] for words in settings):
            continue
        if settings:
            script = f"s/^{key}[[:space:]].*/{key} {value}/"
            yield f"sed -i -E {shlex.quote(script)} {shlex.quote(LOGIN_DEFS_FILE)}"
        else:
            yield f"echo {shlex.quote(f'{key} {value}')} >> {shlex.quote(LOGIN_DEFS_FILE)}"
