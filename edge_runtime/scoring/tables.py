"""Streaming table readers for batch scoring: CSV, TSV, JSONL (gzip'd or not) and Parquet, in chunks.

A reader yields ``Chunk`` objects of at most ``chunk_rows`` rows, so memory does not grow with the
file. Row-level problems (undecodable bytes, a ragged CSV row, a line that is not a JSON object) do
not stop the read: the row is kept and its problem recorded in ``Chunk.row_errors``. Structural
problems (missing file, unknown format, no header) raise ``ScoreError``.
Parquet needs pyarrow, imported only when a Parquet file is read or written.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.encoding import check_encoding, detect_encoding, encoding_note, is_gzip
from edge_runtime.errors import EdgeError
from edge_runtime.scoring.faults import ScoreError, read_guarded, reading

FORMATS = ("csv", "tsv", "jsonl", "parquet")
SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".parquet": "parquet", ".pq": "parquet"}
DELIMITERS = {"csv": ",", "tsv": "\t"}
# Column names tried, in order, when no text column is given (exact match first, then case-insensitive).
TEXT_COLUMN_CANDIDATES = ("text", "review", "sentence", "content", "body", "comment", "document", "message")
PARQUET_HINT = "install the 'parquet' extra: pip install 'mobilebert-edge[parquet]'"

csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # a long review is one field


@dataclass
class Chunk:
    """Consecutive rows of the input: column name -> values, plus a read error per row ("" when fine)."""

    index: int
    start: int
    columns: dict[str, list[Any]]
    row_errors: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.row_errors)


def import_pyarrow() -> tuple[Any, Any]:
    """``(pyarrow, pyarrow.parquet)``, or a ScoreError naming the extra to install."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ModuleNotFoundError as error:
        raise ScoreError("Parquet files need pyarrow, which is not installed", hint=PARQUET_HINT) from error
    return pyarrow, pyarrow.parquet


def table_format(path: str | Path, given: str = "auto") -> tuple[str, bool]:
    """``(format, gzipped)`` of a table path from its suffix (``.csv.gz`` -> ``("csv", True)``)."""
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    if given != "auto":
        if given not in FORMATS:
            raise ScoreError(f"unknown table format {given!r}", expected=" or ".join(FORMATS), found=given)
        fmt = given
    elif suffixes and suffixes[-1] in SUFFIXES:
        fmt = SUFFIXES[suffixes[-1]]
    else:
        raise ScoreError(
            f"{path}: cannot tell the table format from the file name",
            expected="a name ending in " + ", ".join(sorted(SUFFIXES)) + " (optionally + .gz)",
            found=path.name, hint="rename the file or pass --format",
        )
    if fmt == "parquet" and gzipped:
        raise ScoreError(f"{path}: Parquet is compressed inside the file", found=path.name,
                         hint="drop the .gz suffix")
    return fmt, gzipped


def column_note(path: str | Path, column: str, given: str | None) -> str:
    """The line that says which text column a job reads, and whether it was given or inferred."""
    how = "given" if given and given != "auto" else "inferred; override with --text-column"
    return f"{path}: text column {column!r} ({how})"


def resolve_text_column(
    path: str | Path, columns: list[str], given: str | None, log: Callable[[str], object] | None = None,
) -> str:
    """The text column: ``given`` when it exists, else the first well-known text column name.

    ``log`` is told which column was taken (``column_note``), as training and evaluation tell it.
    """
    if given and given != "auto":
        if given in columns:
            if log:
                log(column_note(path, given, given))
            return given
        raise ScoreError(f"{path}: no column {given!r}", expected=given, found=", ".join(columns) or "no columns",
                         hint="pass --text-column with one of the columns found")
    lowered = {name.lower(): name for name in reversed(columns)}
    found = next((c for c in TEXT_COLUMN_CANDIDATES if c in columns), None)
    found = found or next((lowered[c] for c in TEXT_COLUMN_CANDIDATES if c in lowered), None)
    if found is not None:
        if log:
            log(column_note(path, found, given))
        return found
    raise ScoreError(f"{path}: cannot tell which column holds the text",
                     expected="one of " + ", ".join(TEXT_COLUMN_CANDIDATES), found=", ".join(columns) or "no columns",
                     hint="pass --text-column NAME")


def _bad_chars(value: str) -> bool:
    """True when ``value`` holds bytes that did not decode (kept as lone surrogates)."""
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _is_surrogate(ch: str) -> bool:
    return "\ud800" <= ch <= "\udfff"


