"""The ``score`` subcommand (registered by mobilebert_edge.cli): score a table file into another.

Standard library only at import time; the scoring modules are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import sys

from edge_runtime.confidence import add_min_confidence
from edge_runtime.options import add_runtime_options, positive_int, thread_count

FORMAT_CHOICES = ("auto", "csv", "tsv", "jsonl", "parquet")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the score subcommand."""
    parser = subparsers.add_parser(
        "score",
        help="score a CSV/TSV/JSONL/Parquet file with a bundle (streaming, resumable, parallel)",
        description=(
            "Score every row of INPUT with BUNDLE and write OUTPUT (format from its suffix: .csv, .tsv, "
            ".jsonl, .parquet, + .gz for text formats). Every input column is kept; label, score, "
            "prob_<label>, unsure (with --min-confidence) and error are appended (prefixed pred_ when the input "
            "already has such a column). Bad rows are kept with a message in error. A killed job continues with --resume."
        ),
    )
    parser.add_argument("bundle", metavar="BUNDLE", help="bundle folder made by `mobilebert-edge export`")
    parser.add_argument("input", metavar="INPUT", help="table to score (.csv, .tsv, .jsonl, .parquet, optionally .gz)")
    parser.add_argument("--out", "-o", required=True, metavar="OUTPUT", help="scored table to write (atomically)")
    data = parser.add_argument_group("input")
    data.add_argument("--text-column", default="auto", metavar="NAME",
                      help="column holding the text (default: auto, e.g. text, review, sentence)")
    data.add_argument("--format", default="auto", choices=FORMAT_CHOICES, help="input format (default: from the suffix)")
    data.add_argument("--encoding", default=None, help="text encoding of a CSV/TSV input (default: detected)")
    run_group = parser.add_argument_group("execution")
    add_runtime_options(run_group, threads_help="onnxruntime threads per worker (default: cores // workers)")
    run_group.add_argument("--chunk-rows", type=positive_int, default=2048, metavar="N",
                           help="rows read, scored and saved at a time; the unit of resuming (default: 2048)")
    run_group.add_argument("--workers", type=thread_count, default=1, metavar="N",
                           help="processes, each with its own model session (default: 1)")
    run_group.add_argument("--engine", default="local", choices=("local", "ray"),
                           help="local processes, or Ray Data (needs the 'ray' extra; OUTPUT becomes a folder)")
    state = parser.add_argument_group("output")
    state.add_argument("--resume", action="store_true", help="continue an interrupted job from OUTPUT.partial/")
    state.add_argument("--overwrite", action="store_true", help="replace OUTPUT (and discard an unfinished job)")
    state.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    add_min_confidence(state, "a column unsure (true or false, before error) and their count in the summary")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score the file; print the summary on stderr."""
    from edge_runtime.scoring.base import print_summary
    from edge_runtime.scoring.files import score_file

    summary = score_file(
        args.bundle, args.input, args.out,
        text_column=None if args.text_column == "auto" else args.text_column,
        batch_size=args.batch_size, batch_tokens=args.batch_tokens, chunk_rows=args.chunk_rows,
        workers=args.workers, threads=args.threads,
        resume=args.resume, overwrite=args.overwrite, engine=args.engine, input_format=args.format,
        encoding=args.encoding, progress=not args.no_progress, min_confidence=args.min_confidence,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    print_summary(summary)
    return 0
