"""A seeded, stratified train/validation split of row indices."""

from __future__ import annotations

import random
from collections.abc import Sequence

from mobilebert_edge.data.errors import DataError


def stratified_indices(
    labels: Sequence[int],
    val_fraction: float,
    seed: int,
    *,
    label_names: Sequence[str] | None = None,
    source: str = "data",
) -> tuple[list[int], list[int]]:
    """(train, validation) row indices, each in input order.

    Each class puts ``round(n_class * val_fraction)`` rows in validation, at least 1 and at most
    ``n_class - 1``, so every class is in both parts; the same seed gives the same split.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError("the validation fraction must be between 0 and 1", found=val_fraction,
                        hint="e.g. --val-fraction 0.2")
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(label, []).append(index)
    rng = random.Random(seed)
    train: list[int] = []
    validation: list[int] = []
    for label in sorted(by_class):
        members = by_class[label]
        if len(members) < 2:
            name = label_names[label] if label_names is not None else str(label)
            raise DataError(
                f"{source}: label {name!r} has only {len(members)} row, too few to appear in both "
                "training and validation",
                hint="add rows of that label, remove them, or pass an explicit validation file",
            )
        n_val = min(max(round(len(members) * val_fraction), 1), len(members) - 1)
        shuffled = members[:]
        rng.shuffle(shuffled)
        validation.extend(shuffled[:n_val])
        train.extend(shuffled[n_val:])
    return sorted(train), sorted(validation)