def _unpaired_surrogates(value: Any, where: str = "") -> tuple[Any, str | None]:
    """``value`` (parsed JSON) with lone surrogates replaced by U+FFFD, and the first field holding one.

    JSON can spell a lone surrogate (``"\\ud800"``), which no UTF-8 file, tokenizer or Parquet
    writer accepts: the row is flagged instead of aborting the job.
    """
    if isinstance(value, str):
        if value.isascii() or not any(map(_is_surrogate, value)):
            return value, None
        return "".join("\ufffd" if _is_surrogate(ch) else ch for ch in value), where
    if isinstance(value, list):
        found: str | None = None
        items = []
        for item in value:
            item, hit = _unpaired_surrogates(item, where)
            items.append(item)
            found = found or hit
        return items, found
    if isinstance(value, dict):
        found = None
        fields = {}
        for key, item in value.items():
            fixed_key, hit_key = _unpaired_surrogates(key, repr(key))
            item, hit = _unpaired_surrogates(item, where or repr(fixed_key))
            fields[fixed_key] = item
            found = found or hit_key or hit
        return fields, found
    return value, None


def _repair(value: str, encoding: str) -> str:
    """Undecodable bytes replaced by U+FFFD, the rest kept."""
    return value.encode(encoding, "surrogateescape").decode(encoding, "replace")


def guess_encoding(path: Path) -> str:
    """The text encoding to read ``path`` with: the one ``train`` reads it with (``detect_encoding``).

    When nothing decodes the whole file, UTF-8: the rows with undecodable bytes are then flagged,
    and the others scored.
    """
    try:
        return detect_encoding(path)
    except EdgeError:
        return "utf-8"


