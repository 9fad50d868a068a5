"""Check an fp32 ONNX graph against the PyTorch model it came from (output names, shapes, values),
and measure how much the runtime's dynamic padding moves the logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from export import evaluate
from export.encode import Encoder
from export.errors import OutputNamesError, OutputShapeError, OutputValuesError
from export.onnx_export import OUTPUT_NAME

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


def compare_batch(model, names: Sequence[str], sess, feed: dict[str, np.ndarray], atol: float, what: str) -> float:
    """Compare ONNX and PyTorch on one batch; shapes first, then values. Returns the max abs diff."""
    reference = torch_logits(model, feed, names)
    found = evaluate.run(sess, feed)
    if found.shape != reference.shape:
        raise OutputShapeError(
            f"exported ONNX logits have the wrong shape ({what})",
            expected=tuple(reference.shape), found=tuple(found.shape),
            hint="the dynamic axes were not exported; report the model architecture",
        )
    diff = float(np.abs(found - reference).max())
    if not diff <= atol:  # also catches NaN
        raise OutputValuesError(
            f"exported ONNX logits differ from PyTorch ({what})",
            expected=f"max abs difference <= {atol:g}", found=f"{diff:.3g}",
            hint="do not deploy this graph; try another --opset or report the model architecture",
        )
    return diff


def validate(model, names: Sequence[str], sess, encoder: Encoder, texts: Sequence[str], atol: float = DEFAULT_ATOL) -> dict[str, Any]:
    """Output names, then shapes, then values at batch 1 (each text) and batch N (mixed lengths)."""
    check_outputs(sess)
    batch_n = compare_batch(model, names, sess, encoder.batch(texts), atol, f"batch of {len(texts)} mixed lengths")
    batch_1 = max(compare_batch(model, names, sess, encoder.batch([text]), atol, "batch of 1") for text in texts)
    padded = compare_batch(
        model, names, sess, encoder.batch(texts[:4], pad_to=encoder.max_length), atol,
        f"padded to {encoder.max_length}",
    )
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
