"""Run an ONNX classifier the way the runtime does, and compare two of them on labelled texts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mobilebert_edge.export.encode import Encoder
from mobilebert_edge.export.errors import ExportError
from edge_runtime.errors import InputError


def session(path: Path, threads: int | None = None, level: str = "all"):
    """An onnxruntime CPU session at graph optimization ``level`` (``optimize.session_options``)."""
    import onnxruntime as ort

    from mobilebert_edge.export.optimize import session_options

    options = session_options(level, threads)
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot load {path} ({error})") from error


def run(sess, feed: dict[str, np.ndarray]) -> np.ndarray:
    """Logits for one padded batch; only the inputs the graph declares are fed."""
    names = [item.name for item in sess.get_inputs()]
    return sess.run(None, {name: feed[name] for name in names})[0]


def logits(
    sess, encoder: Encoder, texts: Sequence[str], *, batch_size: int = 32, pad_to: int | None = None,
    progress: str | None = None,
) -> np.ndarray:
    """Logits in input order: texts sorted by length, each batch padded to its longest (or ``pad_to``)."""
    rows = [encoder.ids(text) for text in texts]
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out: np.ndarray | None = None
    starts = range(0, len(order), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=progress, unit="batch", leave=False, disable=None)  # none when not a terminal
    for start in starts:
        chunk = order[start : start + batch_size]
        batch = run(sess, encoder.pad([rows[i] for i in chunk], pad_to))
        if out is None:
            out = np.zeros((len(rows), batch.shape[1]), dtype=np.float32)
        out[chunk] = batch
    assert out is not None, "no texts"
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def read_eval_data(path: Path, labels: list[str], log: Callable[[str], object] = print) -> tuple[list[str], list[int]]:
    """Texts and label ids of a labelled file (any format ``data.load_labelled`` reads), with the
    checkpoint's label names: a label is a name from ``labels`` or an integer id."""
    from mobilebert_edge.data import DataError, load_labelled

    path = Path(path)
    if not path.exists():
        raise InputError(f"eval data {path}: no such file", hint="pass a labelled file with --eval-data")
    try:
        table = load_labelled(path, label_names=labels, log=log)
    except DataError as error:
        raise InputError(
            f"eval data {error.message}", expected=error.expected, found=error.found,
            hint="fix those rows or pass another --eval-data",
        ) from error
    return list(table.texts), list(table.labels)


def compare(reference: np.ndarray, candidate: np.ndarray, truth: Sequence[int] | None) -> dict[str, Any]:
    """Label agreement, max probability difference and (with ``truth``) accuracy of each, in %."""
    ref_p, cand_p = softmax(reference), softmax(candidate)
    ref_y, cand_y = ref_p.argmax(1), cand_p.argmax(1)
    result: dict[str, Any] = {
        "texts": int(len(ref_y)),
        "label_agreement": round(float((ref_y == cand_y).mean() * 100), 3),
        "max_probability_difference": round(float(np.abs(ref_p - cand_p).max()), 6),
    }
    if truth is not None:
        y = np.asarray(truth)
        result["fp32_accuracy"] = round(float((ref_y == y).mean() * 100), 3)
        result["int8_accuracy"] = round(float((cand_y == y).mean() * 100), 3)
        result["accuracy_drop_points"] = round(result["fp32_accuracy"] - result["int8_accuracy"], 3)
    return result
