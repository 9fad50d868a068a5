"""The learning rate as a pure function of the optimizer step."""

from __future__ import annotations

import math


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """Steps of linear warmup for a run of ``total_steps``."""
    return math.ceil(total_steps * warmup_ratio)


def learning_rate(step: int, *, base_lr: float, total_steps: int, warmup: int, schedule: str) -> float:
    """Learning rate for optimizer step ``step`` (0-based).

    ``constant``: ``base_lr`` throughout (warmup still applies if asked). ``linear``: rises linearly
    over ``warmup`` steps to ``base_lr``, then falls linearly to 0 at ``total_steps``.
    """
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    if schedule != "linear":
        raise ValueError(f"unknown schedule {schedule!r}")
    remaining = total_steps - step
    span = max(1, total_steps - warmup)
    return base_lr * max(0.0, remaining / span)
