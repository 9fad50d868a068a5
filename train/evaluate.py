"""Score a trained model on texts: the checkpoint's own truncation, batches sorted by length."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mobilebert_edge.train.encode import encode_texts
from mobilebert_edge.train.loop import predict_logits
from mobilebert_edge.train.metrics import accuracy, macro_f1


def predict_texts(
    model: Any, tokenizer: Any, texts: Sequence[str], *, max_length: int, rule: str = "head",
    head_tokens: int | None = None, batch_size: int = 32, precision: str = "fp32", progress: str | None = None,
) -> np.ndarray:
    """Logits (n, num_labels) for ``texts`` in input order, under ``torch.inference_mode``."""
    encoded = encode_texts(tokenizer, texts, [0] * len(texts), max_length=max_length, rule=rule,
                           head_tokens=head_tokens)
    return predict_logits(model, encoded, batch_size=batch_size, pad_id=tokenizer.pad_token_id or 0,
                          precision=precision, progress=progress)


def score(logits: np.ndarray, gold: Sequence[int]) -> dict[str, float]:
    """Accuracy and macro-F1 of ``logits`` against label ids ``gold``."""
    predicted = logits.argmax(axis=1)
    return {"accuracy": accuracy(predicted, gold), "macro_f1": macro_f1(predicted, gold, logits.shape[1])}
