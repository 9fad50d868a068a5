"""Write a bundle folder (model.onnx, tokenizer.json, manifest.json) atomically.

The manifest itself is written by ``edge_runtime.bundle.write_manifest``, the same code that
verifies it on the device.

The manifest schema is in docs/ARCHITECTURE.md; the bundle is built in a temporary folder next to
the destination and renamed into place, so a failed export never leaves a half bundle.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from edge_runtime.atomic import make_parent
from edge_runtime.bundle import MANIFEST
from mobilebert_edge.export.errors import ExportError

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
# The evaluation report (report.html and its pictures): not listed in the manifest, so not hashed and
# not needed on a device; the runtime ignores it.
REPORT_FOLDER = "report"


def versions() -> dict[str, str]:
    """Versions of the libraries that made the bundle."""
    found = {}
    for name, dist in (
        ("mobilebert_edge", "mobilebert-edge"), ("torch", "torch"), ("transformers", "transformers"),
        ("onnx", "onnx"), ("onnxruntime", "onnxruntime"), ("optimum", "optimum"), ("tokenizers", "tokenizers"),
    ):
        try:
            found[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            if name == "mobilebert_edge":
                from mobilebert_edge import __version__

                found[name] = __version__
    return found


def check_destination(out: Path, overwrite: bool) -> None:
    """Refuse to replace anything but an earlier bundle (or an empty folder), and only with overwrite;
    create the missing folders above ``out``."""
    if not out.exists():
        make_parent(out)
        return
    if not overwrite:
        raise ExportError(f"output {out} already exists", hint="pass --overwrite to replace it, or choose another --out")
    if out.is_dir() and ((out / MANIFEST).is_file() or not any(out.iterdir())):
        return
    raise ExportError(
        f"output {out} exists and is not a bundle", hint="refusing to replace it; choose another --out"
    )


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    False where the system or file system cannot; an ``OSError`` for any other failure.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a C library without renameat2
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextmanager
def staging(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder next to ``out``; on success it replaces ``out``, on failure it is removed.

    An existing ``out`` is swapped with the new folder in one step where the system can (Linux), so a
    crash at any moment leaves a complete bundle at ``out``; elsewhere it is moved aside first.
    """
    check_destination(out, overwrite)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; a bundle is read by whoever serves it
        if out.exists() and exchange(tmp, out):
            shutil.rmtree(tmp, ignore_errors=True)  # now the old bundle
            return
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / out.name)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
