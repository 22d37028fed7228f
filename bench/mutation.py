"""Benchmark: how many planted bugs the fast tests catch. mutmut (https://mutmut.readthedocs.io)
plants one small change at a time (a mutant) in `operations/` and `appliance/` and runs the
tests of tests/unit (no root, no rehearsal host) that reach the changed function; a mutant is
killed when one fails. Prints the share killed per module.

Runs on a copy of this checkout (under --workdir, kept between runs so that mutmut's results
are reused), never in it. `--sample N` tries a fixed sample: the mutants whose name's SHA-256
is 0 modulo N, the same rule on any version of the code. Needs `pip install mutmut` (3.x).

    python bench/mutation.py --sample 8
    python bench/mutation.py --sample 8 --only operations          # operations/ alone
    python bench/mutation.py --checkout /tmp/old-main --sample 8   # another checkout

Example output::

    module                      killed  survived  no tests  other  share killed  of all
    operations/names.py              0         0         0      0             -       -
    operations/settings.py          41         6         2      1           87%     84%
    ...
    operations/ (all)              210        38        20      4           85%     78%

"share killed" is of the mutants some unit test reached (killed and survived); "of all" counts
the "no tests" ones too, mutants in code no unit test runs (pyinfra operations that read a
live host, tried on rehearsal hosts instead), as not killed. "other": timeouts and the like.

`files/` holds shell scripts, which mutmut cannot mutate: their bugs are caught by the
rehearsal tests (tests/integration/test_backup_restore.py), outside this benchmark.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shlex
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import click

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MUTATED = ("operations", "appliance")
CONFIG = """\
[mutmut]
source_paths =
    operations/
    appliance/
also_copy =
{also_copy}
pytest_add_cli_args_test_selection =
    tests/unit/
pytest_add_cli_args =
    -p
    no:cacheprovider
    -p
    no:randomly
"""


def output_of(command: list[str], cwd: Path) -> str:
    """The standard output of a command that must succeed; on a failure, exit with one line
    naming the command and its last line of standard error, e.g.
    ``python -m mutmut results --all true failed (exit 1): ModuleNotFoundError: ...``."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        shown = shlex.join(["python" if part == sys.executable else part for part in command])
        last = (result.stderr.strip().splitlines() or ["(nothing on standard error)"])[-1]
        sys.exit(f"{shown} failed (exit {result.returncode}): {last}")
    return result.stdout


def copy_checkout(checkout: Path, workdir: Path) -> None:
    """The checkout's tracked files (and untracked, not ignored) into workdir, mutmut's config
    in a setup.cfg there (mutmut reads it when pyproject.toml has no [tool.mutmut])."""
    listed = output_of(
        ["git", "-C", str(checkout), "ls-files", "--cached", "--others", "--exclude-standard"],
        checkout,
    ).split()
    for name in listed:
        source, target = checkout / name, workdir / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_bytes() != source.read_bytes():
                shutil.copy2(source, target)
    # Everything but the mutated code goes along: tests read README.md, .ci/run, bench/...
    others = sorted(
        {name.split("/")[0] + ("/" if "/" in name else "") for name in listed}
        - {f"{folder}/" for folder in MUTATED}
    )
    (workdir / "setup.cfg").write_text(
        CONFIG.format(also_copy="\n".join(f"    {name}" for name in others))
    )


def in_sample(name: str, every: int) -> bool:
    """Whether a mutant is in the fixed sample of one in `every`: ``in_sample(name, 1)`` is True."""
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % every == 0


def statuses(workdir: Path) -> dict[str, str]:
    """Every mutant mutmut made and its status, e.g.
    {'operations.parsers.x_cron_schedule__mutmut_3': 'killed', ...} ('not checked' before a run)."""
    output = output_of([sys.executable, "-m", "mutmut", "results", "--all", "true"], workdir)
    found = {}
    for line in output.splitlines():
        if "__mutmut_" in line:
            name, _, status = line.strip().rpartition(": ")
            found[name] = status
    return found


def module_of(name: str) -> str:
    """'operations.parsers.x_cron_schedule__mutmut_3' -> 'operations/parsers.py'"""
    return "/".join(name.split("__mutmut_")[0].split(".")[:2]) + ".py"


def table(found: dict[str, str]) -> list[str]:
    """The lines of the per-module table (see the module's example output)."""
    by_module: dict[str, Counter] = defaultdict(Counter)
    for name, status in found.items():
        kind = status if status in ("killed", "survived", "no tests") else "other"
        by_module[module_of(name)][kind] += 1
        by_module[f"{module_of(name).split('/')[0]}/ (all)"][kind] += 1

    def share(counts: Counter, *kinds: str) -> str:
        tried = sum(counts[kind] for kind in ("killed", *kinds))
        return f"{100 * counts['killed'] / tried:.0f}%" if tried else "-"

    lines = [
        f"{'module':<28}{'killed':>8}{'survived':>10}{'no tests':>10}{'other':>7}"
        f"{'share killed':>14}{'of all':>8}"
    ]
    for module in sorted(by_module, key=lambda m: (m.endswith("(all)"), m)):
        counts = by_module[module]
        lines.append(
            f"{module:<28}{counts['killed']:>8}{counts['survived']:>10}{counts['no tests']:>10}"
            f"{counts['other']:>7}{share(counts, 'survived'):>14}"
            f"{share(counts, 'survived', 'no tests'):>8}"
        )
    return lines


@click.command()
@click.option(
    "--checkout",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=PROJECT_ROOT,
    show_default=True,
    help="The checkout whose code and tests to try.",
)
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/tmp/llm-appliance-mutation"),
    show_default=True,
    help="Where the copy and mutmut's results live.",
)
@click.option(
    "--sample",
    "every",
    type=int,
    default=1,
    show_default=True,
    help="Try one mutant in N (a fixed sample); 1 tries them all.",
)
@click.option(
    "--only",
    "prefixes",
    multiple=True,
    metavar="MODULE",
    help="Only mutants of modules starting so, e.g. operations or operations.policies.",
)
@click.option("--max-children", type=int, default=2, show_default=True, help="Mutants run at once.")
def main(checkout: Path, workdir: Path, every: int, prefixes: tuple[str, ...], max_children: int):
    """Print the share of mutants the fast tests kill, per module."""
    if importlib.util.find_spec("mutmut") is None:
        sys.exit("mutmut is not installed: pip install mutmut (3.x)")
    workdir.mkdir(parents=True, exist_ok=True)
    copy_checkout(checkout, workdir)
    # Generate the mutants (and mutmut's map of which tests reach which function) without
    # running any: a pattern that names no mutant.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mutmut",
            "run",
            "--max-children",
            str(max_children),
            "none-such-mutant",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    chosen = [
        name
        for name in statuses(workdir)
        if in_sample(name, every) and name.startswith(prefixes or ("",))
    ]
    if not chosen:
        sys.exit("mutmut made no mutants: see `python -m mutmut run` in " + str(workdir))
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *chosen],
        cwd=workdir,
        check=False,
    )
    found = {name: status for name, status in statuses(workdir).items() if name in set(chosen)}
    click.echo(f"{len(chosen)} mutants tried (one in {every}) from {checkout}")
    for line in table(found):
        click.echo(line)


if __name__ == "__main__":
    main()
