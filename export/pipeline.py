"""``export_bundle``: checkpoint folder -> validated (optionally int8) bundle, in one straight line."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.bundle import write_manifest
from edge_runtime.confidence import calibration_of
from edge_runtime.errors import InputError
from edge_runtime.evaluation.report import write_report
from mobilebert_edge.export import evaluate, golden as golden_mod, validate as validate_mod
from mobilebert_edge.export.bundle import MODEL_FILE, REPORT_FOLDER, TOKENIZER_FILE, staging, versions
from mobilebert_edge.export.checkpoint import load_model, load_tokenizer, read_checkpoint
from mobilebert_edge.export.encode import Encoder
from mobilebert_edge.export.errors import ExportValidationError, QualityGateError
from mobilebert_edge.export.onnx_export import DEFAULT_OPSET, OUTPUT_NAME, export_onnx
from mobilebert_edge.export.optimize import ATTENTION_FOR, LOAD_LEVEL_BAKED, bake, graph_ops, optimize as optimize_graph
from mobilebert_edge.export.quantize import (
    DEFAULT_KEEP_FP32, DEFAULT_OP_TYPES, DEFAULT_QUANTIZATION, QUANTIZATIONS, compile_patterns,
    quantize as quantize_graph, structure,
)
from mobilebert_edge.export.calibrate import CALIBRATION_METHODS, DEFAULT_CALIBRATION
from mobilebert_edge.export.smooth import DEFAULT_SMOOTH
from mobilebert_edge.export.temperature import calibrate as fit_calibration, describe as describe_calibration

PRECISIONS = ("int8", "fp32")
CALIBRATION_TEXTS = 256  # at most this many calibration texts are run (one per batch, unpadded)


def _save_tokenizer(tokenizer, path: Path) -> None:
    """The fast tokenizer's tokenizer.json: no truncation (the runtime applies the rule itself),
    padding set to the model's pad token so the runtime pads with the same id as export did."""
    from tokenizers import Tokenizer

    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()
    if tokenizer.pad_token_id is not None:
        backend.enable_padding(pad_id=tokenizer.pad_token_id, pad_token=tokenizer.pad_token)
    backend.save(str(path))


def _evaluation(logits: Any, truth: Any, ckpt: Any, tokenizer: Any, texts: list[str], *,
                reference: Any = None, calibration: Any = None) -> dict[str, Any]:
    """The report's numbers for the bundle's logits on the evaluation texts (int8 against fp32 ``reference``),
    with its ``calibration`` (and the numbers without it when it has one)."""
    from edge_runtime.classifier import probabilities
    from edge_runtime.evaluation.run import evaluate_arrays
    from mobilebert_edge.train.evaluate import token_counts

    return evaluate_arrays(
        probabilities(logits, calibration), truth, ckpt.labels, lengths=token_counts(tokenizer, texts),
        max_length=ckpt.max_length, texts=texts, names=("int8", "fp32"),
        reference=None if reference is None else probabilities(reference, calibration),
        before=None if calibration is None or calibration.plain else probabilities(logits), calibration=calibration,
    )


