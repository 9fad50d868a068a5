"""Calibration benchmark: the bundle's temperature and confidence map on 5,000 held-out reviews.

For each checkpoint: its default int8 bundle (made once), the bundle's logits for the held-out reviews
(``bench/heldout.py``), for its 200 validation texts and for 2,000 extra labelled reviews it never saw
(``extra_reviews``), cached. The bundle's logits do not depend on its calibration, so every fit is
redone here from them with export's own procedure (``export.temperature.calibrate``):

- (a) fitted on the 200 validation texts (what ``export`` does by default);
- (b) fitted on 1,000 of the extra reviews (``export --probability-data``), 5 draws (seeds 0-4);
- how many fitting texts the confidence map needs: fitted on k reviews of the first half of the
  held-out slice, judged on its second half, 20 draws per k (this chose ``MIN_MAP_TEXTS``).

Reported on the held-out reviews: ECE, Brier and NLL with no calibration, T alone and T + map, and the
coverage at a target accuracy with the minimum confidence chosen on the fitting texts against one
chosen on the held-out reviews. Writes section ``calibration`` of docs/BENCHMARKS.md.

    python bench/calibration.py --model 'default (800 labelled)=/tmp/mbe/runs/minilm-default-seed0' \\
        --model 'self-trained=/tmp/mbe-calib/selftrained-seed0'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.heldout import HELDOUT_SIZE, _normal, heldout, training_pool  # noqa: E402
from bench.report import BENCHMARKS_MD, command_line, git_revision, machine_summary, write_section  # noqa: E402
from edge_runtime.classifier import Classifier, probabilities  # noqa: E402
from edge_runtime.confidence import Calibration, calibration_of  # noqa: E402
from edge_runtime.evaluation.coverage import Coverage  # noqa: E402
from mobilebert_edge.export.temperature import MIN_MAP_TEXTS, calibrate, fit, scores  # noqa: E402

SECTION = "calibration"
GOAL = 0.02
UNLABELLED_POOL = 5000  # the self-trained model's unlabelled texts: the first reviews of the training pool
EXTRA, EXTRA_FIT, DRAWS = 2000, 1000, range(5)
SIZES, SIZE_DRAWS = (100, 150, 200, 300, 500, 1000), range(20)


def extra_reviews(n: int = EXTRA):
    """``n`` labelled reviews no benchmark model saw: the training pool after the unlabelled texts, without
    any text also in those or in the held-out slice."""
    pool = training_pool()
    seen = set(pool["text"].iloc[:UNLABELLED_POOL].map(_normal)) | set(heldout()["text"].map(_normal))
    rest = pool.iloc[UNLABELLED_POOL:]
    return rest[~rest["text"].map(_normal).isin(seen)].iloc[:n].reset_index(drop=True)


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


def fitted(logits: np.ndarray, gold: np.ndarray) -> tuple[Calibration, dict]:
    """Export's calibration for these fitting texts, and its manifest entry."""
    entry = calibrate(logits, gold, source="bench")
    return calibration_of({"calibration": entry}), entry


def judged(fit_logits: np.ndarray, fit_gold: np.ndarray, logits: np.ndarray, gold: np.ndarray, target: float) -> dict:
    """Held-out scores for none / T / T + map fitted on the fitting texts, and the thresholds for ``target``."""
    calibration, entry = fitted(fit_logits, fit_gold)
    settings = {"none": Calibration(), "T": Calibration(calibration.temperature), "T+map": calibration}
    held = Coverage()
    probs = probabilities(logits, calibration)
    held.add(probs.max(1), probs.argmax(1) == gold)
    fit_coverage = Coverage()
    fit_probs = probabilities(fit_logits, calibration)
    fit_coverage.add(fit_probs.max(1), fit_probs.argmax(1) == fit_gold)
    chosen = fit_coverage.lowest_threshold(target)
    return {"temperature": calibration.temperature, "map_points": len(entry.get("confidence_map", {}).get("from", [])),
            **{name: scores(logits, gold, c) for name, c in settings.items()},
            "chosen_on_fit": chosen, "chosen_on_fit_held_out": held.at(chosen["threshold"]),
            "chosen_on_held_out": held.lowest_threshold(target)}


def fit_sizes(logits: np.ndarray, gold: np.ndarray) -> list[dict]:
    """ECE on the second half of the held-out slice with T and with T + map fitted on k texts of its first half."""
    rows = []
    half = len(gold) // 2
    for k in SIZES:
        ece_t, ece_map = [], []
        for seed in SIZE_DRAWS:
            pick = np.random.default_rng(seed).permutation(half)[:k]
            calibration, _ = fit(logits[pick], gold[pick], min_map_texts=0)
            ece_t.append(scores(logits[half:], gold[half:], Calibration(calibration.temperature))["ece"])
            ece_map.append(scores(logits[half:], gold[half:], calibration)["ece"])
        rows.append({"k": k, "T": ece_t, "T+map": ece_map})
    return rows


