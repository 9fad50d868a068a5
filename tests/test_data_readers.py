"""Reading data files: formats, gzip, encodings and clear errors for unusable files."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from mobilebert_edge.data import DataError, load_labelled
from mobilebert_edge.data.readers import read_table
from edge_runtime.errors import InputError

ROWS = [("a fine film", "positive"), ("dull, slow", "negative"), ("loved it", "positive"), ("meh", "negative")]


def quiet(_: str) -> None:
    """A log callable that drops messages."""


def write_csv(path: Path, rows=ROWS, header=("text", "label"), sep=",", encoding="utf-8") -> Path:
    frame = pd.DataFrame(rows, columns=list(header))
    frame.to_csv(path, sep=sep, index=False, encoding=encoding)
    return path


def write_jsonl(path: Path, rows=ROWS) -> Path:
    text = "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows)
    path.write_text(text, encoding="utf-8")
    return path


def expected() -> tuple[list[str], list[int]]:
    return [t for t, _ in ROWS], [1 if lab == "positive" else 0 for _, lab in ROWS]


@pytest.mark.parametrize("name", ["d.csv", "d.tsv", "d.jsonl", "d.parquet", "d.csv.gz", "d.tsv.gz", "d.jsonl.gz"])
def test_each_format_loads_the_same(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    stem = name.removesuffix(".gz")
    plain = tmp_path / ("plain-" + stem)
    if stem.endswith(".csv"):
        write_csv(plain)
    elif stem.endswith(".tsv"):
        write_csv(plain, sep="\t")
    elif stem.endswith(".jsonl"):
        write_jsonl(plain)
    else:
        pd.DataFrame(ROWS, columns=["text", "label"]).to_parquet(plain)
    data = plain.read_bytes()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    loaded = load_labelled(path, log=quiet)
    assert (loaded.texts, loaded.labels) == expected()
    assert loaded.label_names == ["negative", "positive"]
    assert loaded.rows == [1, 2, 3, 4]
    assert loaded.source == str(path)


def test_gzip_detected_by_content_not_suffix(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(gzip.compress(write_csv(tmp_path / "x.csv").read_bytes()))
    assert load_labelled(path, log=quiet).texts == expected()[0]


def test_cp949_file_loads_without_flags(tmp_path: Path) -> None:
    rows = [("이 영화 정말 좋아요", "1"), ("지루하고 별로였다", "0"), ("최고의 영화", "1")]
    path = write_csv(tmp_path / "ko.csv", rows=rows, encoding="cp949")
    messages: list[str] = []
    loaded = load_labelled(path, log=messages.append)
    assert loaded.texts == [t for t, _ in rows]
    assert loaded.labels == [1, 0, 1]
    assert messages[0] == f"{path}: not UTF-8, read as cp949 (pass --encoding to choose another)"


def test_file_neither_utf8_nor_cp949_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"text,label\nbad \xff\xfe byte,1\nok,0\n")
    with pytest.raises(InputError, match=re.escape(f"{path}: not UTF-8 or cp949 text; pass --encoding")):
        load_labelled(path, log=quiet)


def test_explicit_encoding(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "latin.csv", rows=[("naïve ÿ", "1"), ("plain", "0")], encoding="latin-1")
    assert load_labelled(path, encoding="latin-1", log=quiet).texts == ["naïve ÿ", "plain"]


def test_multiline_quoted_fields_keep_row_and_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('text,label\n"line one\nline two",1\n"",0\nok,0\n', encoding="utf-8")
    table = read_table(path)
    assert list(table.index) == [1, 2, 3]
    assert table.attrs["lines"] == [2, 4, 5]
    with pytest.raises(DataError, match=re.escape(f"{path}: 1 bad row (row 2 (line 4): empty text)")):
        load_labelled(path, log=quiet)


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=re.escape(f"{path}: no such file; check the path")):
        load_labelled(path, log=quiet)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=re.escape(f"{tmp_path}: is a folder, not a data file; pass a file: .csv")):
        load_labelled(tmp_path, log=quiet)


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(f"{path}: the file is empty; expected a header line and data rows")):
        load_labelled(path, log=quiet)


def test_empty_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv.gz"
    path.write_bytes(gzip.compress(b""))
    with pytest.raises(DataError, match=re.escape(f"{path}: the file is empty")):
        load_labelled(path, log=quiet)


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}: no data rows; only a header was found (text, label)")):
        load_labelled(path, log=quiet)


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(DataError, match=re.escape(f"{path}: unknown data format (expected .csv, .tsv, .jsonl or .parquet")):
        load_labelled(path, log=quiet)


def test_too_many_fields_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("text,label\nfine,1\nnot, quoted,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}: line 3 has 3 fields, the header has 2")):
        load_labelled(path, log=quiet)


def test_unparseable_csv_quote(tmp_path: Path) -> None:
    path = tmp_path / "quote.csv"
    path.write_text('text,label\n"open quote" x,1\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}: cannot parse as CSV near line 2")):
        load_labelled(path, log=quiet)


def test_invalid_json_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": 1}\n\n{"text": "b", "label": \n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}: line 3 is not valid JSON (Expecting value)")):
        load_labelled(path, log=quiet)


def test_json_line_that_is_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "list.jsonl"
    path.write_text('{"text": "a", "label": 1}\n["b", 0]\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}: line 2 is not a JSON object")):
        load_labelled(path, log=quiet)


def test_damaged_parquet(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(DataError, match=re.escape(f"{path}: cannot read as Parquet")):
        load_labelled(path, log=quiet)


def test_duplicate_header_column(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("text,text,label\na,b,1\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}: the header names column 'text' twice")):
        load_labelled(path, log=quiet)


def test_parquet_missing_values_are_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "na.parquet"
    frame = pd.DataFrame({"text": ["a", None, "c", "d"], "label": pd.array([1, 0, None, 0], dtype="Int64")})
    frame.to_parquet(path)
    with pytest.raises(DataError, match=re.escape(f"{path}: 2 bad rows (row 2: missing text; row 3: missing label)")):
        load_labelled(path, log=quiet)
    loaded = load_labelled(path, skip_bad_rows=True, log=quiet)
    assert (loaded.texts, loaded.labels, loaded.label_names, loaded.rows) == (["a", "d"], [1, 0], ["0", "1"], [1, 4])
