"""Stream a labelled table (any format ``score`` reads) as texts and the bundle's label ids.

Columns are chosen as training chooses them (``edge_runtime.columns``) and label values are mapped
as training maps them (``edge_runtime.labels``) onto the bundle's labels: a value is a label name
(exactly, else case-insensitively) or, when the names are not numbers, an integer position.
``label_names`` names the file's integer labels first (``0`` -> ``label_names[0]``), the names then
being looked up among the bundle's. A label the bundle does not know stops the read with the file
and row; so does an unreadable row, a missing text or a missing label, unless ``skip_bad_rows``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.columns import choose_columns
from edge_runtime.errors import DataError
from edge_runtime.labels import LabelEncoder, check_label_names, normalize_label
from edge_runtime.scoring.base import texts_of
from edge_runtime.scoring.tables import TableReader

UNKNOWN_HINT = "name the file's labels with --label-names, or evaluate a bundle trained on these labels"


@dataclass
class LabelledChunk:
    """Texts of consecutive usable rows, their label ids (the bundle's order) and 1-based row numbers."""

    texts: list[str]
    gold: np.ndarray
    rows: list[int]


class LabelledTable:
    """Iterate ``LabelledChunk``s of a table file; ``skipped`` counts the bad rows skipped by kind."""

    def __init__(
        self, path: str | Path, labels: Sequence[str], *, text_column: str | None = None,
        label_column: str | None = None, label_names: Sequence[str] | None = None, input_format: str = "auto",
        encoding: str | None = None, chunk_rows: int = 2048, skip_bad_rows: bool = False,
        log: Callable[[str], object] = print,
    ) -> None:
        self.path = Path(path)
        self.reader = TableReader(self.path, input_format, chunk_rows, encoding)
        note = self.reader.encoding_note()
        if note:
            log(note)
        self.text_column, self.label_column = choose_columns(
            self.reader.columns, text_column=text_column, label_column=label_column, source=str(self.path), log=log
        )
        self.labels = list(labels)
        self.skip_bad_rows = skip_bad_rows
        self.skipped: dict[str, int] = {}
        bundle = LabelEncoder(self.labels)
        if label_names is None:
            self._file, self._to_bundle = bundle, list(range(len(self.labels)))
        else:
            names = check_label_names(list(label_names))
            unknown = [name for name in names if bundle.encode(name) is None]
            if unknown:
                raise DataError(
                    f"--label-names: {', '.join(map(repr, unknown))} not among the bundle's labels",
                    expected=", ".join(self.labels), found=", ".join(names),
                )
            self._file, self._to_bundle = LabelEncoder(names), [bundle.encode(name) for name in names]

    def fraction_done(self, rows_read: int) -> float | None:
        return self.reader.fraction_done(rows_read)

    def _label_id(self, value: object, row: int) -> int | None:
        """The bundle's id of a label value; None when missing; DataError when unknown."""
        label = normalize_label(value)
        if label is None:
            return None
        found = self._file.encode(label)
        if found is None:
            raise DataError(
                f"{self.path}: row {row}: label {str(label)!r} is not a label of the bundle",
                expected=f"one of {', '.join(self._file.names)}", hint=UNKNOWN_HINT,
            )
        return self._to_bundle[found]

    def _bad(self, row: int, reason: str) -> None:
        if not self.skip_bad_rows:
            raise DataError(f"{self.path}: row {row}: {reason}", hint="fix the row, or pass --skip-bad-rows to skip such rows")
        kind = reason.split(" (")[0]
        self.skipped[kind] = self.skipped.get(kind, 0) + 1

    def __iter__(self) -> Iterator[LabelledChunk]:
        for chunk in self.reader:
            texts, positions, errors = texts_of(chunk, self.text_column)
            raw_labels = chunk.columns[self.label_column]
            kept_texts: list[str] = []
            gold: list[int] = []
            rows: list[int] = []
            text_of = dict(zip(positions, texts))
            for position in range(len(chunk)):
                row = chunk.start + position + 1
                label = self._label_id(raw_labels[position], row) if not chunk.row_errors[position] else None
                if errors[position]:
                    self._bad(row, errors[position])
                elif label is None:
                    self._bad(row, "missing label")
                else:
                    kept_texts.append(text_of[position])
                    gold.append(label)
                    rows.append(row)
            if kept_texts:
                yield LabelledChunk(kept_texts, np.asarray(gold, dtype=np.int64), rows)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())
