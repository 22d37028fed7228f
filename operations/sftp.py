"""restic's sftp: repositories: who and where a `backup_repository` of sftp: logs in, read as
restic reads it, with the forms the appliance cannot serve refused (`Invalid`, naming the fix).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from operations.errors import Invalid


@dataclass(frozen=True)
class SftpLogin:
    """Whom and where an sftp: repository logs in: user ('' = ssh's own default, root on the
    server), host (a name, an IPv4 or a bare IPv6 address), port ('' = 22)."""

    user: str
    host: str
    port: str


SFTP_URL_FORM = "sftp://user@host:port//absolute/path"


def _is_ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def sftp_login(repository: str) -> SftpLogin:
    """The login of an sftp: repository, as restic reads it (restic v0.14.0, v0.16.4, v0.18.0
    internal/backend/sftp/config.go ParseConfig: `sftp://user@host:port/path` through Go's
    url.Parse, `sftp:user@host:path` cut at the first ':', `user@domain@host` taken whole as
    the user; a path starting with '~' refused). restic drops the user and port of its URL
    when `-o sftp.command` is given (sftp.go buildSSHCommand), so files/offsite.sh passes
    them to ssh itself. Forms restic takes but the appliance cannot serve raise Invalid
    naming the fix: ``sftp_login("sftp://backup@nas:2222//srv/restic")`` gives
    SftpLogin(user='backup', host='nas', port='2222')."""
    if repository.startswith("sftp://"):
        url = repository.removeprefix("sftp://")
        login, slash, path = url.partition("/")
        if not slash or not path.strip("/"):
            raise Invalid(
                f"names no path; use {SFTP_URL_FORM} (two slashes before an "
                "absolute path, one before a path in the user's home)"
            )
        user, _, host_port = login.rpartition("@")
        if ":" in user:
            raise Invalid(
                "holds a password, which restic never uses: the off-site copies log "
                "in with the SSH key backup_credentials_file names; remove ':' and "
                "what follows it up to '@'"
            )
        bracketed = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\](?::(\w*))?", host_port)
        host, _, port = (
            (bracketed[1], "", bracketed[2] or "") if bracketed else host_port.partition(":")
        )
    else:
        login, colon, path = repository.removeprefix("sftp:").partition(":")
        if not colon or not path:
            raise Invalid(
                "names no path; use sftp:user@host:/path (or sftp:user@host:path in "
                f"the user's home, or {SFTP_URL_FORM})"
            )
        # restic splits at the first two '@' (user@domain@host); a host with another is refused.
        *users, host = login.split("@", 2)
        user, port = "@".join(users), ""
        if "[" in login:
            raise Invalid(
                f"puts an IPv6 address in sftp:user@host:path, which restic cuts at "
                f"its first ':'; use {SFTP_URL_FORM} with the address in brackets"
            )
        # restic v0.16.4 internal/backend/sftp/config.go ParseConfig cuts the short form at its
        # first ':' (strings.Cut) and sets no port: of `2001:db8::1:/srv` it makes host `2001`
        # and path `db8::1:/srv`; of `nas:2222/srv` host `nas` (ssh's port 22) and path
        # `2222/srv`. Only the URL form carries an IPv6 address or a port.
        address, slash, rest = f"{host}:{path}".partition("/")
        if _is_ipv6(address.removesuffix(":")):
            raise Invalid(
                f"puts an IPv6 address in sftp:user@host:path, which restic cuts at "
                f"its first ':'; use sftp://{user + '@' if user else ''}"
                f"[{address.removesuffix(':')}]/{slash}{rest}"
            )
        port_first = re.match(r"(\d+)/", path)
        if port_first:
            raise Invalid(
                f"puts port {port_first[1]} where restic's sftp:user@host:path reads a "
                f"folder and connects to port 22; use "
                f"sftp://{login}:{port_first[1]}//{path[port_first.end() :]}"
            )
    if not host or re.search(r"[\s'\"\\\[\]/]", user + host) or "@" in host:
        raise Invalid(
            f"names no host restic and ssh can use; use sftp:user@host:/path or {SFTP_URL_FORM}"
        )
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise Invalid(f"has port {port!r}, which is not a TCP port (1-65535); use {SFTP_URL_FORM}")
    if path.startswith("~"):
        raise Invalid(
            "starts its path with '~', which restic refuses (SFTP servers do not "
            "expand it); give a path without '~/' for one in the user's home"
        )
    return SftpLogin(user, host, port)
