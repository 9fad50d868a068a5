"""fp32 ONNX graph vs PyTorch: parity at batch 1 and batch N, dynamic axes, validation failures."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from mobilebert_edge.export import evaluate, validate
from mobilebert_edge.export.checkpoint import load_model, load_tokenizer, read_checkpoint
from mobilebert_edge.export.encode import Encoder
from mobilebert_edge.export.errors import ExportValidationError, OutputNamesError, OutputShapeError, OutputValuesError
from mobilebert_edge.export.onnx_export import export_onnx

TEXTS = [
    "A wonderful film.",
    "Dull, predictable and far too long; I want my two hours back and my popcorn money too.",
    "ok",
    "The plot made no sense<br /><br />but the music was lovely.",
    "Une belle surprise, naïve et touchante. 🎬 " * 3,
]


def hf_logits_and_onnx(folder: Path, onnx_path: Path, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Logits of the transformers model and of the ONNX graph on the same padded batch."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        reference = model(**batch).logits.numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feed = {item.name: batch[item.name].numpy() for item in session.get_inputs()}
    return reference, session.run(None, feed)[0]


@pytest.fixture(scope="module")
def minilm_classifier(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """The pretrained MiniLM with a random 2-label classification head, saved with save_pretrained."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("minilm-classifier")
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_labels=2, id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1}
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory, tiny_mobilebert_dir: Path):
    """A raw fp32 export of the tiny MobileBERT, with the objects needed to validate it."""
    ckpt = read_checkpoint(tiny_mobilebert_dir, max_length=64)
    model = load_model(ckpt)
    encoder = Encoder(load_tokenizer(ckpt), 64)
    path = tmp_path_factory.mktemp("tiny-onnx") / "fp32.onnx"
    names = export_onnx(model, encoder.batch(TEXTS[:2]), path)
    return model, names, encoder, path


@pytest.mark.parametrize("texts", [TEXTS, TEXTS[1:2], TEXTS[2:3]], ids=["batch-n-mixed", "batch-1-long", "batch-1-short"])
def test_tiny_mobilebert_fp32_bundle_matches_pytorch(tiny_bundle_fp32: Path, tiny_mobilebert_dir: Path, texts):
    reference, found = hf_logits_and_onnx(tiny_mobilebert_dir, tiny_bundle_fp32 / "model.onnx", texts)
    assert found.shape == reference.shape == (len(texts), 2)
    np.testing.assert_allclose(found, reference, rtol=0, atol=1e-4)
    assert np.abs(reference).max() > 1e-2  # the logits are not trivially zero


def test_minilm_fp32_graphs_match_pytorch(tmp_path: Path, minilm_classifier: Path):
    """The raw export and the fused graph export_bundle ships both match PyTorch (pretrained weights)."""
    from mobilebert_edge.export.optimize import optimize

    ckpt = read_checkpoint(minilm_classifier, max_length=128)
    encoder = Encoder(load_tokenizer(ckpt), 128)
    export_onnx(load_model(ckpt), encoder.batch(TEXTS[:2]), tmp_path / "raw.onnx")
    info = optimize(tmp_path / "raw.onnx", tmp_path / "fused.onnx", ckpt.config)
    assert info["applied"] and info["fused"]["Attention"] == 6
    for graph in ("raw.onnx", "fused.onnx"):
        for texts in (TEXTS, TEXTS[:1], TEXTS[3:4]):
            reference, found = hf_logits_and_onnx(minilm_classifier, tmp_path / graph, texts)
            np.testing.assert_allclose(found, reference, rtol=0, atol=1e-4)


def test_graph_has_dynamic_batch_and_sequence_axes(tiny_onnx):
    _, names, _, path = tiny_onnx
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == names == ["input_ids", "attention_mask", "token_type_ids"]
    for item in graph.input:
        dims = item.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"]
    assert [o.name for o in graph.output] == ["logits"]


def test_validate_accepts_the_export(tiny_onnx):
    model, names, encoder, path = tiny_onnx
    result = validate.validate(validate.Reference(model, names, encoder), evaluate.session(path), TEXTS)
    assert result["batch_1_max_abs_diff"] <= 1e-4 and result["batch_n_max_abs_diff"] <= 1e-4


def _edit(path: Path, out: Path, change) -> Path:
    graph_model = onnx.load(str(path))
    change(graph_model.graph)
    onnx.save(graph_model, str(out))
    return out


