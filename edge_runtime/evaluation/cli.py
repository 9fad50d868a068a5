"""The ``evaluate`` subcommand (registered by mobilebert_edge.cli): a bundle on a labelled file.

Standard library only at import time; the runtime is imported inside ``run``.
"""

from __future__ import annotations

import argparse
import json
import sys

from edge_runtime.options import add_runtime_options, positive_int

FORMAT_CHOICES = ("auto", "csv", "tsv", "jsonl", "parquet")


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",")]


def _accuracy(value: str) -> float:
    """argparse type: an accuracy in (0, 1]."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"expected an accuracy in (0, 1], found {value!r}")
    return number


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the evaluate subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure a bundle on a labelled file: accuracy, per-label scores, confusion, calibration",
        description=(
            "Classify every row of TEST_FILE (CSV/TSV/JSONL/Parquet, + .gz for text formats) with BUNDLE and "
            "compare with its labels: accuracy, macro-F1, precision/recall/F1/support per label, the confusion "
            "matrix, calibration (expected calibration error over 10 confidence bins, Brier score, NLL; before and after "
            "the bundle's calibration when it has one), coverage and accuracy by minimum confidence. Columns and "
            "labels are read as training reads them. --report DIR writes report.html with pictures (they need "
            "the 'report' extra), --against compares with a second bundle on the same texts."
        ),
    )
    parser.add_argument("bundle", metavar="BUNDLE", help="bundle folder made by `mobilebert-edge export`")
    parser.add_argument("data", metavar="TEST_FILE", help="labelled table (.csv, .tsv, .jsonl, .parquet, optionally .gz)")
    parser.add_argument("--report", metavar="DIR", default=None,
                        help="write report.html, report.json and the PNGs into DIR (created if needed)")
    parser.add_argument("--against", metavar="OTHER_BUNDLE", default=None,
                        help="also run OTHER_BUNDLE (e.g. the fp32 export of an int8 bundle): agreement, the accuracy "
                        "difference with a 95%% interval, the texts on which they disagree")
    parser.add_argument("--json", action="store_true", help="print every number as one JSON object on stdout")
    parser.add_argument("--target-accuracy", type=_accuracy, default=None, metavar="A",
                        help="print the lowest --min-confidence whose accepted texts (top probability at least it) "
                        "are right at least A of the time on this file, e.g. 0.95, and the share of texts it keeps")
    data = parser.add_argument_group("input")
    data.add_argument("--text-column", default=None, metavar="NAME", help="column of the texts (default: inferred)")
    data.add_argument("--label-column", default=None, metavar="NAME", help="column of the labels (default: inferred)")
    data.add_argument("--label-names", type=_names, default=None, metavar="A,B,...",
                      help="names of the file's integer labels 0,1,... (e.g. negative,positive), matched to the bundle's")
    data.add_argument("--format", default="auto", choices=FORMAT_CHOICES, help="input format (default: from the suffix)")
    data.add_argument("--encoding", default=None, help="text encoding of a CSV/TSV input (default: detected)")
    data.add_argument("--skip-bad-rows", action="store_true",
                      help="skip rows with an unreadable or empty text or a missing label (and count them); "
                      "a label the bundle does not know always stops the run")
    run_group = parser.add_argument_group("execution")
    add_runtime_options(run_group)
    run_group.add_argument("--chunk-rows", type=positive_int, default=2048, metavar="N",
                           help="rows read and scored at a time (default: 2048)")
    run_group.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate; print the summary (or JSON) on stdout and the report folder's path on stderr."""
    from edge_runtime.evaluation.run import evaluate_file
    from edge_runtime.evaluation.summary import format_summary

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.report:  # refused before the evaluation, not after it
        from edge_runtime.evaluation.report import check_report_folder

        check_report_folder(args.report)
    result = evaluate_file(
        args.bundle, args.data, against=args.against, text_column=args.text_column, label_column=args.label_column,
        label_names=args.label_names, input_format=args.format, encoding=args.encoding,
        skip_bad_rows=args.skip_bad_rows, batch_size=args.batch_size, batch_tokens=args.batch_tokens,
        chunk_rows=args.chunk_rows,
        threads=args.threads, progress=not args.no_progress and not args.json, log=log,
        target_accuracy=args.target_accuracy,
    )
    if args.report:
        from edge_runtime.evaluation.report import write_report

        written = write_report(args.report, result, title=f"Evaluation of {args.bundle} on {args.data}")
        result["report"] = str(written.html)
        if written.note:
            log(f"note: {written.note}")
        log(f"report: {written.html}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(format_summary(result))
    return 0
