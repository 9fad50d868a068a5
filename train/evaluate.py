"""Score a trained model on texts: the checkpoint's own truncation, batches sorted by length; the
validation report (the same report folder as ``mobilebert-edge evaluate --report``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.evaluation.metrics import accuracy, macro_f1
from mobilebert_edge.train.encode import encode_texts
from mobilebert_edge.train.loop import predict_logits


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


def token_counts(tokenizer: Any, texts: Sequence[str]) -> list[int]:
    """Tokens of each text before truncation, special tokens included (what the report bins by)."""
    content = tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    return [len(ids) + specials for ids in content]


def write_validation_report(
    folder: Path, model: Any, tokenizer: Any, texts: Sequence[str], gold: Sequence[int], labels: Sequence[str], *,
    max_length: int, rule: str, head_tokens: int | None, batch_size: int, precision: str, title: str,
) -> Path:
    """Evaluate ``model`` on the validation texts and write the report folder; return report.html."""
    from edge_runtime.classifier import softmax
    from edge_runtime.evaluation.report import write_report
    from edge_runtime.evaluation.run import evaluate_arrays

    logits = predict_texts(model, tokenizer, texts, max_length=max_length, rule=rule, head_tokens=head_tokens,
                           batch_size=batch_size, precision=precision, progress="validation report")
    result = evaluate_arrays(softmax(logits), gold, labels, lengths=token_counts(tokenizer, texts),
                             max_length=max_length, texts=texts)
    return write_report(folder, result, title=title).html
