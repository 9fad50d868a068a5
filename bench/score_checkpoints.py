"""Score saved checkpoints on a fixed IMDb slice: the held-out slice or a dev slice for choosing settings.

The dev slice is the first N reviews of ``training_pool`` (bench/heldout.py): disjoint from the
held-out slice and from the tutorial sample, so presets can be compared on it without looking at the
held-out numbers they are later reported with. Each checkpoint is scored with its own max length and
truncation rule, bf16 autocast where the CPU has it, batches sorted by length.

    python bench/score_checkpoints.py --slice dev /tmp/mbe/runs/vs-tutorial/fast /tmp/mbe/runs/vs-tutorial/accurate
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="checkpoint folders written by `mobilebert-edge train`")
    parser.add_argument("--slice", choices=["dev", "heldout"], default="dev")
    parser.add_argument("--n", type=int, default=2000, help="reviews to score")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from bench.heldout import heldout, load_checkpoint, score_on_slice, training_pool
    from mobilebert_edge.train.precision import resolve_precision

    torch.set_num_threads(args.threads)
    table = heldout(args.n) if args.slice == "heldout" else training_pool(args.n)
    precision = resolve_precision("auto")
    for folder in map(Path, args.checkpoints):
        model, tokenizer = load_checkpoint(folder)
        result = score_on_slice(folder, model, tokenizer, table, precision=precision, progress=folder.name)
        print(json.dumps({"checkpoint": str(folder), "slice": args.slice, "n": len(table), **result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
