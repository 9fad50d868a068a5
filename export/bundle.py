"""Write a bundle folder (model.onnx, tokenizer.json, manifest.json) atomically.

The manifest schema is in docs/ARCHITECTURE.md; the bundle is built in a temporary folder next to
the destination and renamed into place, so a failed export never leaves a half bundle.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from export.errors import ExportError

BUNDLE_FORMAT = "mobilebert-edge-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(manifest: dict[str, Any]) -> bytes:
    """The bytes ``manifest_sha256`` covers: every other key, sorted, compact, UTF-8."""
    body = {key: value for key, value in manifest.items() if key != "manifest_sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


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


def write_manifest(folder: Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Add format, created, file hashes and manifest_sha256 to ``fields``; write manifest.json."""
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **fields,
    }
    names = [manifest["model"]["file"], manifest["tokenizer"]["file"]]
    manifest["files"] = {name: sha256_file(folder / name) for name in names}
    manifest["manifest_sha256"] = hashlib.sha256(canonical_json(manifest)).hexdigest()
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def check_destination(out: Path, overwrite: bool) -> None:
    """Refuse to replace anything but an earlier bundle (or an empty folder), and only with overwrite."""
    if not out.exists():
        if not out.parent.is_dir():
            raise ExportError(f"output {out}: parent folder {out.parent} does not exist", hint="create it first")
        return
    if not overwrite:
        raise ExportError(f"output {out} already exists", hint="pass --overwrite to replace it, or choose another --out")
    if out.is_dir() and ((out / MANIFEST).is_file() or not any(out.iterdir())):
        return
    raise ExportError(
        f"output {out} exists and is not a bundle", hint="refusing to replace it; choose another --out"
    )


@contextmanager
def staging(out: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary folder next to ``out``; on success it replaces ``out``, on failure it is removed."""
    check_destination(out, overwrite)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
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
