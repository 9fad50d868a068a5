"""Running totals of an evaluation, added chunk by chunk, so memory does not grow with the data.

``Tally`` keeps counts only (confusion matrix, calibration bins, a confidence histogram of right and
wrong predictions, coverage and accuracy by minimum confidence, right/total per token length) plus the few most confident mistakes with their
text. ``PairTally`` does the same for two models on the same texts. ``result()`` turns either into
the plain, JSON-able dict that the terminal summary, ``--json`` and the HTML report show.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_runtime.evaluation.coverage import Coverage
from edge_runtime.evaluation.metrics import (
    ECE_BINS, calibration_sums, confusion_matrix, expected_calibration_error, macro_f1_of, per_class, squared_errors,
)

SHOWN = 20  # mistakes (and disagreements) kept with their text
CONFIDENCE_BINS = 20
LENGTH_BINS = 8
LENGTH_CAP_FACTOR = 4  # token counts above 4 x max_length are counted as 4 x max_length
Z_95 = 1.959963984540054


class _Best:
    """The ``size`` items with the largest keys seen so far (a bounded min-heap)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.heap: list[tuple[float, int, dict[str, Any]]] = []
        self.order = itertools.count()

    def offer(self, key: float, make: Any) -> None:
        if self.size <= 0:
            return
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, (key, next(self.order), make()))
        elif key > self.heap[0][0]:
            heapq.heapreplace(self.heap, (key, next(self.order), make()))

    def items(self) -> list[dict[str, Any]]:
        return [item for _, _, item in sorted(self.heap, key=lambda entry: (-entry[0], entry[1]))]


def _texts_rows(n: int, texts: Sequence[str] | None, rows: Sequence[int] | None) -> tuple[list, list]:
    return (list(texts) if texts is not None else [None] * n, list(rows) if rows is not None else [None] * n)


class Tally:
    """Totals for one model: ``add`` probabilities (n, labels) and true label ids, chunk by chunk."""

    def __init__(self, labels: Sequence[str], max_length: int | None = None, *, shown: int = SHOWN,
                 bins: int = ECE_BINS) -> None:
        self.labels = list(labels)
        self.max_length = max_length
        self.bins = bins
        k = len(self.labels)
        self.confusion = np.zeros((k, k), dtype=np.int64)
        self.calibration = np.zeros((3, bins))
        self.squared_error = 0.0
        self.log_loss = 0.0
        self.coverage = Coverage()
        self.confidence_edges = np.linspace(1.0 / k, 1.0, CONFIDENCE_BINS + 1)
        self.confidence_right = np.zeros(CONFIDENCE_BINS, dtype=np.int64)
        self.confidence_wrong = np.zeros(CONFIDENCE_BINS, dtype=np.int64)
        self.length_cap = LENGTH_CAP_FACTOR * max_length if max_length else 0
        self.length_total = np.zeros(self.length_cap + 1, dtype=np.int64)
        self.length_right = np.zeros(self.length_cap + 1, dtype=np.int64)
        self.lengths_seen = False
        self.mistakes = _Best(shown)

    @property
    def count(self) -> int:
        return int(self.confusion.sum())

    def add(self, probabilities: np.ndarray, gold: Sequence[int], *, lengths: Sequence[int] | None = None,
            texts: Sequence[str] | None = None, rows: Sequence[int] | None = None) -> None:
        """Count a chunk: ``lengths`` are token counts before truncation, ``rows`` the file's row numbers."""
        probabilities = np.asarray(probabilities, dtype=np.float64)
        gold = np.asarray(gold, dtype=np.int64)
        assert probabilities.shape == (len(gold), len(self.labels)), "probabilities do not match the labels"
        predicted = probabilities.argmax(axis=1)
        confidence = probabilities.max(axis=1)
        right = predicted == gold
        self.confusion += confusion_matrix(gold, predicted, len(self.labels))
        self.calibration += calibration_sums(confidence, right, self.bins)
        self.squared_error += float(squared_errors(probabilities, gold).sum())
        true_p = probabilities[np.arange(len(gold)), gold]
        self.log_loss -= float(np.log(np.maximum(true_p, np.finfo(np.float64).tiny)).sum())
        self.coverage.add(confidence, right)
        slot = np.clip(np.searchsorted(self.confidence_edges[1:-1], confidence), 0, CONFIDENCE_BINS - 1)
        self.confidence_right += np.bincount(slot[right], minlength=CONFIDENCE_BINS)
        self.confidence_wrong += np.bincount(slot[~right], minlength=CONFIDENCE_BINS)
        if lengths is not None and self.length_cap:
            capped = np.minimum(np.asarray(lengths, dtype=np.int64), self.length_cap)
            self.length_total += np.bincount(capped, minlength=self.length_cap + 1)
            self.length_right += np.bincount(capped[right], minlength=self.length_cap + 1)
            self.lengths_seen = True
        texts_, rows_ = _texts_rows(len(gold), texts, rows)
        for i in np.flatnonzero(~right):
            self.mistakes.offer(float(confidence[i]), lambda i=i: {
                "row": rows_[i], "text": texts_[i], "label": self.labels[gold[i]],
                "predicted": self.labels[predicted[i]], "confidence": round(float(confidence[i]), 4),
                "tokens": int(lengths[i]) if lengths is not None else None,
            })

    def result(self) -> dict[str, Any]:
        """Every number of the evaluation as a JSON-able dict (see the module docstring)."""
        n = self.count
        stats = per_class(self.confusion)
        count, conf_sum, right = self.calibration
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        scale = 0.5 if len(self.labels) == 2 else 1.0
        return {
            "examples": n,
            "labels": self.labels,
            "accuracy": float(np.trace(self.confusion) / n) if n else 0.0,
            "macro_f1": macro_f1_of(self.confusion),
            "per_class": [
                {"label": label, "precision": float(stats["precision"][i]), "recall": float(stats["recall"][i]),
                 "f1": float(stats["f1"][i]), "support": int(stats["support"][i])}
                for i, label in enumerate(self.labels)
            ],
            "confusion_matrix": self.confusion.tolist(),
            "calibration": {
                "bins": self.bins,
                "ece": expected_calibration_error(self.calibration),
                "brier": self.squared_error * scale / n if n else 0.0,
                "nll": self.log_loss / n if n else 0.0,
                "reliability": [
                    {"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(count[b]),
                     "confidence": float(conf_sum[b] / count[b]) if count[b] else None,
                     "accuracy": float(right[b] / count[b]) if count[b] else None}
                    for b in range(self.bins)
                ],
            },
            "confidence_histogram": {
                "edges": [float(e) for e in self.confidence_edges],
                "right": self.confidence_right.tolist(),
                "wrong": self.confidence_wrong.tolist(),
            },
            "coverage": self.coverage.result(),
            "by_length": self._by_length() if self.lengths_seen else None,
            "mistakes": self.mistakes.items(),
        }

    def _by_length(self) -> dict[str, Any]:
        """Accuracy in about ``LENGTH_BINS`` bins of equal count, with a bin edge at the truncation limit.

        A bin with less than a quarter of its share is merged into its neighbour on the same side of the limit.
        """
        total, right, cap, limit = self.length_total, self.length_right, self.length_cap, int(self.max_length or 0)
        cumulative = np.cumsum(total)
        n = int(cumulative[-1])
        uppers = {int(np.searchsorted(cumulative, n * j / LENGTH_BINS)) for j in range(1, LENGTH_BINS)} | {limit, cap}
        small = n / LENGTH_BINS / 4
        bins: list[dict[str, Any]] = []
        low = 0
        for high in sorted(u for u in uppers if 0 <= u <= cap):
            count, hits = int(total[low:high + 1].sum()), int(right[low:high + 1].sum())
            if count:
                last = bins[-1] if bins else None
                if last and (last["low"] > limit) == (low > limit) and min(last["count"], count) < small:
                    last.update(high=high, count=last["count"] + count, right=last["right"] + hits)
                else:
                    bins.append({"low": low, "high": high, "count": count, "right": hits})
            low = high + 1
        return {"max_length": limit, "truncated": int(total[limit + 1:].sum()), "bins": [
            {"low": b["low"], "high": b["high"] if b["high"] < cap else None, "count": b["count"],
             "accuracy": b["right"] / b["count"]} for b in bins]}


