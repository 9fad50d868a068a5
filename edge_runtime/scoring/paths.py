"""Where a scoring job may write: never over its input, never over a folder it did not make.

Checked before anything is created, for every engine: paths are compared resolved (``results/../in.csv``
is ``in.csv`` once ``results/`` exists; a symbolic link is followed) and by inode where both files
exist (a hard link), and the input may not sit inside a folder the job would replace or remove.
"""

from __future__ import annotations

import os
from pathlib import Path

from edge_runtime.scoring.faults import ScoreError


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_not_input(input_path: Path, output_path: Path, *, replaced: tuple[Path, ...] = ()) -> None:
    """Refuse an output (or a folder the job replaces: its work folder, a temporary) that is, or holds, the input."""
    source = input_path.resolve()
    if output_path.resolve() == source or (
        input_path.exists() and output_path.exists() and os.path.samefile(input_path, output_path)
    ):
        raise ScoreError(f"{output_path}: the output would overwrite the input", hint="choose another --out")
    for folder in (output_path, *replaced):
        if _inside(source, folder.resolve()):
            raise ScoreError(f"{folder}: the job would replace this folder, which holds the input {input_path}",
                             hint="choose another --out")


def check_file_output(output_path: Path) -> None:
    """Refuse an existing folder where the local engine writes one file (even with --overwrite)."""
    if output_path.is_dir():
        raise ScoreError(f"{output_path}: is a folder; --out names the file to write",
                         hint="choose a file path such as results/scored.csv")


def check_replaceable_folder(output_path: Path, suffix: str) -> None:
    """Refuse to replace an existing folder at OUTPUT unless it is a scoring output (only ``*.suffix`` files)."""
    if not output_path.is_dir():
        return
    strays = sorted(p.name for p in output_path.iterdir() if not (p.is_file() and p.name.endswith(f".{suffix}")))
    if strays:
        raise ScoreError(f"{output_path}: not a folder written by --engine ray (it holds {strays[0]})",
                         hint="choose another --out, or remove the folder yourself")
