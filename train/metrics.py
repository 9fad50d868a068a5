"""Classification metrics from label ids (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(predicted: Sequence[int], gold: Sequence[int]) -> float:
    predicted, gold = np.asarray(predicted), np.asarray(gold)
    return float((predicted == gold).mean()) if len(gold) else 0.0


def macro_f1(predicted: Sequence[int], gold: Sequence[int], num_labels: int) -> float:
    """Unweighted mean of per-label F1 over labels present in gold or predictions."""
    predicted, gold = np.asarray(predicted), np.asarray(gold)
    scores = []
    for label in range(num_labels):
        tp = int(((predicted == label) & (gold == label)).sum())
        fp = int(((predicted == label) & (gold != label)).sum())
        fn = int(((predicted != label) & (gold == label)).sum())
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0