def test_perturbed_initializer_fails_value_check(tiny_onnx, tmp_path: Path):
    model, names, encoder, path = tiny_onnx

    def perturb(graph):
        target = max(graph.initializer, key=lambda init: int(np.prod(init.dims)) if init.data_type == 1 else 0)
        array = numpy_helper.to_array(target).copy()
        array += 0.5
        target.CopyFrom(numpy_helper.from_array(array, target.name))

    bad = _edit(path, tmp_path / "bad.onnx", perturb)
    with pytest.raises(OutputValuesError, match=re.escape("exported ONNX logits differ from PyTorch (batch of 5 mixed lengths) (expected max abs difference <= 0.0001")):
        validate.validate(validate.Reference(model, names, encoder), evaluate.session(bad), TEXTS)


def test_renamed_output_fails_name_check(tiny_onnx, tmp_path: Path):
    model, names, encoder, path = tiny_onnx

    def rename(graph):
        for node in graph.node:
            node.output[:] = ["scores" if o == "logits" else o for o in node.output]
        graph.output[0].name = "scores"

    bad = _edit(path, tmp_path / "bad.onnx", rename)
    with pytest.raises(OutputNamesError, match=re.escape("exported ONNX graph has unexpected outputs (expected ['logits'], found ['scores'])")):
        validate.validate(validate.Reference(model, names, encoder), evaluate.session(bad), TEXTS)


def test_wrong_output_shape_fails_shape_check(tiny_onnx, tmp_path: Path):
    model, names, encoder, path = tiny_onnx

    def flatten(graph):
        for node in graph.node:
            node.output[:] = ["logits_2d" if o == "logits" else o for o in node.output]
        graph.node.append(onnx.helper.make_node("Flatten", ["logits_2d"], ["logits"], axis=0))
        graph.output[0].type.tensor_type.shape.Clear()

    bad = _edit(path, tmp_path / "bad.onnx", flatten)
    with pytest.raises(OutputShapeError, match=re.escape("exported ONNX logits have the wrong shape (batch of 5 mixed lengths) (expected (5, 2), found (1, 10))")):
        validate.validate(validate.Reference(model, names, encoder), evaluate.session(bad), TEXTS)


def test_failed_validation_stops_export_and_leaves_nothing(tmp_path: Path, tiny_mobilebert_dir: Path, monkeypatch):
    import mobilebert_edge.export.pipeline as pipeline

    real_export = pipeline.export_onnx

    def broken_export(model, sample, out, opset=18):
        names = real_export(model, sample, out, opset)
        graph_model = onnx.load(str(out))
        init = next(i for i in graph_model.graph.initializer if i.data_type == 1 and int(np.prod(i.dims)) > 100)
        init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 3.0, init.name))
        onnx.save(graph_model, str(out))
        return names

    monkeypatch.setattr(pipeline, "export_onnx", broken_export)
    parent = tmp_path / "out"
    parent.mkdir()
    with pytest.raises(ExportValidationError, match=re.escape("exported ONNX logits differ from PyTorch")):
        pipeline.export_bundle(tiny_mobilebert_dir, parent / "bundle", log=lambda _: None)
    assert list(parent.iterdir()) == []  # no bundle, no temporary folders


def _nonzero_pad_copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    model = AutoModelForSequenceClassification.from_pretrained(dst)
    pad = model.config.pad_token_id
    with torch.no_grad():
        model.mobilebert.embeddings.word_embeddings.weight[pad] = torch.randn(model.config.embedding_size) * 0.5
    model.save_pretrained(dst)
    return dst


def test_padding_effect_is_measured(tiny_onnx, tmp_path: Path, tiny_mobilebert_dir: Path):
    _, _, encoder, path = tiny_onnx
    texts = TEXTS[:4]  # all shorter than max_length: their dynamic padding differs from padding to 64
    assert max(len(encoder.ids(text)) for text in texts) < encoder.max_length
    clean = validate.padding_effect(evaluate.session(path), encoder, texts)
    assert clean["dynamic_vs_max_length_max_logit_change"] < 1e-4  # zero [PAD] row: padding-invariant

    folder = _nonzero_pad_copy(tiny_mobilebert_dir, tmp_path / "pad")
    ckpt = read_checkpoint(folder, max_length=64)
    model = load_model(ckpt)
    names = export_onnx(model, encoder.batch(TEXTS[:2]), tmp_path / "pad.onnx")
    session = evaluate.session(tmp_path / "pad.onnx")
    # identical padding still matches PyTorch ...
    validate.validate(validate.Reference(model, names, encoder), session, TEXTS)
    # ... but the [PAD] embedding next to the last token changes the logits with the padding length
    effect = validate.padding_effect(session, encoder, texts)
    assert effect["dynamic_vs_max_length_max_logit_change"] > 1e-3
