"""``evaluate_file``: a bundle (and optionally a second one) on a labelled table file, streamed.

The file is read ``chunk_rows`` rows at a time; each chunk is classified, its token lengths taken
(before truncation), and only counts and the few examples the report shows are kept, so memory does
not grow with the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.confidence import Calibration, describe
from edge_runtime.errors import InputError
from edge_runtime.evaluation.labelled import LabelledTable
from edge_runtime.evaluation.tally import PairTally, Tally
from edge_runtime.scoring.base import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_TOKENS, DEFAULT_CHUNK_ROWS, check_positive
from edge_runtime.scoring.progress import ProgressLine


def _describe(classifier: Any) -> dict[str, Any]:
    model = classifier.manifest.get("model") or {}
    return {"path": str(classifier.path), "precision": model.get("precision"),
            "architecture": model.get("architecture"), "max_length": classifier.max_length,
            "truncation": classifier.encoder.rule, "temperature": classifier.calibration.temperature,
            "calibration": describe(classifier.calibration)}


def _applied(calibration: Calibration) -> dict[str, Any]:
    """What ``calibration_before`` says the "after" numbers carry."""
    return {"temperature": calibration.temperature, "calibration": describe(calibration)}


def _column_order(labels: Sequence[str], other: Any) -> list[int]:
    """Columns of ``other``'s probabilities in ``labels`` order; the label sets must be equal."""
    if sorted(other.labels) != sorted(labels):
        raise InputError(
            f"--against {other.path}: the bundles have different labels",
            expected=", ".join(labels), found=", ".join(other.labels),
            hint="compare bundles trained on the same labels",
        )
    return [other.labels.index(name) for name in labels]


def model_names(first: Any, second: Any) -> tuple[str, str]:
    """Short distinct names for two bundles: their precisions, else their folder names, else A/B."""
    for a, b in (((first.manifest.get("model") or {}).get("precision"), (second.manifest.get("model") or {}).get("precision")),
                 (Path(first.path).name, Path(second.path).name)):
        if a and b and a != b:
            return str(a), str(b)
    return "A", "B"


def evaluate_file(
    bundle: str | Path, data: str | Path, *, against: str | Path | None = None, text_column: str | None = None,
    label_column: str | None = None, label_names: Sequence[str] | None = None, input_format: str = "auto",
    encoding: str | None = None, skip_bad_rows: bool = False, batch_size: int = DEFAULT_BATCH_SIZE,
    batch_tokens: int | None = DEFAULT_BATCH_TOKENS, chunk_rows: int = DEFAULT_CHUNK_ROWS, threads: int | None = None, progress: bool = False,
    log: Callable[[str], object] = print, target_accuracy: float | None = None,
) -> dict[str, Any]:
    """Evaluate ``bundle`` on the labelled file ``data``; the result dict of ``Tally.result`` plus context.

    A bundle with a calibration adds ``calibration_before`` (ECE, Brier, NLL of the uncalibrated softmax on the
    same texts); ``target_accuracy`` adds ``target``, the lowest minimum confidence that reaches it.
    """
    from edge_runtime.classifier import Classifier, probabilities

    check_positive(batch_size=batch_size, batch_tokens=batch_tokens, chunk_rows=chunk_rows, threads=threads)
    started = time.perf_counter()
    classifier = Classifier.load(bundle, threads=threads)
    other = Classifier.load(against, threads=threads) if against is not None else None
    order = _column_order(classifier.labels, other) if other is not None else None
    table = LabelledTable(data, classifier.labels, text_column=text_column, label_column=label_column,
                          label_names=label_names, input_format=input_format, encoding=encoding,
                          chunk_rows=chunk_rows, skip_bad_rows=skip_bad_rows, log=log)
    tally = Tally(classifier.labels, classifier.max_length)
    before = None if classifier.calibration.plain else Tally(classifier.labels, shown=0)
    names = model_names(classifier, other) if other is not None else ("A", "B")
    pair = PairTally(classifier.labels, names) if other is not None else None
    bar = ProgressLine(enabled=progress)
    try:
        for chunk in table:
            logits = classifier.predict_logits(chunk.texts, batch_size=batch_size, batch_tokens=batch_tokens)
            probs = probabilities(logits, classifier.calibration)
            if before is not None:
                before.add(probabilities(logits), chunk.gold)
            lengths = classifier.encoder.token_counts(chunk.texts)
            tally.add(probs, chunk.gold, lengths=lengths, texts=chunk.texts, rows=chunk.rows)
            if other is not None and pair is not None:
                probs_b = other.predict_proba(chunk.texts, batch_size=batch_size, batch_tokens=batch_tokens)[:, order]
                pair.add(probs, probs_b, chunk.gold, texts=chunk.texts, rows=chunk.rows)
            bar.update(tally.count, tally.count, table.fraction_done(chunk.rows[-1]))
    finally:
        bar.close()
    if not tally.count:
        raise InputError(f"{data}: no usable rows to evaluate", hint="check the file and --text-column/--label-column")
    result = tally.result()
    result.update({
        "bundle": _describe(classifier),
        "data": {"path": str(data), "text_column": table.text_column, "label_column": table.label_column,
                 "skipped_rows": dict(table.skipped)},
        "seconds": round(time.perf_counter() - started, 2),
    })
    if before is not None:
        result["calibration_before"] = {**_applied(classifier.calibration), **before.result()["calibration"]}
    if target_accuracy is not None:
        result["target"] = tally.coverage.lowest_threshold(target_accuracy)
    if other is not None and pair is not None:
        result["against"] = _describe(other)
        result["comparison"] = pair.result()
    return result


def evaluate_arrays(
    probabilities: np.ndarray, gold: Sequence[int], labels: Sequence[str], *, lengths: Sequence[int] | None = None,
    max_length: int | None = None, texts: Sequence[str] | None = None, reference: np.ndarray | None = None,
    names: tuple[str, str] = ("A", "B"), before: np.ndarray | None = None, calibration: Calibration | None = None,
) -> dict[str, Any]:
    """The same result from arrays in memory (training's validation split, export's evaluation texts).

    ``reference`` (probabilities of a second model, same columns) adds the comparison of ``names[0]``
    (these probabilities) against ``names[1]`` (the reference); ``before`` (the same model's probabilities
    without its ``calibration``) adds ``calibration_before``, as ``evaluate_file`` does.
    """
    tally = Tally(labels, max_length)
    rows = list(range(1, len(gold) + 1))
    tally.add(probabilities, gold, lengths=lengths, texts=texts, rows=rows)
    result = tally.result()
    if reference is not None:
        pair = PairTally(labels, names)
        pair.add(probabilities, reference, gold, texts=texts, rows=rows)
        result["comparison"] = pair.result()
    if before is not None:
        uncalibrated = Tally(labels, shown=0)
        uncalibrated.add(before, gold)
        result["calibration_before"] = {**_applied(calibration or Calibration()), **uncalibrated.result()["calibration"]}
    return result
