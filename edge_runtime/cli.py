"""The ``predict`` and ``check`` subcommands (registered by mobilebert_edge.cli).

Only the standard library at import time; the runtime is imported inside the commands.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator

from edge_runtime.confidence import add_min_confidence
from edge_runtime.options import add_runtime_options

PROMPT = "Enter a sentence (empty line or Ctrl-D to quit): "


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``predict`` and ``check``."""
    predict = subparsers.add_parser(
        "predict",
        help="classify texts with a bundle",
        description=(
            "Classify texts with an exported bundle. Texts come from the arguments; without any (or with '-'), "
            "one text per line from stdin; on a terminal, from an interactive prompt. "
            "Prints label<TAB>score<TAB>text per text (--min-confidence adds sure or unsure before the text; "
            "--json: one JSON object per line). An empty "
            "text is not classified: an error line on stderr names it, the others go on, and the exit code is 1."
        ),
    )
    predict.add_argument("bundle", metavar="BUNDLE", help="bundle folder written by 'export'")
    predict.add_argument("texts", metavar="TEXT", nargs="*", help="texts to classify ('-': one per line from stdin)")
    predict.add_argument("--json", action="store_true", help="JSON lines with every label's probability")
    add_min_confidence(predict, "sure or unsure before the text (--json: \"unsure\": true or false), a count on stderr")
    add_runtime_options(predict.add_argument_group("runtime"))
    predict.set_defaults(func=run_predict)

    check = subparsers.add_parser(
        "check",
        help="verify a bundle and replay its golden examples",
        description=(
            "Verify a bundle's files and hashes, then run its golden texts and compare the "
            "probabilities with those measured at export. Exit 0 if all pass, 1 otherwise."
        ),
    )
    check.add_argument("bundle", metavar="BUNDLE", help="bundle folder written by 'export'")
    check.add_argument("--public-key", metavar="KEY", default=None,
                       help="also verify the bundle's signature (manifest.sig) with this Ed25519 public key (PEM; "
                            "needs the 'sign' extra): proves who made the bundle, which the hashes cannot")
    add_runtime_options(
        check.add_argument_group("runtime"), batch_default=None, batch_tokens=False,
        batch_help="texts per batch (default: the one the golden values were measured at, and all of them in one "
                   "batch too when the bundle is batch-invariant)",
    )
    check.set_defaults(func=run_check)


def _stdin_lines() -> Iterator[str]:
    """One text per line of stdin, read as UTF-8 (a leading BOM is dropped)."""
    from edge_runtime.errors import InputError

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # an already-decoded text stream
        for line in sys.stdin:
            yield line.rstrip("\r\n")
        return
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            raise InputError(
                f"stdin line {number} is not valid UTF-8 (byte {error.start + 1})",
                hint="convert the input to UTF-8 first, e.g. iconv -f cp949 -t utf-8",
            ) from error
        yield text.rstrip("\r\n")


def _prompt_lines() -> Iterator[str]:
    while True:
        try:
            text = input(PROMPT)
        except EOFError:
            print(file=sys.stderr)
            return
        if not text.strip():
            return
        yield text


def _format(text: str, probabilities: Iterable[float], labels: list[str], as_json: bool, unsure: bool | None = None) -> str:
    probs = [float(p) for p in probabilities]
    best = max(range(len(probs)), key=probs.__getitem__)
    if as_json:
        record = {
            "text": text,
            "label": labels[best],
            "score": probs[best],
            "probabilities": dict(zip(labels, probs)),
            **({} if unsure is None else {"unsure": unsure}),
        }
        return json.dumps(record, ensure_ascii=False)
    one_line = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
    flag = "" if unsure is None else ("unsure\t" if unsure else "sure\t")
    return f"{labels[best]}\t{probs[best]:.4f}\t{flag}{one_line}"


