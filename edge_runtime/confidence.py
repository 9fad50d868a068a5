"""What a bundle's probabilities mean: its temperature, and the one rule for a confidence threshold.

**Temperature.** A bundle's manifest may carry ``"calibration": {"method": "temperature",
"temperature": T, ...}`` (fitted at export, ``mobilebert_edge.export.temperature``). Every runtime
computes ``probabilities = softmax(logits / T)``; absent or null means ``T = 1`` (bundles made
before calibration existed). Labels are the argmax of the logits, which ``T > 0`` never changes.

**Threshold.** A text's *confidence* is its top probability. With a minimum confidence ``P`` a
text is *unsure* when its confidence is strictly below ``P`` and *accepted* otherwise: ``P = 0``
accepts every text, ``P = 1`` accepts only a probability of exactly 1. ``score --min-confidence``,
``predict --min-confidence``, ``Classifier.load(min_confidence=...)`` and ``evaluate``'s
coverage table and ``--target-accuracy`` all use this rule (``unsure``).

Standard library and numpy only.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import BundleError, InputError

METHOD = "temperature"


def temperature_of(manifest: dict[str, Any], bundle: str | Path = "") -> float:
    """The bundle's temperature: 1.0 when its manifest has no calibration (or null)."""
    calibration = manifest.get("calibration")
    if calibration is None:
        return 1.0
    value = calibration.get("temperature") if isinstance(calibration, dict) else None
    method = calibration.get("method") if isinstance(calibration, dict) else None
    if method != METHOD or isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise BundleError(
            f"bundle {bundle}: calibration in manifest.json is malformed",
            expected='{"method": "temperature", "temperature": a number > 0}',
            found=repr(calibration)[:80], hint="re-export the bundle",
        )
    return float(value)


def check_min_confidence(value: Any, name: str = "min_confidence") -> float | None:
    """``value`` as a float in [0, 1] (None stays None); ``InputError`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise InputError(f"{name} must be a probability", expected="a number in [0, 1]", found=repr(value))
    return float(value)


def unsure(confidence: np.ndarray, min_confidence: float | None) -> np.ndarray:
    """True where a confidence (top probability) is below ``min_confidence`` (none when it is None)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    if min_confidence is None:
        return np.zeros(confidence.shape, dtype=bool)
    return confidence < min_confidence
