"""Temperature scaling (Guo et al., 2017): one scalar T so that softmax(logits / T) means what it says.

``fit_temperature`` minimises the negative log-likelihood of labelled logits over T (the NLL is
convex in 1/T, so a golden-section search on log T finds the one minimum). ``calibrate`` is what
export stores under the manifest's ``calibration`` key: T, the texts it was fitted on, ECE / Brier /
NLL before and after on them, and how much of that to believe (a fit on each half of the texts
judged on the other half, and a bootstrap interval of T). It keeps T = 1, and says why, when there
are too few texts or when the fit does not lower the NLL on the fitting texts. T > 0 never changes
a label (the argmax of the logits). Numpy only; not to be confused with ``calibrate.py`` (the int8
activation ranges).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_runtime.classifier import probabilities
from edge_runtime.confidence import METHOD
from edge_runtime.evaluation.metrics import brier_score, calibration_sums, expected_calibration_error

MIN_TEXTS = 50  # fewer labelled texts than this: T stays 1
LOG_T_RANGE = (math.log(1e-2), math.log(1e2))
BOOTSTRAP = 200
SEED = 0


def nll(logits: np.ndarray, gold: Sequence[int], temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels under softmax(logits / temperature)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1))
    return float((log_norm - z[np.arange(len(z)), np.asarray(gold, dtype=np.int64)]).mean())


def fit_temperature(logits: np.ndarray, gold: Sequence[int], iterations: int = 100) -> float:
    """The T in [0.01, 100] that minimises ``nll(logits, gold, T)``."""
    ratio = (math.sqrt(5) - 1) / 2
    low, high = LOG_T_RANGE
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(logits, gold, math.exp(a)), nll(logits, gold, math.exp(b))
    for _ in range(iterations):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(logits, gold, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(logits, gold, math.exp(b))
    return math.exp((low + high) / 2)


def scores(logits: np.ndarray, gold: Sequence[int], temperature: float) -> dict[str, float]:
    """ECE (10 bins, top label), Brier score and NLL of softmax(logits / temperature) against ``gold``."""
    probs = probabilities(logits, temperature)
    right = probs.argmax(axis=1) == np.asarray(gold)
    return {"ece": round(expected_calibration_error(calibration_sums(probs.max(axis=1), right)), 6),
            "brier": round(brier_score(probs, gold), 6), "nll": round(nll(logits, gold, temperature), 6)}


def _halves(logits: np.ndarray, gold: np.ndarray) -> list[dict[str, Any]]:
    """T fitted on each half of the texts (a seeded split), judged by ECE on the other half."""
    order = np.random.default_rng(SEED).permutation(len(gold))
    parts = [order[: len(order) // 2], order[len(order) // 2:]]
    checks = []
    for fit_on, judge_on in (parts, parts[::-1]):
        t = fit_temperature(logits[fit_on], gold[fit_on])
        checks.append({"fit_texts": len(fit_on), "temperature": round(t, 6), "judged_texts": len(judge_on),
                       "ece_before": scores(logits[judge_on], gold[judge_on], 1.0)["ece"],
                       "ece_after": scores(logits[judge_on], gold[judge_on], t)["ece"]})
    return checks


def _interval(logits: np.ndarray, gold: np.ndarray) -> list[float]:
    """A 90% bootstrap interval of T (texts resampled with replacement)."""
    rng = np.random.default_rng(SEED)
    fits = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, len(gold), len(gold))
        fits.append(fit_temperature(logits[pick], gold[pick], iterations=60))
    return [round(float(np.quantile(fits, 0.05)), 4), round(float(np.quantile(fits, 0.95)), 4)]


def calibrate(logits: np.ndarray, gold: Sequence[int], *, source: str | None) -> dict[str, Any]:
    """The manifest's ``calibration`` entry for the exported model's ``logits`` on labelled texts."""
    logits, gold = np.asarray(logits, dtype=np.float64), np.asarray(gold, dtype=np.int64)
    entry: dict[str, Any] = {"method": METHOD, "temperature": 1.0, "fitted": False, "source": source,
                             "texts": int(len(gold))}
    if len(gold) < MIN_TEXTS:
        entry["note"] = f"not fitted: {len(gold)} labelled texts, at least {MIN_TEXTS} needed"
        return entry
    t = fit_temperature(logits, gold)
    before, after = scores(logits, gold, 1.0), scores(logits, gold, t)
    entry.update(before=before, after=after)
    if not after["nll"] < before["nll"]:
        entry["note"] = f"not fitted: T = {t:.4f} does not lower the NLL on the fitting texts"
        entry["after"] = before
        return entry
    entry.update(temperature=round(t, 6), fitted=True, halves=_halves(logits, gold),
                 temperature_interval_90=_interval(logits, gold))
    return entry


def describe(entry: dict[str, Any]) -> str:
    """One log line for a ``calibrate`` entry."""
    if not entry["fitted"]:
        return f"temperature: 1 ({entry['note']})"
    before, after = entry["before"], entry["after"]
    low, high = entry["temperature_interval_90"]
    halves = ", ".join(f"{h['ece_before']:.3f} -> {h['ece_after']:.3f}" for h in entry["halves"])
    return (f"temperature: {entry['temperature']:.3f} (90% bootstrap interval {low:.2f}-{high:.2f}) fitted on "
            f"{entry['texts']} texts of {entry['source']}: ECE {before['ece']:.4f} -> {after['ece']:.4f}, "
            f"Brier {before['brier']:.4f} -> {after['brier']:.4f}, NLL {before['nll']:.4f} -> {after['nll']:.4f}; "
            f"ECE on the other half when fitted on one half: {halves}")
