"""``score_texts``: predictions for an iterable of texts, lazily, in input order, with bounded memory."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from edge_runtime.scoring.base import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS, load_classifier


def score_texts(
    classifier_or_bundle: Any, texts: Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
    chunk_size: int | None = None, threads: int | None = None, batch_tokens: int | None = DEFAULT_BATCH_TOKENS,
) -> Iterator[Any]:
    """Predictions for ``texts`` in input order, lazily: ``chunk_size`` texts are read and scored at a time.

    ``classifier_or_bundle`` is a loaded ``Classifier`` or a bundle folder. Each item is a
    ``Prediction(label, score, probabilities)``; memory stays bounded for any length of ``texts``.
    An empty or whitespace-only text raises ``InputError`` naming its position, as ``Classifier`` does.
    """
    from edge_runtime.classifier import Prediction

    if isinstance(classifier_or_bundle, (str, os.PathLike)):
        classifier = load_classifier(classifier_or_bundle, threads)
    else:
        classifier = classifier_or_bundle
    labels = list(classifier.labels)
    for block in classifier.iter_proba(texts, batch_size=batch_size, chunk_size=chunk_size or batch_size * 16,
                                       batch_tokens=batch_tokens):
        for row in np.asarray(block, dtype=np.float64):
            best = int(row.argmax())
            yield Prediction(labels[best], float(row[best]), dict(zip(labels, map(float, row))))

