"""Labelled texts for training and evaluation: load a data file, check every row, split it.

The trainer's API::

    data = load_labelled("reviews.csv")                  # infers columns, maps labels, checks rows
    train, val = stratified_split(data, val_fraction=0.2, seed=0)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from edge_runtime.columns import choose_columns
from edge_runtime.encoding import encoding_note
from mobilebert_edge.data.errors import DataError
from edge_runtime.labels import LabelEncoder, check_label_names, infer_label_names, is_missing, normalize_label
from mobilebert_edge.data.split import stratified_indices

Log = Callable[[str], object]
SHOWN_BAD_ROWS = 5


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with class ids; ``label_names[id]`` names a class; ``rows`` are 1-based data-row numbers."""

    texts: list[str]
    labels: list[int]
    label_names: list[str]
    source: str
    rows: list[int]
    text_column: str | None = None
    label_column: str | None = None

    def __post_init__(self) -> None:
        assert len(self.texts) == len(self.labels) == len(self.rows), "texts, labels, rows differ in length"

    def __len__(self) -> int:
        return len(self.texts)

    def counts(self) -> dict[str, int]:
        """Rows per label name, in id order."""
        counter = Counter(self.labels)
        return {name: counter.get(i, 0) for i, name in enumerate(self.label_names)}

    def subset(self, indices: Sequence[int]) -> LabelledTexts:
        """The rows at ``indices`` (positions, not row numbers), same label names and source."""
        return LabelledTexts(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            label_names=list(self.label_names),
            source=self.source,
            rows=[self.rows[i] for i in indices],
            text_column=self.text_column,
            label_column=self.label_column,
        )


def _text_of(value: object) -> str | None:
    """The text of a cell, or None when it is missing or blank."""
    if is_missing(value):
        return None
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else None


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _bad_rows_message(bad: list[tuple[str, str]]) -> str:
    shown = "; ".join(f"{where}: {reason}" for where, reason in bad[:SHOWN_BAD_ROWS])
    more = f"; and {len(bad) - SHOWN_BAD_ROWS} more" if len(bad) > SHOWN_BAD_ROWS else ""
    return f"{_plural(len(bad), 'bad row')} ({shown}{more})"


def _read(path: Path, encoding: str | None, log: Log):  # -> pd.DataFrame
    from mobilebert_edge.data.imdb import is_imdb_source, read_imdb
    from mobilebert_edge.data.readers import read_table

    if is_imdb_source(path):
        log(f"{path}: reading the IMDb train split")
        return read_imdb(path, split="train")
    return read_table(path, encoding=encoding)


def _label_names(source: str, column: str, labels: list, texts: list) -> list[str]:
    """Names inferred from the labels of rows that have a text; at least two."""
    names = infer_label_names(v for v, t in zip(labels, texts) if v is not None and _text_of(t))
    if len(names) < 2:
        raise DataError(
            f"{source}: column {column!r} needs at least two different labels",
            expected="two or more",
            found=f"only {names[0]!r}" if names else "none",
            hint="check --label-column",
        )
    return names


def _check_rows(
    places: list[str], raw_texts: list, raw_labels: list, encoder: LabelEncoder
) -> tuple[list[int], list[str], list[int], list[tuple[str, str]]]:
    """(kept positions, their texts, their label ids, [(place, reason)] of bad rows)."""
    kept: list[int] = []
    texts: list[str] = []
    labels: list[int] = []
    bad: list[tuple[str, str]] = []
    for position, (place, raw_text, raw_label) in enumerate(zip(places, raw_texts, raw_labels)):
        text = _text_of(raw_text)
        if text is None:
            bad.append((place, "missing text" if is_missing(raw_text) else "empty text"))
            continue
        if raw_label is None:
            bad.append((place, "missing label"))
            continue
        label = encoder.encode(raw_label)
        if label is None:
            bad.append((place, f"unknown label {str(raw_label)!r} (known: {', '.join(encoder.names)})"))
            continue
        kept.append(position)
        texts.append(text)
        labels.append(label)
    return kept, texts, labels, bad


def load_labelled(
    path: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    label_names: Sequence[str] | None = None,
    skip_bad_rows: bool = False,
    encoding: str | None = None,
    log: Log = print,
) -> LabelledTexts:
    """Read a data file (CSV/TSV/JSONL/Parquet, gzip'd or not, or an IMDb folder/tarball).

    ``label_names`` reuses a known mapping (e.g. for a validation file); otherwise it is inferred
    (see ``edge_runtime.labels``). Rows with a missing or blank text, a missing label or a label outside
    ``label_names`` raise ``DataError`` listing file and row numbers, or with ``skip_bad_rows``
    are skipped and counted through ``log``.
    """
    path = Path(path)
    source = str(path)
    table = _read(path, encoding, log)
    used = table.attrs.get("encoding")
    note = encoding_note(source, used) if encoding is None and used else None
    if note:
        log(note)
    text_col, label_col = choose_columns(
        list(table.columns), text_column=text_column, label_column=label_column, source=source, log=log
    )
    row_numbers = [int(r) for r in table.index]
    lines = table.attrs.get("lines")
    places = [f"row {r}" if lines is None else f"row {r} (line {n})" for r, n in zip(row_numbers, lines or row_numbers)]
    raw_texts = table[text_col].tolist()
    raw_labels = [normalize_label(v) for v in table[label_col].tolist()]
    if label_names is None:
        names = _label_names(source, label_col, raw_labels, raw_texts)
    else:
        names = check_label_names(list(label_names))
    kept, texts, labels, bad = _check_rows(places, raw_texts, raw_labels, LabelEncoder(names))

    if bad and not skip_bad_rows:
        raise DataError(f"{source}: {_bad_rows_message(bad)}", hint="fix them, or pass --skip-bad-rows to skip them")
    if bad:
        log(f"{source}: skipped {_bad_rows_message(bad)}")
    if not texts:
        raise DataError(f"{source}: no usable rows left after skipping bad rows")
    rows = [row_numbers[i] for i in kept]
    data = LabelledTexts(texts=texts, labels=labels, label_names=names, source=source, rows=rows,
                         text_column=text_col, label_column=label_col)
    counts = ", ".join(f"{name}: {n}" for name, n in data.counts().items())
    log(f"{source}: {_plural(len(data), 'row')} ({counts})")
    return data


def stratified_split(data: LabelledTexts, val_fraction: float, seed: int) -> tuple[LabelledTexts, LabelledTexts]:
    """A seeded, stratified (train, validation) split; every class is in both parts."""
    train, validation = stratified_indices(
        data.labels, val_fraction, seed, label_names=data.label_names, source=data.source
    )
    return data.subset(train), data.subset(validation)
