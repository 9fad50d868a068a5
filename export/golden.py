"""Golden texts: a few inputs with the probabilities the exported model gives them, so a device
can replay them (``mobilebert-edge check``) and prove it computes the same thing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_runtime.classifier import probabilities
from edge_runtime.confidence import Calibration
from mobilebert_edge.export import evaluate
from mobilebert_edge.export.encode import Encoder

BUILTIN_TEXTS = (
    "A wonderful film: moving, funny and beautifully acted.",
    "Dull, predictable and far too long. I want my two hours back.",
    "It was fine.",
    "The plot made no sense, but the music was lovely and the cast clearly had fun.",
    "Worst. Movie. Ever.",
    "I didn't expect much, yet by the end I was in tears.<br /><br />Highly recommended.",
    "Une belle surprise — naïve et touchante. 🎬",
    "meh",
)
DEFAULT_COUNT = 8
MIN_ATOL = 1e-3
# What ``check`` allows an int8 bundle on another CPU. The int8 kernels and the float approximations
# (exp, erf, tanh) differ between architectures, and a tiny float difference can move an activation
# across a quantization step: a MiniLM int8 bundle replayed on an emulated Cortex-A72 differed from
# x86 by up to 5.4e-3 on its golden texts (1e-3 failed there), 0.012 on 40 reviews. fp32 stays at MIN_ATOL.
INT8_ATOL = 0.02


def atol_for(precision: str) -> float:
    """The golden tolerance recorded for a bundle of ``precision`` ("int8" or "fp32")."""
    return INT8_ATOL if precision == "int8" else MIN_ATOL


def pick_texts(pool: Sequence[str] | None, count: int = DEFAULT_COUNT) -> list[str]:
    """``count`` texts spread over the length range of ``pool`` (or the built-ins)."""
    if not pool:
        return list(BUILTIN_TEXTS[:count])
    by_length = sorted(set(pool), key=len)
    if len(by_length) <= count:
        return by_length
    step = (len(by_length) - 1) / (count - 1)
    return [by_length[round(i * step)] for i in range(count)]


# Largest probability change between batch compositions for a bundle to be called batch-invariant
# (``check`` then replays the golden texts in one batch too). Static int8 and fp32 measure 0 here.
INVARIANCE_TOL = 1e-6


def batch_drift(sess, encoder: Encoder, texts: Sequence[str], single: np.ndarray, calibration: Calibration | None = None) -> float:
    """Largest probability change of ``texts`` run together, reversed beside a long text, and in batches of 2,
    against each text alone (``single``)."""
    long_mate = " ".join(BUILTIN_TEXTS) * 4
    runs = [
        probabilities(evaluate.run(sess, encoder.batch(list(texts))), calibration),
        probabilities(evaluate.run(sess, encoder.batch([long_mate, *texts[::-1]])), calibration)[1:][::-1],
        probabilities(evaluate.logits(sess, encoder, texts, batch_size=2), calibration),
    ]
    return max(float(np.abs(single - run).max()) for run in runs)


def golden(sess, encoder: Encoder, texts: Sequence[str], atol: float = MIN_ATOL,
           calibration: Calibration | None = None, *, labels: Sequence[str]) -> dict[str, Any]:
    """Probabilities of each text run alone (``batch_size`` 1), and whether other batch compositions
    reproduce them (``batch_drift``, ``batch_invariant``): dynamically quantized int8 shares one
    activation scale per batch, so its outputs move with batch composition; static int8 and fp32 do not.
    The probabilities are the bundle's calibrated ones (its ``calibration``), stored by
    label name (``labels``, in logit order): ``check`` compares them by name, so a bundle whose labels
    were reordered fails it.
    """
    single = np.concatenate([probabilities(evaluate.run(sess, encoder.batch([t])), calibration) for t in texts])
    drift = batch_drift(sess, encoder, texts, single, calibration)
    return {
        "atol": atol,
        "batch_size": 1,
        "batch_drift": drift,
        "batch_invariant": drift <= INVARIANCE_TOL,
        "examples": [
            {"text": text, "probabilities": {label: round(float(p), 7) for label, p in zip(labels, row)}}
            for text, row in zip(texts, single)
        ],
    }
