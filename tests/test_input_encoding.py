"""One encoding detection for train, score and evaluate: a file reads the same way, with no flags, in each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from score_helpers import read_table

from edge_runtime.scoring.files import score_file
from mobilebert_edge.cli import main
from mobilebert_edge.data import load_labelled

# Like the tutorial's file: mostly UTF-8-looking accents (which cp949 also decodes), and one
# review whose bytes only cp949 decodes. Guessing "mostly UTF-8" flagged that review in score.
ROWS = [f"review {i}: a clich\u00e9 d\u00e9cor, na\u00efve but fine" for i in range(8)] + ["the same route\u2026but later"]
NOTE = "not UTF-8, read as cp949 (pass --encoding to choose another)"


@pytest.fixture()
def tutorial_like(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    lines = [b"Text,Sentiment"]
    lines += [f'"{text}",{i % 2}'.encode("utf-8") for i, text in enumerate(ROWS[:-1])]
    lines.append(f'"{ROWS[-1]}",1'.encode("cp949"))
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    return path


def test_score_reads_the_file_as_train_does(tmp_path: Path, tiny_bundle_fp32: Path, tutorial_like: Path, capsys) -> None:
    trained_on = load_labelled(tutorial_like, log=lambda _: None).texts
    assert main(["score", str(tiny_bundle_fp32), str(tutorial_like), "--out", str(tmp_path / "out.csv"),
                 "--no-progress"]) == 0
    rows = read_table(tmp_path / "out.csv")
    assert [row["Text"] for row in rows] == trained_on
    assert [row["error"] for row in rows] == [""] * len(ROWS)
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == [f"{tutorial_like}: {NOTE}",
                       f"{tutorial_like}: text column 'Text' (inferred; override with --text-column)"]


def test_evaluate_reads_the_file_as_train_does(tiny_bundle_fp32: Path, tutorial_like: Path, capsys) -> None:
    assert main(["evaluate", str(tiny_bundle_fp32), str(tutorial_like), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["examples"] == len(ROWS)
    assert err.splitlines()[0] == f"{tutorial_like}: {NOTE}"


def test_a_given_encoding_or_a_utf8_file_prints_no_note(tmp_path: Path, tiny_bundle_fp32: Path, tutorial_like: Path,
                                                          capsys) -> None:
    utf8 = tmp_path / "utf8.csv"
    utf8.write_text("Text,Sentiment\n" + "".join(f'"{text}",1\n' for text in ROWS), encoding="utf-8")
    for path, extra in ((utf8, []), (tutorial_like, ["--encoding", "cp949"])):
        assert main(["evaluate", str(tiny_bundle_fp32), str(path), "--no-progress", *extra]) == 0
        assert NOTE not in capsys.readouterr().err


def test_score_says_which_text_column_it_took(tmp_path: Path, tiny_bundle_fp32: Path, capsys) -> None:
    path = tmp_path / "comments.csv"
    path.write_text("title,comment,stars\nA film,loved every minute,5\n", encoding="utf-8")
    assert main(["score", str(tiny_bundle_fp32), str(path), "--out", str(tmp_path / "a.csv"), "--no-progress"]) == 0
    assert f"{path}: text column 'comment' (inferred; override with --text-column)\n" in capsys.readouterr().err
    assert main(["score", str(tiny_bundle_fp32), str(path), "--out", str(tmp_path / "b.csv"), "--no-progress",
                 "--text-column", "title"]) == 0
    assert f"{path}: text column 'title' (given)\n" in capsys.readouterr().err


def test_a_file_nothing_decodes_is_still_scored_with_its_bad_rows_flagged(tmp_path: Path, tiny_bundle_fp32: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"text\ncaf\xc3\xa9 lovely\nbroken \xff\xfe bytes\n")
    summary = score_file(tiny_bundle_fp32, path, tmp_path / "out.csv", progress=False)
    errors = [row["error"] for row in read_table(tmp_path / "out.csv")]
    assert summary.errors == 1 and errors == ["", "undecodable bytes (utf-8) in column 'text'"]


@pytest.mark.slow
def test_the_tutorial_file_scores_and_evaluates_with_no_flags(shared_data: Path, tiny_bundle_fp32: Path,
                                                               tmp_path: Path, capsys) -> None:
    tutorial = shared_data / "imdb_reviews_sample.csv"
    summary = score_file(tiny_bundle_fp32, tutorial, tmp_path / "out.csv", progress=False)
    assert (summary.rows, summary.errors) == (1000, 0)
    assert main(["evaluate", str(tiny_bundle_fp32), str(tutorial), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["examples"] == 1000
    assert err.splitlines()[0] == f"{tutorial}: {NOTE}"
