"""Every command line of a rehearsal host, sampled while a block runs: a secret on a command
line is readable by every user of the host (/proc/PID/cmdline, proc(5)), so the secrets tests
look for theirs in what this saw.

    with command_lines_sampled(host, "/root/cmdlines"):
        run_pyinfra(inventory, "deploy.py")
    host.ssh("cat /root/cmdlines")  # one command line a line
"""

import contextlib


@contextlib.contextmanager
def command_lines_sampled(host, path: str):
    """Append every process's command line on ``host`` (anything with ``ssh(command)``) to
    ``path`` (mode 0600), arguments separated by spaces, one a line, every 0.05 s while the
    block runs; the sampler's process id is in ``path``.pid."""
    host.ssh(
        "umask 077; nohup sh -c 'while :; do for f in /proc/[0-9]*/cmdline; do "
        'tr "\\0" " " < $f 2>/dev/null; echo; done; sleep 0.05; done\' '
        f">> {path} 2>/dev/null & echo $! > {path}.pid"
    )
    try:
        yield
    finally:
        host.ssh(f"kill $(cat {path}.pid)")
