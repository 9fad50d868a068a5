"""BERT-like graphs (MiniLM): onnxruntime's fusions with the residual adds left as Add + LayerNormalization
(its CPU SkipLayerNormalization is slower than the pair), kept apart in the stored graph."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_export_onnx import TEXTS, minilm_classifier  # noqa: F401 - a fixture

from mobilebert_edge.export import evaluate, validate
from mobilebert_edge.export import optimize as optimize_mod
from mobilebert_edge.export.checkpoint import load_model, load_tokenizer, read_checkpoint
from mobilebert_edge.export.encode import Encoder
from mobilebert_edge.export.onnx_export import export_onnx
from mobilebert_edge.export.quantize import op_counts

LAYERS = 6


@pytest.fixture(scope="module")
def minilm_raw(tmp_path_factory: pytest.TempPathFactory, minilm_classifier: Path):  # noqa: F811
    ckpt = read_checkpoint(minilm_classifier, max_length=128)
    encoder = Encoder(load_tokenizer(ckpt), 128)
    raw = tmp_path_factory.mktemp("minilm-raw") / "raw.onnx"
    model = load_model(ckpt)
    names = export_onnx(model, encoder.batch(TEXTS[:2]), raw)
    return raw, ckpt.config, validate.Reference(model, names, encoder)


def stored_graph(raw: Path, config: dict, folder: Path) -> Path:
    """The graph export stores (fp32): onnxruntime's fusions, then baked at the stored level."""
    info = optimize_mod.optimize(raw, folder / "fused.onnx", config)
    assert info["applied"] and info["fused"]["Attention"] == LAYERS
    optimize_mod.bake(folder / "fused.onnx", folder / "stored.onnx")
    return folder / "stored.onnx"


def test_stored_minilm_graph_has_add_and_layer_norm_not_skip_layer_norm(minilm_raw, tmp_path: Path):
    """Two LayerNormalization per layer after its residual Add, none fused, and the stored graph, loaded as the
    runtime loads it (no further optimization), matches PyTorch within 1e-4 (the export's parity check)."""
    raw, config, reference = minilm_raw
    stored = stored_graph(raw, config, tmp_path)
    ops = op_counts(stored)
    assert ops["SkipLayerNormalization"] == 0 and ops["LayerNormalization"] == 2 * LAYERS
    assert ops["Attention"] == LAYERS and ops["EmbedLayerNormalization"] == 1 and ops["BiasGelu"] == LAYERS
    validate.validate(reference, evaluate.session(stored, level=optimize_mod.LOAD_LEVEL_BAKED), TEXTS, atol=1e-4)


def test_fusing_skip_layer_norm_gives_one_per_residual(minilm_raw, tmp_path: Path, monkeypatch):
    """The other side: with the fusion on, the optimizer and the stored level make SkipLayerNormalization."""
    raw, config, _ = minilm_raw
    monkeypatch.setattr(optimize_mod, "FUSE_SKIP_LAYER_NORM", True)
    ops = op_counts(stored_graph(raw, config, tmp_path))
    assert ops["SkipLayerNormalization"] == 2 * LAYERS and ops["LayerNormalization"] == 0
