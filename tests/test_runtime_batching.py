"""Batching: rows and padded tokens per model call are capped, every text is run once, results unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import varied_texts

from edge_runtime import Classifier
from edge_runtime.batching import plan_batches
from edge_runtime.errors import InputError
from mobilebert_edge.cli import main

TEXTS = [t for t in varied_texts() if t.strip()][:80]  # blank texts are refused, not classified


@pytest.fixture(scope="module")
def clf(tiny_bundle_fp32: Path) -> Classifier:
    return Classifier.load(tiny_bundle_fp32, threads=1)


def test_plan_caps_rows_and_padded_tokens():
    lengths = [5, 40, 3, 12, 12, 40, 7, 30, 2, 40]
    batches = plan_batches(lengths, batch_size=3, batch_tokens=64)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))  # each text exactly once
    for batch in batches:
        widths = [lengths[i] for i in batch]
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(widths) <= 64
    flat = [lengths[i] for batch in batches for i in batch]
    assert flat == sorted(lengths)  # shortest first
    assert [lengths[i] for i in batches[-1]] == [40]  # 2 x 40 > 64: the longest run one per call
    assert plan_batches(lengths, batch_size=3, batch_tokens=None) == [[8, 2, 0], [6, 3, 4], [7, 1, 5], [9]]


def test_plan_runs_a_text_longer_than_the_budget_alone():
    assert plan_batches([100, 4, 4], batch_size=8, batch_tokens=10) == [[1, 2], [0]]
    assert plan_batches([], batch_size=8, batch_tokens=10) == []


def test_model_calls_respect_the_caps(clf, monkeypatch):
    shapes = []
    run = clf._run

    def spy(batch):
        shapes.append(batch.input_ids.shape)
        return run(batch)

    monkeypatch.setattr(clf, "_run", spy)
    clf.predict_proba(TEXTS, batch_size=16, batch_tokens=320)
    assert sum(rows for rows, _ in shapes) == len(TEXTS)
    assert all(rows <= 16 and (rows == 1 or rows * width <= 320) for rows, width in shapes)
    assert any(rows == 16 for rows, _ in shapes) and any(rows < 16 for rows, _ in shapes)  # both caps bit


def test_token_budget_does_not_change_results(clf):
    single = np.vstack([clf.predict_proba([t], batch_size=1) for t in TEXTS])
    for batch_size, batch_tokens in ((64, None), (64, 64), (8, 4096), (3, 1)):
        found = clf.predict_proba(TEXTS, batch_size=batch_size, batch_tokens=batch_tokens)
        np.testing.assert_allclose(found, single, atol=1e-5)
    streamed = np.vstack(list(clf.iter_proba(iter(TEXTS), batch_size=4, chunk_size=7, batch_tokens=50)))
    np.testing.assert_allclose(streamed, single, atol=1e-5)


def test_bad_token_budget_is_one_clear_error(clf, tiny_bundle_fp32, tmp_path, capsys):
    with pytest.raises(InputError, match=re.escape("batch_tokens must be a positive integer (expected >= 1, found 0)")):
        clf.predict_proba(["a"], batch_tokens=0)
    assert main(["predict", str(tiny_bundle_fp32), "x", "--batch-tokens", "0"]) == 2
    assert "--batch-tokens: expected a positive integer, found '0'" in capsys.readouterr().err
    table = tmp_path / "in.csv"
    table.write_text("text\ngood\n", encoding="utf-8")
    assert main(["score", str(tiny_bundle_fp32), str(table), "--out", str(tmp_path / "out.csv"), "--batch-tokens", "0"]) == 2
    assert "--batch-tokens: expected a positive integer, found '0'" in capsys.readouterr().err


def test_score_at_a_token_budget_equals_predict(clf, tiny_bundle_fp32, tmp_path):
    import csv

    table = tmp_path / "in.csv"
    with open(table, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text"], *[[t] for t in TEXTS if t.strip()]])
    out = tmp_path / "out.csv"
    assert main(["score", str(tiny_bundle_fp32), str(table), "--out", str(out), "--batch-tokens", "40",
                 "--no-progress"]) == 0
    with open(out, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = clf.predict_proba([r["text"] for r in rows], batch_size=1)
    np.testing.assert_allclose([[float(r[f"prob_{label}"]) for label in clf.labels] for r in rows], expected, atol=1e-5)
