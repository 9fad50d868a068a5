"""The ``export`` subcommand (registered by mobilebert_edge.cli). Standard library only at import."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge_runtime.options import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the export subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="export a fine-tuned classifier folder to a validated (int8) ONNX bundle",
        description="Export a fine-tuned Hugging Face sequence-classification folder (from "
        "'mobilebert-edge train' or save_pretrained) to a bundle: model.onnx, tokenizer.json, manifest.json.",
    )
    parser.add_argument("checkpoint", type=Path, help="checkpoint folder")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bundle at --out")
    parser.add_argument("--sign", type=Path, default=None, metavar="KEY",
                        help="sign the bundle with this Ed25519 private key (PEM; needs the 'sign' extra): "
                             "'check --public-key' then proves who made it")
    model = parser.add_argument_group("model")
    model.add_argument("--precision", choices=("int8", "fp32"), default="int8", help="default: int8")
    model.add_argument(
        "--quantization", choices=("static", "qdq", "dynamic"), default="static",
        help="int8 activation scales calibrated once, so a text's result does not depend on its batch-mates "
        "(static, default; qdq: the same in onnxruntime's QDQ format), or measured on every batch (dynamic)",
    )
    model.add_argument(
        "--calibration", choices=("minmax", "entropy", "percentile"), default=None,
        help="how static quantization picks activation ranges from the calibration texts (default: minmax)",
    )
    model.add_argument(
        "--calibration-data", type=Path, default=None,
        help="labelled texts, in any format --eval-data reads, to calibrate static int8 on "
        "(default: the evaluation texts); labels are not used",
    )
    model.add_argument(
        "--smooth", type=float, default=None, metavar="ALPHA",
        help="static int8: move activation outliers into the weights (SmoothQuant) with this alpha in [0, 1] "
        "(default: 0.9 with minmax calibration, as measured in docs/BENCHMARKS.md; --no-smooth turns it off)",
    )
    model.add_argument("--no-smooth", dest="smooth", action="store_const", const=-1.0,
                       help="static int8 without smoothing")
    model.add_argument(
        "--per-channel", action=argparse.BooleanOptionalAction, default=True,
        help="int8 weight scales per output channel (default) or one per tensor (--no-per-channel)",
    )
    model.add_argument(
        "--no-optimize", dest="optimize", action="store_false",
        help="skip the graph fusions before quantizing (onnxruntime's for BERT-like models; for MobileBERT this "
        "project's pass: NoNorm folded, attention as MultiHeadAttention), e.g. for a device whose onnxruntime lacks the fused ops",
    )
    model.add_argument(
        "--no-optimized-graph", dest="optimized_graph", action="store_false",
        help="store the graph before onnxruntime's load-time optimizations (the device redoes them on every "
        "load: slower cold start; for devices with an older onnxruntime than the exporting one)",
    )
    model.add_argument(
        "--keep-fp32", action="append", metavar="REGEX", default=None,
        help="leave nodes whose name matches REGEX in float (repeatable; replaces the default list; "
        "'none' quantizes every supported node)",
    )
    model.add_argument("--opset", type=positive_int, default=18, help="ONNX opset (default: 18)")
    tokens = parser.add_argument_group("tokenizer (for folders without mobilebert_edge.json)")
    tokens.add_argument("--max-length", type=positive_int, default=None, metavar="N", help="tokens per text (default: the checkpoint's, else 256)")
    tokens.add_argument("--tokenizer", type=Path, default=None, help="tokenizer folder, if the checkpoint has none")
    quality = parser.add_argument_group("quality gate")
    quality.add_argument(
        "--eval-data", type=Path, default=None,
        help="labelled texts to compare int8 with fp32 (default: the checkpoint's validation.jsonl)",
    )
    probs = parser.add_argument_group("probabilities")
    probs.add_argument(
        "--probability-data", type=Path, default=None, metavar="FILE",
        help="labelled texts to calibrate the bundle's probabilities on (default: the evaluation texts): a temperature, "
        "and from 500 texts on a confidence map (how many to give: docs/BENCHMARKS.md, section calibration); "
        "labels never change",
    )
    probs.add_argument(
        "--no-probability-calibration", dest="calibrate_probabilities", action="store_false",
        help="store no calibration: probabilities are the model's plain softmax",
    )
    quality.add_argument(
        "--max-accuracy-drop", type=float, default=1.0,
        help="refuse an int8 bundle that loses more accuracy points than this (default: 1.0)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and print a summary; errors propagate to the dispatcher (exit 1)."""
    from mobilebert_edge.export import export_bundle

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    options = {}
    if args.calibration is not None:
        options["calibration"] = args.calibration
    if args.smooth is not None:
        options["smooth"] = None if args.smooth == -1.0 else args.smooth
    if args.keep_fp32 is not None:
        options["keep_fp32"] = tuple(p for p in args.keep_fp32 if p != "none")
    report = export_bundle(
        args.checkpoint, args.out, precision=args.precision, quantization=args.quantization,
        calibration_data=args.calibration_data, per_channel=args.per_channel,
        optimize=args.optimize, optimized_graph=args.optimized_graph, eval_data=args.eval_data,
        calibrate_probabilities=args.calibrate_probabilities, probability_data=args.probability_data,
        max_accuracy_drop=args.max_accuracy_drop,
        max_length=args.max_length, tokenizer=args.tokenizer, opset=args.opset, overwrite=args.overwrite,
        sign=args.sign, log=log,
        **options,
    )
    quant = report.get("quantization", {})
    summary = [f"wrote {args.out}"]
    summary.append(f"model {report['sizes']['model_bytes'] / 2**20:.1f} MiB ({args.precision}; fp32 {report['sizes']['fp32_bytes'] / 2**20:.1f} MiB)")
    summary.append(f"fp32 parity {max(report['parity']['batch_1_max_abs_diff'], report['parity']['batch_n_max_abs_diff']):.1e}")
    if "int8_accuracy" in quant:
        summary.append(f"accuracy int8 {quant['int8_accuracy']:.2f}% / fp32 {quant['fp32_accuracy']:.2f}%")
    elif "fp32_accuracy" in quant:
        summary.append(f"accuracy fp32 {quant['fp32_accuracy']:.2f}%")
    print(", ".join(summary))
    return 0
