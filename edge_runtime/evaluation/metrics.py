"""Classification and calibration metrics from label ids and probabilities (numpy only).

Conventions (checked against scikit-learn in the tests):

- ``confusion[i, j]`` counts examples of true class ``i`` predicted as ``j``.
- Precision of a class never predicted, recall of a class absent from the data: 0.
- Macro-F1 is the unweighted mean of per-class F1 over the classes that occur in the data or the
  predictions (a class that is in neither does not count), as during training.
- Calibration is about the top label: an example's confidence is its largest probability, and it is
  right when that label is the true one. Confidences fall into equal-width bins over [0, 1]
  (``(lo, hi]``, the first also holding 0); ECE is the count-weighted mean of
  ``|accuracy - mean confidence|`` over the bins.
- Brier score: the mean squared difference between the probabilities and the one-hot truth,
  summed over the classes (0 best, 2 worst); for two classes it is halved, giving the usual binary
  score (the squared error of the positive class's probability).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ECE_BINS = 10


def accuracy(predicted: Sequence[int], gold: Sequence[int]) -> float:
    """Fraction of ``predicted`` equal to ``gold`` (0 for no examples)."""
    predicted, gold = np.asarray(predicted), np.asarray(gold)
    return float((predicted == gold).mean()) if len(gold) else 0.0


def confusion_matrix(gold: Sequence[int], predicted: Sequence[int], num_labels: int) -> np.ndarray:
    """Counts (num_labels, num_labels), rows the true class, columns the predicted one."""
    gold, predicted = np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    flat = np.bincount(gold * num_labels + predicted, minlength=num_labels * num_labels)
    return flat.reshape(num_labels, num_labels)


def per_class(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of every class, from a confusion matrix."""
    confusion = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denominator = support + predicted  # 2tp + fp + fn
        f1 = np.where(denominator > 0, 2 * tp / denominator, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64),
            "present": (support + predicted) > 0}


def macro_f1_of(confusion: np.ndarray) -> float:
    """Mean F1 over the classes present in the data or the predictions."""
    stats = per_class(confusion)
    present = stats["present"]
    return float(stats["f1"][present].mean()) if present.any() else 0.0


def macro_f1(predicted: Sequence[int], gold: Sequence[int], num_labels: int) -> float:
    """Macro-F1 of label ids (see the module docstring)."""
    return macro_f1_of(confusion_matrix(gold, predicted, num_labels))


def bin_index(confidence: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """The equal-width bin of each confidence: ``(lo, hi]``, with 0 in the first bin."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return np.searchsorted(edges[1:-1], np.asarray(confidence, dtype=np.float64))


def calibration_sums(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Per bin: [count, sum of confidences, number right], shape (3, bins); sums add up over chunks."""
    index = bin_index(confidence, bins)
    return np.stack([
        np.bincount(index, minlength=bins).astype(np.float64),
        np.bincount(index, weights=np.asarray(confidence, dtype=np.float64), minlength=bins),
        np.bincount(index, weights=np.asarray(correct, dtype=np.float64), minlength=bins),
    ])


def expected_calibration_error(sums: np.ndarray) -> float:
    """ECE from ``calibration_sums`` (0 for no examples)."""
    count, confidence, right = sums
    total = count.sum()
    if total == 0:
        return 0.0
    filled = count > 0
    gap = np.abs(right[filled] / count[filled] - confidence[filled] / count[filled])
    return float((count[filled] * gap).sum() / total)


def squared_errors(probabilities: np.ndarray, gold: Sequence[int]) -> np.ndarray:
    """Per example, the summed squared difference between its probabilities and its one-hot truth."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    truth = np.zeros_like(probabilities)
    truth[np.arange(len(probabilities)), np.asarray(gold, dtype=np.int64)] = 1.0
    return ((probabilities - truth) ** 2).sum(axis=1)


def brier_score(probabilities: np.ndarray, gold: Sequence[int]) -> float:
    """Brier score (see the module docstring); 0 for no examples."""
    errors = squared_errors(probabilities, gold)
    if not len(errors):
        return 0.0
    scale = 0.5 if np.asarray(probabilities).shape[1] == 2 else 1.0
    return float(errors.mean() * scale)
