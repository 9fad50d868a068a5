"""Atomic file writes: a temporary file beside the target, renamed over it only when complete."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from edge_runtime.errors import InputError


def make_parent(path: str | os.PathLike[str]) -> Path:
    """Create the missing folders above ``path`` (like ``mkdir -p``); return the parent folder.

    Raises ``InputError`` naming the path when a file stands where a folder is needed, or the
    folder cannot be created.
    """
    parent = Path(path).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in (parent, *parent.parents) if p.exists() and not p.is_dir()), parent)
        raise InputError(f"cannot create the folder {parent} for {path}: {blocker} is a file",
                         hint="choose another output path") from None
    except OSError as error:
        raise InputError(f"cannot create the folder {parent} for {path} ({error.strerror})",
                         hint="choose another output path") from error
    return parent


@contextmanager
def atomic_write(
    path: str | os.PathLike[str], mode: str = "w", *, encoding: str = "utf-8", newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on a clean exit it is synced and renamed over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was. ``mode`` is ``"w"``
    (text, ``encoding``) or ``"wb"``. The file is readable by everyone, like one made by ``open``.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        binary = "b" in mode
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else newline) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
