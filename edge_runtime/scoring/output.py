"""Scored output: the appended columns, per-chunk part files, and their assembly into one file.

Every input column is kept; ``label``, ``score``, one ``prob_<label>`` per label, ``unsure`` (only
with a minimum confidence: true when the score is below it, ``edge_runtime.confidence``) and ``error``
are appended. When an input column already has one of those names, all appended columns get the
prefix ``pred_`` (``pred_label``, ``pred_score``, ...) so the set stays recognisable.
Part files are written in the output format (uncompressed); ``assemble`` streams them, one at a
time, into the final file (gzip'd when its name ends in ``.gz``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.confidence import unsure
from edge_runtime.scoring.tables import DELIMITERS, Chunk, ScoreError, import_pyarrow

PREFIX = "pred_"


@dataclass(frozen=True)
class OutputColumns:
    """Names of the columns appended to the input columns."""

    label: str
    score: str
    probs: tuple[str, ...]
    error: str
    unsure: str | None = None

    @classmethod
    def for_input(cls, input_columns: Sequence[str], labels: Sequence[str], flag_unsure: bool = False) -> OutputColumns:
        taken = set(input_columns)
        prefix = ""
        while True:
            names = cls(prefix + "label", prefix + "score", tuple(f"{prefix}prob_{l}" for l in labels), prefix + "error",
                        prefix + "unsure" if flag_unsure else None)
            if not taken.intersection(names.all) and len(set(names.all)) == len(names.all):
                return names
            if len(set(names.all)) != len(names.all):
                raise ScoreError("two labels give the same probability column", found=", ".join(labels))
            prefix += PREFIX

    @property
    def all(self) -> list[str]:
        return [self.label, self.score, *self.probs, *([self.unsure] if self.unsure else []), self.error]


def scored_columns(
    chunk: Chunk, names: OutputColumns, labels: Sequence[str], probs: np.ndarray, scored: list[int], errors: list[str],
    min_confidence: float | None = None,
) -> dict[str, list[Any]]:
    """The chunk's input columns plus the appended ones; ``probs`` row k belongs to row ``scored[k]``.

    With ``names.unsure``, a scored row is unsure when its score is below ``min_confidence``; rows not scored: null.
    """
    n = len(chunk)
    label_col: list[Any] = [None] * n
    score_col: list[Any] = [None] * n
    prob_cols: list[list[Any]] = [[None] * n for _ in labels]
    if len(scored):
        best = probs.argmax(axis=1)
        values = probs.astype(np.float64).tolist()
        for k, row in enumerate(scored):
            label_col[row] = labels[best[k]]
            score_col[row] = values[k][best[k]]
            for j in range(len(labels)):
                prob_cols[j][row] = values[k][j]
    out = dict(chunk.columns)
    out[names.label] = label_col
    out[names.score] = score_col
    for name, col in zip(names.probs, prob_cols):
        out[name] = col
    if names.unsure:
        unsure_col: list[Any] = [None] * n
        for row, flag in zip(scored, unsure(probs.max(axis=1) if len(scored) else [], min_confidence)):
            unsure_col[row] = bool(flag)
        out[names.unsure] = unsure_col
    out[names.error] = errors
    return out


# ---- Parquet schema ------------------------------------------------------------------------
def parquet_schema(input_schema: Any, first_chunk: Chunk | None, input_columns: list[str], names: OutputColumns) -> Any:
    """The output Arrow schema: input types (Parquet input, else inferred from the first chunk) + ours."""
    pa, _ = import_pyarrow()
    fields = []
    for column in input_columns:
        if input_schema is not None:
            fields.append(input_schema.field(column))
            continue
        values = first_chunk.columns[column] if first_chunk is not None else []
        try:
            kind = pa.array(values).type if values else pa.string()
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as error:
            raise ScoreError(f"column {column!r} mixes types in its first {len(values)} rows ({error})",
                             hint="write CSV or JSONL output instead, or make the column's type consistent") from error
        fields.append(pa.field(column, pa.string() if pa.types.is_null(kind) else kind))
    fields += [pa.field(names.label, pa.string()), pa.field(names.score, pa.float64())]
    fields += [pa.field(name, pa.float64()) for name in names.probs]
    if names.unsure:
        fields.append(pa.field(names.unsure, pa.bool_()))
    fields.append(pa.field(names.error, pa.string()))
    return pa.schema(fields)


# ---- cells ---------------------------------------------------------------------------------
def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _write_atomic(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_part(path: Path, fmt: str, columns: dict[str, list[Any]], order: list[str], schema: Any, start: int) -> None:
    """Write one chunk's scored rows to ``path`` atomically (no header for CSV/TSV)."""
    if fmt in DELIMITERS:
        def write(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, delimiter=DELIMITERS[fmt], lineterminator="\n")
                cols = [columns[name] for name in order]
                writer.writerows([_csv_cell(v) for v in row] for row in zip(*cols))
    elif fmt == "jsonl":
        def write(tmp: Path) -> None:
            with open(tmp, "w", encoding="utf-8") as handle:
                cols = [columns[name] for name in order]
                for row in zip(*cols):
                    handle.write(json.dumps(dict(zip(order, row)), ensure_ascii=False, default=str) + "\n")
    else:
        pa, pq = import_pyarrow()
        arrays = []
        for name in order:
            try:
                arrays.append(pa.array(columns[name], type=schema.field(name).type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as error:
                raise ScoreError(
                    f"column {name!r} changes type near row {start + 1} ({error})",
                    expected=str(schema.field(name).type),
                    hint="write CSV or JSONL output instead, or make the column's type consistent",
                ) from error
        table = pa.Table.from_arrays(arrays, schema=schema)

        def write(tmp: Path) -> None:
            pq.write_table(table, tmp)
    _write_atomic(path, write)


def assemble(parts: list[Path], out: Path, fmt: str, gzipped: bool, order: list[str], schema: Any) -> None:
    """Stream the part files, in order, into ``out`` (a new file), then fsync it."""
    if fmt == "parquet":
        _, pq = import_pyarrow()
        with pq.ParquetWriter(out, schema) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part, schema=schema))
    else:
        with open(out, "wb") as raw:
            stream: Any = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") if gzipped else raw
            if fmt in DELIMITERS:
                header = io.StringIO()
                csv.writer(header, delimiter=DELIMITERS[fmt], lineterminator="\n").writerow(order)
                stream.write(header.getvalue().encode("utf-8"))
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, stream, 1 << 20)
            if gzipped:
                stream.close()
            raw.flush()
            os.fsync(raw.fileno())
