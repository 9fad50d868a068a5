"""The manifest's shape (edge_runtime.manifest_schema) and what its hashes cover: golden probabilities by
label name, the model's external weight files, links leaving the folder; a fuzz over every key."""

from __future__ import annotations

import copy
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from runtime_helpers import copy_bundle, load_manifest

from edge_runtime import Classifier
from edge_runtime.bundle import MANIFEST, golden_probabilities, manifest_sha256, read_manifest, verify_bundle, write_manifest
from edge_runtime.errors import BundleError
from edge_runtime.manifest_schema import MAX_DEPTH, SCHEMA, SchemaError, validate
from mobilebert_edge.cli import main


@pytest.fixture()
def bundle(tiny_bundle_fp32: Path, tmp_path: Path) -> Path:
    return copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")


def write_raw(bundle: Path, manifest: dict[str, Any] | str) -> None:
    """Write ``manifest`` with a recomputed manifest hash and nothing else recomputed (or a raw text)."""
    if isinstance(manifest, dict):
        manifest = dict(manifest)
        manifest["manifest_sha256"] = manifest_sha256(manifest)
        manifest = json.dumps(manifest)
    (bundle / MANIFEST).write_text(manifest, encoding="utf-8")


def refused(bundle: Path, message: str) -> None:
    with pytest.raises(BundleError, match=re.escape(message)):
        read_manifest(bundle)


# --- golden probabilities by label name -----------------------------------------------------------


def test_golden_probabilities_are_stored_by_label_name(bundle):
    manifest = load_manifest(bundle)
    for example in manifest["golden"]["examples"]:
        assert list(example["probabilities"]) == manifest["labels"]
        assert sum(example["probabilities"].values()) == pytest.approx(1, abs=1e-6)


