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

Standard library only at import (the command modules define ``--min-confidence`` with it).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

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
