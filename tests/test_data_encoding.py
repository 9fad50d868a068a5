"""Encoding detection and the strict text stream (edge_runtime.encoding)."""

from __future__ import annotations

import codecs
import gzip
import re
from pathlib import Path

import pytest

from edge_runtime.encoding import detect_encoding, open_text
from edge_runtime.errors import InputError

KOREAN = "text,label\n이 영화 정말 좋아요,1\n지루하고 별로였다,0\n"


def test_utf8_plain_and_gzip_by_magic_bytes(tmp_path: Path) -> None:
    plain = tmp_path / "a.csv"
    plain.write_text("text,label\ncafé,1\n", encoding="utf-8")
    hidden_gzip = tmp_path / "b.csv"  # gzip'd content without a .gz suffix
    hidden_gzip.write_bytes(gzip.compress("text,label\ncafé,1\n".encode("utf-8")))
    for path in (plain, hidden_gzip):
        assert detect_encoding(path) == "utf-8"
        with open_text(path) as stream:
            assert stream.read() == "text,label\ncafé,1\n"


def test_cp949_korean_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "ko.csv"
    path.write_bytes(KOREAN.encode("cp949"))
    assert detect_encoding(path) == "cp949"
    with open_text(path) as stream:
        assert stream.read() == KOREAN


@pytest.mark.parametrize(
    ("bom_text", "encoding", "expected"),
    [
        (codecs.BOM_UTF8 + "t,l\né,1\n".encode("utf-8"), None, "utf-8-sig"),
        ("t,l\né,1\n".encode("utf-16"), None, "utf-16"),
    ],
)
def test_byte_order_marks(tmp_path: Path, bom_text: bytes, encoding: None, expected: str) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(bom_text)
    assert detect_encoding(path) == expected
    with open_text(path) as stream:
        assert stream.read() == "t,l\né,1\n"  # the BOM itself is not part of the text


def test_neither_utf8_nor_cp949_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(b"text,label\n\xff\xfe\xfa bad,1\n")  # \xff is invalid in both
    with pytest.raises(InputError, match=re.escape(f"{path}: not UTF-8 or cp949 text; pass --encoding")):
        detect_encoding(path)


def test_explicit_encoding_override(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\nna\u00efve \u00ff,1\n".encode("latin-1"))
    with open_text(path, encoding="latin-1") as stream:
        assert "naïve ÿ" in stream.read()
    with pytest.raises(InputError, match=re.escape("unknown text encoding 'nope'")):
        open_text(path, encoding="nope")


def test_bad_byte_beyond_the_sample_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "deep.csv"
    path.write_bytes(b"text,label\n" + "é,1\n".encode("utf-8") * 5000 + b"caf\xe9 \xff,1\n")
    # the sample (4 KiB) looks like UTF-8; the whole file is neither UTF-8 nor cp949
    with pytest.raises(InputError, match=re.escape(f"{path}: not UTF-8 or cp949 text (first bad byte: line 5002, byte 25014)")):
        detect_encoding(path, sample_bytes=4096)
    # with an explicit encoding, the stream itself reports the line when it reaches it
    with open_text(path, encoding="utf-8") as stream:
        with pytest.raises(InputError, match=re.escape(f"{path}: not valid utf-8 text at line 5002, byte 25014")):
            stream.read()


def test_whole_file_decides_when_utf8_sample_hides_a_cp949_byte(tmp_path: Path) -> None:
    # ASCII sample, then a cp949-only pair far inside: the whole file decodes as cp949 only
    path = tmp_path / "late.csv"
    path.write_bytes(b"text,label\n" + b"plain,1\n" * 2000 + "좋다,1\n".encode("cp949"))
    assert detect_encoding(path, sample_bytes=1024) == "cp949"
    assert detect_encoding(path, sample_bytes=1024, verify=False) == "utf-8"


def test_bad_byte_split_across_chunks_reports_offset(tmp_path: Path) -> None:
    path = tmp_path / "mb.txt"
    path.write_bytes(("é" * 40000 + "\n").encode("utf-8") + b"x\xff")  # 80,001 bytes, then the bad one
    with open_text(path, encoding="utf-8") as stream:
        with pytest.raises(InputError, match=re.escape("at line 2, byte 80002")):
            stream.read()


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=re.escape(f"{tmp_path / 'nope.csv'}: no such file")):
        open_text(tmp_path / "nope.csv")
    with pytest.raises(InputError, match=re.escape(f"{tmp_path}: is a folder, not a file")):
        detect_encoding(tmp_path)


def test_line_iteration_keeps_newlines(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes(b"a\r\nb\nc")
    with open_text(path) as stream:
        assert list(stream) == ["a\r\n", "b\n", "c"]


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_damaged_gzip_is_a_clear_error(tmp_path: Path, damage: str) -> None:
    data = gzip.compress(b"text,label\n" + b"some text here,1\n" * 20000)
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data = data[:-8] + b"\x00" * 8  # wrong CRC and length
    path = tmp_path / "d.csv.gz"
    path.write_bytes(data)
    with pytest.raises(InputError, match=re.escape(f"{path}: cannot read the file (")) as caught:
        with open_text(path, sample_bytes=1024) as stream:
            stream.read()
    assert str(caught.value).endswith("; is the gzip file complete?")
