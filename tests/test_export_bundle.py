"""The bundle folder: manifest schema and hashes, golden texts, tokenizer, atomic writes, inputs."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from transformers import AutoTokenizer, BertTokenizer

from edge_runtime.bundle import verify_bundle
from edge_runtime.errors import EdgeError
from mobilebert_edge.export import export_bundle
from mobilebert_edge.export.checkpoint import read_checkpoint
from mobilebert_edge.export.errors import CheckpointError, ExportError

VARIED = [
    "A wonderful film.",
    "Café naïve résumé — déjà vu!",
    "🎬🍿 great fun 😀",
    "日本の映画はとても面白かった",
    "first line<br /><br />second line",
    "   ",
    "word " * 400,
]


def canonical_sha(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def test_manifest_schema_and_hashes(tiny_bundle: Path):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(p.name for p in tiny_bundle.iterdir()) == ["manifest.json", "model.onnx", "tokenizer.json"]
    assert oct(tiny_bundle.stat().st_mode & 0o777) == "0o755"  # readable by whoever serves it
    assert {oct(p.stat().st_mode & 0o777) for p in tiny_bundle.iterdir()} == {"0o644"}
    assert manifest["format"] == "mobilebert-edge-bundle" and manifest["format_version"] == 1
    assert manifest["labels"] == ["negative", "positive"]
    assert manifest["model"] == {
        "file": "model.onnx", "precision": "int8", "inputs": ["input_ids", "attention_mask", "token_type_ids"],
        "output": "logits", "architecture": "MobileBertForSequenceClassification", "pooling": "cls",
        "quantization": "static", "optimization_level": "extended", "graph_pass": "mobilebert-fusion",
        "contrib_ops": ["MatMulIntegerToFloat", "MultiHeadAttention"],
    }
    assert manifest["tokenizer"] == {
        "file": "tokenizer.json", "max_length": 256, "truncation": {"rule": "head", "head_tokens": None},
    }
    for name in ("model.onnx", "tokenizer.json"):
        assert manifest["files"][name] == hashlib.sha256((tiny_bundle / name).read_bytes()).hexdigest()
    assert manifest["manifest_sha256"] == canonical_sha(manifest)
    assert {"torch", "transformers", "onnx", "onnxruntime", "mobilebert_edge"} <= set(manifest["versions"])
    assert {"parity", "quantization", "optimization", "sizes"} <= set(manifest["report"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["created"])


def test_runtime_accepts_the_bundle_and_replays_golden(tiny_bundle: Path, tiny_bundle_fp32: Path, capsys):
    from mobilebert_edge.cli import main

    for bundle in (tiny_bundle, tiny_bundle_fp32):
        assert main(["check", str(bundle)]) == 0, capsys.readouterr()


def test_golden_probabilities_reproduce_one_text_per_batch(tiny_bundle: Path, tiny_mobilebert_dir: Path):
    manifest = json.loads((tiny_bundle / "manifest.json").read_text(encoding="utf-8"))
    golden = manifest["golden"]
    assert golden["batch_size"] == 1 and golden["atol"] == 0.02 and len(golden["examples"]) == 8  # int8 (fp32: 1e-3)
    assert golden["batch_invariant"] is True and manifest["report"]["golden_batch_drift"] <= 1e-6
    tokenizer = AutoTokenizer.from_pretrained(tiny_mobilebert_dir)
    session = ort.InferenceSession(str(tiny_bundle / "model.onnx"), providers=["CPUExecutionProvider"])
    probabilities = []
    for example in golden["examples"]:
        enc = tokenizer([example["text"]], truncation=True, max_length=256, return_tensors="np")
        logits = session.run(None, {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()})[0][0]
        found = np.exp(logits) / np.exp(logits).sum()
        np.testing.assert_allclose(found, [example["probabilities"][label] for label in manifest["labels"]], atol=1e-3)
        probabilities.append(found)
    assert np.ptp(np.array(probabilities)[:, 1]) > 1e-3  # the examples are not all the same


def test_export_and_runtime_encode_identically(tiny_bundle: Path, tiny_mobilebert_dir: Path):
    from edge_runtime.text import TextEncoder
    from mobilebert_edge.export.checkpoint import load_tokenizer
    from mobilebert_edge.export.encode import Encoder

    for rule, head in (("head", None), ("tail", None), ("head_tail", 10)):
        ours = Encoder(load_tokenizer(read_checkpoint(tiny_mobilebert_dir)), 48, rule, head)
        runtime = TextEncoder.from_file(tiny_bundle / "tokenizer.json", 48, rule, head)
        assert [ours.ids(t) for t in VARIED] == runtime.encode_ids(VARIED)
        assert ours.pad_id == runtime.pad_id


def test_our_checkpoint_carries_rule_labels_and_validation(tmp_path: Path, tiny_mobilebert_dir: Path):
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_mobilebert_dir, folder)
    # logit order is the checkpoint's label list, whatever the names
    (folder / "mobilebert_edge.json").write_text(json.dumps({
        "format_version": 1, "labels": ["negative", "positive"], "max_length": 64,
        "truncation": {"rule": "head_tail", "head_tokens": 16}, "validation_file": "validation.jsonl",
    }))
    rows = [{"text": f"review number {i} " + "good " * i, "label": ["negative", "positive"][i % 2]} for i in range(12)]
    (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lines: list[str] = []
    report = export_bundle(folder, tmp_path / "b", optimize=False, log=lines.append)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["tokenizer"]["max_length"] == 64
    assert manifest["tokenizer"]["truncation"] == {"rule": "head_tail", "head_tokens": 16}
    assert report["quantization"]["measured"] is True and report["quantization"]["texts"] == 12
    assert any("evaluation texts: 12 from" in line for line in lines)
    golden_texts = {e["text"] for e in manifest["golden"]["examples"]}
    assert golden_texts <= {r["text"] for r in rows}
    # the int8-vs-fp32 report sits in the bundle folder, unhashed: the runtime still verifies the bundle
    evaluation = json.loads((tmp_path / "b" / "report" / "report.json").read_text())
    assert evaluation["examples"] == 12 and evaluation["comparison"]["models"] == ["int8", "fp32"]
    assert evaluation["comparison"]["accuracy"]["int8"] == pytest.approx(report["quantization"]["int8_accuracy"] / 100, abs=1e-5)
    assert (tmp_path / "b" / "report" / "report.html").is_file() and "report" not in manifest["files"]
    verify_bundle(tmp_path / "b")


def test_tutorial_style_folder_with_slow_tokenizer(tmp_path: Path, tiny_mobilebert_dir: Path, uncased_vocab: Path):
    """A save_pretrained folder with only vocab.txt: tokenizer.json is built, labels from id2label."""
    folder = tmp_path / "tutorial"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_mobilebert_dir / name, folder / name)
    BertTokenizer(vocab_file=str(uncased_vocab), do_lower_case=True).save_pretrained(folder)
    assert not (folder / "tokenizer.json").exists()
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "NEG", "1": "POS"}
    config["label2id"] = {"NEG": 0, "POS": 1}
    (folder / "config.json").write_text(json.dumps(config))
    export_bundle(folder, tmp_path / "b", precision="fp32", optimize=False, max_length=128, log=lambda _: None)
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["labels"] == ["NEG", "POS"]
    assert manifest["tokenizer"]["max_length"] == 128 and manifest["tokenizer"]["truncation"]["rule"] == "head"
    assert manifest["report"]["quantization"] == {"applied": False}
    from edge_runtime.text import TextEncoder

    fast = AutoTokenizer.from_pretrained(tiny_mobilebert_dir)
    runtime = TextEncoder.from_file(tmp_path / "b" / "tokenizer.json", 128)
    assert runtime.encode_ids(VARIED[:5]) == [fast(t)["input_ids"] for t in VARIED[:5]]


def test_default_max_length_for_plain_folder(tiny_mobilebert_dir: Path):
    assert read_checkpoint(tiny_mobilebert_dir).max_length == 256
    assert read_checkpoint(tiny_mobilebert_dir, max_length=100).max_length == 100


def test_missing_tokenizer_suggests_flag(tmp_path: Path, tiny_mobilebert_dir: Path):
    folder = tmp_path / "no-tok"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_mobilebert_dir / name, folder / name)
    with pytest.raises(CheckpointError, match=re.escape(
        f"checkpoint {folder}: no tokenizer found (expected tokenizer.json or vocab.txt, found none); "
        "pass --tokenizer PATH"
    )):
        read_checkpoint(folder)
    assert read_checkpoint(folder, tokenizer=tiny_mobilebert_dir).tokenizer_path == tiny_mobilebert_dir


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "checkpoint {f}: no such folder; pass the folder written by 'mobilebert-edge train' or by save_pretrained"),
        ("file", "checkpoint {f}: not a folder"),
        ("empty", "checkpoint {f}: config.json is missing"),
        ("base-model", "checkpoint {f}: not a sequence-classification model (expected an architecture ending in "
                       "ForSequenceClassification, found BertModel)"),
        ("no-weights", "checkpoint {f}: no model weights"),
    ],
)
def test_bad_checkpoint_folders(tmp_path: Path, tiny_mobilebert_dir: Path, setup: str, message: str):
    folder = tmp_path / "ckpt"
    if setup == "file":
        folder.write_text("x")
    elif setup == "empty":
        folder.mkdir()
    elif setup in ("base-model", "no-weights"):
        shutil.copytree(tiny_mobilebert_dir, folder)
        if setup == "base-model":
            config = json.loads((folder / "config.json").read_text())
            config["architectures"] = ["BertModel"]
            (folder / "config.json").write_text(json.dumps(config))
        else:
            (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=re.escape(message.format(f=folder))):
        export_bundle(folder, tmp_path / "out", log=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_overwrite_rules(tmp_path: Path, tiny_bundle_fp32: Path, tiny_mobilebert_dir: Path):
    out = tmp_path / "bundle"
    shutil.copytree(tiny_bundle_fp32, out)
    with pytest.raises(ExportError, match=re.escape(f"output {out} already exists; pass --overwrite")):
        export_bundle(tiny_mobilebert_dir, out, log=lambda _: None)
    old = (out / "manifest.json").read_text()
    export_bundle(tiny_mobilebert_dir, out, precision="fp32", optimize=False, max_length=32, overwrite=True,
                  log=lambda _: None)
    assert (out / "manifest.json").read_text() != old
    assert json.loads((out / "manifest.json").read_text())["tokenizer"]["max_length"] == 32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no temporary folders left
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match=re.escape(f"output {precious} exists and is not a bundle")):
        export_bundle(tiny_mobilebert_dir, precious, overwrite=True, log=lambda _: None)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_unknown_precision(tmp_path: Path, tiny_mobilebert_dir: Path):
    with pytest.raises(EdgeError, match=re.escape("unknown precision (expected int8 | fp32, found 'fp16')")):
        export_bundle(tiny_mobilebert_dir, tmp_path / "b", precision="fp16")
