"""The deployable bundle: a folder with ``model.onnx``, ``tokenizer.json`` and ``manifest.json``.

``write_manifest`` is the one writer (export calls it); ``verify_bundle`` is the one reader check
(the runtime calls it on load). The manifest's shape is ``edge_runtime.manifest_schema``, documented in
docs/ARCHITECTURE.md; the checks across keys (golden probabilities against labels, file names) are here.

What the hashes protect against: a file changed, cut short, swapped or missing after export
(corruption, a bad copy). They do not prove who made the bundle: whoever can write the folder can
write a matching manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge_runtime.atomic import atomic_write
from edge_runtime.confidence import calibration_of
from edge_runtime.errors import BundleError
from edge_runtime.manifest_schema import SchemaError, validate

BUNDLE_FORMAT = "mobilebert-edge-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

# Top-level keys every manifest has, and the keys required inside the nested sections.
REQUIRED_KEYS = ("format", "format_version", "labels", "model", "tokenizer", "files", "manifest_sha256")
REQUIRED_MODEL_KEYS = ("file",)
REQUIRED_TOKENIZER_KEYS = ("file", "max_length", "truncation")
# A manifest is a few KiB (the golden texts are most of it); anything much larger is not one.
MAX_MANIFEST_BYTES = 16 << 20
# How an ONNX TensorProto names its external data file: StringStringEntryProto {key: "location", value: ...}.
_EXTERNAL_LOCATION = b"\x0a\x08location\x12"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    return _scan(path, external=False)[0]


def external_data_files(path: str | os.PathLike[str]) -> list[str]:
    """The external data files an ONNX model reads its weights from (``location`` entries), sorted."""
    return _scan(path, external=True)[1]


def _scan(path: str | os.PathLike[str], external: bool) -> tuple[str, list[str]]:
    """Hex sha256 of a file and, with ``external``, the ONNX external-data locations it names (one pass)."""
    digest = hashlib.sha256()
    found: set[str] = set()
    tail = b""  # the end of the previous block: a location entry may straddle two blocks
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            if external:
                window = tail + block
                start = window.find(_EXTERNAL_LOCATION)
                while start != -1:
                    name = _location_at(window, start + len(_EXTERNAL_LOCATION))
                    if name is None:  # cut by the block's end: look again with the next block
                        break
                    found.add(name)
                    start = window.find(_EXTERNAL_LOCATION, start + 1)
                keep = len(window) - start if start != -1 else len(_EXTERNAL_LOCATION) - 1
                tail = window[-keep:] if keep > 0 else b""
    return digest.hexdigest(), sorted(found)


def _location_at(data: bytes, at: int) -> str | None:
    """The length-prefixed string at ``at`` (protobuf varint length), or None when ``data`` ends first."""
    length = shift = 0
    while True:
        if at >= len(data) or shift > 28:
            return None if at >= len(data) else ""
        byte = data[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if at + length > len(data):
        return None if length <= 4096 else ""
    return data[at : at + length].decode("utf-8", "replace")


def canonical_manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The bytes ``manifest_sha256`` is computed over: every key but that one, canonical JSON."""
    body = {key: value for key, value in manifest.items() if key != "manifest_sha256"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def manifest_sha256(manifest: dict[str, Any]) -> str:
    """Hex sha256 of ``canonical_manifest_bytes(manifest)``."""
    return hashlib.sha256(canonical_manifest_bytes(manifest)).hexdigest()


def _inside(bundle: Path, name: str) -> Path:
    """``bundle / name``, refused when it (or a link on its way) leads outside the bundle folder."""
    path = bundle / name
    if not path.resolve().is_relative_to(bundle.resolve()):
        raise BundleError(
            f"bundle {bundle}: {name} is a link to a file outside the bundle folder",
            expected="a regular file inside the folder",
            found=str(path.resolve()),
            hint="copy the file into the bundle instead of linking it",
        )
    return path


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
    model = (manifest.get("model") or {}).get("file")
    if model and (folder / model).is_file():  # a model with external weights: hash them too
        names += [name for name in external_data_files(folder / model) if name not in names]
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


def read_manifest(path: str | os.PathLike[str], *, check_hash: bool = False) -> dict[str, Any]:
    """Parse the bundle's manifest and check its format, version, then (with ``check_hash``) its own
    hash, then its shape against ``edge_runtime.manifest_schema`` (no file hashes)."""
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
        if (bundle / "config.json").is_file():  # what 'train' writes: a checkpoint, not yet a bundle
            raise BundleError(
                f"{bundle} is a training checkpoint, not a bundle (no {MANIFEST})",
                hint=f"export it first: mobilebert-edge export {bundle} --out BUNDLE, then pass BUNDLE",
            )
        raise BundleError(f"bundle {bundle}: {MANIFEST} is missing", hint="re-export the bundle")
    manifest = _parse(bundle, _inside(bundle, MANIFEST))
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
    if check_hash and manifest.get("manifest_sha256") != manifest_sha256(manifest):
        raise BundleError(
            f"bundle {bundle}: {MANIFEST} was modified or corrupted (sha256 mismatch)",
            hint="re-export the bundle; a manifest is only valid as written by 'mobilebert-edge export'",
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
    try:
        validate(manifest)
    except SchemaError as error:
        raise BundleError(f"bundle {bundle}: {MANIFEST}: {error}", hint="re-export the bundle") from None
    for name in manifest["files"]:
        _check_file_name(bundle, name)
    for section in ("model", "tokenizer"):
        name = _check_file_name(bundle, manifest[section]["file"])
        if name not in manifest["files"]:
            raise BundleError(f"bundle {bundle}: {name} has no sha256 in {MANIFEST}", hint="re-export the bundle")
    golden_probabilities(manifest, bundle)
    calibration_of(manifest, bundle)  # the confidence map's points, which the schema cannot say
    return manifest


def golden_probabilities(manifest: dict[str, Any], bundle: str | os.PathLike[str] = "") -> list[tuple[str, list[float]]]:
    """Each golden text with its probabilities in label order, read by label name (or, for bundles
    made before names were stored, by position); a ``BundleError`` when they do not match the labels."""
    labels = manifest["labels"]
    table = []
    for i, example in enumerate((manifest.get("golden") or {}).get("examples") or []):
        probs = example["probabilities"]
        if isinstance(probs, dict):
            if set(probs) != set(labels):
                raise BundleError(
                    f"bundle {bundle}: {MANIFEST}: golden.examples[{i}].probabilities do not name the bundle's labels",
                    expected=", ".join(sorted(labels)), found=", ".join(sorted(probs)) or "none", hint="re-export the bundle",
                )
            row = [float(probs[label]) for label in labels]
        else:
            if len(probs) != len(labels):
                raise BundleError(
                    f"bundle {bundle}: {MANIFEST}: golden.examples[{i}].probabilities do not match the labels",
                    expected=f"{len(labels)} numbers", found=len(probs), hint="re-export the bundle",
                )
            row = [float(p) for p in probs]
        table.append((example["text"], row))
    return table


def _parse(bundle: Path, path: Path) -> Any:
    """The manifest's JSON; NaN, infinities, duplicate keys and absurd sizes or depths are refused."""
    def refuse(message: str, error: BaseException | None = None) -> BundleError:
        detail = f" ({error})" if error else ""
        return BundleError(f"bundle {bundle}: {MANIFEST} {message}{detail}", hint="the file was modified or corrupted; re-export the bundle")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate key {next(k for i, k in enumerate(keys) if k in keys[:i])!r}")
        return dict(pairs)

    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise refuse(f"is too large ({path.stat().st_size:,} bytes, at most {MAX_MANIFEST_BYTES:,})")
    try:
        return json.loads(path.read_bytes().decode("utf-8"), parse_constant=no_constant, object_pairs_hook=unique_keys)
    except RecursionError:
        raise refuse("nests too deep") from None
    except (UnicodeDecodeError, ValueError) as error:  # json.JSONDecodeError is a ValueError
        raise refuse("is not valid JSON", error) from None


def verify_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``read_manifest`` plus: every listed file present and unmodified, manifest hash intact."""
    bundle = Path(path)
    manifest = read_manifest(bundle, check_hash=True)
    model = manifest["model"]["file"]
    for name, expected in manifest["files"].items():
        file = _inside(bundle, name)
        if not file.is_file():
            raise BundleError(f"bundle {bundle}: {name} is missing", hint="copy the whole bundle folder")
        digest, external = _scan(file, external=name == model)
        if digest != expected:
            raise BundleError(
                f"bundle {bundle}: {name} was modified or corrupted (sha256 mismatch)",
                hint="copy the bundle again or re-export it",
            )
        unlisted = [data for data in external if data not in manifest["files"]]
        if unlisted:
            raise BundleError(
                f"bundle {bundle}: {name} reads its weights from {', '.join(map(repr, unlisted))}, which has no sha256 in {MANIFEST}",
                hint="re-export the bundle (export hashes every file the model reads)",
            )
    return manifest
