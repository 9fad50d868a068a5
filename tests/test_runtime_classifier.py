"""Classifier: parity with a direct onnxruntime run, batching invariance, order, input checks."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import copy_bundle, load_manifest, softmax, varied_texts

from edge_runtime import Classifier, Prediction
from edge_runtime.bundle import write_manifest
from edge_runtime.errors import BundleError, InputError

TEXTS = [text for text in varied_texts() if text.strip()][:60]  # blank texts: test_runtime_empty_text.py


@pytest.fixture(scope="module")
def clf(tiny_bundle_fp32: Path) -> Classifier:
    return Classifier.load(tiny_bundle_fp32, threads=1)


@pytest.fixture(scope="module")
def hf_tokenizer(tiny_mobilebert_dir: Path):
    """The transformers tokenizer of the model the bundle was exported from (the reference)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_mobilebert_dir)


def test_probabilities_equal_a_direct_onnxruntime_run(clf, tiny_bundle_fp32, hf_tokenizer):
    import onnxruntime as ort

    session = ort.InferenceSession(str(tiny_bundle_fp32 / "model.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    expected = []
    for text in TEXTS:  # one at a time: no padding at all
        enc = hf_tokenizer(text, truncation=True, max_length=clf.max_length, return_tensors="np")
        (logits,) = session.run(None, {name: enc[name].astype(np.int64) for name in names})
        expected.append(softmax(logits)[0])
    np.testing.assert_allclose(clf.predict_proba(TEXTS, batch_size=8), np.array(expected), atol=1e-5)


def test_probabilities_match_pytorch(clf, tiny_mobilebert_dir, hf_tokenizer, tiny_bundle_fp32):
    import torch
    from transformers import AutoModelForSequenceClassification

    if load_manifest(tiny_bundle_fp32).get("model", {}).get("precision", "fp32") != "fp32":
        pytest.skip("needs the fp32 bundle")
    model = AutoModelForSequenceClassification.from_pretrained(tiny_mobilebert_dir).eval()
    with torch.no_grad():
        expected = [
            torch.softmax(model(**hf_tokenizer(t, truncation=True, max_length=clf.max_length, return_tensors="pt")).logits, -1)[0].numpy()
            for t in TEXTS[:20]
        ]
    np.testing.assert_allclose(clf.predict_proba(TEXTS[:20]), np.array(expected), atol=1e-4)


def test_batch_of_one_equals_batch_of_n(clf):
    single = np.vstack([clf.predict_proba([t], batch_size=1) for t in TEXTS])
    for batch_size in (1, 7, 64):
        np.testing.assert_allclose(clf.predict_proba(TEXTS, batch_size=batch_size), single, atol=1e-5)


def test_order_is_input_order_with_shuffled_lengths(clf):
    texts = [("word " * n).strip() or "x" for n in range(1, 40)]
    random.Random(1).shuffle(texts)
    reference = {t: clf.predict_proba([t])[0] for t in texts}
    proba = clf.predict_proba(texts, batch_size=4)
    np.testing.assert_allclose(proba, np.array([reference[t] for t in texts]), atol=1e-5)
    assert len({tuple(np.round(row, 6)) for row in proba}) > 10  # the texts really score differently


def test_string_vs_list_and_prediction_fields(clf):
    one = clf.predict("a great film")
    many = clf.predict(["a great film", "dull"])
    assert isinstance(one, Prediction) and many[0] == one
    assert list(one.probabilities) == clf.labels == ["negative", "positive"]
    assert one.label == max(one.probabilities, key=one.probabilities.get)
    assert one.score == one.probabilities[one.label]
    assert sum(one.probabilities.values()) == pytest.approx(1.0, abs=1e-12)
    assert clf.predict(("a great film", "dull")) == many


def test_iter_proba_streams_in_order(clf):
    chunks = list(clf.iter_proba(iter(TEXTS), batch_size=4, chunk_size=16))
    assert [len(c) for c in chunks] == [16, 16, 16, 12]
    np.testing.assert_allclose(np.vstack(chunks), clf.predict_proba(TEXTS), atol=1e-5)
    assert list(clf.iter_proba([])) == []


def test_input_checks(clf):
    assert clf.predict([]) == []
    assert clf.predict_proba([]).shape == (0, 2)
    with pytest.raises(InputError, match=re.escape("text 2 is not a string (expected str, found NoneType)")):
        clf.predict(["a", "b", None])
    with pytest.raises(InputError, match=re.escape("text 21 is not a string (expected str, found bytes)")):
        list(clf.iter_proba(["a"] * 21 + [b"x"], batch_size=2, chunk_size=5))
    with pytest.raises(InputError, match=re.escape("texts must be a string or a list of strings (expected str or list[str], found int)")):
        clf.predict(5)
    with pytest.raises(InputError, match=re.escape("batch_size must be a positive integer (expected >= 1, found 0)")):
        clf.predict(["a"], batch_size=0)
    with pytest.raises(InputError, match=re.escape("text 3 is not valid Unicode (a lone surrogate at character 2)")):
        list(clf.iter_proba(["a", "b", "c", "ok\udcff"], chunk_size=2))


def test_bad_tokenizer_settings_are_a_bundle_error(tiny_bundle_fp32, tmp_path):
    bundle = copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")
    manifest = load_manifest(bundle)
    manifest["tokenizer"]["truncation"] = {"rule": "middle", "head_tokens": None}
    write_manifest(bundle, manifest)
    message = f"bundle {bundle}: manifest.json: tokenizer.truncation.rule is not a known value (expected head | tail | head_tail"
    with pytest.raises(BundleError, match=re.escape(message)):
        Classifier.load(bundle)
    manifest["tokenizer"]["truncation"] = {"rule": "head_tail", "head_tokens": 10_000}
    write_manifest(bundle, manifest)
    message = f"bundle {bundle}: bad tokenizer settings in manifest.json: head_tokens out of range"
    with pytest.raises(BundleError, match=re.escape(message)):
        Classifier.load(bundle)


def test_tokenizer_ids_follow_the_manifest_truncation(tiny_bundle_fp32, tmp_path, hf_tokenizer):
    bundle = copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")
    manifest = load_manifest(bundle)
    manifest["tokenizer"] = {**manifest["tokenizer"], "max_length": 10, "truncation": {"rule": "tail", "head_tokens": None}}
    write_manifest(bundle, manifest)
    ids = Classifier.load(bundle).tokenizer_ids(["one two three four five six seven eight nine ten eleven"])[0]
    words = hf_tokenizer("four five six seven eight nine ten eleven", add_special_tokens=False)["input_ids"]
    assert ids == [hf_tokenizer.cls_token_id, *words, hf_tokenizer.sep_token_id]


def _constant_model(path: Path, inputs: list[str]) -> None:
    """An ONNX graph with only the given inputs: logits = [sum(mask), sum(ids * mask) / 1000]."""
    import onnx
    from onnx import TensorProto, helper

    graph_inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"]) for n in inputs]
    nodes = [
        helper.make_node("Mul", ["input_ids", "attention_mask"], ["masked"]),
        helper.make_node("Concat", ["attention_mask", "masked"], ["both"], axis=1),
        helper.make_node("Cast", ["both"], ["both_f"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["both_f", "shape"], ["split"]),
        helper.make_node("ReduceSum", ["split", "axes"], ["sums"], keepdims=0),
        helper.make_node("Mul", ["sums", "scale"], ["logits"]),
    ]
    init = [
        helper.make_tensor("shape", TensorProto.INT64, [3], [0, 2, -1]),
        helper.make_tensor("axes", TensorProto.INT64, [1], [2]),
        helper.make_tensor("scale", TensorProto.FLOAT, [2], [1.0, 0.001]),
    ]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 2])
    model = helper.make_model(helper.make_graph(nodes, "g", graph_inputs, [out], init), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)


def test_feed_follows_the_declared_inputs(tiny_bundle_fp32, tmp_path):
    """A graph without token_type_ids gets no token_type_ids; padding never reaches the sums."""
    bundle = copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")
    _constant_model(bundle / "model.onnx", ["input_ids", "attention_mask"])
    manifest = load_manifest(bundle)
    manifest["model"] = {**manifest["model"], "inputs": ["input_ids", "attention_mask"], "output": "logits"}
    write_manifest(bundle, manifest)
    clf = Classifier.load(bundle)
    texts = ["hello world", "a much longer text than the first one", "a"]
    ids = clf.tokenizer_ids(texts)
    logits_from_softmax = np.log(clf.predict_proba(texts, batch_size=3))
    differences = logits_from_softmax[:, 1] - logits_from_softmax[:, 0]
    expected = [sum(row) / 1000 - len(row) for row in ids]  # log-odds, padding excluded
    np.testing.assert_allclose(differences, expected, rtol=1e-6)


def test_model_that_does_not_fit_the_manifest_is_refused(tiny_bundle_fp32, tmp_path):
    bundle = copy_bundle(tiny_bundle_fp32, tmp_path / "bundle")
    manifest = load_manifest(bundle)
    without_golden = {key: value for key, value in manifest.items() if key != "golden"}  # by name: a, b, c
    write_manifest(bundle, {**without_golden, "labels": ["a", "b", "c"]})
    message = f"bundle {bundle}: the model's output 'logits' does not match the 3 labels (expected shape [batch, 3], found shape "
    with pytest.raises(BundleError, match=re.escape(message)):
        Classifier.load(bundle)

    _constant_model(bundle / "model.onnx", ["input_ids", "attention_mask", "position_ids"])
    write_manifest(bundle, manifest)
    message = (
        f"bundle {bundle}: the model has an input this runtime cannot feed "
        "(expected int64/int32 inputs among input_ids, attention_mask, token_type_ids, found position_ids tensor(int64))"
    )
    with pytest.raises(BundleError, match=re.escape(message)):
        Classifier.load(bundle)


def test_a_stored_optimized_graph_is_not_optimized_again(tiny_bundle: Path, tmp_path: Path):
    import onnxruntime as ort

    assert load_manifest(tiny_bundle)["model"]["optimization_level"] == "extended"
    level = Classifier.load(tiny_bundle).session.get_session_options().graph_optimization_level
    assert level == ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    bundle = copy_bundle(tiny_bundle, tmp_path / "bundle")  # a bundle that does not say so is fully optimized
    manifest = load_manifest(bundle)
    del manifest["model"]["optimization_level"]
    write_manifest(bundle, manifest)
    level = Classifier.load(bundle).session.get_session_options().graph_optimization_level
    assert level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
