"""--min-confidence P: the rows whose top probability is below P are flagged unsure (score, predict, Classifier)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from score_helpers import read_table, review_rows, write_table

from edge_runtime import Classifier
from edge_runtime.confidence import unsure
from edge_runtime.errors import InputError
from edge_runtime.scoring import score_file
from mobilebert_edge.cli import main

ROWS = review_rows(80, seed=5)
TEXTS = [row["text"] for row in ROWS]


@pytest.fixture(scope="module")
def scores(tiny_bundle_fp32) -> np.ndarray:
    return Classifier.load(tiny_bundle_fp32, threads=1).predict_proba(TEXTS).max(axis=1)


@pytest.fixture(scope="module")
def threshold(scores) -> float:
    """A P with texts on both sides of it."""
    p = float(np.median(scores))
    assert (scores < p).sum() > 5 and (scores >= p).sum() > 5
    return p


def test_the_rule_is_strictly_below():
    flags = unsure(np.array([0.5, 0.7, 0.70000001, 1.0]), 0.7)
    assert flags.tolist() == [True, False, False, False]
    assert unsure(np.array([0.5, 1.0]), None).tolist() == [False, False]
    assert unsure(np.array([0.5, 1.0]), 0.0).tolist() == [False, False]
    assert unsure(np.array([0.5, 0.99]), 1.0).tolist() == [True, True]


def test_classifier_flags_exactly_the_predictions_below(tiny_bundle_fp32, scores, threshold):
    clf = Classifier.load(tiny_bundle_fp32, threads=1, min_confidence=threshold)
    predictions = clf.predict(TEXTS)
    assert [p.unsure for p in predictions] == (scores < threshold).tolist()
    plain = Classifier.load(tiny_bundle_fp32, threads=1).predict(TEXTS)
    assert [p.label for p in plain] == [p.label for p in predictions] and not any(p.unsure for p in plain)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", True])
def test_classifier_refuses_a_non_probability(tiny_bundle_fp32, bad):
    with pytest.raises(InputError, match=re.escape("min_confidence must be a probability (expected a number in [0, 1]")):
        Classifier.load(tiny_bundle_fp32, min_confidence=bad)


def test_score_flags_exactly_the_rows_below(tmp_path, tiny_bundle_fp32, scores, threshold):
    rows = ROWS[:40] + [{"id": 999, "text": "   ", "stars": 1}] + ROWS[40:]
    src = write_table(tmp_path / "in.csv", rows)
    summary = score_file(tiny_bundle_fp32, src, tmp_path / "out.csv", chunk_rows=16, min_confidence=threshold,
                         progress=False)
    out = read_table(tmp_path / "out.csv")
    assert list(out[0])[-3:] == ["prob_positive", "unsure", "error"]
    flags = [row["unsure"] for row in out]
    assert flags[40] == "" and out[40]["error"] == "empty text"
    del flags[40]
    assert flags == ["true" if s < threshold else "false" for s in scores]
    assert all(row["label"] for i, row in enumerate(out) if i != 40)  # flagged rows keep label and probabilities
    assert summary.unsure == int((scores < threshold).sum())
    assert f", {summary.unsure:,} below --min-confidence {threshold:g}" in summary.line()


def test_score_without_the_option_has_no_unsure_column(tmp_path, tiny_bundle_fp32):
    src = write_table(tmp_path / "in.jsonl", ROWS[:5])
    summary = score_file(tiny_bundle_fp32, src, tmp_path / "out.jsonl", progress=False)
    assert "unsure" not in read_table(tmp_path / "out.jsonl")[0] and "below" not in summary.line()


def test_score_cli_counts_the_unsure_rows(tmp_path, tiny_bundle_fp32, scores, capsys):
    src = write_table(tmp_path / "in.csv", ROWS)
    assert main(["score", str(tiny_bundle_fp32), str(src), "--out", str(tmp_path / "o.csv"),
                 "--min-confidence", "1", "--no-progress"]) == 0
    assert f"(0 errors, {len(ROWS)} below --min-confidence 1)" in capsys.readouterr().err
    assert {row["unsure"] for row in read_table(tmp_path / "o.csv")} == {"true"}


def test_predict_flags_text_and_json(tiny_bundle_fp32, scores, threshold, capsys):
    assert main(["predict", str(tiny_bundle_fp32), "--min-confidence", repr(threshold), *TEXTS[:20]]) == 0
    captured = capsys.readouterr()
    fields = [line.split("\t") for line in captured.out.splitlines()]
    assert [f[2] for f in fields] == ["unsure" if s < threshold else "sure" for s in scores[:20]]
    assert [f[3] for f in fields] == TEXTS[:20]
    assert f"{int((scores[:20] < threshold).sum())} of 20 texts below --min-confidence" in captured.err
    assert main(["predict", str(tiny_bundle_fp32), "--json", "--min-confidence", "0", *TEXTS[:3]]) == 0
    assert [json.loads(line)["unsure"] for line in capsys.readouterr().out.splitlines()] == [False] * 3


@pytest.mark.parametrize("value", ["1.5", "-0.1", "nan", "high"])
@pytest.mark.parametrize("command", ["predict", "score"])
def test_a_threshold_outside_0_1_is_a_usage_error(tmp_path, tiny_bundle_fp32, capsys, command, value):
    extra = [str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv")] if command == "score" else ["a text"]
    assert main([command, str(tiny_bundle_fp32), *extra, f"--min-confidence={value}"]) == 2
    err = capsys.readouterr().err
    assert f"error: argument --min-confidence: expected a probability in [0, 1], found {value!r}" in err


def test_ray_engine_refuses_min_confidence(tmp_path, tiny_bundle_fp32):
    from edge_runtime.scoring.tables import ScoreError

    src = write_table(tmp_path / "in.csv", ROWS[:3])
    with pytest.raises(ScoreError, match=re.escape("--min-confidence is not available with --engine ray; use --engine local")):
        score_file(tiny_bundle_fp32, src, tmp_path / "out", engine="ray", min_confidence=0.5)
