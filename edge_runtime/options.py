"""Command-line options shared by the commands that run a bundle (predict, check, score, evaluate, profile).

Each option is defined once, so every command spells it, defaults it and checks it the same way; a
value argparse refuses (``0``, a negative, a word) is a usage error, exit code 2. Standard library
only: the command modules import this at startup.
"""

from __future__ import annotations

import argparse
from typing import Any

from edge_runtime.batching import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS
from edge_runtime.limits import limit_text, max_count


def positive_int(value: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, found {value!r}")
    return number


def thread_count(value: str) -> int:
    """argparse type: a thread or worker count, 1 to ``edge_runtime.limits.max_count()``."""
    number = positive_int(value)
    if number > max_count():
        raise argparse.ArgumentTypeError(f"expected {limit_text()}, found {value!r}")
    return number


def add_runtime_options(
    group: Any, *, threads_help: str = "onnxruntime threads (default: all cores)",
    batch_default: int | None = DEFAULT_BATCH_SIZE, batch_help: str | None = None, batch_tokens: bool = True,
) -> Any:
    """Add ``--threads``, ``--batch-size`` and (unless ``batch_tokens`` is False) ``--batch-tokens`` to ``group``.

    ``group`` is a parser or an argument group; it is returned for more options.
    """
    group.add_argument("--threads", type=thread_count, default=None, metavar="N", help=threads_help)
    group.add_argument(
        "--batch-size", type=positive_int, default=batch_default, metavar="N",
        help=batch_help or f"texts per model call, at most (default: {DEFAULT_BATCH_SIZE})",
    )
    if batch_tokens:
        group.add_argument(
            "--batch-tokens", type=positive_int, default=DEFAULT_BATCH_TOKENS, metavar="N",
            help=f"padded tokens per model call, at most: bounds onnxruntime's memory; lower it on small "
                 f"boards (default: {DEFAULT_BATCH_TOKENS})",
        )
    return group
