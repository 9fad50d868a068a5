"""int8 quantization: graph structure, bounded difference from fp32, and the accuracy gate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from mobilebert_edge.export import export_bundle
from mobilebert_edge.export.errors import QualityGateError
from mobilebert_edge.cli import main

TEXTS = [
    "A wonderful film: moving, funny and beautifully acted.",
    "Dull, predictable and far too long. I want my two hours back.",
    "It was fine.",
    "The plot made no sense, but the music was lovely and the cast clearly had fun.",
    "Worst. Movie. Ever.",
    "I didn't expect much, yet by the end I was in tears.<br /><br />Highly recommended.",
    "meh",
    "An overlong, self-indulgent mess with one great scene. " * 6,
]


def weight_matmuls(graph: onnx.GraphProto) -> int:
    constants = {init.name for init in graph.initializer}
    return sum(1 for node in graph.node if node.op_type == "MatMul" and node.input[1] in constants)


def test_int8_bundle_has_integer_matmuls_only(tiny_bundle: Path, tiny_bundle_fp32: Path):
    fp32 = onnx.load(str(tiny_bundle_fp32 / "model.onnx")).graph
    int8 = onnx.load(str(tiny_bundle / "model.onnx")).graph
    ops = [node.op_type for node in int8.node]
    assert weight_matmuls(fp32) == 23  # 2 MobileBERT layers + pooler + classifier
    # every weight MatMul is int8: one fused integer kernel each, fed by a QuantizeLinear with calibrated constants
    assert weight_matmuls(int8) == 0
    assert ops.count("MatMulIntegerToFloat") == weight_matmuls(fp32) + 2  # + the pooler's and classifier's Gemm
    assert "DynamicQuantizeLinear" not in ops and "MatMulInteger" not in ops and "QuantizeLinear" in ops
    constants = {init.name for init in int8.initializer}
    assert all(set(node.input[1:]) <= constants for node in int8.node if node.op_type == "QuantizeLinear")
    # each kernel adds its projection's bias itself: no Add of a constant right after one
    kernels = [node for node in int8.node if node.op_type == "MatMulIntegerToFloat"]
    assert all(len(node.input) == 7 and node.input[6] in constants for node in kernels)
    kernel_outputs = {node.output[0] for node in kernels}
    assert not [node.name for node in int8.node if node.op_type == "Add" and set(node.input) & kernel_outputs
                and set(node.input) & constants]
    # int8 weights are stored as int8 initializers and the file shrank
    assert any(init.data_type == onnx.TensorProto.INT8 for init in int8.initializer)
    # (the small test vocabulary leaves the embedding table small, so the float parts weigh more)
    assert (tiny_bundle / "model.onnx").stat().st_size < 0.6 * (tiny_bundle_fp32 / "model.onnx").stat().st_size
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    report = manifest["report"]["quantization"]
    assert report["weight_matmuls_fp32"] == 23 and report["weight_matmuls_left_fp32"] == 0
    assert report["per_channel"] is True and report["mode"] == "static" and report["kept_fp32"] == []
    assert report["calibration"]["method"] == "minmax" and report["calibration"]["texts"] > 0
    assert manifest["model"]["quantization"] == "static" and manifest["model"]["optimization_level"] == "extended"


def test_qdq_and_dynamic_modes(tmp_path: Path, tiny_mobilebert_dir: Path):
    # qdq quantizes MatMul nodes only (23), dynamic keeps the 2 feed-forward outputs in float (23 - 2 + 2 Gemm)
    for mode, expected, count in (("qdq", ("MatMulIntegerToFloat",), 23),
                                  ("dynamic", ("DynamicQuantizeMatMul", "MatMulIntegerToFloat"), 23)):
        report = export_bundle(tiny_mobilebert_dir, tmp_path / mode, quantization=mode, log=lambda _: None)
        ops = [node.op_type for node in onnx.load(str(tmp_path / mode / "model.onnx")).graph.node]
        assert sum(ops.count(op) for op in expected) == count, (mode, ops)
        assert ("DynamicQuantizeMatMul" in ops or "DynamicQuantizeLinear" in ops) is (mode == "dynamic")
        assert report["quantization"]["mode"] == mode
        assert report["quantization"]["batch_invariant_by_design"] is (mode == "qdq")


def test_uint8_parameters_cover_the_range_and_zero():
    from mobilebert_edge.export.calibrate import uint8_parameters

    scale, zero = uint8_parameters(-1.0, 3.0)
    assert scale == pytest.approx(4 / 255) and zero == 64
    assert (zero - 0) * scale == pytest.approx(1.0, abs=float(scale))  # -1 maps to 0
    scale, zero = uint8_parameters(2.0, 5.0)  # 0 is always representable
    assert scale == pytest.approx(5 / 255) and zero == 0
    assert uint8_parameters(0.0, 0.0) == (1.0, 0)


def test_percentile_calibration_clips_what_minmax_keeps(tiny_bundle_fp32: Path, tiny_mobilebert_dir: Path):
    from mobilebert_edge.export.calibrate import calibrate_ranges

    tokenizer = AutoTokenizer.from_pretrained(tiny_mobilebert_dir)
    model = tiny_bundle_fp32 / "model.onnx"
    graph = onnx.load(str(model)).graph
    tensors = [node.output[0] for node in graph.node if node.op_type in ("Relu", "Softmax")]
    feeds = [{k: v.astype(np.int64) for k, v in tokenizer([text], return_tensors="np").items()} for text in TEXTS * 3]
    names = ["input_ids", "attention_mask", "token_type_ids"]
    minmax, count = calibrate_ranges(model, tensors, iter(feeds), names, method="minmax")
    clipped, _ = calibrate_ranges(model, tensors, iter(feeds), names, method="percentile", percentile=99.0)
    assert count == len(feeds)
    for name in tensors:
        assert minmax[name][0] <= clipped[name][0] + 1e-6 and clipped[name][1] <= minmax[name][1] + 1e-6
    assert any(clipped[name][1] < 0.99 * minmax[name][1] for name in tensors)


def test_quantize_everything(tmp_path: Path, tiny_mobilebert_dir: Path):
    report = export_bundle(tiny_mobilebert_dir, tmp_path / "b", keep_fp32=(), per_channel=False, optimize=False,
                           log=lambda _: None)
    graph = onnx.load(str(tmp_path / "b" / "model.onnx")).graph
    assert weight_matmuls(graph) == 0
    assert report["quantization"]["per_channel"] is False and report["quantization"]["nodes_kept_fp32"] == 0


@pytest.fixture(scope="module")
def minilm_bundles(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> tuple[Path, Path, Path]:
    """fp32 and int8 bundles (max_length 128) of the pretrained MiniLM with a random head."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("minilm-q") / "checkpoint"
    AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    out = folder.parent
    export_bundle(folder, out / "int8", max_length=128, golden_texts=TEXTS[:2], log=lambda _: None)
    return folder, out / "int8"


