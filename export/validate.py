"""Check an fp32 ONNX graph against the PyTorch model it came from (output names, shapes, values),
and measure how much the runtime's dynamic padding moves the logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mobilebert_edge.export import evaluate
from mobilebert_edge.export.encode import Encoder
from mobilebert_edge.export.errors import OutputNamesError, OutputShapeError, OutputValuesError
from mobilebert_edge.export.onnx_export import OUTPUT_NAME

DEFAULT_ATOL = 1e-4


def torch_logits(model, feed: dict[str, np.ndarray], names: Sequence[str]) -> np.ndarray:
    """PyTorch logits for the same padded batch."""
    import torch

    with torch.no_grad():
        inputs = {name: torch.from_numpy(feed[name]) for name in names}
        return model(**inputs).logits.float().numpy()


def check_outputs(sess, expected: Sequence[str] = (OUTPUT_NAME,)) -> None:
    """Raise ``OutputNamesError`` unless the graph's outputs are exactly ``expected``."""
    found = [item.name for item in sess.get_outputs()]
    if found != list(expected):
        raise OutputNamesError(
            "exported ONNX graph has unexpected outputs", expected=list(expected), found=found,
            hint="the export is broken; report the model architecture",
        )


class Reference:
    """The PyTorch model as the reference; its logits are computed once per batch and reused."""

    def __init__(self, model, names: Sequence[str], encoder: Encoder) -> None:
        self.model, self.names, self.encoder = model, list(names), encoder
        self._cache: dict[tuple, tuple[dict[str, np.ndarray], np.ndarray]] = {}

    def batch(self, texts: Sequence[str], pad_to: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        key = (tuple(texts), pad_to)
        if key not in self._cache:
            feed = self.encoder.batch(texts, pad_to)
            self._cache[key] = (feed, torch_logits(self.model, feed, self.names))
        return self._cache[key]


def compare_batch(reference: Reference, sess, texts: Sequence[str], atol: float, what: str, pad_to: int | None = None) -> float:
    """Compare ONNX and PyTorch on one batch; shapes first, then values. Returns the max abs diff."""
    feed, expected = reference.batch(texts, pad_to)
    found = evaluate.run(sess, feed)
    if found.shape != expected.shape:
        raise OutputShapeError(
            f"exported ONNX logits have the wrong shape ({what})",
            expected=tuple(expected.shape), found=tuple(found.shape),
            hint="the dynamic axes were not exported; report the model architecture",
        )
    diff = float(np.abs(found - expected).max())
    if not diff <= atol:  # also catches NaN
        raise OutputValuesError(
            f"exported ONNX logits differ from PyTorch ({what})",
            expected=f"max abs difference <= {atol:g}", found=f"{diff:.3g}",
            hint="do not deploy this graph; try another --opset or report the model architecture",
        )
    return diff


def validate(reference: Reference, sess, texts: Sequence[str], atol: float = DEFAULT_ATOL) -> dict[str, Any]:
    """Output names, then shapes, then values at batch N (mixed lengths), batch 1 (each text) and
    at padding to max_length, all at identical padding for both models."""
    check_outputs(sess)
    max_length = reference.encoder.max_length
    batch_n = compare_batch(reference, sess, texts, atol, f"batch of {len(texts)} mixed lengths")
    batch_1 = max(compare_batch(reference, sess, [text], atol, "batch of 1") for text in texts)
    padded = compare_batch(reference, sess, texts[:4], atol, f"padded to {max_length}", pad_to=max_length)
    return {
        "atol": atol,
        "texts": len(texts),
        "batch_1_max_abs_diff": batch_1,
        "batch_n_max_abs_diff": batch_n,
        "max_length_padding_max_abs_diff": padded,
    }


def padding_effect(sess, encoder: Encoder, texts: Sequence[str]) -> dict[str, Any]:
    """Max logit change between the runtime's dynamic padding and padding every text to max_length.

    MobileBERT's trigram embedding convolution sees the [PAD] embedding next to the last token, so
    its logits can depend on padding even under an attention mask (zero when the pad row is zero).
    """
    dynamic = evaluate.logits(sess, encoder, texts, batch_size=8)
    fixed = evaluate.logits(sess, encoder, texts, batch_size=8, pad_to=encoder.max_length)
    single = np.concatenate([evaluate.run(sess, encoder.batch([text])) for text in texts])
    return {
        "texts": len(texts),
        "dynamic_vs_max_length_max_logit_change": float(np.abs(dynamic - fixed).max()),
        "dynamic_vs_unpadded_max_logit_change": float(np.abs(dynamic - single).max()),
    }
