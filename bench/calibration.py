"""Calibration benchmark: the bundle's temperature on 5,000 held-out reviews.

For each checkpoint: export an int8 bundle with the defaults (which fit T on the checkpoint's 200
validation texts), score the held-out reviews (``bench/heldout.py``) and report ECE, Brier and NLL
before and after T, accuracy (the same labels), and the coverage reached at a target accuracy with a
minimum confidence chosen on the 200 validation texts against one chosen on the held-out reviews
themselves. Writes section ``calibration`` of docs/BENCHMARKS.md.

    python bench/calibration.py --model 'default (800 labelled)=/tmp/mbe/runs/minilm-default-seed0' \\
        --model 'self-trained=/tmp/mbe/runs/selftrained-seed0'
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.heldout import heldout  # noqa: E402
from bench.report import BENCHMARKS_MD, command_line, git_revision, machine_summary, write_section  # noqa: E402
from edge_runtime.classifier import Classifier, probabilities  # noqa: E402
from edge_runtime.evaluation.coverage import Coverage  # noqa: E402
from edge_runtime.evaluation.metrics import calibration_sums, expected_calibration_error  # noqa: E402
from mobilebert_edge.export.temperature import scores  # noqa: E402

SECTION = "calibration"
BOOTSTRAP = 1000


def bundle_for(name: str, checkpoint: Path, out: Path) -> Path:
    """The default int8 export of ``checkpoint`` (made once, reused on later runs)."""
    from mobilebert_edge.export import export_bundle

    bundle = out / f"{name.split()[0]}-int8"
    if not (bundle / "manifest.json").exists():
        lines: list[str] = []
        export_bundle(checkpoint, bundle, log=lines.append)
        (out / f"{bundle.name}.log").write_text("\n".join(lines) + "\n")
    return bundle


def logits_of(clf: Classifier, texts: list[str], cache: Path) -> np.ndarray:
    """The bundle's logits for ``texts``, cached next to the bundle."""
    if cache.exists():
        return np.load(cache)
    logits = clf.predict_logits(texts)
    np.save(cache, logits)
    return logits


def ece_interval(logits: np.ndarray, gold: np.ndarray, t: float) -> tuple[float, float]:
    """A 95% bootstrap interval of the ECE of softmax(logits / t) (texts resampled)."""
    probs = probabilities(logits, t)
    confidence, right = probs.max(1), probs.argmax(1) == gold
    rng = np.random.default_rng(0)
    draws = [expected_calibration_error(calibration_sums(confidence[pick], right[pick]))
             for pick in (rng.integers(0, len(gold), len(gold)) for _ in range(BOOTSTRAP))]
    return float(np.quantile(draws, 0.025)), float(np.quantile(draws, 0.975))


def coverage_of(logits: np.ndarray, gold: np.ndarray, t: float) -> Coverage:
    probs = probabilities(logits, t)
    coverage = Coverage()
    coverage.add(probs.max(1), probs.argmax(1) == gold)
    return coverage


