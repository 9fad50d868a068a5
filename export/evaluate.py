"""Run an ONNX classifier the way the runtime does, and compare two of them on labelled texts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from export.encode import Encoder
from export.errors import ExportError
from edge_runtime.errors import InputError


def session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
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

        starts = tqdm(starts, desc=progress, unit="batch", leave=False)
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


def read_eval_data(path: Path, labels: list[str]) -> tuple[list[str], list[int]]:
    """Texts and label ids of a labelled file (JSONL with text/label, or a table ``data`` can read).

    Labels may be names from ``labels`` or integer ids.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"eval data {path}: no such file", hint="pass a labelled file with --eval-data")
    if path.suffix == ".jsonl":
        records = []
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    records.append((number, record["text"], record["label"]))
                except (json.JSONDecodeError, KeyError, TypeError) as error:
                    raise InputError(
                        f"eval data {path}, line {number}: not a {{\"text\", \"label\"}} record ({error})"
                    ) from error
    else:
        records = _read_table(path)
    texts, ids = [], []
    index = {name: i for i, name in enumerate(labels)}
    for number, text, label in records:
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"eval data {path}, row {number}: empty or non-text 'text'", found=repr(text)[:60])
        key = str(label)
        if key in index:
            ids.append(index[key])
        elif key.lstrip("-").isdigit() and 0 <= int(key) < len(labels):
            ids.append(int(key))
        else:
            raise InputError(
                f"eval data {path}, row {number}: unknown label",
                expected=" | ".join(labels) + f" or 0..{len(labels) - 1}",
                found=repr(label),
            )
        texts.append(text)
    if not texts:
        raise InputError(f"eval data {path}: no rows")
    return texts, ids


def _read_table(path: Path) -> list[tuple[int, Any, Any]]:
    """Rows of a CSV/TSV/Parquet table via ``data.load_labelled`` if present, else pandas."""
    try:
        from data import load_labelled  # type: ignore[attr-defined]
    except ImportError:
        load_labelled = None
    if load_labelled is not None:
        table = load_labelled(path)
        frame = getattr(table, "frame", table)
        texts, labels = frame["text"].tolist(), frame["label"].tolist()
        return [(i + 2, t, l) for i, (t, l) in enumerate(zip(texts, labels))]
    import pandas as pd

    for encoding in ("utf-8", "cp949", "latin-1"):
        try:
            frame = pd.read_csv(path, sep=None, engine="python", encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
    columns = {c.lower(): c for c in frame.columns}
    text = next((columns[c] for c in ("text", "review", "sentence") if c in columns), None)
    label = next((columns[c] for c in ("label", "sentiment", "labels") if c in columns), None)
    if text is None or label is None:
        raise InputError(
            f"eval data {path}: text and label columns not found",
            expected="columns text and label", found=", ".join(map(str, frame.columns)),
        )
    return [(i + 2, t, l) for i, (t, l) in enumerate(zip(frame[text].tolist(), frame[label].tolist()))]


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