def test_minilm_int8_close_to_fp32_and_fused_ops_quantized(minilm_bundles, tmp_path: Path):
    folder, int8 = minilm_bundles
    manifest = json.loads((int8 / "manifest.json").read_text())
    quant = manifest["report"]["quantization"]
    assert quant["integer_ops"]["QAttention"] == 6  # every fused attention became integer
    assert quant["mode"] == "static" and "DynamicQuantizeLinear" not in quant["integer_ops"]
    assert quant["weight_matmuls_left_fp32"] == 0  # static int8 quantizes every weight MatMul by default
    assert quant["measured"] is False and "not measured" in quant["note"]
    # independent check: the int8 graph against the transformers model, same padded batch
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        reference = torch.softmax(model(**batch).logits, -1).numpy()
    session = ort.InferenceSession(str(int8 / "model.onnx"), providers=["CPUExecutionProvider"])
    logits = session.run(None, {i.name: batch[i.name].numpy() for i in session.get_inputs()})[0]
    found = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert np.abs(found - reference).max() < 0.05
    assert np.abs(found - reference).max() > 0  # it really is a different (quantized) model


def _write_eval(path: Path, labels: list[str]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for i, text in enumerate(TEXTS):
            handle.write(json.dumps({"text": text, "label": labels[i % 2]}) + "\n")
    return path


def test_gate_refuses_int8_that_loses_accuracy(tmp_path: Path, tiny_mobilebert_dir: Path):
    eval_file = _write_eval(tmp_path / "eval.jsonl", ["negative", "positive"])
    with pytest.raises(QualityGateError, match=re.escape("int8 quantization lost")) as info:
        export_bundle(tiny_mobilebert_dir, tmp_path / "bundle", eval_data=eval_file, max_accuracy_drop=-100.0,
                      optimize=False, log=lambda _: None)
    assert "(expected a drop of at most -100 points (--max-accuracy-drop)" in str(info.value)
    report = tmp_path / "bundle.refused-int8" / "report.html"
    assert f"no bundle written (the texts int8 got wrong: {report}); export with --precision fp32" in str(info.value)
    assert not (tmp_path / "bundle").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.refused-int8", "eval.jsonl"]
    # the int8-vs-fp32 comparison a user needs to decide what to do: every evaluation text, both predictions
    result = json.loads((report.parent / "report.json").read_text())
    assert result["bundle"]["precision"] == "int8" and result["bundle"]["path"] == str(tmp_path / "bundle")
    assert "int8 against fp32: bundle" in report.read_text()


def test_gate_passes_and_reports_accuracy(tmp_path: Path, tiny_mobilebert_dir: Path):
    eval_file = _write_eval(tmp_path / "eval.jsonl", ["negative", "positive"])
    lines: list[str] = []
    report = export_bundle(tiny_mobilebert_dir, tmp_path / "bundle", eval_data=eval_file, max_accuracy_drop=100.0,
                           per_channel=False, optimize=False, log=lines.append)
    quant = report["quantization"]
    assert quant["measured"] is True and quant["texts"] == len(TEXTS) and quant["per_channel"] is False
    for key in ("fp32_accuracy", "int8_accuracy", "label_agreement", "max_probability_difference"):
        assert 0 <= quant[key] <= 100
    assert quant["accuracy_drop_points"] == pytest.approx(quant["fp32_accuracy"] - quant["int8_accuracy"])
    assert any(line.startswith(f"int8 vs fp32 on {len(TEXTS)} texts: accuracy") for line in lines)


def test_cli_gate_exits_1(tmp_path: Path, tiny_mobilebert_dir: Path, capsys):
    eval_file = _write_eval(tmp_path / "eval.jsonl", ["0", "1"])  # integer label ids work too
    code = main(["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--eval-data", str(eval_file),
                 "--max-accuracy-drop", "-5", "--no-optimize"])
    err = capsys.readouterr().err
    assert code == 1
    assert re.fullmatch(
        re.escape("error: int8 quantization lost ") + r"-?\d+\.\d\d" + re.escape(f" accuracy points on {len(TEXTS)} "
        "evaluation texts (") + r"\d+\.\d\d% -> \d+\.\d\d%" + re.escape(") (expected a drop of at most -5 points "
        "(--max-accuracy-drop), found ") + r"-?\d+\.\d\d" + re.escape(f"); no bundle written (the texts int8 got wrong: "
        f"{tmp_path / 'b.refused-int8' / 'report.html'}); export with --precision fp32, another --quantization or "
        "--keep-fp32, or raise --max-accuracy-drop"), err.strip().splitlines()[-1])
    assert not (tmp_path / "b").exists()


def test_bad_eval_label_names_the_row(tmp_path: Path, tiny_mobilebert_dir: Path, capsys):
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text('{"text": "good", "label": "positive"}\n{"text": "bad", "label": "awful"}\n')
    code = main(["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--eval-data", str(eval_file)])
    assert code == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: eval data {eval_file}: 1 bad row (row 2 (line 2): unknown label 'awful' (known: negative, positive)); "
        "fix those rows or pass another --eval-data"
    )


