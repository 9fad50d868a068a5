"""Evaluation metrics: against scikit-learn on random data, known cases by hand, chunked = whole."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_runtime.evaluation.metrics import (
    bin_index, brier_score, calibration_sums, confusion_matrix, expected_calibration_error, macro_f1, per_class,
)
from edge_runtime.evaluation.run import evaluate_arrays
from edge_runtime.evaluation.tally import PairTally, Tally

sklearn_metrics = pytest.importorskip("sklearn.metrics")
sklearn_calibration = pytest.importorskip("sklearn.calibration")


def random_case(seed: int, n: int, k: int, skill: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Label ids and probabilities that lean towards the true label."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k))
    logits[np.arange(n), gold] += skill
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return gold, probs


def rounded(value: object) -> object:
    """``value`` with every float rounded to 10 decimals (dicts and lists followed)."""
    if isinstance(value, float):
        return round(value, 10)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [rounded(item) for item in value]
    return value


@pytest.mark.parametrize(("seed", "n", "k"), [(0, 500, 2), (1, 1000, 3), (2, 300, 5), (3, 40, 7)])
def test_classification_metrics_match_sklearn(seed: int, n: int, k: int) -> None:
    gold, probs = random_case(seed, n, k)
    predicted = probs.argmax(axis=1)
    labels = list(range(k))
    assert confusion_matrix(gold, predicted, k).tolist() == sklearn_metrics.confusion_matrix(gold, predicted, labels=labels).tolist()
    result = evaluate_arrays(probs, gold, [f"c{i}" for i in labels])
    precision, recall, f1, support = sklearn_metrics.precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0)
    np.testing.assert_allclose([c["precision"] for c in result["per_class"]], precision, atol=1e-12)
    np.testing.assert_allclose([c["recall"] for c in result["per_class"]], recall, atol=1e-12)
    np.testing.assert_allclose([c["f1"] for c in result["per_class"]], f1, atol=1e-12)
    assert [c["support"] for c in result["per_class"]] == support.tolist()
    assert result["accuracy"] == pytest.approx(sklearn_metrics.accuracy_score(gold, predicted), abs=1e-12)
    present = sorted(set(gold) | set(predicted))
    expected_f1 = sklearn_metrics.f1_score(gold, predicted, labels=present, average="macro", zero_division=0)
    assert result["macro_f1"] == pytest.approx(expected_f1, abs=1e-12)
    assert result["calibration"]["brier"] == pytest.approx(
        sklearn_metrics.brier_score_loss(gold, probs[:, 1] if k == 2 else probs, labels=labels if k > 2 else None),
        abs=1e-12)


def test_a_class_never_predicted_nor_present_is_left_out_of_macro_f1() -> None:
    gold, predicted = [0, 0, 1, 1], [0, 1, 1, 1]
    # class 2 occurs nowhere: macro-F1 over classes 0 and 1 only, like sklearn with those labels
    expected = sklearn_metrics.f1_score(gold, predicted, labels=[0, 1], average="macro")
    assert macro_f1(predicted, gold, 3) == pytest.approx(expected)
    stats = per_class(confusion_matrix(gold, predicted, 3))
    assert stats["precision"].tolist()[2] == 0.0 and stats["recall"].tolist()[2] == 0.0


def test_known_confusion_matrix_and_scores() -> None:
    labels = ["cat", "dog", "fox"]
    gold = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    predicted = [0, 1, 0, 1, 2, 2, 2, 0, 2]
    probs = np.full((len(gold), 3), 0.1)
    probs[np.arange(len(gold)), predicted] = 0.8
    result = evaluate_arrays(probs, gold, labels)
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [1, 0, 3]]
    cat, dog, fox = result["per_class"]
    assert (cat["precision"], cat["recall"], cat["support"]) == (pytest.approx(2 / 3), pytest.approx(2 / 3), 3)
    assert (dog["precision"], dog["recall"], dog["support"]) == (pytest.approx(1 / 2), pytest.approx(1 / 2), 2)
    assert (fox["precision"], fox["recall"], fox["support"]) == (pytest.approx(3 / 4), pytest.approx(3 / 4), 4)
    assert result["accuracy"] == pytest.approx(6 / 9)


def test_reliability_bins_match_sklearn_calibration_curve() -> None:
    gold, probs = random_case(4, 2000, 3, skill=2.0)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == gold
    accuracy, mean_confidence = sklearn_calibration.calibration_curve(correct, confidence, n_bins=10)
    bins = [b for b in evaluate_arrays(probs, gold, ["a", "b", "c"])["calibration"]["reliability"] if b["count"]]
    np.testing.assert_allclose([b["accuracy"] for b in bins], accuracy, atol=1e-12)
    np.testing.assert_allclose([b["confidence"] for b in bins], mean_confidence, atol=1e-12)


def test_ece_by_hand() -> None:
    # bin 0.9-1.0: confidence 0.95, accuracy 1/2 (gap 0.45); bin 0.6-0.7: confidence 0.65, accuracy 1 (gap 0.35)
    sums = calibration_sums(np.array([0.95, 0.95, 0.65, 0.65]), np.array([1, 0, 1, 1]))
    assert expected_calibration_error(sums) == pytest.approx(0.5 * 0.45 + 0.5 * 0.35)
    perfect = calibration_sums(np.array([1.0, 1.0]), np.array([1, 1]))
    assert expected_calibration_error(perfect) == 0.0
    assert bin_index(np.array([0.0, 0.1, 0.1000001, 1.0])).tolist() == [0, 0, 1, 9]  # (lo, hi]


def test_brier_by_hand() -> None:
    assert brier_score(np.array([[0.2, 0.8], [0.6, 0.4]]), [1, 1]) == pytest.approx((0.2**2 + 0.6**2) / 2)
    assert brier_score(np.array([[0.5, 0.25, 0.25]]), [0]) == pytest.approx(0.25 + 0.0625 * 2)


def test_chunked_tally_equals_one_pass() -> None:
    gold, probs = random_case(5, 777, 3)
    lengths = np.random.default_rng(5).integers(3, 200, len(gold))
    texts = [f"text {i}" for i in range(len(gold))]
    whole = Tally(["a", "b", "c"], max_length=64)
    whole.add(probs, gold, lengths=lengths, texts=texts, rows=range(1, len(gold) + 1))
    chunked = Tally(["a", "b", "c"], max_length=64)
    for start in range(0, len(gold), 100):
        part = slice(start, start + 100)
        chunked.add(probs[part], gold[part], lengths=lengths[part], texts=texts[part],
                    rows=range(start + 1, start + 1 + len(gold[part])))
    assert rounded(chunked.result()) == rounded(whole.result())  # sums in another order: equal to 1e-10
    mistakes = whole.result()["mistakes"]
    confidences = [m["confidence"] for m in mistakes]
    wrong = probs.argmax(axis=1) != gold
    assert len(mistakes) == 20 and confidences == sorted(confidences, reverse=True)
    assert confidences[0] == pytest.approx(probs.max(axis=1)[wrong].max(), abs=1e-4)
    first = mistakes[0]
    assert first["text"] == texts[first["row"] - 1] and first["label"] != first["predicted"]


def test_accuracy_by_length_has_an_edge_at_the_limit() -> None:
    lengths = np.array([2, 3, 4, 5, 6, 9, 30, 50])
    gold = np.zeros(8, dtype=int)
    predicted = np.array([0, 0, 0, 0, 1, 1, 1, 0])
    probs = np.eye(2)[predicted] * 0.8 + 0.1
    info = evaluate_arrays(probs, gold, ["a", "b"], lengths=lengths, max_length=5)["by_length"]
    assert info["truncated"] == 4  # 6, 9, 30 and 50 tokens are over 5
    bins = info["bins"]
    assert sum(b["count"] for b in bins) == 8
    last = bins[-1]
    assert last["high"] is None and last["low"] <= 20  # counts above 4 x max_length share the last bin
    over = [b for b in bins if b["low"] > 5]
    assert sum(b["count"] * b["accuracy"] for b in over) == pytest.approx(1)  # only the 50-token text is right


def test_no_length_bin_straddles_the_truncation_limit() -> None:
    rng = np.random.default_rng(7)
    lengths = rng.integers(1, 100, 1000)
    gold, probs = random_case(7, 1000, 2)
    bins = evaluate_arrays(probs, gold, ["a", "b"], lengths=lengths, max_length=37)["by_length"]["bins"]
    assert 6 <= len(bins) <= 10 and sum(b["count"] for b in bins) == 1000
    assert all((b["high"] is not None and b["high"] <= 37) or b["low"] > 37 for b in bins)
    assert any(b["high"] == 37 for b in bins)


def test_a_sliver_of_a_length_bin_at_the_limit_joins_its_neighbour() -> None:
    lengths = np.arange(1000) % 100 + 1  # 10 texts of each length 1..100: quantile edges near 13, 25, 38, 50, ...
    gold, probs = random_case(8, 1000, 2)
    bins = evaluate_arrays(probs, gold, ["a", "b"], lengths=lengths, max_length=51)["by_length"]["bins"]
    assert any(b["high"] == 51 for b in bins) and sum(b["count"] for b in bins) == 1000
    assert min(b["count"] for b in bins) >= 1000 / 8 / 4  # no bin of the 10 texts of length 51 alone


def test_paired_difference_interval() -> None:
    rng = np.random.default_rng(6)
    gold = rng.integers(0, 2, 400)
    a = np.eye(2)[np.where(rng.random(400) < 0.8, gold, 1 - gold)]
    b = np.eye(2)[np.where(rng.random(400) < 0.7, gold, 1 - gold)]
    pair = PairTally(["n", "p"], ("int8", "fp32"))
    pair.add(a[:150], b[:150], gold[:150], texts=[str(i) for i in range(150)])
    pair.add(a[150:], b[150:], gold[150:], texts=[str(i) for i in range(150, 400)])
    result = pair.result()
    d = (a.argmax(1) == gold).astype(float) - (b.argmax(1) == gold).astype(float)
    half = 1.959963984540054 * d.std(ddof=1) / math.sqrt(len(d))
    diff = result["accuracy_difference"]
    assert diff["value"] == pytest.approx(d.mean())
    assert (diff["low"], diff["high"]) == (pytest.approx(d.mean() - half), pytest.approx(d.mean() + half))
    assert result["label_agreement"] == pytest.approx((a.argmax(1) == b.argmax(1)).mean())
    assert result["disagreements"] == int((a.argmax(1) != b.argmax(1)).sum())
    assert all(x["int8"] != x["fp32"] for x in result["disagreement_examples"])
