"""Faults of a scoring job as one ``ScoreError`` naming the file and what to do, never a traceback.

``reading(path)`` wraps what reads an input (a truncated gzip, a damaged Parquet page, text that is
not in the given encoding, an I/O error); ``writing(path)`` wraps what writes the output, a part
file or the journal (a full disk, a read-only folder). Standard library only: pyarrow's errors are
recognised by their module.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from edge_runtime.errors import EdgeError, describe_os_error


class ScoreError(EdgeError):
    """A batch-scoring job that cannot start, resume or finish as asked."""


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _from_arrow(error: BaseException) -> bool:
    return type(error).__module__.startswith("pyarrow")


def _damaged_parquet(path: str | Path, error: BaseException) -> ScoreError:
    return ScoreError(f"{path}: damaged or incomplete Parquet data ({_first_line(error)})", hint="write the file again")


@contextmanager
def reading(path: str | Path, encoding: str | None = None, parquet: bool = False) -> Iterator[None]:
    """Turn what goes wrong while reading ``path`` into a ``ScoreError`` (``EdgeError``s pass through).

    ``parquet``: an error without an errno (pyarrow's) means damaged data, not a failed system call.
    """
    try:
        yield
    except EdgeError:
        raise
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ScoreError(f"{path}: truncated or damaged gzip data ({_first_line(error)})",
                         hint="the file is incomplete: copy or download it again") from error
    except UnicodeError as error:
        raise ScoreError(f"{path}: not {encoding or 'text in the expected encoding'} ({_first_line(error)})",
                         hint="pass the file's real --encoding, or leave it out to have it detected") from error
    except OSError as error:
        if _from_arrow(error) or (parquet and error.errno is None):
            raise _damaged_parquet(path, error) from error
        raise ScoreError(f"cannot read {describe_os_error(error, path)}") from error
    except (ValueError, TypeError) as error:
        if not _from_arrow(error):
            raise
        raise _damaged_parquet(path, error) from error


def read_guarded(path: str | Path, items: Iterable, encoding: str | None = None, parquet: bool = False) -> Iterator:
    """``items`` (a lazy reader) with its read errors turned into ``ScoreError``s by ``reading``."""
    with reading(path, encoding, parquet):
        yield from items


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` while writing ``path`` (a full disk, a read-only folder) into a ``ScoreError``."""
    try:
        yield
    except EdgeError:
        raise
    except OSError as error:
        raise ScoreError(f"cannot write {describe_os_error(error, path)}") from error