def test_keep_fp32_leaves_matching_matmuls_in_float(tmp_path: Path, tiny_mobilebert_dir: Path):
    from mobilebert_edge.export.quantize import FFN_OUTPUT

    report = export_bundle(tiny_mobilebert_dir, tmp_path / "b", keep_fp32=(FFN_OUTPUT,), optimize=False,
                           log=lambda _: None)
    graph = onnx.load(str(tmp_path / "b" / "model.onnx")).graph
    float_matmuls = [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in {i.name for i in graph.initializer}]
    assert float_matmuls == [f"/model/mobilebert/encoder/layer.{i}/output/dense/MatMul" for i in range(2)]
    assert report["quantization"]["nodes_kept_fp32"] == 2 and report["quantization"]["weight_matmuls_left_fp32"] == 2


def test_keep_fp32_reaches_the_pooler_and_classifier_gemms(tmp_path: Path, tiny_mobilebert_dir: Path):
    # onnxruntime's quantizer renames each Gemm before it matches the names to leave alone
    report = export_bundle(tiny_mobilebert_dir, tmp_path / "b", keep_fp32=("pooler/dense|classifier",), optimize=False,
                           log=lambda _: None)
    graph = onnx.load(str(tmp_path / "b" / "model.onnx")).graph
    integer = [n.name for n in graph.node if n.op_type == "MatMulIntegerToFloat"]
    assert integer and not [name for name in integer if "pooler" in name or "classifier" in name]
    head = [n.op_type for n in graph.node if "pooler/dense" in n.name or "classifier/" in n.name]
    assert sorted(head) == ["FusedGemm", "Gemm"]  # float; the stored graph fused the pooler's tanh
    assert report["quantization"]["nodes_kept_fp32"] == 2
