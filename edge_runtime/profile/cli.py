"""The ``profile`` subcommand (registered by mobilebert_edge.cli): what a bundle costs on this machine.

Standard library only: the measurements run in fresh processes (``edge_runtime.profile.measure``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from edge_runtime.batching import DEFAULT_BATCH_SIZE
from edge_runtime.options import add_runtime_options, positive_int

BUILT_IN = "built-in samples"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the profile subcommand."""
    parser = subparsers.add_parser(
        "profile",
        help="measure a bundle on this machine: cold start, latency, throughput, peak RSS",
        description=(
            "Measure what BUNDLE costs on this machine, each measure in a fresh process: cold start (import + "
            "load + first prediction), latency of one text at batch 1 (p50/p95/p99), throughput at the scoring "
            "settings (ms per text), and the peak RSS of each process. TEXTS is a file of texts, one per line, "
            "or any table 'score' reads (.csv, .tsv, .jsonl, .parquet, optionally .gz); without it, built-in "
            "movie reviews of short, medium and long lengths."
        ),
    )
    parser.add_argument("bundle", metavar="BUNDLE", help="bundle folder written by 'export'")
    parser.add_argument("texts", metavar="TEXTS", nargs="?", default=None, help="texts to measure with (default: built-in)")
    parser.add_argument("--text-column", default="auto", metavar="NAME", help="text column of a table (default: auto)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    runs = parser.add_argument_group("measurement")
    runs.add_argument("--repeat", type=positive_int, default=50, help="batch-1 predictions timed (default: 50)")
    runs.add_argument("--cold-runs", type=positive_int, default=3, help="fresh processes timed for cold start (default: 3)")
    runs.add_argument("--scoring-texts", type=positive_int, default=None, metavar="N",
                      help="texts scored for throughput, cycling through TEXTS (default: all of a file; 240 built-in)")
    add_runtime_options(runs, threads_help="onnxruntime threads (default: all cores, as 'score')",
                        batch_help=f"scoring: texts per model call, at most (default: {DEFAULT_BATCH_SIZE}, as 'score')")
    runs.add_argument("--launcher", default="", metavar="COMMAND",
                      help="command prefix for the measured processes, e.g. an emulator without binfmt_misc")
    parser.set_defaults(func=run)


def read_texts(path: str | Path, text_column: str | None = None) -> list[str]:
    """Texts of a table file (any format ``score`` reads), or of a plain file, one per line (UTF-8 or cp949)."""
    from edge_runtime.encoding import DecodedText, detect_encoding, open_binary
    from edge_runtime.errors import InputError
    from edge_runtime.scoring.base import texts_of
    from edge_runtime.scoring.tables import SUFFIXES, TableReader, resolve_text_column

    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    texts: list[str] = []
    if suffixes and suffixes[-1] in SUFFIXES:
        reader = TableReader(path)
        column = resolve_text_column(path, reader.columns, text_column)
        for chunk in reader:
            found, _rows, errors = texts_of(chunk, column)
            bad = next((i for i, error in enumerate(errors) if error), None)
            if bad is not None:
                raise InputError(f"{path}: row {chunk.start + bad + 1}: {errors[bad]}",
                                 hint="profile needs a text in every row; fix or remove that row")
            texts += found
    else:
        with DecodedText(open_binary(path), detect_encoding(path), str(path)) as stream:
            for number, line in enumerate(stream, start=1):
                text = line.rstrip("\r\n").lstrip("\ufeff")
                if not text.strip():
                    raise InputError(f"{path}: line {number} is empty", hint="one text per line, no blank lines")
                texts.append(text)
    if not texts:
        raise InputError(f"{path}: no texts", hint="one text per line, or a table with a text column")
    return texts


def run(args: argparse.Namespace) -> int:
    """Measure and print the table (or JSON) on stdout; progress on stderr."""
    from edge_runtime.profile.measure import profile
    from edge_runtime.profile.report import format_table
    from edge_runtime.scoring.base import threads_per_worker

    if args.texts is None:
        from edge_runtime.profile.samples import SAMPLES

        texts, source, scoring_texts = list(SAMPLES), BUILT_IN, args.scoring_texts or 240
    else:
        texts = read_texts(args.texts, None if args.text_column == "auto" else args.text_column)
        source, scoring_texts = args.texts, args.scoring_texts
    result = profile(
        args.bundle, texts, threads=threads_per_worker(1, args.threads), repeat=args.repeat,
        cold_runs=args.cold_runs, scoring_texts=scoring_texts, batch_size=args.batch_size,
        batch_tokens=args.batch_tokens, launcher=shlex.split(args.launcher),
        log=lambda line: print(f"profile: {line}", file=sys.stderr, flush=True),
    )
    result["source"] = source
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    return 0
