"""The front class of the runtime: load a bundle, classify texts.

Only onnxruntime, tokenizers and numpy. Texts are tokenized, sorted by length and run in batches
padded to their longest item, capped in rows and in padded tokens (``edge_runtime.batching``);
results come back in input order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, overload

import numpy as np

from edge_runtime.batching import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS, ENCODE_BLOCK, check_limit, plan_batches
from edge_runtime.bundle import read_manifest, verify_bundle
from edge_runtime.confidence import Calibration, calibration_of, check_min_confidence, unsure
from edge_runtime.errors import BundleError, InputError
from edge_runtime.limits import check_count
from edge_runtime.text import Batch, TextEncoder, is_blank

# Inputs the runtime knows how to fill, by the names transformers' exporters give them.
KNOWN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}
# A bundle whose graph was stored already optimized by onnxruntime (manifest model.optimization_level)
# loads without graph passes: it already had them, and redoing them is a good part of a cold start.
BAKED_LEVELS = ("extended",)


@dataclass(frozen=True)
class Prediction:
    """The most probable label, its probability, every label's probability, and whether the score is
    below the classifier's ``min_confidence`` (``edge_runtime.confidence``; never without one)."""

    label: str
    score: float
    probabilities: dict[str, float]
    unsure: bool = False


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable: the row maximum is subtracted first)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def probabilities(logits: np.ndarray, calibration: Calibration | None = None) -> np.ndarray:
    """The one place logits become probabilities (float64): ``softmax(logits / T)``, then the confidence map
    on each row's top probability (``edge_runtime.confidence``). The argmax is the logits' argmax."""
    calibration = calibration or Calibration()
    proba = softmax(np.asarray(logits, dtype=np.float64) / calibration.temperature)
    if calibration.confidence_map is None or not len(proba) or proba.shape[1] < 2:
        return proba
    rows = np.arange(len(proba))
    best = np.asarray(logits).argmax(axis=1)
    top = proba[rows, best]
    others = proba.copy()
    others[rows, best] = 0.0
    rest = others.sum(axis=1, keepdims=True)
    width = proba.shape[1] - 1
    # each other label's share of what the top label leaves (equal shares when the top took everything)
    shares = np.divide(others, rest, out=np.full_like(others, 1.0 / max(width, 1)), where=rest > 0)
    shares[rows, best] = 0.0
    runner_up = shares.max(axis=1)
    tie = runner_up / (1.0 + runner_up)  # the top probability at which the runner-up would draw level
    near_tie = top <= tie + 1e-9  # already level with the runner-up (to rounding): left as it is
    mapped = np.minimum(np.maximum(np.interp(top, *calibration.confidence_map), tie + 1e-9), 1.0)
    remapped = shares * (1.0 - mapped)[:, None]
    remapped[rows, best] = mapped
    return np.where(near_tie[:, None], proba, remapped)


def _check_texts(texts: Sequence[Any], offset: int = 0) -> None:
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(
                f"text {offset + index} is not a string", expected="str", found=type(text).__name__
            )
        if is_blank(text):
            raise InputError(
                f"text {offset + index} is empty", expected="at least one visible character", found=repr(text[:20])
            )


