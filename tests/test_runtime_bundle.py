"""Bundle manifest: writing, verifying, and refusing tampered or partial bundles."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from runtime_helpers import copy_bundle, flip_byte, load_manifest, relabel

from edge_runtime import Classifier
from edge_runtime.bundle import (
    BUNDLE_FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    canonical_manifest_bytes,
    manifest_sha256,
    read_manifest,
    sha256_file,
    verify_bundle,
    write_manifest,
)
from edge_runtime.errors import BundleError


@pytest.fixture()
def bundle(tiny_bundle_fp32: Path, tmp_path: Path) -> Path:
    return copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")


def test_manifest_hashes_follow_the_contract(bundle):
    manifest = verify_bundle(bundle)
    assert manifest["format"] == BUNDLE_FORMAT and manifest["format_version"] == FORMAT_VERSION
    for name, digest in manifest["files"].items():
        assert digest == hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert canonical_manifest_bytes(manifest) == canonical
    assert manifest["manifest_sha256"] == hashlib.sha256(canonical).hexdigest()
    assert sha256_file(bundle / "model.onnx") == manifest["files"]["model.onnx"]


def test_write_manifest_is_atomic_and_rehashes(bundle):
    manifest = load_manifest(bundle)
    manifest = relabel(manifest, ["neg", "pos"])  # golden probabilities are stored by label name
    manifest["files"] = {"model.onnx": "stale"}  # recomputed, tokenizer added from tokenizer.file
    written = write_manifest(bundle, manifest)
    assert verify_bundle(bundle) == written
    assert set(written["files"]) == {"model.onnx", "tokenizer.json"}
    assert [p.name for p in bundle.iterdir() if p.name.startswith(".")] == []  # no temp file left
    with pytest.raises(BundleError, match=re.escape(f"bundle {bundle}: extra.bin is missing; write it before the manifest")):
        write_manifest(bundle, {**manifest, "files": {"extra.bin": ""}})


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
def test_one_changed_byte_in_a_file_is_refused(bundle, name):
    flip_byte(bundle / name)
    message = f"bundle {bundle}: {name} was modified or corrupted (sha256 mismatch); copy the bundle again or re-export it"
    with pytest.raises(BundleError, match=re.escape(message)):
        Classifier.load(bundle)


def test_changed_manifest_content_is_refused(bundle):
    path = bundle / MANIFEST
    text = path.read_text(encoding="utf-8")
    assert '"negative"' in text
    path.write_text(text.replace('"negative"', '"negativf"', 1), encoding="utf-8")
    with pytest.raises(BundleError, match=re.escape(f"bundle {bundle}: manifest.json was modified or corrupted (sha256 mismatch)")):
        Classifier.load(bundle)


def test_corrupt_manifest_json_names_the_file(bundle):
    path = bundle / MANIFEST
    path.write_bytes(path.read_bytes().replace(b"{", b"[", 1))
    with pytest.raises(BundleError, match=re.escape(f"bundle {bundle}: manifest.json is not valid JSON")):
        Classifier.load(bundle)


def test_missing_files_are_refused(bundle):
    (bundle / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=re.escape(f"bundle {bundle}: tokenizer.json is missing; copy the whole bundle folder")):
        Classifier.load(bundle)
    (bundle / MANIFEST).unlink()
    with pytest.raises(BundleError, match=re.escape(f"bundle {bundle}: manifest.json is missing; re-export the bundle")):
        Classifier.load(bundle)


def test_unknown_version_and_format(bundle):
    manifest = load_manifest(bundle)
    (bundle / MANIFEST).write_text(json.dumps({**manifest, "format_version": 2}), encoding="utf-8")
    message = f"bundle {bundle}: unsupported bundle format version (expected version 1, found version 2); upgrade mobilebert-edge"
    with pytest.raises(BundleError, match=re.escape(message)):
        Classifier.load(bundle)
    (bundle / MANIFEST).write_text(json.dumps({**manifest, "format": "something-else"}), encoding="utf-8")
    message = f"bundle {bundle}: not a mobilebert-edge bundle (expected format 'mobilebert-edge-bundle', found 'something-else')"
    with pytest.raises(BundleError, match=re.escape(message)):
        read_manifest(bundle)


def test_missing_keys_and_escaping_paths(bundle):
    original = load_manifest(bundle)
    manifest = json.loads(json.dumps(original))
    del manifest["labels"]
    del manifest["tokenizer"]["max_length"]
    (bundle / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=re.escape("lacks required keys") + ".*" + re.escape("missing labels, tokenizer.max_length")):
        read_manifest(bundle)
    manifest = {**original, "files": {**original["files"], "../outside": "0" * 64}}
    manifest["manifest_sha256"] = manifest_sha256(manifest)
    (bundle / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=re.escape("lists a file outside the bundle folder (expected a name inside the folder, found '../outside')")):
        verify_bundle(bundle)


def test_not_a_folder(bundle, tmp_path):
    with pytest.raises(BundleError, match=re.escape(f"bundle {bundle / MANIFEST}: not a folder; pass the bundle folder")):
        Classifier.load(bundle / MANIFEST)
    with pytest.raises(BundleError, match=re.escape(f"bundle {tmp_path / 'nope'}: no such folder")):
        Classifier.load(tmp_path / "nope")


def test_unloadable_model_is_a_bundle_error(bundle):
    (bundle / "model.onnx").write_bytes(b"not an onnx model")
    write_manifest(bundle, load_manifest(bundle))  # hashes right, content wrong
    with pytest.raises(BundleError, match=re.escape(f"bundle {bundle}: onnxruntime cannot load model.onnx (")) as info:
        Classifier.load(bundle)
    assert info.value.__cause__ is not None
