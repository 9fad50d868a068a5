"""Read a table of data (CSV, TSV, JSONL, Parquet; gzip'd or not) into a pandas DataFrame.

CSV/TSV values are read as text (no NA or number guessing) so labels and texts arrive as written;
JSONL and Parquet keep their value types. The DataFrame index holds the 1-based data-row numbers
used in error messages (header and blank lines not counted); for the text formats,
``table.attrs["lines"]`` holds the line on which each row starts and ``table.attrs["encoding"]``
the encoding the file was read with.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import TYPE_CHECKING

from mobilebert_edge.data.errors import DataError
from edge_runtime.encoding import open_text

if TYPE_CHECKING:  # pandas is imported where it is used
    import pandas as pd

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
SUPPORTED = ".csv, .tsv, .jsonl or .parquet (the text formats also gzip'd, e.g. .csv.gz)"


def table_format(path: Path) -> str:
    """The format named by the file's suffix (a trailing .gz is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = FORMATS.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataError(f"{path}: unknown data format", expected=SUPPORTED, found=path.name)
    return fmt


def check_data_path(path: Path) -> None:
    """Raise ``DataError`` unless ``path`` is an existing, non-empty file."""
    if not path.exists():
        raise DataError(f"{path}: no such file", hint="check the path")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a data file", hint=f"pass a file: {SUPPORTED}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty", hint="expected a header line and data rows")


def read_table(path: str | Path, *, encoding: str | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame of strings (Parquet keeps its column types)."""
    path = Path(path)
    check_data_path(path)
    fmt = table_format(path)
    if fmt == "parquet":
        table = _read_parquet(path)
    elif fmt == "jsonl":
        table = _read_jsonl(path, encoding)
    else:
        table = _read_delimited(path, "," if fmt == "csv" else "\t", encoding)
    if len(table.columns) == 0:
        raise DataError(f"{path}: the file is empty", hint="expected a header line and data rows")
    if len(table) == 0:
        raise DataError(
            f"{path}: no data rows",
            hint=f"only a header was found ({', '.join(map(str, table.columns))})",
        )
    return table


def _header(path: Path, header: list[str]) -> list[str]:
    names = [name.strip() or f"Unnamed: {i}" for i, name in enumerate(header)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(f"{path}: the header names column {name!r} twice", hint="rename one of them")
        seen.add(name)
    return names


def _read_delimited(path: Path, sep: str, encoding: str | None) -> pd.DataFrame:
    import pandas as pd

    kind = "CSV" if sep == "," else "TSV"
    csv.field_size_limit(2**31 - 1)  # a review can be longer than the 128 KiB default
    rows: list[list[str | None]] = []
    lines: list[int] = []
    with open_text(path, encoding) as stream:
        reader = csv.reader(stream, delimiter=sep, strict=True)
        try:
            header = next((row for row in reader if row), None)
            if header is None:
                raise DataError(f"{path}: the file is empty", hint="expected a header line and data rows")
            columns = _header(path, header)
            start = reader.line_num + 1
            for row in reader:
                if row and len(row) > len(columns):
                    raise DataError(
                        f"{path}: line {start} has {len(row)} fields, the header has {len(columns)}",
                        hint=f"quote fields that contain the separator {sep!r}",
                    )
                if row:  # a blank line is not a row; a line of empty fields is (and is reported)
                    rows.append(row + [None] * (len(columns) - len(row)))
                    lines.append(start)
                start = reader.line_num + 1
        except csv.Error as error:
            raise DataError(f"{path}: cannot parse as {kind} near line {reader.line_num} ({error})") from None
        chosen = stream.encoding
    table = pd.DataFrame(rows, columns=columns, dtype=object)
    table.index = range(1, len(table) + 1)
    table.attrs.update(lines=lines, encoding=chosen)
    return table


def _read_jsonl(path: Path, encoding: str | None) -> pd.DataFrame:
    import pandas as pd

    records: list[dict] = []
    lines: list[int] = []
    with open_text(path, encoding) as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}: line {number} is not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise DataError(
                    f"{path}: line {number} is not a JSON object",
                    expected='one {"column": value, ...} object per line',
                    found=type(record).__name__,
                )
            records.append(record)
            lines.append(number)
        chosen = stream.encoding
    if not records:
        raise DataError(f"{path}: the file is empty", hint="expected one JSON object per line")
    table = pd.DataFrame.from_records(records)
    table.index = range(1, len(table) + 1)
    table.attrs.update(lines=lines, encoding=chosen)
    return table


def _read_parquet(path: Path) -> pd.DataFrame:
    import pandas as pd

    try:
        table = pd.read_parquet(path)
    except ImportError as error:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow", hint="pip install 'mobilebert-edge[parquet]'"
        ) from error
    except (OSError, ValueError) as error:  # pyarrow: ArrowInvalid (ValueError), ArrowIOError (OSError)
        raise DataError(f"{path}: cannot read as Parquet ({error})") from None
    table = table.reset_index(drop=True)
    table.index = range(1, len(table) + 1)
    return table
