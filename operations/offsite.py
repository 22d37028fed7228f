"""Off-site backups with restic (`backup_repository`): encrypted, deduplicated snapshots of what
a lost server takes with it.

On the first server, an hourly timer runs files/offsite.sh, which snapshots each new archive of
the backup CronJob (Open WebUI's database dump and uploads) with the k3s datastore, the server
token and the appliance's generated Secrets, then forgets snapshots by the retention policy
(`backup_keep_daily`, `_weekly`, `_monthly`); a weekly timer runs `restic check`. The
repository's password is made on the server, once, and never leaves it but through
`appliance backup-password`. Credentials (an SFTP key, S3 or B2 keys) come from
`backup_credentials_file` on the operator's machine, or the operator's environment, and are
stored on the server mode 0600 in a folder only root may enter.

    offsite_files(settings)[0].path  # '/etc/llm-appliance/backup/restic.env'
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TypeGuard

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.facts.files import File, FileContents, Sha1File
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from operations.markers import OFFSITE_SCRIPT_PATHS, RESTORING_FILE, SET_RESTORING
from operations.names import BACKUP_DIR, OFFSITE_CHECK_UNIT, OFFSITE_UNIT
from operations.rendering import (
    PROJECT_ROOT,
    HostFile,
    LayerPlan,
    private_upload,
    put_host_file,
    render,
)
from operations.settings import Settings
from operations.sftp import sftp_login

CONFIG_DIR = "/etc/llm-appliance/backup"
ENV_FILE = f"{CONFIG_DIR}/restic.env"
PASSWORD_FILE = f"{CONFIG_DIR}/restic-password"
CREDENTIALS_FILE = f"{CONFIG_DIR}/credentials.env"
SSH_KEY_FILE = f"{CONFIG_DIR}/ssh-key"
INITIALISED_FILE = f"{CONFIG_DIR}/initialised-repository"
SCRIPT = "/usr/local/bin/llm-appliance-offsite"
UNIT_DIR = "/etc/systemd/system"
# What each timer runs, and when: a snapshot hourly (of a new archive only), a check weekly.
TIMERS = {OFFSITE_UNIT: ("backup", "hourly"), OFFSITE_CHECK_UNIT: ("check", "weekly")}
# 40 random characters, made and kept on the server; nothing but this file holds them.
MAKE_PASSWORD = (
    f"umask 077 && head -c 64 /dev/urandom | base64 | tr -dc A-Za-z0-9 | head -c 40 "
    f"> {shlex.quote(PASSWORD_FILE + '.new')} && "
    f"mv {shlex.quote(PASSWORD_FILE + '.new')} {shlex.quote(PASSWORD_FILE)}"
)
PASSWORD_MADE = "Make the off-site repository's password (once, on the server)"
# Installed by the host layer, in its one apt transaction (operations/host.py).
PACKAGES = ("restic", "sqlite3", "openssh-client")
# restic's own variables for its repositories' credentials, taken from the operator's
# environment when no backup_credentials_file is named.
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "AWS_SESSION_TOKEN",
    "B2_ACCOUNT_ID",
    "B2_ACCOUNT_KEY",
    "RESTIC_REST_USERNAME",
    "RESTIC_REST_PASSWORD",
)


def is_sftp(repository: str | None) -> TypeGuard[str]:
    """Whether `repository` (backup_repository, None when there is none) is restic's sftp:."""
    return repository is not None and repository.startswith("sftp:")


def shell_assignment(name: str, value: object) -> str:
    """One line of a file files/offsite.sh sources (``. FILE`` under ``set -a``): the value in
    single quotes, a quote in it written '\\'' so that the shell reads it back as it was:
    ``shell_assignment("KEY", "it's")`` is ``KEY='it'\\''s'`` and a newline."""
    quoted = str(value).replace("'", "'\\''")
    return f"{name}='{quoted}'\n"


def environment(settings: Settings) -> str:
    """restic.env: what files/offsite.sh reads (no secret: those are files of their own), with
    an sftp: repository's login for the ssh command offsite.sh builds (operations/sftp.py sftp_login)."""
    values = {
        "RESTIC_REPOSITORY": settings.backup_repository,
        "RESTIC_PASSWORD_FILE": PASSWORD_FILE,
        "KEEP_DAILY": settings.backup_keep_daily,
        "KEEP_WEEKLY": settings.backup_keep_weekly,
        "KEEP_MONTHLY": settings.backup_keep_monthly,
        "BACKUP_DIR": BACKUP_DIR,
        "BACKUP_SSH_KEY": SSH_KEY_FILE,
        "CREDENTIALS_FILE": CREDENTIALS_FILE,
        **OFFSITE_SCRIPT_PATHS,
    }
    if is_sftp(settings.backup_repository):
        login = sftp_login(settings.backup_repository)
        values |= {"SFTP_USER": login.user, "SFTP_HOST": login.host, "SFTP_PORT": login.port}
    return "".join(shell_assignment(key, value) for key, value in values.items())


def offsite_files(settings: Settings) -> list[HostFile]:
    """Every file of the off-site backups but the secrets."""
    host_files = [
        HostFile(ENV_FILE, environment(settings), "600"),
        HostFile(SCRIPT, (PROJECT_ROOT / "files/offsite.sh").read_text(), "755"),
    ]
    for unit, (action, calendar) in TIMERS.items():
        host_files += [
            HostFile(
                f"{UNIT_DIR}/{unit}.service",
                render("host/offsite.service.j2", action=action, script=SCRIPT),
            ),
            HostFile(
                f"{UNIT_DIR}/{unit}.timer",
                render("host/offsite.timer.j2", action=action, calendar=calendar),
            ),
        ]
    return host_files


