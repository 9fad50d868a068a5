"""Batch scoring of files: parity with Classifier.predict, formats, bad rows, columns, CLI errors."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from score_helpers import read_table, review_rows, write_table

from edge_runtime import Classifier
from edge_runtime.scoring.tables import ScoreError
from edge_runtime.scoring import score_file, score_texts
from mobilebert_edge.cli import main

REPO = Path(__file__).resolve().parents[1]
ROWS = review_rows(230)


@pytest.fixture(scope="module")
def bundle(tiny_bundle) -> Path:
    """The int8 bundle (what export makes by default)."""
    return tiny_bundle


@pytest.fixture(scope="module")
def clf(tiny_bundle_fp32) -> Classifier:
    return Classifier.load(tiny_bundle_fp32, threads=1)


@pytest.fixture(scope="module")
def reference(clf) -> np.ndarray:
    return clf.predict_proba([row["text"] for row in ROWS])


def test_scored_csv_equals_classifier_predict(tmp_path, tiny_bundle_fp32, clf):
    # batch composition does not change results (fp32, and static int8: tests/test_export_invariance.py)
    src = write_table(tmp_path / "reviews.csv", ROWS)
    summary = score_file(tiny_bundle_fp32, src, tmp_path / "scored.csv", chunk_rows=50, batch_size=8, progress=False)
    out = read_table(tmp_path / "scored.csv")
    predictions = clf.predict([row["text"] for row in ROWS])
    assert summary.rows == len(out) == len(ROWS) and summary.errors == 0
    assert list(out[0]) == ["id", "text", "stars", "label", "score", "prob_negative", "prob_positive", "error"]
    for row, source, pred in zip(out, ROWS, predictions):
        assert (row["id"], row["text"], row["stars"]) == (str(source["id"]), source["text"], str(source["stars"]))
        assert row["label"] == pred.label and row["error"] == ""
        assert float(row["score"]) == pytest.approx(pred.score, abs=1e-5)
        assert float(row["prob_positive"]) == pytest.approx(pred.probabilities["positive"], abs=1e-5)
    assert len({row["label"] for row in out}) == 2  # the tiny model really separates texts


def test_int8_scores_equal_predict_one_text_at_a_time(tmp_path, bundle):
    int8 = Classifier.load(bundle, threads=1)
    src = write_table(tmp_path / "reviews.csv", ROWS[:60])
    score_file(bundle, src, tmp_path / "scored.jsonl", chunk_rows=25, batch_size=1, progress=False)
    out = read_table(tmp_path / "scored.jsonl")
    expected = int8.predict([row["text"] for row in ROWS[:60]], batch_size=1)
    assert [row["label"] for row in out] == [p.label for p in expected]
    assert [row["prob_negative"] for row in out] == [p.probabilities["negative"] for p in expected]


@pytest.mark.parametrize(
    ("source", "target"),
    [("in.tsv", "out.tsv"), ("in.jsonl.gz", "out.jsonl"), ("in.parquet", "out.parquet"),
     ("in.csv.gz", "out.parquet"), ("in.jsonl", "out.csv.gz"), ("in.parquet", "out.jsonl.gz")],
)
def test_formats_round_trip(tmp_path, tiny_bundle_fp32, reference, source, target):
    src = write_table(tmp_path / source, ROWS)
    score_file(tiny_bundle_fp32, src, tmp_path / target, chunk_rows=64, progress=False)
    out = read_table(tmp_path / target)
    assert [str(row["id"]) for row in out] == [str(row["id"]) for row in ROWS]
    assert [row["text"] for row in out] == [row["text"] for row in ROWS]
    probs = np.array([[float(row["prob_negative"]), float(row["prob_positive"])] for row in out])
    np.testing.assert_allclose(probs, reference, atol=1e-5)
    if target.endswith(".parquet") and source.endswith(".parquet"):
        import pyarrow.parquet as pq

        schema = pq.read_schema(tmp_path / target)
        assert str(schema.field("id").type) == "int64" and str(schema.field("prob_positive").type) == "double"


def test_bad_rows_are_kept_flagged_and_counted(tmp_path, bundle, capsys):
    lines = [b"id,text,stars", b"0,a great film,9", b"1,,3", b'2,"   ",3', b"3,caf\xc3\xa9 was lovely,8",
             b"4,broken \xff\xfe bytes here,5", b"5,too,many,fields", b"6,a dull film,2"]
    src = tmp_path / "bad.csv"
    src.write_bytes(b"\n".join(lines) + b"\n")
    code = main(["score", str(bundle), str(src), "--out", str(tmp_path / "out.jsonl"), "--no-progress"])
    assert code == 0
    out = read_table(tmp_path / "out.jsonl")
    assert [row["id"] for row in out] == [str(i) for i in range(7)]
    errors = [row["error"] for row in out]
    assert errors[0] == errors[3] == errors[6] == ""
    assert errors[1] == errors[2] == "empty text"
    assert errors[4] == "undecodable bytes (utf-8) in column 'text'"
    assert errors[5] == "row has 4 fields, the header has 3"
    assert out[3]["text"] == "café was lovely" and out[4]["text"] == "broken \ufffd\ufffd bytes here"
    for row in out:
        assert (row["label"] is None) == bool(row["error"]) and (row["prob_positive"] is None) == bool(row["error"])
    err = capsys.readouterr().err
    assert "scored 7 rows (4 errors)" in err and "2 rows: empty text" in err


def test_cp949_file_whose_first_megabyte_is_ascii(tmp_path, bundle):
    src = tmp_path / "tutorial-like.csv"
    filler = "".join(f"{i},plain ascii review number {i} {'x' * 40}\n" for i in range(17_000))  # > 1 MiB
    src.write_bytes(("id,Text\n" + filler + "17000,좋은 영화 good film\n").encode("cp949"))
    summary = score_file(bundle, src, tmp_path / "out.csv", progress=False)
    last = read_table(tmp_path / "out.csv")[-1]
    assert summary.errors == 0 and last["Text"] == "좋은 영화 good film" and last["label"]


def test_missing_and_invalid_jsonl_rows(tmp_path, bundle):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"text": "fine film", "id": 1}\n{"id": 2}\n{"text": null, "id": 3}\nnot json\n[1, 2]\n'
                    b'{"text": "ok", "id": 6, "extra": true}\n')
    summary = score_file(bundle, src, tmp_path / "out.csv", progress=False)
    out = read_table(tmp_path / "out.csv")
    assert list(out[0])[:3] == ["text", "id", "extra"]
    assert [row["error"] for row in out] == ["", "missing text", "missing text",
                                            "invalid JSON (Expecting value at column 1)", "line is a JSON list, not an object", ""]
    assert out[5]["extra"] == "true" and summary.errors == 4 and summary.rows == 6


def test_prediction_columns_get_a_prefix_when_input_has_them(tmp_path, bundle):
    src = write_table(tmp_path / "in.csv", [{"text": r["text"], "label": r["stars"] % 2} for r in ROWS[:5]])
    score_file(bundle, src, tmp_path / "out.csv", progress=False)
    out = read_table(tmp_path / "out.csv")
    assert list(out[0]) == ["text", "label", "pred_label", "pred_score", "pred_prob_negative",
                            "pred_prob_positive", "pred_error"]
    assert out[0]["label"] == str(ROWS[0]["stars"] % 2) and out[0]["pred_label"] in ("negative", "positive")


def test_text_column_is_inferred_or_named(tmp_path, bundle):
    src = write_table(tmp_path / "in.csv", [{"id": r["id"], "Review": r["text"]} for r in ROWS[:4]])
    assert score_file(bundle, src, tmp_path / "a.csv", progress=False).text_column == "Review"
    src = write_table(tmp_path / "in2.csv", [{"body_text": r["text"], "note": "x"} for r in ROWS[:4]])
    summary = score_file(bundle, src, tmp_path / "b.csv", text_column="body_text", progress=False)
    assert summary.text_column == "body_text" and summary.errors == 0
    with pytest.raises(ScoreError, match=re.escape("cannot tell which column holds the text (expected one of text, "
                                                   "review, sentence, content, body, comment, document, message, "
                                                   "found body_text, note); pass --text-column NAME")):
        score_file(bundle, src, tmp_path / "c.csv", progress=False)


def test_empty_input_gives_header_only(tmp_path, bundle):
    src = tmp_path / "empty.csv"
    src.write_text("id,text\n", encoding="utf-8")
    summary = score_file(bundle, src, tmp_path / "out.csv", progress=False)
    assert summary.rows == 0
    assert (tmp_path / "out.csv").read_text() == "id,text,label,score,prob_negative,prob_positive,error\n"


def test_failed_job_leaves_no_output(tmp_path, bundle, monkeypatch):
    import edge_runtime.scoring.files as scoring

    src = write_table(tmp_path / "in.csv", ROWS)
    calls = itertools.count()

    def failing(*args, **kwargs):
        if next(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    real = scoring.write_part
    monkeypatch.setattr(scoring, "write_part", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        score_file(bundle, src, tmp_path / "out.csv", chunk_rows=50, progress=False)
    assert not (tmp_path / "out.csv").exists()
    assert sorted(p.name for p in (tmp_path / "out.csv.partial").glob("part-*"))[:2] == ["part-000000.csv", "part-000000.json"]


def test_score_texts_is_lazy_and_matches_predict(tiny_bundle_fp32, clf):
    texts = itertools.cycle([row["text"] for row in ROWS[:7]])  # endless: only a lazy scorer returns
    got = list(itertools.islice(score_texts(tiny_bundle_fp32, texts, batch_size=4, chunk_size=5), 20))
    expected = clf.predict([row["text"] for row in ROWS[:7]] * 3)[:20]
    assert [p.label for p in got] == [p.label for p in expected]
    np.testing.assert_allclose([p.score for p in got], [p.score for p in expected], atol=1e-6)
    assert next(score_texts(clf, ["a great film"])).probabilities.keys() == {"negative", "positive"}


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t, b: [b, str(t / "nope.csv"), "--out", str(t / "o.csv")], "error: {t}/nope.csv: no such file; check the input path"),
        (lambda t, b: [b, str(t / "in.xlsx"), "--out", str(t / "o.csv")], "error: {t}/in.xlsx: cannot tell the table format"),
        (lambda t, b: [b, str(t / "in.csv"), "--out", str(t / "o.xml")], "error: {t}/o.xml: cannot tell the table format"),
        (lambda t, b: [b, str(t / "in.csv"), "--out", str(t / "o.csv"), "--text-column", "body"],
         "error: {t}/in.csv: no column 'body' (expected body, found id, text, stars); pass --text-column with one of the columns found"),
        (lambda t, b: [b, str(t / "in.csv"), "--out", str(t / "in.csv")], "error: {t}/in.csv: the output would overwrite the input"),
        (lambda t, b: [b, str(t / "in.csv"), "--out", str(t / "old.csv")], "error: {t}/old.csv: already exists; pass --overwrite to replace it"),
        (lambda t, b: [str(t), str(t / "in.csv"), "--out", str(t / "o.csv")], "error: "),
    ],
)
def test_cli_errors_are_one_line_exit_1(tmp_path, bundle, capsys, make_args, message):
    write_table(tmp_path / "in.csv", ROWS[:3])
    (tmp_path / "in.xlsx").write_bytes(b"x")
    (tmp_path / "old.csv").write_text("keep me")
    code = main(["score", *make_args(tmp_path, str(bundle))])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith(message.format(t=tmp_path)) and err.count("\n") == 1, err
    assert (tmp_path / "old.csv").read_text() == "keep me" and not (tmp_path / "o.csv").exists()


def test_cli_in_a_subprocess(tmp_path, bundle):
    src = write_table(tmp_path / "in.csv", ROWS[:40])
    done = subprocess.run([sys.executable, "-m", "mobilebert_edge", "score", str(bundle), str(src), "--out",
                           str(tmp_path / "out.parquet"), "--workers", "2", "--chunk-rows", "16"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "scored 40 rows (0 errors)" in done.stderr
    assert len(read_table(tmp_path / "out.parquet")) == 40
