"""What a bundle's probabilities mean: its calibration, and the one rule for a confidence threshold.

**Calibration.** A bundle's manifest may carry ``"calibration": {"method": "temperature",
"temperature": T, "confidence_map": {"from": [...], "to": [...]}, ...}`` (fitted at export,
``mobilebert_edge.export.temperature``); absent or null means ``T = 1`` and no map (bundles made
before calibration existed), and the map is optional. Every runtime computes ``p = softmax(logits /
T)``; with a map, the top probability ``c`` becomes ``c' = interp(c, from, to)`` (linear between the
points, clamped at the ends) and the other probabilities are rescaled by ``(1 - c') / (1 - c)``
(shared equally when ``c == 1``). ``c'`` is kept above the tie with the runner-up, so the label is
always the argmax of the logits. ``edge_runtime.classifier.probabilities`` is where this happens.

**Threshold.** A text's *confidence* is its top probability. With a minimum confidence ``P`` a
text is *unsure* when its confidence is strictly below ``P`` and *accepted* otherwise: ``P = 0``
accepts every text, ``P = 1`` accepts only a probability of exactly 1. ``score --min-confidence``,
``predict --min-confidence``, ``Classifier.load(min_confidence=...)`` and ``evaluate``'s
coverage table and ``--target-accuracy`` all use this rule (``unsure``).

Standard library only at import (the command modules define ``--min-confidence`` with it).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.errors import BundleError, InputError

METHOD = "temperature"
MAP_POINTS = (2, 64)  # a confidence map has this many points, at least and at most
_MALFORMED = "re-export the bundle"


@dataclass(frozen=True)
class Calibration:
    """A bundle's calibration: the temperature and the optional confidence map (``from`` and ``to`` points)."""

    temperature: float = 1.0
    confidence_map: tuple[tuple[float, ...], tuple[float, ...]] | None = None

    @property
    def plain(self) -> bool:
        """True when probabilities are the model's plain softmax."""
        return self.temperature == 1.0 and self.confidence_map is None


def calibration_of(manifest: dict[str, Any], bundle: str | Path = "") -> Calibration:
    """The bundle's calibration: ``Calibration()`` (T = 1, no map) when its manifest has none (or null)."""
    calibration = manifest.get("calibration")
    if calibration is None:
        return Calibration()
    value = calibration.get("temperature") if isinstance(calibration, dict) else None
    method = calibration.get("method") if isinstance(calibration, dict) else None
    if method != METHOD or not _is_number(value) or value <= 0:
        raise BundleError(
            f"bundle {bundle}: calibration in manifest.json is malformed",
            expected='{"method": "temperature", "temperature": a number > 0}',
            found=repr(calibration)[:80], hint=_MALFORMED,
        )
    return Calibration(float(value), _confidence_map(calibration.get("confidence_map"), bundle))


def describe(calibration: Calibration) -> str:
    """A few words for reports: "temperature 2.134 and a 10-point confidence map"."""
    points = calibration.confidence_map
    return f"temperature {calibration.temperature:.3f}" + (f" and a {len(points[0])}-point confidence map" if points else "")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _confidence_map(value: Any, bundle: str | Path) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """``calibration.confidence_map`` as (from, to); None when absent; ``BundleError`` when malformed."""
    if value is None:
        return None
    low, high = MAP_POINTS
    points = (value.get("from"), value.get("to")) if isinstance(value, dict) else (None, None)
    shaped = all(isinstance(p, list) and all(_is_number(x) for x in p) for p in points)
    xs, ys = points if shaped else ([], [])
    if not (shaped and len(xs) == len(ys) and low <= len(xs) <= high
            and 0 < xs[0] and xs[-1] <= 1 and all(a < b for a, b in zip(xs, xs[1:]))
            and 0 <= ys[0] and ys[-1] <= 1 and all(a <= b for a, b in zip(ys, ys[1:]))):
        raise BundleError(
            f"bundle {bundle}: calibration.confidence_map in manifest.json is malformed",
            expected=f'{{"from": [...], "to": [...]}} of the same length {low}..{high}, from strictly increasing '
                     "in (0, 1], to non-decreasing in [0, 1]",
            found=repr(value)[:80], hint=_MALFORMED,
        )
    return tuple(map(float, xs)), tuple(map(float, ys))


def check_min_confidence(value: Any, name: str = "min_confidence") -> float | None:
    """``value`` as a float in [0, 1] (None stays None); ``InputError`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InputError(f"{name} must be a probability", expected="a number in [0, 1]", found=repr(value))
    return float(value)


def unsure(confidence: Any, min_confidence: float | None) -> Any:
    """A boolean array: True where a confidence (top probability) is below ``min_confidence`` (none when None)."""
    import numpy as np

    confidence = np.asarray(confidence, dtype=np.float64)
    if min_confidence is None:
        return np.zeros(confidence.shape, dtype=bool)
    return confidence < min_confidence


def probability_arg(value: str) -> float:
    """argparse type: a number in [0, 1]."""
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1], found {value!r}")
    return number


def add_min_confidence(group: Any, how: str) -> None:
    """``--min-confidence P``, the same for every command that classifies; ``how`` says where the flag goes."""
    group.add_argument(
        "--min-confidence", type=probability_arg, default=None, metavar="P",
        help=f"flag texts whose top probability (the bundle's calibrated one) is below P in [0, 1] as unsure: {how}; "
             "their label and probabilities are still given",
    )