def export_bundle(
    checkpoint: str | Path,
    out: str | Path,
    *,
    precision: str = "int8",
    quantization: str = DEFAULT_QUANTIZATION,
    calibration: str = DEFAULT_CALIBRATION,
    calibration_data: str | Path | None = None,
    smooth: float | None | str = "default",
    per_channel: bool = True,
    optimize: bool = True,
    optimized_graph: bool = True,
    eval_data: str | Path | None = None,
    calibrate_probabilities: bool = True,
    probability_data: str | Path | None = None,
    max_accuracy_drop: float = 1.0,
    max_length: int | None = None,
    tokenizer: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    op_types: Sequence[str] = DEFAULT_OP_TYPES,
    keep_fp32: Sequence[str] | None = None,
    golden_texts: Sequence[str] | None = None,
    atol: float = validate_mod.DEFAULT_ATOL,
    overwrite: bool = False,
    sign: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Export ``checkpoint`` to the bundle folder ``out``; return the export report.

    int8 is ``quantization`` "static" (activation scales calibrated with ``calibration`` on
    ``calibration_data``, default the evaluation texts; ``smooth``: SmoothQuant's alpha, None for off,
    "default" for ``DEFAULT_SMOOTH`` with minmax static int8) or "dynamic". With ``optimized_graph`` the stored
    model is the graph as onnxruntime optimizes it (level "extended"), which the runtime then loads
    without redoing it; every measurement in the report is made on the stored file, loaded the way the
    runtime loads it.

    With ``calibrate_probabilities`` (default) the bundle carries a temperature T and, with enough texts, a
    confidence map, fitted on the stored model's logits for the labelled texts of ``probability_data``
    (default: the evaluation texts; ``export.temperature``): every runtime then gives the calibrated
    probabilities (``edge_runtime.classifier.probabilities``), the golden texts included.

    With ``sign`` (an Ed25519 private key file) the bundle gets ``manifest.sig`` (``edge_runtime.signature``).

    Raises ``CheckpointError`` for a bad folder, ``ExportValidationError`` when the ONNX graph does
    not reproduce PyTorch, ``QualityGateError`` when int8 loses more than ``max_accuracy_drop``
    accuracy points on the evaluation texts.
    """
    started = time.perf_counter()
    if precision not in PRECISIONS:
        raise InputError("unknown precision", expected=" | ".join(PRECISIONS), found=repr(precision))
    if quantization not in QUANTIZATIONS:
        raise InputError("unknown quantization", expected=" | ".join(QUANTIZATIONS), found=repr(quantization))
    if calibration not in CALIBRATION_METHODS:
        raise InputError("unknown calibration method", expected=" | ".join(CALIBRATION_METHODS), found=repr(calibration))
    static = precision == "int8" and quantization != "dynamic"
    if smooth == "default":
        smooth = DEFAULT_SMOOTH if quantization == "static" and calibration == "minmax" else None
    elif smooth is not None and (quantization != "static" or calibration != "minmax"
                                 or isinstance(smooth, bool) or not isinstance(smooth, (int, float))
                                 or not 0 <= smooth <= 1):
        raise InputError("--smooth needs --quantization static, minmax calibration and an alpha in [0, 1]",
                         expected="e.g. --smooth 0.5", found=f"{smooth!r} with {quantization}, {calibration}")
    keep_fp32 = DEFAULT_KEEP_FP32[quantization] if keep_fp32 is None else tuple(keep_fp32)
    compile_patterns(keep_fp32)
    out = Path(out)
    signing_key = None
    if sign is not None:  # a bad key is refused before the export, not after it
        from edge_runtime.signature import load_private_key

        signing_key = load_private_key(sign)
    ckpt = read_checkpoint(checkpoint, max_length=max_length, tokenizer=tokenizer)
    from mobilebert_edge.export.bundle import check_destination

    check_destination(out, overwrite)
    log(f"checkpoint {ckpt.path}: {ckpt.architecture or 'classifier'} ({ckpt.pooling} pooling), labels {ckpt.labels}, "
        f"max_length {ckpt.max_length}, truncation {ckpt.rule}")
    model = load_model(ckpt)
    hf_tokenizer = load_tokenizer(ckpt)
    encoder = Encoder(hf_tokenizer, ckpt.max_length, ckpt.rule, ckpt.head_tokens)

    eval_path = Path(eval_data) if eval_data is not None else ckpt.validation_file
    eval_texts: list[str] = []
    truth: list[int] | None = None
    if eval_path is not None:
        eval_texts, truth = evaluate.read_eval_data(eval_path, ckpt.labels, log)
        log(f"evaluation texts: {len(eval_texts)} from {eval_path}")
    calibration_texts, calibration_source = eval_texts, eval_path.name if eval_path is not None else None
    if static and calibration_data is not None:
        calibration_texts, _ = evaluate.read_eval_data(Path(calibration_data), ckpt.labels, log)
        calibration_source = Path(calibration_data).name
    fit_texts: tuple[list[str], list[int], str] | None = None
    if calibrate_probabilities and probability_data is not None:
        fit_texts = (*evaluate.read_eval_data(Path(probability_data), ckpt.labels, log), Path(probability_data).name)
    elif calibrate_probabilities and eval_texts:
        fit_texts = (eval_texts, truth, eval_path.name)
    check_texts = golden_mod.pick_texts(eval_texts) + [" ".join(golden_mod.BUILTIN_TEXTS) * 20]
    report: dict[str, Any] = {"source": {"checkpoint": ckpt.path.name, "kind": "mobilebert-edge" if ckpt.ours else "save_pretrained"}}

    with tempfile.TemporaryDirectory(prefix=f".{out.name}.work.", dir=out.parent) as work_dir:
        work = Path(work_dir)
        raw = work / "fp32.onnx"
        log(f"exporting ONNX (opset {opset}, dynamic batch and sequence axes)")
        names = export_onnx(model, encoder.batch(check_texts[:2]), raw, opset=opset)
        sess = evaluate.session(raw)
        reference = validate_mod.Reference(model, names, encoder)
        parity = validate_mod.validate(reference, sess, check_texts, atol)
        log(f"fp32 ONNX vs PyTorch: max |logit diff| {max(parity['batch_1_max_abs_diff'], parity['batch_n_max_abs_diff']):.2e} "
            f"(batch 1 and batch {len(check_texts)}; atol {atol:g})")
        parity["padding"] = validate_mod.padding_effect(sess, encoder, check_texts)
        log(f"dynamic padding vs padding to {ckpt.max_length}: max |logit change| "
            f"{parity['padding']['dynamic_vs_max_length_max_logit_change']:.2e}")
        report["parity"] = parity
        report["export"] = {"exporter": "torch.onnx (TorchScript)", "opset": opset, "inputs": names}

        fp32 = raw
        if optimize:
            fused = work / "fp32-fused.onnx"
            info = optimize_graph(raw, fused, ckpt.config, attention=ATTENTION_FOR["fp32" if precision == "fp32" else quantization])
            if info["applied"]:
                try:
                    info["parity"] = validate_mod.validate(reference, evaluate.session(fused), check_texts, atol)
                    fp32 = fused
                    log(f"fused graph: {info['fused'] or 'no fusions matched'}")
                except ExportValidationError as error:
                    info = {"applied": False, "reason": f"fused graph failed validation: {error}"}
                    log(f"fusions dropped: {error}")
            report["optimization"] = info
        else:
            report["optimization"] = {"applied": False, "reason": "disabled"}
        fp32_session = evaluate.session(fp32)

        final = fp32
        evaluation: dict[str, Any] | None = None
        if precision == "int8":
            int8 = work / "int8.onnx"
            calib = calibration_texts[:CALIBRATION_TEXTS] or check_texts
            how = f"{quantization}, {calibration} calibration on {len(calib)} texts" if static else "dynamic"
            kept = f", float: {', '.join(keep_fp32)}" if keep_fp32 else ""
            log(f"quantizing to int8 ({how}{', per-channel' if per_channel else ''}{kept})")
            quant = quantize_graph(
                fp32, int8, mode=quantization, per_channel=per_channel, op_types=tuple(op_types), keep_fp32=keep_fp32,
                feeds=(encoder.batch([text]) for text in calib), input_names=names, calibration=calibration,
                smooth=smooth if quantization == "static" else None,
            )
            if static:
                quant["calibration"]["source"] = calibration_source if calibration_texts else "built-in check texts"
            final = int8

        if optimized_graph:
            stored = work / "stored.onnx"
            baked = bake(final, stored)
            report["graph"] = {**baked, "load_level": LOAD_LEVEL_BAKED}
            log(f"stored graph optimized by onnxruntime {baked['onnxruntime']} ({baked['level']}): "
                f"{baked['nodes_before']} -> {baked['nodes_after']} nodes")
        else:
            stored, baked = final, {"level": None}
            report["graph"] = {"level": None, "load_level": "all"}
        final_session = evaluate.session(stored, level=report["graph"]["load_level"])
        if precision == "fp32":
            report["parity"]["stored"] = validate_mod.validate(reference, final_session, check_texts, atol)

        if precision == "int8":
            quant.update(structure(fp32, stored))
            texts = eval_texts or check_texts
            ref = evaluate.logits(fp32_session, encoder, texts, progress="fp32")
            got = evaluate.logits(final_session, encoder, texts, progress="int8")
            quant.update(evaluate.compare(ref, got, truth if eval_texts else None))
            quant["measured"] = bool(eval_texts)
            quant["max_accuracy_drop"] = max_accuracy_drop
            if eval_texts:
                log(f"int8 vs fp32 on {len(texts)} texts: accuracy {quant['int8_accuracy']:.2f}% vs "
                    f"{quant['fp32_accuracy']:.2f}%, label agreement {quant['label_agreement']:.2f}%, "
                    f"max probability difference {quant['max_probability_difference']:.4f}")
            else:
                quant["note"] = "no labelled evaluation data: quantization accuracy was not measured"
                log(f"{quant['note']}; label agreement on {len(texts)} check texts {quant['label_agreement']:.1f}%")
            report["quantization"] = quant
            calibration_entry = _calibration(calibrate_probabilities, fit_texts,
                                             got if eval_texts and probability_data is None else None, final_session, encoder, log)
            fitted = calibration_of({"calibration": calibration_entry})
            if eval_texts:
                evaluation = _evaluation(got, truth, ckpt, hf_tokenizer, eval_texts, reference=ref, calibration=fitted)
            if eval_texts and quant["accuracy_drop_points"] > max_accuracy_drop:
                written = _write_evaluation(_refused_folder(out), evaluation, out, ckpt, eval_path, "int8", len(eval_texts))
                raise QualityGateError(
                    f"int8 quantization lost {quant['accuracy_drop_points']:.2f} accuracy points on {len(texts)} "
                    f"evaluation texts ({quant['fp32_accuracy']:.2f}% -> {quant['int8_accuracy']:.2f}%)",
                    expected=f"a drop of at most {max_accuracy_drop:g} points (--max-accuracy-drop)",
                    found=f"{quant['accuracy_drop_points']:.2f}",
                    hint=f"no bundle written (the texts int8 got wrong: {written.html}); export with --precision fp32, "
                         "another --quantization or --keep-fp32, or raise --max-accuracy-drop",
                )
        else:
            quant = {"applied": False}
            if eval_texts:
                probs = evaluate.logits(final_session, encoder, eval_texts, progress="fp32")
                accuracy = float((probs.argmax(1) == truth).mean() * 100)
                quant["fp32_accuracy"] = round(accuracy, 3)
                quant["texts"] = len(eval_texts)
                log(f"fp32 accuracy on {len(eval_texts)} texts: {accuracy:.2f}%")
            report["quantization"] = quant
            calibration_entry = _calibration(calibrate_probabilities, fit_texts,
                                             probs if eval_texts and probability_data is None else None, final_session, encoder, log)
            fitted = calibration_of({"calibration": calibration_entry})
            if eval_texts:
                evaluation = _evaluation(probs, truth, ckpt, hf_tokenizer, eval_texts, calibration=fitted)

        gold = golden_mod.golden(final_session, encoder, list(golden_texts) if golden_texts else golden_mod.pick_texts(eval_texts),
                                 atol=golden_mod.atol_for(precision), calibration=fitted, labels=ckpt.labels)
        report["golden_batch_drift"] = gold["batch_drift"]
        log(f"golden texts: batch drift {gold['batch_drift']:.1e} "
            f"({'batch-invariant' if gold['batch_invariant'] else 'results depend on batch-mates'})")
        report["sizes"] = {"fp32_bytes": fp32.stat().st_size, "model_bytes": stored.stat().st_size}
        report["seconds"] = round(time.perf_counter() - started, 1)

        with staging(out, overwrite) as folder:
            shutil.copyfile(stored, folder / MODEL_FILE)
            _save_tokenizer(hf_tokenizer, folder / TOKENIZER_FILE)
            declared = [item.name for item in final_session.get_inputs()]
            write_manifest(folder, {
                "labels": ckpt.labels,
                "model": {"file": MODEL_FILE, "precision": precision, "inputs": declared, "output": OUTPUT_NAME,
                          "architecture": ckpt.architecture or type(model).__name__, "pooling": ckpt.pooling,
                          **({"quantization": quantization} if precision == "int8" else {}),
                          **({"optimization_level": baked["level"]} if baked["level"] else {}),
                          **graph_ops(stored, report["optimization"])},
                "tokenizer": {"file": TOKENIZER_FILE, "max_length": ckpt.max_length,
                              "truncation": {"rule": ckpt.rule, "head_tokens": ckpt.head_tokens}},
                "versions": versions(),
                "report": report,
                "calibration": calibration_entry,
                "golden": {"atol": gold["atol"], "batch_size": gold["batch_size"],
                           "batch_invariant": gold["batch_invariant"], "examples": gold["examples"]},
            })
            if signing_key is not None:
                from edge_runtime.signature import sign_bundle

                sign_bundle(folder, signing_key)
                log("signed: manifest.sig (Ed25519)")
            if evaluation is not None:
                written = _write_evaluation(folder / REPORT_FOLDER, evaluation, out, ckpt, eval_path, precision,
                                            len(eval_texts))
                log(f"evaluation report: {out / REPORT_FOLDER / written.html.name}"
                    + (f" ({written.note})" if written.note else ""))
    shutil.rmtree(_refused_folder(out), ignore_errors=True)  # a refusal's report, now out of date
    mib = 2**20
    log(f"bundle {out}: {precision}, model {report['sizes']['model_bytes'] / mib:.1f} MiB "
        f"(fp32 {report['sizes']['fp32_bytes'] / mib:.1f} MiB), {len(gold['examples'])} golden texts "
        f"(atol {gold['atol']:g}), {report['seconds']:.0f} s")
    return report


def _calibration(enabled: bool, fit_texts: tuple[list[str], list[int], str] | None, eval_logits: Any,
                 final_session: Any, encoder: Encoder, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The manifest's ``calibration`` entry (None when ``enabled`` is off): T and the confidence map fitted on
    the stored model's logits for ``fit_texts``; ``eval_logits`` are those logits when already computed."""
    if not enabled:
        log("calibration: off (probabilities are the model's softmax)")
        return None
    if fit_texts is None:
        entry = fit_calibration(np.zeros((0, 1)), [], source=None)
    else:
        texts, gold, source = fit_texts
        if eval_logits is None:
            eval_logits = evaluate.logits(final_session, encoder, texts, progress="calibration")
        entry = fit_calibration(eval_logits, gold, source=source)
    log(describe_calibration(entry))
    return entry


def _refused_folder(out: Path) -> Path:
    """Where a refused int8 export leaves its int8-vs-fp32 report."""
    return out.parent / f"{out.name}.refused-int8"


def _write_evaluation(folder: Path, evaluation: dict[str, Any], out: Path, ckpt: Any, eval_path: Any,
                      precision: str, n: int):
    """The evaluation report of the bundle ``out`` (int8: against fp32) into ``folder``."""
    evaluation["bundle"] = {"path": str(out), "precision": precision, "max_length": ckpt.max_length,
                            "truncation": ckpt.rule}
    evaluation["data"] = {"path": str(eval_path)}
    title = (f"int8 against fp32: {out.name} on {n} evaluation texts" if precision == "int8"
             else f"{out.name} on {n} evaluation texts")
    return write_report(folder, evaluation, title=title)