def plan(settings: Settings) -> LayerPlan:
    """The off-site backups' plan, on the first server (the host layer's there): without
    ``backup_repository``, nothing; else ``offsite_files``, the secrets made or copied on the
    server (in CONFIG_DIR, root's only), restic's packages (installed by the host layer's one apt
    transaction, operations/host.py host_packages) and the timers."""
    if not settings.backup_repository:
        return LayerPlan()
    return LayerPlan(
        files=tuple(offsite_files(settings)),
        copies=(PASSWORD_FILE, INITIALISED_FILE),
        folders=(CONFIG_DIR,),
        packages=PACKAGES,
        units=tuple(f"{unit}.timer" for unit in TIMERS),
    )


def credentials(
    settings: Settings, environ: Mapping[str, str] = os.environ
) -> tuple[str, str] | None:
    """(path on the server, content) of the repository's credentials: the file the inventory
    names (an SSH private key for sftp:, restic's KEY=VALUE variables otherwise), or restic's
    variables found in the operator's environment; None when there are none."""
    path = SSH_KEY_FILE if is_sftp(settings.backup_repository) else CREDENTIALS_FILE
    if settings.backup_credentials_file:
        return path, Path(settings.backup_credentials_file).read_text()
    found = "".join(
        shell_assignment(name, environ[name]) for name in CREDENTIAL_VARIABLES if name in environ
    )
    return (CREDENTIALS_FILE, found) if found else None


@operation()
def password_made():
    """
    Make the repository's password on the server, once: 40 random characters, mode 0600, in
    a folder only root may enter. No-op while it exists (a restore puts the old one back).

    .. code:: python

        password_made()
    """
    if not host.get_fact(File, path=PASSWORD_FILE):
        yield MAKE_PASSWORD


@operation()
def password_restored(src: str):
    """
    Put back the repository's password the operator kept (``appliance restore
    --from-repository``): read from ``src``, a file on the operator's machine, and uploaded,
    never on a command line or in the output; mode 0600 in a folder only root may enter. Runs
    before the host layer, whose password_made then keeps it. Leaves RESTORING_FILE until
    files/offsite.sh restore is done, so that no repository is made meanwhile. Refused on a
    server that holds a password of its own (a deployed appliance; not a new server, nor one
    an earlier restore attempt left): its off-site backups would stop.

    .. code:: python

        password_restored(src="/tmp/tmpab12/restic-password")
    """
    content = Path(src).read_bytes()
    held = host.get_fact(Sha1File, path=PASSWORD_FILE)
    if not host.get_fact(File, path=RESTORING_FILE):
        if held:
            yield (
                f"echo '{PASSWORD_FILE} exists: this server has off-site backups set up; "
                "restore onto a new server (one a deploy set up first: remove that file)' >&2"
                "; exit 1"
            )
            return
        yield SET_RESTORING
    if held != hashlib.sha1(content).hexdigest():
        yield from private_upload(content, PASSWORD_FILE)


@operation()
def repository_initialised(repository: str):
    """
    Make the restic repository unless it exists (a new server restoring into an old one
    keeps it); a no-op once done for this repository.

    .. code:: python

        repository_initialised(repository="sftp:backup@nas.example.com:/srv/restic")
    """
    # The repository's digest, not its name: a rest: URL may hold a password.
    digest = hashlib.sha256(repository.encode()).hexdigest()
    if (host.get_fact(FileContents, path=INITIALISED_FILE) or []) != [digest]:
        yield (
            f"{shlex.quote(SCRIPT)} init && umask 077 && "
            f"echo {digest} > {shlex.quote(INITIALISED_FILE)}"
        )


@operation()
def offsite_removed():
    """
    Without a backup_repository: stop and remove the off-site timers, if an earlier deploy
    made them (the repository, its password and credentials stay, for a restore).

    .. code:: python

        offsite_removed()
    """
    units = [f"{unit}.{kind}" for unit in TIMERS for kind in ("timer", "service")]
    if host.get_fact(File, path=f"{UNIT_DIR}/{units[0]}"):
        yield f"systemctl disable --now {' '.join(u for u in units if u.endswith('.timer'))}"
        yield f"rm -f {shlex.join([f'{UNIT_DIR}/{unit}' for unit in units] + [SCRIPT])}"
        yield "systemctl daemon-reload"


@deploy("Off-site backups")
def install(settings: Settings):
    if not settings.backup_repository:
        offsite_removed(name="No off-site backups: remove their timers")
        return
    files.directory(name=f"Make {CONFIG_DIR} (root only)", path=CONFIG_DIR, mode="700")
    made = password_made(name=PASSWORD_MADE)
    secret = credentials(settings)
    if secret:
        path, content = secret
        files.put(
            name="Store the off-site repository's credentials",
            src=io.StringIO(content),
            dest=path,
            mode="600",
        )
    layer = plan(settings)
    changed = [put_host_file(host_file) for host_file in layer.files]
    systemd.daemon_reload(name="Load the off-site timers", _if=any_changed(*changed))
    repository_initialised(
        name="Initialise the off-site repository", repository=settings.backup_repository
    )
    for unit in layer.units:
        systemd.service(name=f"Run {unit}", service=unit, running=True, enabled=True)
    return made
