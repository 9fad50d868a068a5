"""Coverage against accuracy: for a minimum confidence P, the share of texts accepted and how often they are right.

A text is accepted at P when its top probability is at least P (the rule of ``edge_runtime.confidence``).
``Coverage`` counts texts and right answers per step of ``1 / STEPS`` in confidence, so memory does not
grow with the data and every threshold on that grid is exact; ``lowest_threshold`` answers
``evaluate --target-accuracy``. Numpy only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STEPS = 1000  # thresholds 0, 0.001, ..., 0.999
TABLE = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)  # thresholds the summary shows
CURVE = 100  # points of the picture's curve


class Coverage:
    """Texts and right answers by confidence step; add chunk by chunk."""

    def __init__(self) -> None:
        self.grid = np.arange(STEPS) / STEPS
        self.total = np.zeros(STEPS, dtype=np.int64)
        self.right = np.zeros(STEPS, dtype=np.int64)

    def add(self, confidence: np.ndarray, right: np.ndarray) -> None:
        """``confidence``: top probabilities; ``right``: whether each top label is the true one."""
        step = np.clip(np.searchsorted(self.grid, np.asarray(confidence, dtype=np.float64), side="right") - 1, 0, STEPS - 1)
        self.total += np.bincount(step, minlength=STEPS)
        self.right += np.bincount(step[np.asarray(right, dtype=bool)], minlength=STEPS)

    def _accepted(self) -> tuple[np.ndarray, np.ndarray]:
        """Texts and right answers accepted at each grid threshold (confidence >= threshold)."""
        return self.total[::-1].cumsum()[::-1], self.right[::-1].cumsum()[::-1]

    def at(self, threshold: float) -> dict[str, Any]:
        """Accepted texts, coverage and accuracy at ``threshold`` (rounded down to the grid)."""
        index = min(int(np.searchsorted(self.grid, threshold, side="right")) - 1, STEPS - 1)
        kept, right = (int(a[index]) for a in self._accepted())
        n = int(self.total.sum())
        return {"threshold": float(self.grid[index]), "accepted": kept, "coverage": kept / n if n else 0.0,
                "accuracy": right / kept if kept else None}

    def lowest_threshold(self, target: float) -> dict[str, Any]:
        """The lowest grid threshold whose accepted texts are right at least ``target`` of the time
        (``reached`` False, and the most accurate threshold instead, when none is)."""
        kept, right = self._accepted()
        with np.errstate(divide="ignore", invalid="ignore"):
            accuracy = np.where(kept > 0, right / np.maximum(kept, 1), -1.0)
        hits = np.flatnonzero(accuracy >= target - 1e-12)
        if len(hits):
            return {"target": target, "reached": True, **self.at(float(self.grid[hits[0]]))}
        return {"target": target, "reached": False, **self.at(float(self.grid[int(np.argmax(accuracy))]))}

    def result(self) -> dict[str, Any]:
        """The summary's table and the picture's curve."""
        return {"step": 1 / STEPS, "table": [self.at(t) for t in TABLE],
                "curve": [self.at(t) for t in np.arange(CURVE) / CURVE]}
