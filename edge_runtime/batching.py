"""How texts are grouped into model calls: sorted by length, capped in rows and in tokens.

A batch of ``rows`` texts padded to ``width`` tokens costs onnxruntime memory in proportion to
``rows * width`` (and, in attention, ``rows * width**2``), so the runtime caps both the rows per call
(``batch_size``) and the padded tokens per call (``batch_tokens``): short texts still go through in
large batches, long ones in small batches, and the peak memory of a run no longer depends on how
many long texts happen to sort together. The defaults were chosen by measured peak RSS and
throughput (docs/BENCHMARKS.md, section edge-profile). Standard library only: the command modules
import these defaults at startup.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_runtime.errors import InputError

# Rows per model call (at most).
DEFAULT_BATCH_SIZE = 32
# Padded tokens per model call (rows x longest row), at most; a single longer text still runs alone.
DEFAULT_BATCH_TOKENS = 1024
# Texts tokenized at a time: tokenizers' Encoding objects are large (~100 bytes per token of the
# untruncated text), so a whole chunk of long reviews is never held as Encodings at once.
ENCODE_BLOCK = 64


def check_limit(value: object, name: str, *, optional: bool = False) -> int | None:
    """``value`` as a positive int (``None`` allowed when ``optional``); else an :class:`InputError`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a positive integer", expected=">= 1", found=repr(value))
    return value


def plan_batches(lengths: Sequence[int], batch_size: int, batch_tokens: int | None = None) -> list[list[int]]:
    """Indices of ``lengths`` grouped into batches, shortest texts first.

    Texts are taken in ascending length (ties in input order); a batch closes before it would
    hold more than ``batch_size`` rows or, padded to its longest row, more than ``batch_tokens``
    tokens (``None``: no token cap). Every index appears exactly once.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[index]  # ascending: the newcomer is the longest row of the batch
        full = len(current) >= batch_size or (
            batch_tokens is not None and (len(current) + 1) * width > batch_tokens
        )
        if current and full:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches
