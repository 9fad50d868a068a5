"""What the local and the Ray engine share: defaults, threads per worker, the texts of a chunk, the summary."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.batching import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS  # noqa: F401 (the engines' defaults)
from edge_runtime.scoring.tables import Chunk, ScoreError

DEFAULT_CHUNK_ROWS = 2048


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Intra-op threads of each worker's session: given, else the cores split evenly (at least 1)."""
    return threads if threads else max(1, available_cores() // max(workers, 1))


def load_classifier(bundle: str | Path, threads: int | None = None) -> Any:
    """``Classifier.load(bundle, threads=threads)`` (imported here: it brings onnxruntime)."""
    from edge_runtime.classifier import Classifier

    return Classifier.load(bundle, threads=threads)



@dataclass
class ScoreSummary:
    """What a scoring job did."""

    output: Path
    rows: int = 0
    errors: int = 0
    rows_scored_now: int = 0
    rows_resumed: int = 0
    seconds: float = 0.0
    text_column: str = ""
    columns: list[str] = field(default_factory=list)
    error_kinds: dict[str, int] = field(default_factory=dict)
    min_confidence: float | None = None
    unsure: int = 0
    parts_rescored: int = 0  # finished chunks scored again on resume: their part failed verification

    @property
    def rows_per_second(self) -> float:
        return self.rows_scored_now / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        resumed = f", {self.rows_resumed:,} from earlier runs" if self.rows_resumed else ""
        flagged = (f", {self.unsure:,} below --min-confidence {self.min_confidence:g}"
                   if self.min_confidence is not None else "")
        return (f"scored {self.rows:,} rows ({self.errors:,} errors{flagged}{resumed}) in {self.seconds:.1f} s, "
                f"{self.rows_per_second:,.0f} rows/s -> {self.output}")


def texts_of(chunk: Chunk, text_column: str) -> tuple[list[str], list[int], list[str]]:
    """The texts to score, their row positions in the chunk, and every row's error ("" when fine)."""
    from edge_runtime.text import is_blank  # here: profile reads its texts file without numpy or tokenizers

    errors = list(chunk.row_errors)
    texts: list[str] = []
    rows: list[int] = []
    for i, value in enumerate(chunk.columns[text_column]):
        if errors[i]:
            continue
        if value is None:
            errors[i] = "missing text"
            continue
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                errors[i] = "undecodable bytes (utf-8) in the text"
                continue
        elif not isinstance(value, str):
            value = str(value)
        if is_blank(value):
            errors[i] = "empty text"
            continue
        texts.append(value)
        rows.append(i)
    return texts, rows, errors


def check_positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise ScoreError(f"--{name.replace('_', '-')} must be at least 1", expected=">= 1", found=value)



def print_summary(summary: ScoreSummary, stream: Any = None) -> None:
    """The end-of-job lines: totals, throughput, output, and error counts by kind."""
    stream = stream or sys.stderr
    print(summary.line(), file=stream)
    if summary.parts_rescored:
        print(f"  {summary.parts_rescored:,} finished chunks scored again: their part files failed verification",
              file=stream)
    for kind, count in sorted(summary.error_kinds.items(), key=lambda kv: -kv[1]):
        print(f"  {count:,} rows: {kind}", file=stream)
