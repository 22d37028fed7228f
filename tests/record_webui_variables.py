#!/usr/bin/env python3
"""Record the environment variables the pinned Open WebUI release reads, from its own source,
as operations/open_webui_variables.json: what `webui_settings` accepts (operations/webui_env.py).

    python tests/record_webui_variables.py \\
        ~/.cache/llm-appliance/open-webui/0.12.4-*/lib/python3.11/site-packages/open_webui

The names are read from every module of the package (most settings in open_webui/config.py
and env.py, `NAME = os.getenv('NAME', default)`, config.py's persistent ones seeded into the
`config` table through DEFAULT_CONFIG; others where they are used, e.g. utils/mfa.py's
MFA_ENCRYPTION_KEY) with Python's ast, the way the source reads them:

- ``os.getenv('NAME', ...)`` and ``os.environ.get('NAME', ...)``;
- ``os.environ['NAME']`` where it is read (not where it is assigned);
- a call ``f('NAME', ...)`` of a function of the same file that passes its first parameter to
  ``os.getenv``/``os.environ.get`` (env.py's ``_int_env``);
- a read of the loop variable of ``for NAME, ... in D.items()`` over a dict literal ``D`` of
  string keys: each key (utils/security_headers.py's ``header_setters``: HSTS, XFRAME_OPTIONS...).

A name made at run time (an f-string, a variable) cannot be recorded and is listed under
``unread`` with its line, so that a reader sees what the list leaves out. tests/realapps
test_webui_settings.py checks that the recording equals what this reads from the installed
package. Any failure: exit status 1 with one line on stderr.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RECORD = PROJECT_ROOT / "operations/open_webui_variables.json"
READERS = ("os.getenv", "os.environ.get")


def _reader_functions(tree: ast.Module) -> tuple[set[str], set[ast.Call]]:
    """Functions of a module that read the variable named by their first parameter, and those
    reads (their names are the callers' literals)."""
    found, reads = set(), set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.args.args:
            first = node.args.args[0].arg
            for call in ast.walk(node):
                if (
                    isinstance(call, ast.Call)
                    and ast.unparse(call.func) in READERS
                    and call.args
                    and isinstance(call.args[0], ast.Name)
                    and call.args[0].id == first
                ):
                    found.add(node.name)
                    reads.add(call)
    return found, reads


def _dict_key_loops(tree: ast.Module) -> dict[str, set[str]]:
    """Loop variables that take the string keys of a dict literal, with those keys:
    ``for env_var, setter in header_setters.items()`` over ``header_setters = {'HSTS': ...}``
    gives {'env_var': {'HSTS'}}."""
    literals = {}
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Dict)
        ):
            continue
        keys = [
            key.value
            for key in node.value.keys
            if isinstance(key, ast.Constant) and isinstance(key.value, str)
        ]
        if keys and len(keys) == len(node.value.keys):  # every key a string literal
            literals[node.targets[0].id] = set(keys)
    loops = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.For):
            continue
        source = node.iter
        if (
            isinstance(source, ast.Call)
            and isinstance(source.func, ast.Attribute)
            and source.func.attr in ("items", "keys")
        ):
            source = source.func.value
        target = node.target.elts[0] if isinstance(node.target, ast.Tuple) else node.target
        if isinstance(source, ast.Name) and source.id in literals and isinstance(target, ast.Name):
            loops[target.id] = literals[source.id]
    return loops


def read_names(source: str) -> tuple[set[str], list[str]]:
    """The variable names one source file reads, and the reads whose name is not a literal
    (as 'LINE: CODE'): ``read_names("import os\\nA = os.getenv('A')")`` gives ({'A'}, [])."""
    tree = ast.parse(source)
    helpers, helper_reads = _reader_functions(tree)
    looped = _dict_key_loops(tree)
    names, unread = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and (
            ast.unparse(node.func) in READERS or ast.unparse(node.func) in helpers
        ):
            argument = node.args[0] if node.args else None
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names.add(argument.value)
            elif isinstance(argument, ast.Name) and argument.id in looped:
                names |= looped[argument.id]
            elif ast.unparse(node.func) in READERS and node not in helper_reads:
                unread.append(f"{node.lineno}: {ast.unparse(node)}")
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) == "os.environ"
        ):
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                names.add(node.slice.value)
            else:
                unread.append(f"{node.lineno}: {ast.unparse(node)}")
    return names, unread


def package_version(package: Path) -> str:
    """The installed distribution's version, from its dist-info beside the package."""
    found = sorted(package.parent.glob("open_webui-*.dist-info"))
    if len(found) != 1:
        raise SystemExit(
            f"record_webui_variables: no single open_webui-*.dist-info beside {package}"
        )
    return found[0].name.removeprefix("open_webui-").removesuffix(".dist-info")


def recording(package: Path) -> dict:
    """What the record holds for the installed package folder `package` (…/open_webui)."""
    names, unread = set(), []
    for module in sorted(package.rglob("*.py")):
        found, left = read_names(module.read_text())
        names |= found
        unread += [f"{module.relative_to(package.parent)}:{line}" for line in left]
    return {
        "open_webui": package_version(package),
        "how": (
            "tests/record_webui_variables.py: names read by os.getenv / os.environ.get / "
            "os.environ[...] / a reader helper / a loop over a dict literal's keys in every "
            "module of open_webui/ of the installed wheel (ast)"
        ),
        "unread": unread,
        "variables": sorted(names),
    }


def main() -> None:
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "config.py").is_file():
        raise SystemExit(
            "usage: record_webui_variables.py SITE-PACKAGES/open_webui "
            "(the installed package's folder, with config.py and env.py)"
        )
    record = recording(Path(sys.argv[1]))
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{RECORD}: Open WebUI {record['open_webui']}, {len(record['variables'])} variables")


if __name__ == "__main__":
    main()