class TableReader:
    """Iterate a table file chunk by chunk; ``columns`` is known before the first chunk."""

    def __init__(self, path: str | Path, fmt: str = "auto", chunk_rows: int = 2048, encoding: str | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise ScoreError(f"{self.path}: no such file", hint="check the input path")
        self.format, _ = table_format(self.path, fmt)
        self.chunk_rows = chunk_rows
        self.encoding = check_encoding(encoding) if encoding else None
        self.detected = False  # True once the encoding was detected rather than given
        self.arrow_schema: Any = None  # Parquet input only
        self.size = self.path.stat().st_size
        self._raw: Any = None
        self.rows_total: int | None = None
        with reading(self.path, self.encoding, self.format == "parquet"):
            if self.format == "parquet":
                self.columns = self._parquet_columns()
            elif self.format == "jsonl":
                self.columns = self._jsonl_columns()
            else:
                self.columns = self._csv_columns()
        if len(set(self.columns)) != len(self.columns):
            dupes = sorted({c for c in self.columns if self.columns.count(c) > 1})
            raise ScoreError(f"{self.path}: duplicate column names", found=", ".join(dupes),
                             hint="rename the columns so each is unique")

    # ---- progress -----------------------------------------------------------------------
    def fraction_done(self, rows_read: int) -> float | None:
        """How much of the input has been read, 0..1 (bytes for text files, rows for Parquet)."""
        if self.rows_total:
            return min(rows_read / self.rows_total, 1.0)
        if self._raw is not None and self.size:
            try:
                return min(self._raw.tell() / self.size, 1.0)
            except (OSError, ValueError):
                return None
        return None

    # ---- opening ------------------------------------------------------------------------
    def _open_bytes(self) -> Any:
        self._raw = open(self.path, "rb")
        if is_gzip(self.path):
            return gzip.GzipFile(fileobj=self._raw, mode="rb")
        return self._raw

    def text_encoding(self) -> str:
        if self.encoding is None:
            self.detected = True
            self.encoding = guess_encoding(self.path)
        return self.encoding

    def encoding_note(self) -> str | None:
        """The line saying a CSV/TSV input was detected as other than UTF-8 (None otherwise)."""
        if self.format not in DELIMITERS:
            return None
        encoding = self.text_encoding()
        return encoding_note(self.path, encoding) if self.detected else None

    def _open_text(self) -> io.TextIOWrapper:
        encoding = self.text_encoding()
        return io.TextIOWrapper(self._open_bytes(), encoding=encoding, errors="surrogateescape", newline="")

    # ---- CSV / TSV ----------------------------------------------------------------------
    def _csv_reader(self, stream: io.TextIOWrapper) -> Any:
        return csv.reader(stream, delimiter=DELIMITERS[self.format])

    def _csv_columns(self) -> list[str]:
        with self._open_text() as stream:
            header = next(self._csv_reader(stream), None)
        if not header:
            raise ScoreError(f"{self.path}: empty file, no header row", hint="the first line must name the columns")
        if any(_bad_chars(name) for name in header):
            raise ScoreError(f"{self.path}: undecodable bytes in the header row", hint="pass --encoding")
        return header

    def _csv_chunks(self) -> Iterator[Chunk]:
        width = len(self.columns)
        encoding = self.text_encoding()
        with self._open_text() as stream:
            reader = self._csv_reader(stream)
            next(reader, None)
            rows: list[list[str]] = []
            errors: list[str] = []
            index = start = 0
            for row in reader:
                if not row:
                    continue  # a blank line is not a record
                error = ""
                if len(row) != width:
                    error = f"row has {len(row)} fields, the header has {width}"
                    row = (row + [""] * width)[:width]
                if not "".join(row).isascii():
                    bad = [name for name, value in zip(self.columns, row) if _bad_chars(value)]
                    if bad:
                        error = error or f"undecodable bytes ({encoding}) in column {bad[0]!r}"
                        row = [_repair(value, encoding) if _bad_chars(value) else value for value in row]
                rows.append(row)
                errors.append(error)
                if len(rows) == self.chunk_rows:
                    yield Chunk(index, start, dict(zip(self.columns, map(list, zip(*rows)))), errors)
                    index, start, rows, errors = index + 1, start + len(rows), [], []
            if rows:
                yield Chunk(index, start, dict(zip(self.columns, map(list, zip(*rows)))), errors)

    # ---- JSONL --------------------------------------------------------------------------
    @staticmethod
    def parse_line(line: bytes) -> tuple[Any, str]:
        """One JSONL line: ``(object or None, error or "")``; the Ray engine's reader uses it too."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text, error = line.decode("utf-8", "replace"), "undecodable bytes (utf-8) in the line"
        else:
            error = ""
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return None, error or f"invalid JSON ({exc.msg} at column {exc.colno})"
        if not isinstance(value, dict):
            return None, error or f"line is a JSON {type(value).__name__}, not an object"
        if b"\\u" in line:  # only an escape can spell a lone surrogate
            value, field_name = _unpaired_surrogates(value)
            if field_name:
                error = error or f"invalid Unicode (a lone surrogate) in field {field_name}"
        return value, error

    def _jsonl_lines(self) -> Iterator[bytes]:
        with self._open_bytes() as stream:
            first = True
            for line in stream:
                if first and line.startswith(b"\xef\xbb\xbf"):
                    line = line[3:]
                first = False
                if line.strip():
                    yield line

    def _jsonl_columns(self) -> list[str]:
        """The union of keys over the whole file, in order of first appearance (one streaming pass)."""
        seen: dict[str, None] = {}
        for line in self._jsonl_lines():
            value, _ = self.parse_line(line)
            if value:
                for key in value:
                    if key not in seen:
                        seen[key] = None
        if not seen:
            raise ScoreError(f"{self.path}: no JSON object with fields found", hint="one JSON object per line")
        return list(seen)

    def _jsonl_chunks(self) -> Iterator[Chunk]:
        records: list[dict[str, Any]] = []
        errors: list[str] = []
        index = start = 0

        def flush() -> Chunk:
            return Chunk(index, start, {c: [r.get(c) for r in records] for c in self.columns}, errors)

        for line in self._jsonl_lines():
            value, error = self.parse_line(line)
            records.append(value or {})
            errors.append(error)
            if len(records) == self.chunk_rows:
                yield flush()
                index, start, records, errors = index + 1, start + len(records), [], []
        if records:
            yield flush()

    # ---- Parquet ------------------------------------------------------------------------
    def _parquet_columns(self) -> list[str]:
        _, pq = import_pyarrow()
        try:
            handle = pq.ParquetFile(self.path)
        except Exception as error:  # pyarrow raises ArrowInvalid and friends
            raise ScoreError(f"{self.path}: not a readable Parquet file ({error})") from error
        self.arrow_schema = handle.schema_arrow
        self.rows_total = handle.metadata.num_rows
        return list(self.arrow_schema.names)

    def _parquet_chunks(self) -> Iterator[Chunk]:
        _, pq = import_pyarrow()
        handle = pq.ParquetFile(self.path)
        index = start = 0
        for batch in handle.iter_batches(batch_size=self.chunk_rows):
            data = batch.to_pydict()
            yield Chunk(index, start, {c: data[c] for c in self.columns}, [""] * batch.num_rows)
            index, start = index + 1, start + batch.num_rows

    def __iter__(self) -> Iterator[Chunk]:
        if self.format == "parquet":
            chunks = self._parquet_chunks()
        elif self.format == "jsonl":
            chunks = self._jsonl_chunks()
        else:
            chunks = self._csv_chunks()
        return read_guarded(self.path, chunks, self.encoding, self.format == "parquet")  # a damaged file: one error naming it

