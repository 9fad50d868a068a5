"""Calibration fitted at export: a temperature (Guo et al., 2017), then a confidence map.

``fit_temperature`` minimises the negative log-likelihood of labelled logits over T (the NLL is
convex in 1/T, so a golden-section search on log T finds the one minimum). A single T rescales every
confidence alike, which leaves the held-out error of a fine-tuned model's confidence well above 0.02
(docs/BENCHMARKS.md, section calibration); ``fit_confidence_map`` then fits a monotone
piecewise-linear map of the top probability after T: ``BINS`` equal-mass bins of the fitting texts'
confidence, one point (mean confidence, accuracy) per bin, made monotone by pooling adjacent
violators, clipped to [1 / labels, 1 - ``CEILING_GAP``]. Runtimes apply both
(``edge_runtime.classifier.probabilities``); neither ever changes a label.

``calibrate`` is what export stores under the manifest's ``calibration`` key: T, the map, the texts
they were fitted on, ECE / Brier / NLL on them before, with T alone and with T and the map, and how
much of that to believe (the same fit on each half of the texts judged on the other half, and a
bootstrap interval of T). T stays 1, and the map is left out, each with its reason, when there are
too few texts or the fit does not improve the fitting texts. Numpy only; not to be confused with
``calibrate.py`` (the int8 activation ranges).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_runtime.classifier import probabilities
from edge_runtime.confidence import METHOD, Calibration
from edge_runtime.evaluation.metrics import brier_score, calibration_sums, expected_calibration_error

MIN_TEXTS = 50  # fewer labelled texts than this: T stays 1
MIN_MAP_TEXTS = 500  # fewer than this: no confidence map (docs/BENCHMARKS.md, section calibration)
BINS = 10
CEILING_GAP = 1e-4  # the map never promises certainty
DECIMALS = 6  # the map's points as stored in the manifest
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


def pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to ``values`` in weighted least squares."""
    blocks: list[list[float]] = []  # [weighted mean, weight, count]
    for value, weight in zip(values, weights):
        blocks.append([float(value), float(weight), 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            (v2, w2, n2), (v1, w1, n1) = blocks.pop(), blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.concatenate([np.full(n, v) for v, _, n in blocks])


def fit_confidence_map(confidence: np.ndarray, right: np.ndarray, num_labels: int,
                       bins: int = BINS) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Points (from, to) of the monotone map from top probability to accuracy; None when they would be fewer than 2."""
    order = np.argsort(confidence, kind="stable")
    chunks = [c for c in np.array_split(order, min(bins, len(order))) if len(c)]
    xs = np.round([confidence[c].mean() for c in chunks], DECIMALS)  # as stored: the loader needs them strictly increasing
    ys = np.array([right[c].mean() for c in chunks])
    counts = np.array([len(c) for c in chunks], dtype=np.float64)
    keep = np.concatenate([[True], np.diff(xs) > 0])  # bins of one (stored) confidence become one point
    if not keep.all():
        groups = np.cumsum(keep) - 1
        ys = np.bincount(groups, ys * counts) / np.bincount(groups, counts)
        counts, xs = np.bincount(groups, counts), xs[keep]
    if len(xs) < 2:
        return None
    ys = np.clip(pool_adjacent_violators(ys, counts), 1.0 / num_labels, 1.0 - CEILING_GAP)
    return tuple(float(x) for x in xs), tuple(round(float(y), DECIMALS) for y in ys)


def scores(logits: np.ndarray, gold: Sequence[int], calibration: Calibration | None = None) -> dict[str, float]:
    """ECE (10 bins, top label), Brier score and NLL of the calibrated probabilities against ``gold``."""
    probs = probabilities(logits, calibration)
    gold = np.asarray(gold, dtype=np.int64)
    right = probs.argmax(axis=1) == gold
    chosen = np.maximum(probs[np.arange(len(gold)), gold], np.finfo(np.float64).tiny)
    return {"ece": round(expected_calibration_error(calibration_sums(probs.max(axis=1), right)), 6),
            "brier": round(brier_score(probs, gold), 6), "nll": round(float(-np.log(chosen).mean()), 6)}


def fit(logits: np.ndarray, gold: np.ndarray, *, min_map_texts: int = MIN_MAP_TEXTS) -> tuple[Calibration, list[str]]:
    """T, then the confidence map on the same texts; and why either was left out (T = 1, no map)."""
    notes = []
    t = fit_temperature(logits, gold)
    if not nll(logits, gold, t) < nll(logits, gold):
        notes.append(f"T = 1: T = {t:.4f} does not lower the NLL on the fitting texts")
        t = 1.0
    with_t = Calibration(round(t, 6))
    if len(gold) < min_map_texts:
        notes.append(f"no confidence map: {len(gold)} labelled texts, at least {min_map_texts} needed")
        return with_t, notes
    probs = probabilities(logits, with_t)
    points = fit_confidence_map(probs.max(axis=1), probs.argmax(axis=1) == gold, logits.shape[1])
    mapped = Calibration(with_t.temperature, points) if points else with_t
    if points is None or not scores(logits, gold, mapped)["ece"] < scores(logits, gold, with_t)["ece"]:
        notes.append("no confidence map: it does not lower the ECE on the fitting texts")
        return with_t, notes
    return mapped, notes


def _halves(logits: np.ndarray, gold: np.ndarray, min_map_texts: int) -> list[dict[str, Any]]:
    """The same fit on each half of the texts (a seeded split), judged by ECE on the other half."""
    order = np.random.default_rng(SEED).permutation(len(gold))
    parts = [order[: len(order) // 2], order[len(order) // 2:]]
    checks = []
    for fit_on, judge_on in (parts, parts[::-1]):
        half, _ = fit(logits[fit_on], gold[fit_on], min_map_texts=min_map_texts)
        judged = logits[judge_on], gold[judge_on]
        checks.append({"fit_texts": len(fit_on), "temperature": half.temperature, "map": half.confidence_map is not None,
                       "judged_texts": len(judge_on), "ece_before": scores(*judged)["ece"],
                       "ece_temperature": scores(*judged, Calibration(half.temperature))["ece"],
                       "ece_after": scores(*judged, half)["ece"]})
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
    calibration, notes = fit(logits, gold)
    entry.update(temperature=calibration.temperature, fitted=not calibration.plain)
    if calibration.confidence_map is not None:
        entry["confidence_map"] = {"from": list(calibration.confidence_map[0]), "to": list(calibration.confidence_map[1])}
    entry.update(before=scores(logits, gold), after_temperature=scores(logits, gold, Calibration(calibration.temperature)),
                 after=scores(logits, gold, calibration))
    if notes:
        entry["note"] = "; ".join(notes)
    if entry["fitted"]:
        # halves hold half the texts: the map's minimum is halved with them, so they judge the same procedure
        entry.update(halves=_halves(logits, gold, MIN_MAP_TEXTS // 2), temperature_interval_90=_interval(logits, gold))
    return entry


def describe(entry: dict[str, Any]) -> str:
    """One log line for a ``calibrate`` entry."""
    if not entry["fitted"]:
        return f"calibration: none ({entry['note']})"
    before, with_t, after = entry["before"], entry["after_temperature"], entry["after"]
    low, high = entry["temperature_interval_90"]
    points = entry.get("confidence_map")
    mapped = f" and a {len(points['from'])}-point confidence map" if points else ""
    note = f" ({entry['note']})" if entry.get("note") else ""
    halves = ", ".join(f"{h['ece_before']:.3f} -> {h['ece_after']:.3f}" for h in entry["halves"])
    return (f"calibration: temperature {entry['temperature']:.3f} (90% bootstrap interval {low:.2f}-{high:.2f}){mapped} "
            f"fitted on {entry['texts']} texts of {entry['source']}: ECE {before['ece']:.4f} -> {with_t['ece']:.4f} (T) "
            f"-> {after['ece']:.4f}, Brier {before['brier']:.4f} -> {after['brier']:.4f}, NLL {before['nll']:.4f} -> "
            f"{after['nll']:.4f}{note}; ECE on the other half when fitted on one half: {halves}")
