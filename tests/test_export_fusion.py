"""The MobileBERT graph pass (export/fusion): structure (fused op counts) and exact parity with PyTorch."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from conftest import TINY_LABELS, build_tiny_mobilebert
from mobilebert_edge.export import evaluate, validate
from mobilebert_edge.export.checkpoint import load_model, load_tokenizer, read_checkpoint
from mobilebert_edge.export.encode import Encoder
from mobilebert_edge.export.fusion import fuse_mobilebert
from mobilebert_edge.export.onnx_export import export_onnx

TEXTS = [
    "A wonderful film.",
    "Dull, predictable and far too long; I want my two hours back and my popcorn money too.",
    "ok",
    "The plot made no sense<br /><br />but the music was lovely. " * 4,
]


def nonorm_count(config) -> int:
    """NoNorms of a MobileBERT: the embeddings' one, and per layer the two bottlenecks, attention output,
    every feed-forward block's output and the output bottleneck."""
    return 1 + config.num_hidden_layers * (4 + config.num_feedforward_networks)


def randomize_nonorm(model, seed: int = 1, zero_gain: bool = False) -> None:
    """NoNorm gains of both signs in [0.5, 1.5] and nonzero shifts (fresh models have 1 and 0, which hide
    a wrong fold); ``zero_gain`` zeroes one channel of every gain."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".LayerNorm." not in name:
                continue
            if name.endswith("weight"):
                sign = torch.randint(0, 2, parameter.shape, generator=generator) * 2 - 1
                parameter.copy_((torch.rand(parameter.shape, generator=generator) + 0.5) * sign)
                if zero_gain:
                    parameter[0] = 0.0
            else:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)


def export_raw(folder: Path, out: Path, **randomize):
    """Raw fp32 export of the checkpoint at ``folder`` with randomized NoNorm; returns (reference, path, config)."""
    ckpt = read_checkpoint(folder, max_length=64)
    model = load_model(ckpt)
    randomize_nonorm(model, **randomize)
    encoder = Encoder(load_tokenizer(ckpt), 64)
    names = export_onnx(model, encoder.batch(TEXTS[:2]), out)
    return validate.Reference(model, names, encoder), out, model.config


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory: pytest.TempPathFactory, tiny_mobilebert_dir: Path):
    return export_raw(tiny_mobilebert_dir, tmp_path_factory.mktemp("fusion") / "raw.onnx")


def ops(path: Path) -> Counter:
    return Counter(node.op_type for node in onnx.load(str(path)).graph.node)


def test_fused_graph_has_one_attention_per_layer_and_no_nonorm(tiny_raw, tmp_path: Path):
    reference, raw, config = tiny_raw
    info = fuse_mobilebert(raw, tmp_path / "fused.onnx", config.num_attention_heads)
    assert info["fused"] == {"MultiHeadAttention": config.num_hidden_layers, "NoNorm folded": nonorm_count(config)}
    before, after = ops(raw), ops(tmp_path / "fused.onnx")
    assert after["MultiHeadAttention"] == config.num_hidden_layers
    assert before["Softmax"] == config.num_hidden_layers and after["Softmax"] == 0
    assert before["Mul"] >= nonorm_count(config) and after["Mul"] == 0  # NoNorm's multiplies, the mask's scaling
    assert after["MatMul"] == before["MatMul"] - 2 * config.num_hidden_layers  # scores and context products
    assert info["nodes_after"] == sum(after.values()) < info["nodes_before"] / 2


def test_fused_graph_matches_pytorch(tiny_raw, tmp_path: Path):
    """The existing parity check (batch N of mixed lengths, batch 1, padded to max_length) within 1e-4."""
    reference, raw, config = tiny_raw
    fuse_mobilebert(raw, tmp_path / "fused.onnx", config.num_attention_heads)
    result = validate.validate(reference, evaluate.session(tmp_path / "fused.onnx"), TEXTS, atol=1e-4)
    assert max(result["batch_1_max_abs_diff"], result["batch_n_max_abs_diff"]) <= 1e-4
    logits = evaluate.run(evaluate.session(tmp_path / "fused.onnx"), reference.encoder.batch(TEXTS))
    assert np.ptp(logits[:, 0]) > 1e-2  # texts get different logits: the comparison is not vacuous


def test_a_zero_gain_keeps_the_residual_in_float_and_stays_exact(tiny_mobilebert_dir: Path, tmp_path: Path):
    """A NoNorm gain with a zero channel cannot divide a residual's weights: that residual is read back as
    its true value (one Mul and Add) and the graph still matches PyTorch."""
    reference, raw, config = export_raw(tiny_mobilebert_dir, tmp_path / "raw.onnx", zero_gain=True)
    info = fuse_mobilebert(raw, tmp_path / "fused.onnx", config.num_attention_heads)
    assert info["fused"]["NoNorm folded"] == nonorm_count(config)
    assert ops(tmp_path / "fused.onnx")["Mul"] > 0
    validate.validate(reference, evaluate.session(tmp_path / "fused.onnx"), TEXTS, atol=1e-4)


def test_int8_bundle_runs_fused_attention(tiny_bundle: Path):
    """The default export applies the pass before quantizing: int8 projections feed fp32 MultiHeadAttention."""
    manifest = json.loads((tiny_bundle / "manifest.json").read_text(encoding="utf-8"))
    optimization = manifest["report"]["optimization"]
    assert optimization["applied"] and optimization["pass"] == "mobilebert-fusion"
    stored = ops(tiny_bundle / "model.onnx")
    layers = optimization["fused"]["MultiHeadAttention"]
    assert layers == 2 and stored["MultiHeadAttention"] == layers and stored["Softmax"] == 0
    quantized = manifest["report"]["quantization"]
    assert quantized["attention_fp32"] == layers and quantized["attention_stored"] == {"MultiHeadAttention": layers}
    assert quantized["weight_matmuls_left_fp32"] == 0
    gemms = 2  # the pooler and the classifier
    assert quantized["integer_ops"]["MatMulIntegerToFloat"] == quantized["weight_matmuls_fp32"] + gemms \
        == stored["MatMulIntegerToFloat"]


def test_no_optimize_skips_the_pass(tiny_mobilebert_dir: Path, tmp_path: Path):
    from mobilebert_edge.export import export_bundle

    report = export_bundle(tiny_mobilebert_dir, tmp_path / "plain", precision="fp32", optimize=False, log=lambda _: None)
    assert report["optimization"] == {"applied": False, "reason": "disabled"}
    stored = ops(tmp_path / "plain" / "model.onnx")
    assert stored["MultiHeadAttention"] == 0 and stored["Softmax"] == 2


@pytest.mark.slow
def test_full_size_mobilebert_fused_graph_matches_pytorch(tmp_path: Path):
    """``MobileBertConfig()`` defaults (24 layers, 4 feed-forward blocks), NoNorm randomized."""
    from bench.models import full_size_mobilebert

    folder = full_size_mobilebert(tmp_path / "mobilebert")
    reference, raw, config = export_raw(folder, tmp_path / "raw.onnx")
    info = fuse_mobilebert(raw, tmp_path / "fused.onnx", config.num_attention_heads)
    assert info["fused"] == {"MultiHeadAttention": 24, "NoNorm folded": nonorm_count(config)}
    validate.validate(reference, evaluate.session(tmp_path / "fused.onnx"), TEXTS, atol=1e-4)


def _without_attention_kernel(bundle: Path, op: str) -> None:
    """Rename the bundle's MultiHeadAttention nodes to ``op`` (an op this onnxruntime lacks) and re-hash."""
    from edge_runtime.bundle import write_manifest

    model = onnx.load(str(bundle / "model.onnx"))
    for node in model.graph.node:
        if node.op_type == "MultiHeadAttention":
            node.op_type = op
    onnx.save(model, str(bundle / "model.onnx"))
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    manifest["model"]["contrib_ops"] = sorted({*manifest["model"]["contrib_ops"], op} - {"MultiHeadAttention"})
    write_manifest(bundle, manifest)