class Classifier:
    """A text classifier served from a bundle folder (see :meth:`load`).

    Probabilities are the bundle's calibrated ones (``probabilities``: its temperature and confidence map,
    ``edge_runtime.confidence``); labels are the argmax of the logits.
    """

    def __init__(self, session: Any, encoder: TextEncoder, manifest: dict[str, Any], path: Path, *,
                 min_confidence: float | None = None) -> None:
        self.session = session
        self.encoder = encoder
        self.manifest = manifest
        self.path = path
        self.labels: list[str] = list(manifest["labels"])
        self.calibration = calibration_of(manifest, path)
        self.min_confidence = check_min_confidence(min_confidence)
        self._inputs: list[tuple[str, Any]] = []
        for spec in session.get_inputs():
            dtype = _INT_TYPES.get(spec.type)
            if spec.name not in KNOWN_INPUTS or dtype is None:
                raise BundleError(
                    f"bundle {path}: the model has an input this runtime cannot feed",
                    expected=f"int64/int32 inputs among {', '.join(KNOWN_INPUTS)}",
                    found=f"{spec.name} {spec.type}",
                    hint="re-export the bundle",
                )
            self._inputs.append((spec.name, dtype))
        outputs = [o.name for o in session.get_outputs()]
        wanted = (manifest.get("model") or {}).get("output")
        if wanted is not None and wanted not in outputs:
            raise BundleError(
                f"bundle {path}: the model has no output {wanted!r}",
                expected=wanted,
                found=", ".join(outputs),
                hint="re-export the bundle",
            )
        self._output = wanted or outputs[0]
        shape = next(o.shape for o in session.get_outputs() if o.name == self._output)
        if len(shape) != 2 or (isinstance(shape[1], int) and shape[1] != len(self.labels)):
            raise BundleError(
                f"bundle {path}: the model's output {self._output!r} does not match the {len(self.labels)} labels",
                expected=f"shape [batch, {len(self.labels)}]",
                found=f"shape {list(shape)}",
                hint="re-export the bundle",
            )

    @classmethod
    def load(
        cls, bundle: str | os.PathLike[str], *, threads: int | None = None, verify: bool = True,
        min_confidence: float | None = None,
    ) -> Classifier:
        """Load a bundle folder; with ``verify`` (default) refuse a tampered or partial bundle.

        ``threads`` sets onnxruntime's intra-op threads (default: onnxruntime's choice; at most 4 per
        usable core, ``edge_runtime.limits``). With ``min_confidence`` P in [0, 1], a prediction whose
        score is below P has ``unsure`` set.
        """
        import onnxruntime as ort

        check_min_confidence(min_confidence)
        check_count(threads, "threads")  # at most 4 per core (edge_runtime.limits)
        path = Path(bundle)
        manifest = verify_bundle(path) if verify else read_manifest(path)
        tok = manifest["tokenizer"]
        truncation = tok.get("truncation") or {}
        tokenizer_file = path / tok["file"]
        if not tokenizer_file.is_file():
            raise BundleError(f"bundle {path}: {tok['file']} is missing", hint="copy the whole bundle folder")
        try:
            encoder = TextEncoder.from_file(
                tokenizer_file,
                max_length=_int_setting(tok["max_length"], "tokenizer.max_length"),
                rule=truncation.get("rule", "head"),
                head_tokens=truncation.get("head_tokens"),
            )
        except InputError as error:
            raise BundleError(f"bundle {path}: bad tokenizer settings in manifest.json: {error}") from error
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        baked = (manifest.get("model") or {}).get("optimization_level") in BAKED_LEVELS
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_DISABLE_ALL if baked else ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        )
        model_file = path / manifest["model"]["file"]
        try:
            session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types (Fail, InvalidProtobuf, ...)
            from edge_runtime.ops import missing_op_error

            missing = missing_op_error(path, manifest["model"], str(error), ort.__version__)
            if missing is not None:
                raise missing from error
            raise BundleError(
                f"bundle {path}: onnxruntime cannot load {manifest['model']['file']} ({error})",
                hint="re-export the bundle, or upgrade onnxruntime if the model needs a newer opset",
            ) from error
        return cls(session, encoder, manifest, path, min_confidence=min_confidence)

    def __repr__(self) -> str:
        precision = (self.manifest.get("model") or {}).get("precision", "?")
        return f"Classifier({str(self.path)!r}, labels={self.labels}, precision={precision!r}, max_length={self.max_length})"

    @property
    def max_length(self) -> int:
        """Longest input in tokens, special tokens included."""
        return self.encoder.max_length

    def tokenizer_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids the model sees for each text (special tokens included, unpadded)."""
        _check_texts(texts)
        return self.encoder.encode_ids(texts)

    @overload
    def predict(
        self, texts: str, batch_size: int = DEFAULT_BATCH_SIZE, *, batch_tokens: int | None = DEFAULT_BATCH_TOKENS
    ) -> Prediction: ...
    @overload
    def predict(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
        batch_tokens: int | None = DEFAULT_BATCH_TOKENS,
    ) -> list[Prediction]: ...

    def predict(
        self, texts: str | Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
        batch_tokens: int | None = DEFAULT_BATCH_TOKENS,
    ) -> Prediction | list[Prediction]:
        """Classify one text (-> Prediction) or a list of texts (-> list, in input order).

        An empty or whitespace-only text has nothing to classify: ``InputError`` names its position.
        """
        if isinstance(texts, str):
            return self._to_predictions(self.predict_proba([texts], batch_size, batch_tokens=batch_tokens))[0]
        return self._to_predictions(self.predict_proba(texts, batch_size, batch_tokens=batch_tokens))

    def predict_proba(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
        batch_tokens: int | None = DEFAULT_BATCH_TOKENS,
    ) -> np.ndarray:
        """Probabilities, shape (len(texts), len(labels)), rows in input order.

        A model call holds at most ``batch_size`` texts and ``batch_tokens`` padded tokens
        (``None``: rows only); see ``edge_runtime.batching``.
        """
        if isinstance(texts, str):
            raise InputError("predict_proba takes a list of texts", expected="list[str]", found="str")
        return probabilities(self.predict_logits(texts, batch_size, batch_tokens=batch_tokens), self.calibration)

    def predict_logits(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, *,
        batch_tokens: int | None = DEFAULT_BATCH_TOKENS,
    ) -> np.ndarray:
        """The model's logits, shape (len(texts), len(labels)), rows in input order (uncalibrated)."""
        if isinstance(texts, str):
            raise InputError("predict_logits takes a list of texts", expected="list[str]", found="str")
        check_limit(batch_size, "batch_size")
        check_limit(batch_tokens, "batch_tokens", optional=True)
        texts = _as_list(texts)
        _check_texts(texts)
        return self._logits_sorted(texts, batch_size, batch_tokens)

    def iter_proba(
        self, texts: Iterable[str], batch_size: int = DEFAULT_BATCH_SIZE, chunk_size: int | None = None, *,
        batch_tokens: int | None = DEFAULT_BATCH_TOKENS,
    ) -> Iterator[np.ndarray]:
        """Stream probabilities for an iterable of texts, holding one chunk in memory at a time.

        Reads ``chunk_size`` texts (default ``16 * batch_size``), sorts them by length into
        batches, and yields one array of shape (chunk, len(labels)) in input order; the arrays
        concatenated are the rows of every text, in order.
        """
        check_limit(batch_size, "batch_size")
        check_limit(batch_tokens, "batch_tokens", optional=True)
        chunk_size = check_limit(chunk_size, "chunk_size") if chunk_size is not None else 16 * batch_size
        if isinstance(texts, str):
            raise InputError("iter_proba takes an iterable of texts", expected="iterable of str", found="str")
        iterator = iter(texts)
        offset = 0
        while chunk := list(islice(iterator, chunk_size)):
            _check_texts(chunk, offset)
            yield probabilities(self._logits_sorted(chunk, batch_size, batch_tokens, offset), self.calibration)
            offset += len(chunk)

    def _to_predictions(self, proba: np.ndarray) -> list[Prediction]:
        best = proba.argmax(axis=1) if len(proba) else []
        flagged = unsure(proba.max(axis=1), self.min_confidence)
        return [
            Prediction(
                label=self.labels[k],
                score=float(row[k]),
                probabilities={label: float(p) for label, p in zip(self.labels, row)},
                unsure=bool(flag),
            )
            for row, k, flag in zip(proba, best, flagged)
        ]

    def _logits_sorted(
        self, texts: list[str], batch_size: int, batch_tokens: int | None, offset: int = 0
    ) -> np.ndarray:
        out = np.empty((len(texts), len(self.labels)), dtype=np.float64)
        rows = self._encode_compact(texts, offset)
        for index in plan_batches([len(row) for row in rows], batch_size, batch_tokens):
            out[index] = self._run(self.encoder.pad([rows[i] for i in index]))
        return out

    def _encode_compact(self, texts: list[str], offset: int) -> list[np.ndarray]:
        """Token ids of every text as int32 arrays, tokenized ``ENCODE_BLOCK`` texts at a time."""
        rows: list[np.ndarray] = []
        specials = len(self.encoder.prefix) + len(self.encoder.suffix)
        for start in range(0, len(texts), ENCODE_BLOCK):
            block = self.encoder.encode_ids(texts[start : start + ENCODE_BLOCK], offset=offset + start)
            for index, ids in enumerate(block, start=start):
                if len(ids) == specials:  # the tokenizer kept nothing of it: as empty as a blank text
                    raise InputError(f"text {offset + index} is empty", expected="at least one token the model reads",
                                     found=repr(texts[index][:20]))
                rows.append(np.asarray(ids, dtype=np.int32))
        return rows

    def _run(self, batch: Batch) -> np.ndarray:
        arrays = {
            "input_ids": batch.input_ids,
            "attention_mask": batch.attention_mask,
            "token_type_ids": batch.token_type_ids,
        }
        feed = {name: arrays[name].astype(dtype, copy=False) for name, dtype in self._inputs}
        try:
            (logits,) = self.session.run([self._output], feed)
        except Exception as error:  # onnxruntime's own exception types
            raise BundleError(
                f"bundle {self.path}: onnxruntime failed to run the model ({error})",
                hint="re-export the bundle",
            ) from error
        if logits.ndim != 2 or logits.shape != (len(batch.input_ids), len(self.labels)):
            raise BundleError(
                f"bundle {self.path}: the model's output does not match its labels",
                expected=f"shape ({len(batch.input_ids)}, {len(self.labels)})",
                found=f"shape {tuple(logits.shape)}",
                hint="re-export the bundle",
            )
        return logits


def _int_setting(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{name} must be an integer", expected="an integer", found=repr(value))
    return value


def _as_list(texts: Any) -> list[Any]:
    if isinstance(texts, (bytes, dict)) or not isinstance(texts, Iterable):
        raise InputError(
            "texts must be a string or a list of strings", expected="str or list[str]", found=type(texts).__name__
        )
    return list(texts)
