"""Texts without labels (for self-training): read with the same readers, the text column inferred or given."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.columns import choose_text_column
from edge_runtime.labels import is_missing
from mobilebert_edge.data.dataset import Log, _bad_rows_message, _plural, _read, _text_of
from mobilebert_edge.data.errors import DataError


@dataclass(frozen=True)
class UnlabelledTexts:
    """Texts and their 1-based data-row numbers."""

    texts: list[str]
    rows: list[int]
    source: str
    text_column: str

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.texts, ensure_ascii=False).encode("utf-8")).hexdigest()

    def without(self, known: set[str], log: Log = print) -> UnlabelledTexts:
        """These texts less those in ``known`` (e.g. the labelled ones), the count said through ``log``."""
        keep = [i for i, text in enumerate(self.texts) if text not in known]
        if len(keep) == len(self.texts):
            return self
        log(f"{self.source}: left out {_plural(len(self.texts) - len(keep), 'text')} also in the labelled data")
        return UnlabelledTexts([self.texts[i] for i in keep], [self.rows[i] for i in keep], self.source, self.text_column)


def load_unlabelled(
    path: str | Path,
    *,
    text_column: str | None = None,
    skip_bad_rows: bool = False,
    encoding: str | None = None,
    flag: str = "--unlabeled-text-column",
    log: Log = print,
) -> UnlabelledTexts:
    """Read the texts of a data file (any format ``load_labelled`` reads); other columns are ignored.

    Rows with a missing or blank text raise ``DataError`` listing file and row numbers, or with
    ``skip_bad_rows`` are skipped and counted through ``log``.
    """
    source = str(path)
    table = _read(Path(path), encoding, log)
    column = choose_text_column(list(table.columns), text_column=text_column, source=source, flag=flag, log=log)
    row_numbers = [int(r) for r in table.index]
    lines = table.attrs.get("lines")
    texts, rows, bad = [], [], []
    for i, raw in enumerate(table[column].tolist()):
        text = _text_of(raw)
        if text is None:
            place = f"row {row_numbers[i]}" if lines is None else f"row {row_numbers[i]} (line {lines[i]})"
            bad.append((place, "missing text" if is_missing(raw) else "empty text"))
            continue
        texts.append(text)
        rows.append(row_numbers[i])
    if bad and not skip_bad_rows:
        raise DataError(f"{source}: {_bad_rows_message(bad)}", hint="fix them, or pass --skip-bad-rows to skip them")
    if bad:
        log(f"{source}: skipped {_bad_rows_message(bad)}")
    if not texts:
        raise DataError(f"{source}: no texts", hint="pass a file with at least one non-empty text")
    log(f"{source}: {_plural(len(texts), 'unlabelled text')}")
    return UnlabelledTexts(texts, rows, source, column)
