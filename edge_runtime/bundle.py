"""The deployable bundle: a folder with ``model.onnx``, ``tokenizer.json`` and ``manifest.json``.

``write_manifest`` is the one writer (export calls it); ``verify_bundle`` is the one reader check
(the runtime calls it on load). The manifest schema is in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge_runtime.atomic import atomic_write
from edge_runtime.errors import BundleError

BUNDLE_FORMAT = "mobilebert-edge-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

# Top-level keys every manifest has, and the keys required inside the nested sections.
REQUIRED_KEYS = ("format", "format_version", "labels", "model", "tokenizer", "files", "manifest_sha256")
REQUIRED_MODEL_KEYS = ("file",)
REQUIRED_TOKENIZER_KEYS = ("file", "max_length", "truncation")


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The bytes ``manifest_sha256`` is computed over: every key but that one, canonical JSON."""
    body = {key: value for key, value in manifest.items() if key != "manifest_sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def manifest_sha256(manifest: dict[str, Any]) -> str:
    """Hex sha256 of ``canonical_manifest_bytes(manifest)``."""
    return hashlib.sha256(canonical_manifest_bytes(manifest)).hexdigest()


def _check_file_name(bundle: Path, name: object) -> str:
    """A listed file must be a plain relative path inside the bundle."""
    if not isinstance(name, str) or not name:
        raise BundleError(f"bundle {bundle}: {MANIFEST} lists an invalid file name", expected="a file name", found=repr(name))
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts:
        raise BundleError(
            f"bundle {bundle}: {MANIFEST} lists a file outside the bundle folder",
            expected="a name inside the folder",
            found=repr(name),
        )
    return name


def write_manifest(folder: str | os.PathLike[str], manifest: dict[str, Any]) -> dict[str, Any]:
    """Complete ``manifest`` with file hashes and ``manifest_sha256``; write it atomically.

    The files hashed are those already in ``manifest["files"]`` plus the model and tokenizer
    files. ``format``, ``format_version`` (this runtime's) and ``created`` (now, UTC) are added
    unless given. Returns the written dict.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise BundleError(f"bundle {folder}: not a folder", hint="create it before writing the manifest")
    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = {"format": BUNDLE_FORMAT, "format_version": FORMAT_VERSION, "created": created, **manifest}
    names = list(manifest.get("files") or {})
    for section in ("model", "tokenizer"):
        name = (manifest.get(section) or {}).get("file")
        if name and name not in names:
            names.append(name)
    files = {}
    for name in names:
        path = folder / _check_file_name(folder, name)
        if not path.is_file():
            raise BundleError(f"bundle {folder}: {name} is missing", hint="write it before the manifest")
        files[name] = sha256_file(path)
    manifest["files"] = files
    manifest.pop("manifest_sha256", None)
    manifest["manifest_sha256"] = manifest_sha256(manifest)
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    with atomic_write(folder / MANIFEST) as handle:
        handle.write(text)
    return manifest


def read_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse the bundle's manifest and check its format, version and required keys (no hashes)."""
    bundle = Path(path)
    if not bundle.exists():
        raise BundleError(f"bundle {bundle}: no such folder", hint="pass the folder written by 'mobilebert-edge export'")
    if not bundle.is_dir():
        raise BundleError(
            f"bundle {bundle}: not a folder",
            hint=f"pass the bundle folder (the one holding {MANIFEST}), not a file inside it",
        )
    manifest_path = bundle / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"bundle {bundle}: {MANIFEST} is missing", hint="re-export the bundle")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(
            f"bundle {bundle}: {MANIFEST} is not valid JSON ({error})",
            hint="the file was modified or corrupted; re-export the bundle",
        ) from error
    if not isinstance(manifest, dict):
        raise BundleError(f"bundle {bundle}: {MANIFEST} is not a JSON object", expected="an object", found=type(manifest).__name__)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            f"bundle {bundle}: not a mobilebert-edge bundle",
            expected=f"format {BUNDLE_FORMAT!r}",
            found=repr(manifest.get("format")),
        )
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        hint = "upgrade mobilebert-edge" if isinstance(version, int) and version > FORMAT_VERSION else (
            "re-export the bundle with this version of mobilebert-edge"
        )
        raise BundleError(
            f"bundle {bundle}: unsupported bundle format version",
            expected=f"version {FORMAT_VERSION}",
            found=f"version {version}",
            hint=hint,
        )
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    for section, keys in (("model", REQUIRED_MODEL_KEYS), ("tokenizer", REQUIRED_TOKENIZER_KEYS)):
        if isinstance(manifest.get(section), dict):
            missing += [f"{section}.{key}" for key in keys if key not in manifest[section]]
        elif section in manifest:
            missing.append(f"{section} (an object)")
    if missing:
        raise BundleError(
            f"bundle {bundle}: {MANIFEST} lacks required keys",
            expected=", ".join(REQUIRED_KEYS),
            found=f"missing {', '.join(missing)}",
            hint="re-export the bundle",
        )
    labels = manifest["labels"]
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise BundleError(
            f"bundle {bundle}: labels in {MANIFEST} are malformed", expected="a non-empty list of names", found=repr(labels)
        )
    if not isinstance(manifest["files"], dict):
        raise BundleError(
            f"bundle {bundle}: files in {MANIFEST} are malformed", expected="an object of name: sha256", found=repr(manifest["files"])
        )
    for name in manifest["files"]:
        _check_file_name(bundle, name)
    for section in ("model", "tokenizer"):
        name = _check_file_name(bundle, manifest[section]["file"])
        if name not in manifest["files"]:
            raise BundleError(f"bundle {bundle}: {name} has no sha256 in {MANIFEST}", hint="re-export the bundle")
    return manifest


def verify_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``read_manifest`` plus: every listed file present and unmodified, manifest hash intact."""
    bundle = Path(path)
    manifest = read_manifest(bundle)
    if manifest["manifest_sha256"] != manifest_sha256(manifest):
        raise BundleError(
            f"bundle {bundle}: {MANIFEST} was modified or corrupted (sha256 mismatch)",
            hint="re-export the bundle; a manifest is only valid as written by 'mobilebert-edge export'",
        )
    for name, expected in manifest["files"].items():
        file = bundle / name
        if not file.is_file():
            raise BundleError(f"bundle {bundle}: {name} is missing", hint="copy the whole bundle folder")
        if sha256_file(file) != expected:
            raise BundleError(
                f"bundle {bundle}: {name} was modified or corrupted (sha256 mismatch)",
                hint="copy the bundle again or re-export it",
            )
    return manifest