def test_manifest_names_the_graph_pass_and_contrib_ops(tiny_bundle: Path):
    model = json.loads((tiny_bundle / "manifest.json").read_text(encoding="utf-8"))["model"]
    assert model["graph_pass"] == "mobilebert-fusion"
    assert model["contrib_ops"] == ["MatMulIntegerToFloat", "MultiHeadAttention"]


def test_check_names_the_op_an_older_onnxruntime_lacks(tiny_bundle: Path, tmp_path: Path, capsys, monkeypatch):
    """onnxruntime's own refusal of an unknown op becomes one line naming the op and the export option."""
    import onnxruntime as ort

    from mobilebert_edge.cli import main
    from runtime_helpers import copy_bundle

    bundle = copy_bundle(tiny_bundle, tmp_path / "bundle")
    _without_attention_kernel(bundle, "MultiHeadAttentionV2")  # a real onnxruntime error for a missing op
    assert main(["check", str(bundle)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: bundle {bundle}: onnxruntime {ort.__version__} has no operator MultiHeadAttentionV2, which model.onnx "
        "uses (made by the export's graph pass mobilebert-fusion); upgrade onnxruntime on this device to the version "
        "that exported the bundle (manifest.json versions), or re-export it on the device's onnxruntime")

    def older(*args, **kwargs):  # what an onnxruntime without the kernel says (its message, verbatim)
        raise RuntimeError("[ONNXRuntimeError] : 1 : FAIL : Load model from model.onnx failed:Fatal error: "
                           "com.microsoft:MultiHeadAttention(-1) is not a registered function/op")

    monkeypatch.setattr(ort, "InferenceSession", older)
    assert main(["check", str(copy_bundle(tiny_bundle, tmp_path / "other"))]) == 1
    error = capsys.readouterr().err.strip()
    assert error.endswith("has no operator MultiHeadAttention, which model.onnx uses (made by the export's graph pass "
                          "mobilebert-fusion); upgrade onnxruntime on this device to the version that exported the "
                          "bundle (manifest.json versions), or re-export it with --no-optimize")
    assert error.count("\n") == 0


def test_other_load_failures_keep_their_message(tiny_bundle: Path, tmp_path: Path, capsys):
    from mobilebert_edge.cli import main
    from runtime_helpers import copy_bundle

    bundle = copy_bundle(tiny_bundle, tmp_path / "bundle")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    (bundle / "model.onnx").write_bytes(b"not a model")
    from edge_runtime.bundle import write_manifest

    write_manifest(bundle, manifest)
    assert main(["check", str(bundle)]) == 1
    assert "onnxruntime cannot load model.onnx" in capsys.readouterr().err


def test_smoothing_folds_into_the_kernels_that_compute_it(tiny_mobilebert_dir: Path, tmp_path: Path, monkeypatch):
    """Static int8 divides the bottleneck attention output, the attention output (through V) and each
    feed-forward intermediate (through Relu) by its smoothing factors inside their integer kernels:
    no Mul left for them, and the same probabilities as with the Muls."""
    from edge_runtime import Classifier
    from mobilebert_edge.export import export_bundle
    from mobilebert_edge.export.fusion import scales

    report = export_bundle(tiny_mobilebert_dir, tmp_path / "folded", log=lambda _: None)
    smoothing = report["quantization"]["smoothing"]
    layers, blocks = 2, 2  # the tiny fixture's layers and feed-forward blocks
    assert smoothing["folded_into_kernels"] == layers * (2 + blocks)
    assert ops(tmp_path / "folded" / "model.onnx")["Mul"] == smoothing["activations"] - smoothing["folded_into_kernels"]
    monkeypatch.setattr(scales, "fold_smoothing", lambda graph: 0)
    export_bundle(tiny_mobilebert_dir, tmp_path / "muls", log=lambda _: None)
    assert ops(tmp_path / "muls" / "model.onnx")["Mul"] == smoothing["activations"]
    folded, muls = (Classifier.load(tmp_path / name).predict_proba(TEXTS) for name in ("folded", "muls"))
    np.testing.assert_allclose(folded, muls, rtol=0, atol=1e-4)


def test_a_fused_graph_onnxruntime_cannot_run_is_not_applied(tiny_raw, tmp_path: Path):
    """A wrong head count (3, which does not divide the 32-wide projections) leaves the graph unfused with
    the reason, instead of failing the export."""
    _, raw, config = tiny_raw
    info = fuse_mobilebert(raw, tmp_path / "fused.onnx", 3)
    assert not info["applied"] and info["reason"].startswith("onnxruntime cannot run the fused graph (")
    assert fuse_mobilebert(raw, tmp_path / "fused.onnx", config.num_attention_heads)["applied"]
