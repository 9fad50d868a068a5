"""Serve length: checkpoints trained at one max length, scored at several (what ``export --max-length`` serves).

IMDb reviews are long (45% of them exceed 256 tokens), so a model trained over 256 tokens may read more
of each review when it predicts. Each checkpoint is scored with its own truncation rule at every length
of ``--lengths`` on a dev slice (reviews ``--dev-skip`` onwards of ``training_pool`` in bench/heldout.py:
past the unlabelled reviews the self-training bench uses, so no model here has seen them) and on the
held-out slice. Scores accumulate in ``RESULTS`` (keyed by the weights' digest, slice and length), so a
rerun scores only what is new. Writes section ``serve-length`` of docs/BENCHMARKS.md.

    flock /tmp/mbe-heavy.lock python bench/serve_length.py --lengths 256,512 RUN/folder ...
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import BENCHMARKS_MD, command_line, git_revision, machine_summary, write_section  # noqa: E402
from edge_runtime.atomic import atomic_write, make_parent  # noqa: E402

SECTION = "serve-length"


def digest(path: Path) -> str:
    """The first 16 hex digits of the SHA-256 of a weights file."""
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="checkpoint folders written by `mobilebert-edge train`")
    parser.add_argument("--names", help="comma-separated names for the table (default: the folders' names)")
    parser.add_argument("--lengths", default="256,512", help="max lengths to score at")
    parser.add_argument("--dev", type=int, default=2000, help="dev reviews (0 for none)")
    parser.add_argument("--dev-skip", type=int, default=5000, help="the dev slice starts at this review of the pool")
    parser.add_argument("--heldout", type=int, default=5000, help="held-out reviews (0 for none)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=Path("/tmp/mbe/runs/serve-length/results.json"))
    parser.add_argument("--benchmarks-md", type=Path, default=BENCHMARKS_MD)
    parser.add_argument("--note", default="", help="a paragraph printed below the table")
    parser.add_argument("--report-only", action="store_true",
                        help="score nothing: write the section from RESULTS, '–' where a cell was not scored")
    args = parser.parse_args()
    lengths = [int(length) for length in args.lengths.split(",")]
    names = args.names.split(",") if args.names else [folder.name for folder in args.checkpoints]
    if len(names) != len(args.checkpoints):
        parser.error(f"--names has {len(names)} names for {len(args.checkpoints)} checkpoints")
    for folder in args.checkpoints:
        if not (folder / "mobilebert_edge.json").is_file() or not (folder / "model.safetensors").is_file():
            parser.error(f"{folder}: not a checkpoint folder (mobilebert_edge.json and model.safetensors)")

    import torch

    from bench.heldout import heldout, load_checkpoint, score_on_slice, training_pool
    from mobilebert_edge.train.precision import resolve_precision

    torch.set_num_threads(args.threads)
    precision = resolve_precision("auto")
    slices = {}
    if args.dev:
        slices["dev"] = (f"dev {args.dev_skip}+{args.dev}", training_pool(args.dev_skip + args.dev).iloc[args.dev_skip:])
    if args.heldout:
        slices["held-out"] = (f"held-out {args.heldout}", heldout(args.heldout))
    saved = json.loads(args.results.read_text()) if args.results.is_file() else {}
    make_parent(args.results)
    table = []
    for name, folder in zip(names, args.checkpoints):
        key = digest(folder / "model.safetensors")
        found = saved.setdefault(key, {"folder": str(folder)})
        model = tokenizer = None
        for slice_key, rows in slices.values():  # the key names the slice's reviews, for the cache
            for length in lengths:
                cell = f"{slice_key} @ {length}"
                if cell in found or args.report_only:
                    continue
                if model is None:
                    model, tokenizer = load_checkpoint(folder)
                started = time.perf_counter()
                accuracy = score_on_slice(folder, model, tokenizer, rows, precision=precision,
                                          progress=f"{name} @ {length}", max_length=length)["accuracy"]
                found[cell] = {"accuracy": accuracy, "seconds": time.perf_counter() - started,
                               "revision": git_revision()}
                print(json.dumps({"checkpoint": name, "cell": cell, **found[cell]}), file=sys.stderr, flush=True)
                with atomic_write(args.results) as handle:
                    json.dump(saved, handle, indent=1)
        manifest = json.loads((folder / "mobilebert_edge.json").read_text())
        table.append((name, manifest["max_length"], found))
    cells = [f"{key} @ {length}" for key, _ in slices.values() for length in lengths]
    header = "| checkpoint | trained at | " + " | ".join(f"{name} @ {length}" for name in slices for length in lengths) + " |"
    lines = [header, "| --- | ---: | " + " | ".join("---:" for _ in cells) + " |"]
    for name, trained, found in table:
        lines.append(f"| {name} | {trained} | " + " | ".join(
            f"{100 * found[c]['accuracy']:.2f}%" if c in found else "–" for c in cells) + " |")
    if len(table) > 1:
        lines.append("| mean of the rows | | " + " | ".join(
            f"{100 * sum(found[c]['accuracy'] for _, _, found in table) / len(table):.2f}%"
            if all(c in found for _, _, found in table) else "–" for c in cells) + " |")
    for slice_name, (key, _) in slices.items():
        if len(lengths) == 2 and table:
            low, high = (f"{key} @ {length}" for length in lengths)
            gains = [100 * (found[high]["accuracy"] - found[low]["accuracy"])
                     for _, _, found in table if low in found and high in found]
            if gains:
                lines.append(f"\n{slice_name}: {lengths[1]} against {lengths[0]} tokens: "
                             f"{', '.join(f'{g:+.2f}' for g in gains)} points (mean {sum(gains) / len(gains):+.2f})")
    slice_text = (f" Dev: reviews {args.dev_skip:,} to {args.dev_skip + args.dev:,} of the training pool (`bench/heldout.py`;"
                  " past the 5,000 unlabelled reviews of section self-training), for choosing." if args.dev else "") + \
        (f" Held-out: the first {args.heldout:,} reviews of the held-out slice." if args.heldout else "")
    body = f"""## {SECTION}: checkpoints served at other max lengths than they were trained at

Machine: {machine_summary()}. Revision {git_revision()}. {args.threads} torch threads, {precision}.
Each checkpoint is scored with its own truncation rule (head+tail: a quarter of the tokens from the head
unless the checkpoint fixes their number) at each length, as `export --max-length N` serves it.{slice_text}

```
{command_line(drop_with_value=("--note",))}
```

{chr(10).join(lines)}
{chr(10) + args.note + chr(10) if args.note else ""}"""
    write_section(SECTION, body, path=args.benchmarks_md)
    print(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