def test_reversed_labels_with_a_recomputed_hash_fail_check(bundle, capsys):
    manifest = load_manifest(bundle)
    manifest["labels"] = manifest["labels"][::-1]
    write_manifest(bundle, manifest)  # every hash right: only the golden texts can tell
    assert main(["check", str(bundle)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  0  batch 1 " in out and "PASS" not in out


def test_the_list_form_of_bundles_made_before_still_checks(bundle, capsys):
    manifest = load_manifest(bundle)
    for example in manifest["golden"]["examples"]:
        example["probabilities"] = [example["probabilities"][label] for label in manifest["labels"]]
    write_manifest(bundle, manifest)
    assert main(["check", str(bundle)]) == 0
    assert "all passed" in capsys.readouterr().out
    by_name = golden_probabilities(load_manifest(bundle))
    assert by_name[0][1] == manifest["golden"]["examples"][0]["probabilities"]


def test_golden_probabilities_must_name_the_labels(bundle):
    manifest = load_manifest(bundle)
    manifest["golden"]["examples"][2]["probabilities"] = {"negative": 0.5, "good": 0.5}
    write_raw(bundle, manifest)
    refused(bundle, "manifest.json: golden.examples[2].probabilities do not name the bundle's labels "
                    "(expected negative, positive, found good, negative); re-export the bundle")
    manifest["golden"]["examples"][2]["probabilities"] = [0.2, 0.3, 0.5]
    write_raw(bundle, manifest)
    refused(bundle, "manifest.json: golden.examples[2].probabilities do not match the labels (expected 2 numbers, found 3)")


# --- files the model reads, links ------------------------------------------------------------------


@pytest.fixture()
def external_bundle(bundle: Path) -> Path:
    """The bundle with its weights in an external data file, as exported models larger than 2 GB are."""
    import onnx

    model = onnx.load(str(bundle / "model.onnx"))
    onnx.save_model(model, str(bundle / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=1024)
    return bundle


def test_external_weights_are_hashed_and_their_changes_refused(external_bundle):
    bundle = external_bundle
    manifest = load_manifest(bundle)
    written = write_manifest(bundle, manifest)
    assert set(written["files"]) == {"model.onnx", "tokenizer.json", "weights.bin"}
    assert Classifier.load(bundle).predict("a great film").label in written["labels"]
    data = bytearray((bundle / "weights.bin").read_bytes())
    data[len(data) // 2] ^= 0x40
    (bundle / "weights.bin").write_bytes(bytes(data))
    with pytest.raises(BundleError, match=re.escape(f"bundle {bundle}: weights.bin was modified or corrupted (sha256 mismatch)")):
        Classifier.load(bundle)


def test_a_model_reading_an_unlisted_file_is_refused(external_bundle):
    bundle = external_bundle
    manifest = load_manifest(bundle)
    write_raw(bundle, {**manifest, "files": {**manifest["files"], "model.onnx": _sha(bundle / "model.onnx")}})
    message = (f"bundle {bundle}: model.onnx reads its weights from 'weights.bin', which has no sha256 in manifest.json; "
               "re-export the bundle")
    with pytest.raises(BundleError, match=re.escape(message)):
        Classifier.load(bundle)


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["tokenizer.json", MANIFEST])
def test_links_leaving_the_bundle_are_refused(bundle, tmp_path, name):
    outside = tmp_path / "elsewhere" / name
    outside.parent.mkdir()
    (bundle / name).rename(outside)
    (bundle / name).symlink_to(outside)
    message = f"bundle {bundle}: {name} is a link to a file outside the bundle folder"
    with pytest.raises(BundleError, match=re.escape(message)):
        Classifier.load(bundle)
    (bundle / name).unlink()
    (bundle / "inner").mkdir()
    outside.rename(bundle / "inner" / name)
    (bundle / name).symlink_to(Path("inner") / name)  # a link that stays inside is fine
    assert verify_bundle(bundle)["labels"]


# --- shape ------------------------------------------------------------------------------------------


def _set(manifest: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(manifest)
    *parents, last = path.split(".")
    node = manifest
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return manifest


SHAPE_CASES = [
    ("tokenizer.truncation", "head",
     "tokenizer.truncation has the wrong type (expected object, found string 'head')"),
    ("tokenizer.truncation.head_tokens", "64",
     "tokenizer.truncation.head_tokens has the wrong type (expected integer or null, found string '64')"),
    ("tokenizer.truncation.rule", "middle",
     "tokenizer.truncation.rule is not a known value (expected head | tail | head_tail, found 'middle')"),
    ("tokenizer.max_length", 12.5, "tokenizer.max_length has the wrong type (expected integer, found number 12.5)"),
    ("tokenizer.max_length", True, "tokenizer.max_length has the wrong type (expected integer, found boolean True)"),
    ("labels", ["negative", "negative"], "labels has a duplicate item (expected unique items, found 'negative')"),
    ("labels", [], "labels has too few items (expected at least 1, found 0)"),
    ("golden.examples", {"text": "a"}, "golden.examples has the wrong type (expected array, found object {'text': 'a'})"),
    ("golden.examples.0.probabilities", "0.5", "golden.examples[0].probabilities has the wrong type"),
    ("golden.examples.0.probabilities.negative", 1.5,
     "golden.examples[0].probabilities.negative is out of range (expected <= 1, found 1.5)"),
    ("golden.examples.0.text", 3, "golden.examples[0].text has the wrong type (expected string, found integer 3)"),
    ("golden.atol", 0, "golden.atol is out of range (expected > 0, found 0)"),
    ("files.model.onnx", "abc", "files.model.onnx is malformed (expected text matching ^[0-9a-f]{64}$, found 'abc')"),
    ("model.colour", "blue", "model.colour is not a known key"),
    ("calibration", {"method": "temperature", "temperature": -1.0},
     "calibration.temperature is out of range (expected > 0, found -1.0)"),
    ("calibration", {"method": "platt", "temperature": 1.0},
     "calibration.method has the wrong value (expected 'temperature', found 'platt')"),
]


@pytest.mark.parametrize(("path", "value", "message"), SHAPE_CASES, ids=[f"{c[0]}={c[1]!r}" for c in SHAPE_CASES])
def test_a_manifest_of_the_wrong_shape_is_one_clear_error(bundle, path, value, message):
    manifest = load_manifest(bundle)
    if path.startswith("files.model.onnx"):
        manifest["files"]["model.onnx"] = value
    else:
        manifest = _set(manifest, path, value)
    write_raw(bundle, manifest)
    refused(bundle, f"bundle {bundle}: manifest.json: {message}")


def test_calibration_may_be_absent_or_null(bundle):
    manifest = load_manifest(bundle)
    manifest.pop("calibration", None)
    write_raw(bundle, manifest)
    assert "calibration" not in read_manifest(bundle)
    write_raw(bundle, {**manifest, "calibration": None})
    assert read_manifest(bundle)["calibration"] is None


def test_nan_duplicate_keys_and_deep_nesting_are_refused(bundle):
    manifest = load_manifest(bundle)
    text = json.dumps(_set(manifest, "golden.atol", 0.001))
    write_raw(bundle, text.replace('"atol": 0.001', '"atol": NaN'))
    refused(bundle, f"bundle {bundle}: manifest.json is not valid JSON (NaN is not a JSON number")
    write_raw(bundle, text.replace('"labels": [', '"labels": ["x"], "labels": [', 1))
    refused(bundle, f"bundle {bundle}: manifest.json is not valid JSON (duplicate key 'labels')")
    write_raw(bundle, "[" * 100_000 + "]" * 100_000)
    refused(bundle, f"bundle {bundle}: manifest.json nests too deep")
    deep: Any = 1
    for _ in range(MAX_DEPTH + 1):
        deep = [deep]
    write_raw(bundle, _set(manifest, "report", {"deep": deep}))
    refused(bundle, f"bundle {bundle}: manifest.json: report.deep[0][0]")
    refused(bundle, f" nests too deep (expected at most {MAX_DEPTH} levels, found more)")
    write_raw(bundle, _set(manifest, "report", {"deep": deep[0][0][0]}))  # the manifest, report and 30 lists: fine
    assert read_manifest(bundle)["report"]["deep"]


def test_the_schema_is_printable_json_for_other_runtimes():
    done = subprocess.run([sys.executable, "-m", "edge_runtime.manifest_schema"], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == SCHEMA
    with pytest.raises(SchemaError, match=re.escape("the manifest has the wrong type (expected object, found array [])")):
        validate([])


# --- fuzz -------------------------------------------------------------------------------------------

REPLACEMENTS: list[Any] = [None, True, False, 0, -1, 7, 1.5, -0.0, 1e308, "", "x", "head", "../x", [], [1, "a"], {},
                           {"a": None}, [[[[[]]]]], "a" * 10_000]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path of the manifest, except inside the free-form report."""
    found = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        path = (*prefix, key)
        found.append(path)
        if path != ("report",):
            found += _paths(item, path)
    return found


def test_fuzz_random_types_for_every_key_give_a_bundle_error_or_a_working_bundle(bundle):
    """Each key of the manifest replaced by values of other types (hash recomputed): loading, predicting
    and reading the golden texts either work or raise BundleError, never anything else."""
    original = load_manifest(bundle)
    rng = random.Random(0)
    outcomes = {"refused": 0, "loaded": 0}
    for path in _paths(original):
        for value in rng.sample(REPLACEMENTS, 3) + ["<delete>"]:
            manifest = copy.deepcopy(original)
            *parents, last = path
            node: Any = manifest
            for key in parents:
                node = node[key]
            if value == "<delete>":
                del node[last]
            else:
                node[last] = value
            write_raw(bundle, manifest)
            try:
                clf = Classifier.load(bundle, threads=1)
                clf.predict("a great film")
                golden_probabilities(clf.manifest)
                outcomes["loaded"] += 1
            except BundleError as error:
                assert "\n" not in str(error)
                outcomes["refused"] += 1
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 10, outcomes


@pytest.mark.parametrize("at", [(1 << 20) - 20, (1 << 20) - 13, (1 << 20) - 11, (1 << 20) - 2, 1 << 20])
def test_external_locations_are_found_across_read_blocks(tmp_path, at):
    """A location entry cut by the 1 MiB read blocks is still found (the scan keeps the block's end)."""
    from edge_runtime.bundle import external_data_files

    entry = b"\x0a\x08location\x12\x0bweights.bin"
    data = bytearray(b"\x00" * (3 << 20))
    data[at : at + len(entry)] = entry
    second = b"\x0a\x08location\x12\x05a.bin"
    data[2 << 20 : (2 << 20) + len(second)] = second
    (tmp_path / "model.onnx").write_bytes(bytes(data))
    assert external_data_files(tmp_path / "model.onnx") == ["a.bin", "weights.bin"]