def measure(name: str, checkpoint: Path, out: Path, table, target: float, threads: int) -> dict:
    """Every number of one model's rows."""
    from mobilebert_edge.export.evaluate import read_eval_data

    started = time.perf_counter()
    bundle = bundle_for(name, checkpoint, out)
    clf = Classifier.load(bundle, threads=threads)
    fit = clf.manifest.get("calibration") or {}
    t = clf.temperature
    val_texts, val_gold = read_eval_data(checkpoint / "validation.jsonl", clf.labels, log=lambda _: None)
    val_logits = logits_of(clf, val_texts, out / f"{bundle.name}-validation.npy")
    gold = np.array([clf.labels.index(str(label)) for label in table["label"]])
    logits = logits_of(clf, table["text"].tolist(), out / f"{bundle.name}-heldout.npy")
    chosen_val = coverage_of(val_logits, np.asarray(val_gold), t).lowest_threshold(target)
    held = coverage_of(logits, gold, t)
    return {
        "name": name, "checkpoint": str(checkpoint), "bundle": str(bundle), "temperature": t, "fit": fit,
        "accuracy": float((logits.argmax(1) == gold).mean()),
        "before": scores(logits, gold, 1.0), "after": scores(logits, gold, t),
        "ece_after_interval": ece_interval(logits, gold, t),
        "validation_choice": chosen_val, "validation_choice_held_out": held.at(chosen_val["threshold"]),
        "held_out_choice": held.lowest_threshold(target),
        "at_target_as_probability": {"before": coverage_of(logits, gold, 1.0).at(target), "after": held.at(target)},
        "seconds": round(time.perf_counter() - started, 1),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render(rows: list[dict], target: float, n: int, command: str) -> str:
    """The section: setup, two tables, a short reading."""
    goal = 0.02
    lines = [
        f"## {SECTION}: what the probabilities mean (temperature scaling)", "",
        f"Machine: {machine_summary()}. Revision {git_revision()}. Command: `{command}` (each bundle is "
        "`mobilebert-edge export CHECKPOINT --out B` with the defaults: static int8, and T fitted on the "
        "checkpoint's 200 validation texts by minimising the int8 model's NLL).",
        f"Held-out: the first {n:,} reviews of `bench/heldout.py`. ECE: 10 equal-width bins of the top "
        "probability; Brier: binary; NLL: mean negative log-likelihood; interval: 95% bootstrap over the held-out "
        "reviews. The labels are the argmax of the logits, so accuracy is the same before and after.", "",
        "| model | T (90% interval, fit) | held-out accuracy | ECE before → after (95% interval) | Brier before → after "
        "| NLL before → after | ECE on the 200 fitting texts | goal ECE ≤ 0.02 |",
        "| --- | --- | ---: | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        low, high = r["ece_after_interval"]
        fit = r["fit"]
        interval = fit.get("temperature_interval_90") or ["-", "-"]
        fitting = (f"{fit['before']['ece']:.3f} → {fit['after']['ece']:.3f}" if fit.get("before") else "-")
        lines.append(
            f"| {r['name']} | {r['temperature']:.3f} ({interval[0]}-{interval[1]}) | {_pct(r['accuracy'])} | "
            f"{r['before']['ece']:.4f} → **{r['after']['ece']:.4f}** ({low:.4f}-{high:.4f}) | "
            f"{r['before']['brier']:.4f} → {r['after']['brier']:.4f} | {r['before']['nll']:.4f} → {r['after']['nll']:.4f} | "
            f"{fitting} | {'met' if r['after']['ece'] <= goal else '**not met**'} |")
    lines += [
        "", f"Minimum confidence for {_pct(target)} accuracy (the lowest `--min-confidence` whose accepted texts "
        f"reach it, `evaluate --target-accuracy {target:g}`), chosen on the 200 validation texts and applied to the "
        "held-out reviews, against the one chosen on the held-out reviews themselves (the best a threshold can do "
        f"there); and what reading {target:g} as a probability gives: the accuracy of the held-out texts whose top "
        f"probability is at least {target:g}, without and with T.", "",
        "| model | chosen on validation: threshold | held out: coverage, accuracy | chosen on held-out: threshold "
        f"| coverage | top probability ≥ {target:g}, no T: coverage, accuracy | with T: coverage, accuracy |",
        "| --- | ---: | --- | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        val, on_held, best = r["validation_choice"], r["validation_choice_held_out"], r["held_out_choice"]
        naive = r["at_target_as_probability"]
        val_t = f"{val['threshold']:.3f}" if val["reached"] else f"none reached ({val['threshold']:.3f} best)"
        lines.append(
            f"| {r['name']} | {val_t} | {_pct(on_held['coverage'])}, {_pct(on_held['accuracy'])} | "
            f"{best['threshold']:.3f}{'' if best['reached'] else ' (not reached)'} | {_pct(best['coverage'])} | "
            f"{_pct(naive['before']['coverage'])}, {_pct(naive['before']['accuracy'])} | "
            f"{_pct(naive['after']['coverage'])}, {_pct(naive['after']['accuracy'])} |")
    lines += ["", *reading(rows, target, goal)]
    return "\n".join(lines) + "\n"


def reading(rows: list[dict], target: float, goal: float) -> list[str]:
    """A few lines read off the tables."""
    out = []
    for r in rows:
        t, before, after = r["temperature"], r["before"], r["after"]
        val, on_held, best = r["validation_choice"], r["validation_choice_held_out"], r["held_out_choice"]
        naive = r["at_target_as_probability"]
        out.append(
            f"- {r['name']}: T = {t:.2f} ({'overconfident' if t > 1 else 'underconfident' if t < 1 else 'not fitted'} "
            f"before); held-out ECE "
            f"{before['ece']:.3f} → {after['ece']:.3f} ({'goal met' if after['ece'] <= goal else 'goal not met'}), "
            f"Brier {before['brier']:.3f} → {after['brier']:.3f}, accuracy {_pct(r['accuracy'])} either way. "
            f"Reading {target:g} as a probability: {_pct(naive['before']['accuracy'])} right without T, "
            f"{_pct(naive['after']['accuracy'])} with it. The threshold chosen on 200 validation texts "
            f"({val['threshold']:.3f}) keeps {_pct(on_held['coverage'])} of the held-out reviews at "
            f"{_pct(on_held['accuracy'])} accuracy; the held-out optimum ({best['threshold']:.3f}) keeps "
            f"{_pct(best['coverage'])}.")
    out.append("- A threshold is a ranking of the texts by confidence, which T does not change: coverage at a target "
               "accuracy is the same with or without T; what T changes is whether the probability itself can be read "
               "as the share right. Choose the threshold with `evaluate --target-accuracy` on labelled texts of your own.")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT",
                        help="a row: its name and checkpoint folder (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/mbe/calibration"), help="bundles and cached logits")
    parser.add_argument("--heldout", type=int, default=5000)
    parser.add_argument("--target", type=float, default=0.95, help="target accuracy of the threshold columns")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--section", default=SECTION)
    parser.add_argument("--benchmarks-md", type=Path, default=BENCHMARKS_MD)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table = heldout(args.heldout)
    rows = []
    for spec in args.model:
        name, _, folder = spec.partition("=")
        rows.append(measure(name, Path(folder), args.out, table, args.target, args.threads))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    body = render(rows, args.target, args.heldout, command_line(drop=("--no-write",)))
    if args.no_write:
        print(body)
    else:
        write_section(args.section, body, args.benchmarks_md)
        print(f"wrote section {args.section} of {args.benchmarks_md}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