def measure(name: str, checkpoint: Path, out: Path, table, extra, target: float, threads: int) -> dict:
    """Every number of one model's rows."""
    from mobilebert_edge.export.evaluate import read_eval_data

    bundle = bundle_for(name, checkpoint, out)
    clf = Classifier.load(bundle, threads=threads)
    val_texts, val_gold = read_eval_data(checkpoint / "validation.jsonl", clf.labels, log=lambda _: None)
    val_logits = logits_of(clf, val_texts, out / f"{bundle.name}-validation.npy")
    extra_logits = logits_of(clf, extra["text"].tolist(), out / f"{bundle.name}-extra.npy")
    extra_gold = np.array([clf.labels.index(str(label)) for label in extra["label"]])
    gold = np.array([clf.labels.index(str(label)) for label in table["label"]])
    logits = logits_of(clf, table["text"].tolist(), out / f"{bundle.name}-heldout.npy")
    draws = []
    for seed in DRAWS:
        pick = np.random.default_rng(seed).choice(len(extra_gold), EXTRA_FIT, replace=False)
        draws.append(judged(extra_logits[pick], extra_gold[pick], logits, gold, target))
    return {"name": name, "checkpoint": str(checkpoint), "bundle": str(bundle),
            "accuracy": float((logits.argmax(1) == gold).mean()),
            "validation": judged(val_logits, np.asarray(val_gold), logits, gold, target), "extra": draws,
            "fit_sizes": fit_sizes(logits, gold)}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _spread(values: list[float], digits: int = 4) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else f"{values[0]:.{digits}f}"


def _settings(r: dict) -> list[tuple[str, list[dict]]]:
    return [(f"(a) 200 validation texts (bundle: T only, under {MIN_MAP_TEXTS} texts)", [r["validation"]]), (f"(b) {EXTRA_FIT:,} extra reviews, {len(DRAWS)} draws", r["extra"])]