class PairTally:
    """Two models on the same texts: label agreement, each one's accuracy, and their paired difference."""

    def __init__(self, labels: Sequence[str], names: tuple[str, str], *, shown: int = SHOWN) -> None:
        self.labels = list(labels)
        self.names = names
        self.n = self.agree = self.both_right = self.only_a = self.only_b = 0
        self.disagreements = _Best(shown)

    def add(self, probs_a: np.ndarray, probs_b: np.ndarray, gold: Sequence[int], *,
            texts: Sequence[str] | None = None, rows: Sequence[int] | None = None) -> None:
        """Count a chunk; both arrays have the columns in ``labels`` order."""
        gold = np.asarray(gold, dtype=np.int64)
        pred_a, pred_b = np.asarray(probs_a).argmax(axis=1), np.asarray(probs_b).argmax(axis=1)
        right_a, right_b = pred_a == gold, pred_b == gold
        self.n += len(gold)
        self.agree += int((pred_a == pred_b).sum())
        self.both_right += int((right_a & right_b).sum())
        self.only_a += int((right_a & ~right_b).sum())
        self.only_b += int((~right_a & right_b).sum())
        gap = np.abs(np.asarray(probs_a, dtype=np.float64) - np.asarray(probs_b, dtype=np.float64)).max(axis=1)
        texts_, rows_ = _texts_rows(len(gold), texts, rows)
        for i in np.flatnonzero(pred_a != pred_b):
            self.disagreements.offer(float(gap[i]), lambda i=i: {
                "row": rows_[i], "text": texts_[i], "label": self.labels[gold[i]],
                self.names[0]: self.labels[pred_a[i]], self.names[1]: self.labels[pred_b[i]],
                "probability_difference": round(float(gap[i]), 4),
            })

    def result(self) -> dict[str, Any]:
        """Agreement, accuracies and ``accuracy(a) - accuracy(b)`` with a paired 95% interval.

        The interval is the normal approximation on the per-example differences
        ``d = right_a - right_b`` (each -1, 0 or 1): ``mean(d) +- 1.96 * sd(d) / sqrt(n)``.
        """
        n = self.n
        a, b = self.names
        if not n:
            return {"examples": 0, "models": list(self.names)}
        mean = (self.only_a - self.only_b) / n
        variance = ((self.only_a + self.only_b) / n - mean ** 2) * n / (n - 1) if n > 1 else 0.0
        half = Z_95 * math.sqrt(max(variance, 0.0) / n)
        return {
            "examples": n,
            "models": [a, b],
            "label_agreement": self.agree / n,
            "accuracy": {a: (self.both_right + self.only_a) / n, b: (self.both_right + self.only_b) / n},
            "accuracy_difference": {
                "value": mean, "low": mean - half, "high": mean + half, "confidence": 0.95,
                "method": "paired: normal approximation on the per-example differences",
                "only_right": {a: self.only_a, b: self.only_b},
            },
            "disagreements": n - self.agree,
            "disagreement_examples": self.disagreements.items(),
        }
