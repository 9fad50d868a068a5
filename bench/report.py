"""Write one benchmark's results into its own section of docs/BENCHMARKS.md (atomically).

Each benchmark owns the text between ``<!-- BEGIN name -->`` and ``<!-- END name -->``; running
it again replaces that section and leaves the others alone.
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

from edge_runtime.atomic import atomic_write

BENCHMARKS_MD = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nEvery section is written by the script it names; rerun the command to refresh it.\n"


def machine_summary() -> str:
    """One line describing this machine: CPU model, cores, memory, Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = "?"
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = f"{pages / 2**30:.0f}"
    except (ValueError, OSError):
        pass
    return f"{cpu}, {os.cpu_count()} cores, {mem_gib} GiB RAM, Python {platform.python_version()}, {platform.system()} {platform.machine()}"


def command_line(*, drop: tuple[str, ...] = (), drop_with_value: tuple[str, ...] = ()) -> str:
    """The command that ran this process, as a user would type it from the repository root, without the
    flags in ``drop`` and the options in ``drop_with_value`` (``--opt VALUE`` or ``--opt=VALUE``)."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)  # set when run as python -m NAME
    kept, skip = ([] if spec is None else ["-m", spec.name]), False
    for arg in sys.argv if spec is None else sys.argv[1:]:
        if skip:
            skip = False
        elif arg in drop or arg.split("=", 1)[0] in drop_with_value and "=" in arg:
            continue
        elif arg in drop_with_value:
            skip = True
        else:
            kept.append(arg)
    return shlex.join(["python", *kept])


def _revision_now() -> str:
    root = BENCHMARKS_MD.parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True, cwd=root).stdout.strip()
        # Results written by earlier benchmarks (docs/) do not make the measured code dirty.
        changed = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", ".", ":(exclude)docs"], cwd=root).returncode
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if changed else "")


_REVISION_AT_START = _revision_now()


def git_revision() -> str:
    """The commit the benchmark started from (``-dirty`` if tracked files differed), not the one at its end."""
    return _REVISION_AT_START


def write_section(name: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) section ``name`` of the benchmarks file with ``body``."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        handle.write(text)