def render(rows: list[dict], target: float, n: int, command: str) -> str:
    """The section: setup, three tables, a short reading."""
    lines = [
        f"## {SECTION}: what the probabilities mean (temperature and confidence map)", "",
        f"Machine: {machine_summary()}. Revision {git_revision()}. Command: `{command}`. Each model's bundle is its "
        "default `mobilebert-edge export` (static int8); its logits are computed once for the held-out reviews, its "
        f"200 validation texts and {EXTRA:,} extra labelled reviews from `bench.heldout.training_pool` that neither model "
        f"saw (after the self-trained model's {UNLABELLED_POOL:,} unlabelled texts; none also in the held-out slice), and "
        "export's own fit (the **bundle** columns; `export.temperature.calibrate`: T by NLL, then from "
        f"{MIN_MAP_TEXTS} texts on a {10}-bin monotone map of the top probability) is redone on (a) the 200 validation "
        f"texts, the default, and (b) {EXTRA_FIT:,} of the extra reviews, as `export --probability-data` would, "
        f"drawn with seeds {DRAWS.start}-{DRAWS.stop - 1} (mean ± sd over the draws).",
        f"Held-out: the first {n:,} reviews of `bench/heldout.py`. ECE: 10 equal-width bins of the top probability; "
        "Brier: binary; NLL: mean negative log-likelihood. Labels are the argmax of the logits in every column, so "
        "accuracy does not change.", "",
        f"| model | fitted on | T | held-out ECE: none / T / **bundle** | Brier: none / T / bundle "
        f"| NLL: none / T / bundle | goal ECE ≤ {GOAL} |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        for label, fits in _settings(r):
            cells = []
            for metric in ("ece", "brier", "nll"):
                values = [_spread([f[key][metric] for f in fits]) for key in ("none", "T", "T+map")]
                cells.append(f"{values[0]} / {values[1]} / **{values[2]}**" if metric == "ece" else " / ".join(values))
            met = sum(f["T+map"]["ece"] <= GOAL for f in fits)
            goal = ("met" if met == len(fits) else "not met") + ("" if len(fits) == 1 else f" ({met} of {len(fits)} draws)")
            lines.append(f"| {r['name']} ({_pct(r['accuracy'])} right) | {label} | "
                         f"{_spread([f['temperature'] for f in fits], 2)} | {' | '.join(cells)} | {goal} |")
    lines += [
        "", f"Minimum confidence for {_pct(target)} accuracy with the bundle's calibration (`evaluate --target-accuracy {target:g}`): "
        "chosen on the fitting texts and applied to the held-out reviews, against the one chosen on the held-out "
        "reviews themselves (the best a threshold can do there).", "",
        "| model | fitted on | chosen on the fitting texts | its held-out coverage, accuracy | chosen on the held-out: coverage |",
        "| --- | --- | ---: | --- | ---: |",
    ]
    for r in rows:
        for label, fits in _settings(r):
            thresholds = [f["chosen_on_fit"]["threshold"] for f in fits]
            reached = sum(f["chosen_on_fit"]["reached"] for f in fits)
            lines.append(
                f"| {r['name']} | {label} | {_spread(thresholds, 3)}{'' if reached == len(fits) else f' ({len(fits) - reached} not reached)'} | "
                f"{_spread([100 * f['chosen_on_fit_held_out']['coverage'] for f in fits], 1)}%, "
                f"{_spread([100 * f['chosen_on_fit_held_out']['accuracy'] for f in fits], 1)}% | "
                f"{_spread([100 * f['chosen_on_held_out']['coverage'] for f in fits], 1)}% |")
    lines += [
        "", f"How many fitting texts the map needs: T and T + map fitted on k reviews of the held-out slice's first "
        f"half, ECE on its second half ({len(SIZE_DRAWS)} draws per k, mean ± sd; map better: draws where T + map "
        "beats T alone).", "",
        "| model | " + " | ".join(f"k = {k:,}" for k in SIZES) + " |",
        "| --- |" + " --- |" * len(SIZES),
    ]
    for r in rows:
        cells = [f"{np.mean(s['T']):.3f} → {np.mean(s['T+map']):.3f} ({_better(s)})" for s in r["fit_sizes"]]
        lines.append(f"| {r['name']}: ECE T → T + map (map better) | " + " | ".join(cells) + " |")
    lines += ["", *reading(rows)]
    return "\n".join(lines) + "\n"


def _better(size: dict) -> str:
    """Draws where T + map beat T alone, as "12/20"."""
    return f"{sum(m < t for t, m in zip(size['T'], size['T+map']))}/{len(size['T'])}"


def reading(rows: list[dict]) -> list[str]:
    """A few lines read off the tables."""
    out = []
    for r in rows:
        val, extra = r["validation"], r["extra"]
        out.append(
            f"- {r['name']}: held-out ECE {val['none']['ece']:.3f} without calibration; {val['T']['ece']:.3f} with the "
            f"T fitted on the 200 validation texts (the default bundle, no map under {MIN_MAP_TEXTS} texts); fitted on "
            f"{EXTRA_FIT:,} extra reviews {_spread([f['T']['ece'] for f in extra], 3)} with T and "
            f"{_spread([f['T+map']['ece'] for f in extra], 3)} with T + map.")
    both = all(all(f["T+map"]["ece"] <= GOAL for f in r["extra"]) for r in rows)
    mean_both = all(np.mean([f["T+map"]["ece"] for f in r["extra"]]) <= GOAL for r in rows)
    default_met = all(r["validation"]["T+map"]["ece"] <= GOAL for r in rows)
    out.append(
        f"- Goal ECE ≤ {GOAL} held out for both models: "
        + ("met by the default (200 validation texts). " if default_met else "not met by the default (200 validation texts). ")
        + (f"Met with T + map fitted on {EXTRA_FIT:,} labelled reviews in every draw." if both else
           f"With T + map fitted on {EXTRA_FIT:,} labelled reviews: met on average but not in every draw." if mean_both else
           f"Not met with T + map fitted on {EXTRA_FIT:,} labelled reviews either.")
        + (" T alone reaches it in no setting." if not any(f["T"]["ece"] <= GOAL for r in rows
                                                          for f in (r["validation"], *r["extra"])) else ""))
    def at(k: int) -> str:
        return ", ".join(_better(next(x for x in r["fit_sizes"] if x["k"] == k)) for r in rows)

    out.append(
        f"- The map's minimum, {MIN_MAP_TEXTS} texts: in the size table a map fitted on 200 texts beats T alone in "
        f"{at(200)} draws (models in row order), on {MIN_MAP_TEXTS} in {at(MIN_MAP_TEXTS)}: below that it is a coin "
        f"toss, so export fits none. The goal needs about {EXTRA_FIT:,} labelled texts: `export --probability-data FILE`.")
    out.append("- The map is monotone, so a minimum confidence still ranks the texts as the logits do; its flat stretches "
               "merge confidences, which makes thresholds coarser there. Choose one with `evaluate --target-accuracy` "
               "on labelled texts of your own.")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=CHECKPOINT",
                        help="a row: its name and checkpoint folder (repeatable)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/mbe/calibration"), help="bundles and cached logits")
    parser.add_argument("--heldout", type=int, default=HELDOUT_SIZE)
    parser.add_argument("--target", type=float, default=0.95, help="target accuracy of the threshold columns")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--section", default=SECTION)
    parser.add_argument("--benchmarks-md", type=Path, default=BENCHMARKS_MD)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    table, extra = heldout(args.heldout), extra_reviews()
    rows = []
    for spec in args.model:
        name, _, folder = spec.partition("=")
        rows.append(measure(name, Path(folder), args.out, table, extra, args.target, args.threads))
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
