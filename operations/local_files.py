"""Parsers of the settings that name files and folders on this machine (the operator's), and
what each must hold: a file (local_file), model files (ollama_model_files), the k3s air-gap
folder (k3s_airgap_dir: a release's binary, checksums, install.sh and images) and the alert
routes' secrets file, read as a POSIX shell reads its KEY='VALUE' lines. Like
operations/parsers.py's, each returns the normalised value or raises `Invalid` whose text, after
the setting's name, says what is wrong and the fix:
``local_file("a.env")`` raises "names 'a.env', which is not a file on this machine (looked for
at /home/me/a.env: a relative path is read from the current folder)".
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from operations.errors import Invalid
from operations.parsers import MODEL_RE, http_url, stays_inside, text_value


def looked_for(path: Path) -> str:
    """Where a relative path that names nothing was looked for, to follow "is not a file on
    this machine": ``looked_for(Path("a.env"))`` gives " (looked for at /home/me/a.env: a
    relative path is read from the current folder)"; an absolute path gives ""."""
    if path.is_absolute():
        return ""
    return f" (looked for at {Path.cwd() / path}: a relative path is read from the current folder)"


# uname -m -> (binary asset name, release arch name) of a k3s release.
K3S_ASSETS = {"x86_64": ("k3s", "amd64"), "aarch64": ("k3s-arm64", "arm64")}


def airgap_lacks(folder: Path, arch: str) -> list[str]:
    """The files of a k3s release that an air-gap install on `arch` (uname -m) needs and
    `folder` lacks (README: Air-gap; operations/k3s.py uploads them), the images as the
    README names them: ``airgap_lacks(Path("/empty"), "aarch64")`` gives ['k3s-arm64',
    'sha256sum-arm64.txt', 'install.sh', 'k3s-airgap-images-arm64.tar.zst']."""
    asset, release_arch = K3S_ASSETS[arch]
    needed = (asset, f"sha256sum-{release_arch}.txt", "install.sh")
    missing = [name for name in needed if not (folder / name).is_file()]
    images = f"k3s-airgap-images-{release_arch}.tar"
    if not any(path.is_file() for path in folder.glob(f"{images}*")):
        missing.append(f"{images}.zst")
    return missing


def airgap_directory(value: Any) -> str:
    """A folder on this machine with a k3s release's air-gap files for one architecture (the
    hosts' is read only when the deploy runs, where operations/k3s.py checks that one's)."""
    path = Path(text_value(value)).expanduser()
    if not path.is_dir():
        raise Invalid(
            f"is not a folder on this machine{looked_for(path)}; give the folder with the k3s "
            "air-gap files"
        )
    # The architecture closest to complete; on a tie (an empty folder) the first, x86_64.
    lacks = {arch: airgap_lacks(path, arch) for arch in K3S_ASSETS}
    missing = min(lacks.values(), key=len)
    if missing:
        other = ""
        if missing == lacks["x86_64"] and len(missing) == len(lacks["x86_64"]) == 4:
            arm = [name for name in lacks["aarch64"] if name != "install.sh"]
            other = f" (an arm64 host: {', '.join(arm)})"
        raise Invalid(
            f"lacks {', '.join(missing)}; put there these files of the k3s release that "
            f"k3s_version names{other}"
        )
    return str(path.resolve())


def model_files(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping):
        raise Invalid(
            'must map model names to local GGUF files, e.g. {"mine:7b": "~/models/mine.gguf"}'
        )
    found = {}
    for model, path in value.items():
        if not MODEL_RE.match(str(model)):
            raise Invalid(f"has a malformed model name {model!r}; use name:tag")
        file = Path(text_value(path)).expanduser()
        if not file.is_file():
            raise Invalid(
                f"names {str(file)!r} for {model}, which is not a file on this machine"
                f"{looked_for(file)}"
            )
        found[str(model)] = str(file.resolve())
    return MappingProxyType(found)


def local_file(value: Any) -> str:
    file = Path(text_value(value)).expanduser()
    if not file.is_file():
        raise Invalid(f"names {str(file)!r}, which is not a file on this machine{looked_for(file)}")
    return str(file.resolve())


# What alert_secrets_file may hold: the secrets of Netdata's alert routes, each stored as a key of
# the Secret ALERT_SECRET (operations/alerts.py reads them there).
SLACK_EXAMPLE = "https://hooks.slack.com/services/..."
ALERT_SECRET_KEYS = ("SMTP_PASSWORD", "SLACK_WEBHOOK_URL", "NTFY_ACCESS_TOKEN", "WEBHOOK_TOKEN")


def _expands(raw: str) -> bool:
    """Whether a shell would expand something in `raw` ($ or ` outside single quotes, ~ outside
    quotes), which shlex, reading the quotes only, would keep as it is."""
    quote = ""
    escaped = False
    for char in raw:
        if escaped:
            # In double quotes, \\$ and \\` are $ and ` to a shell, kept whole by shlex.
            escaped = False
            if quote and char in "$`":
                return True
        elif quote == "'":
            quote = "" if char == "'" else quote
        elif char == "\\":
            escaped = True
        elif char in "$`" or (char == "~" and not quote):
            return True
        elif char == '"' or (char == "'" and not quote):
            quote = "" if quote == char else char
    return False


def read_alert_secrets(path: str) -> dict[str, str]:
    """The KEY='VALUE' (or KEY=VALUE, KEY="VALUE") lines of an alert secrets file, each value
    read as a POSIX shell reads that one word (shlex in POSIX mode: 'it'\\''s' is it's), blank
    lines and # comments skipped: ``{"SMTP_PASSWORD": "..."}``. Raises Invalid naming the line
    and its key, never its value: a value that is not one word (a quote left open), or that a
    shell would expand ($, `, ~)."""
    found = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, equals, raw = line.partition("=")
        if not equals or key not in ALERT_SECRET_KEYS:
            raise Invalid(
                f"line {number} is not KEY='VALUE' with KEY one of {', '.join(ALERT_SECRET_KEYS)}"
            )
        try:
            words = shlex.split(raw)
        except ValueError:
            words = []
        # KEY= VALUE is to a shell an empty KEY, then the command VALUE.
        if raw.strip() and (len(words) != 1 or raw[0].isspace()):
            raise Invalid(
                f"line {number}: {key}'s value is not one shell word (a quote left open, or a "
                f"space outside quotes); write {key}='VALUE', a ' in it as '\\''"
            )
        if _expands(raw):
            raise Invalid(
                f"line {number}: {key}'s value has $ or ` outside single quotes (or ~ outside "
                f"quotes), which a shell would expand; write {key}='VALUE'"
            )
        if not words or not words[0]:
            raise Invalid(f"line {number} gives {key} an empty value")
        found[key] = words[0]
    if "SLACK_WEBHOOK_URL" in found:
        try:
            # The URL is the secret: over plain http it would cross the network readable.
            if not stays_inside(http_url(SLACK_EXAMPLE)(found["SLACK_WEBHOOK_URL"])):
                raise Invalid("http")
        except Invalid:
            raise Invalid(
                "gives SLACK_WEBHOOK_URL a value that is not an https URL; use the "
                f"incoming webhook's URL, {SLACK_EXAMPLE}"
            ) from None
    return found


def alert_secrets_file(value: Any) -> str:
    path = local_file(value)
    read_alert_secrets(path)
    return path