def run_predict(args: argparse.Namespace) -> int:
    """Classify texts from the arguments, stdin (``-``, or no arguments and a pipe), or an interactive prompt.

    An empty or whitespace-only text gets one ``error:`` line on stderr naming its number (or stdin
    line) instead of a prediction; the other texts are still classified, and the exit code is 1.
    """
    from edge_runtime.classifier import Classifier
    from edge_runtime.confidence import unsure
    from edge_runtime.text import is_blank

    clf = Classifier.load(args.bundle, threads=args.threads)
    unsure_count = scored = 0
    if args.texts and args.texts != ["-"]:
        source, chunk, where = list(args.texts), None, "text"
    elif args.texts or not sys.stdin.isatty():
        source, chunk, where = _stdin_lines(), None, "stdin line"
    else:
        source, chunk, where = _prompt_lines(), 1, "text"  # answer each sentence as soon as it is typed
    pending: list[str] = []
    blank = read = 0

    def texts() -> Iterator[str]:
        nonlocal blank, read
        for number, text in enumerate(source, start=1):
            read = number
            if is_blank(text):  # nothing to classify: said on stderr, the other texts go on
                blank += 1
                print(f"error: {where} {number} is empty; not classified", file=sys.stderr, flush=True)
                continue
            pending.append(text)
            yield text

    try:
        for proba in clf.iter_proba(texts(), batch_size=args.batch_size, chunk_size=chunk, batch_tokens=args.batch_tokens):
            done, pending[:] = pending[: len(proba)], pending[len(proba) :]
            flags = unsure(proba.max(axis=1), args.min_confidence)
            unsure_count, scored = unsure_count + int(flags.sum()), scored + len(proba)
            for text, row, flag in zip(done, proba, flags):
                print(_format(text, row, clf.labels, args.json, None if args.min_confidence is None else bool(flag)),
                      flush=True)
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (keeps the interpreter's final flush silent)
        return 1 if blank else 0
    if args.min_confidence is not None and scored:
        print(f"{unsure_count:,} of {scored:,} texts below --min-confidence {args.min_confidence:g}: unsure",
              file=sys.stderr)
    if not read and where == "stdin line":
        print("error: read no text from stdin; pass texts as arguments, or pipe one text per line", file=sys.stderr)
        return 1
    return 1 if blank else 0


def run_check(args: argparse.Namespace) -> int:
    """Verify the bundle and compare its golden examples; 0 if all pass, 1 otherwise."""
    from edge_runtime.bundle import golden_probabilities
    from edge_runtime.classifier import Classifier

    clf = Classifier.load(args.bundle, threads=args.threads)
    golden = clf.manifest.get("golden") or {}
    examples = golden.get("examples") or []
    atol = float(golden.get("atol", 1e-3))
    print(f"bundle {args.bundle}: files and hashes OK ({len(clf.manifest['files'])} files)")
    if args.public_key:
        from edge_runtime.signature import verify_signature

        fingerprint = verify_signature(args.bundle, args.public_key)
        print(f"bundle {args.bundle}: signature OK (Ed25519 key {fingerprint})")
    if not examples:
        print(f"error: bundle {args.bundle}: manifest.json has no golden examples to replay", file=sys.stderr)
        return 1
    texts, expected = map(list, zip(*golden_probabilities(clf.manifest, args.bundle)))  # by label name
    # The batch size the golden values were measured at; a batch-invariant bundle (fp32, static int8)
    # must also give them with every text in one batch. Dynamically quantized int8 shares one
    # activation scale per batch, so its outputs depend on batch composition.
    sizes = [args.batch_size] if args.batch_size else [int(golden.get("batch_size") or 1)]
    if not args.batch_size and golden.get("batch_invariant") and len(texts) > sizes[0]:
        sizes.append(len(texts))
    failures, worst = 0, 0.0
    for batch_size in sizes:
        found = clf.predict_proba(texts, batch_size=batch_size, batch_tokens=None)  # exactly these batches
        for i, (text, want, got) in enumerate(zip(texts, expected, found)):
            diff = max(abs(a - b) for a, b in zip(want, got))
            worst = max(worst, diff)
            ok = diff <= atol
            failures += not ok
            preview = text if len(text) <= 60 else text[:57] + "..."
            preview = preview.replace("\n", " ").replace("\t", " ")
            print(f"{'PASS' if ok else 'FAIL'}  {i}  batch {batch_size}  max|diff|={diff:.2e}  {preview}")
    verdict = "all passed" if not failures else f"{failures} FAILED"
    at = " and ".join(str(size) for size in sizes)
    print(f"{len(texts)} golden examples at batch size {at}, {verdict} (atol {atol:g}, max |diff| {worst:.2e})")
    return 1 if failures else 0
