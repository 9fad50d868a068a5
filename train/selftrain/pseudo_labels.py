"""Pseudo-labels: which teacher predictions a student learns from, and their JSONL files.

Selection is a pure function of the teachers' probabilities. Each class keeps at most its
``share * n / classes`` most confident predictions (n: the unlabelled texts), and every class the
same number (that of the class with the fewest), so the share kept does not depend on how well the
probabilities are calibrated (a fine-tuned model can be right and still rarely reach 0.9 for one
class) and no class floods the student. Ties are broken by input order, so the choice is deterministic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_runtime.atomic import atomic_write
from mobilebert_edge.train.errors import ResumeError

SHARE = 0.8  # of the unlabelled texts, split equally across classes


@dataclass(frozen=True)
class Selection:
    """The kept texts (positions in input order), their labels and confidences, and the counts per class."""

    indices: list[int]
    labels: list[int]
    confidences: list[float]
    candidates: list[int]  # per class: texts predicted as it
    used: list[int]  # per class: texts kept


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def select_pseudo_labels(probabilities: np.ndarray, share: float = SHARE) -> Selection:
    """Keep the most confident predictions of ``probabilities`` (n, classes): at most ``share * n / classes``
    per class (1: no cap), the same number for every class."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    count, classes = probabilities.shape
    ranked = []
    for label in range(classes):
        members = np.flatnonzero(predicted == label)
        ranked.append(members[np.argsort(-confidence[members], kind="stable")])
    candidates = [len(members) for members in ranked]
    cap = int(share * count) // classes if share < 1 else count
    take = [min(min(candidates), cap)] * classes
    kept = np.sort(np.concatenate([members[:n] for members, n in zip(ranked, take)]).astype(np.int64))
    return Selection(kept.tolist(), predicted[kept].tolist(), confidence[kept].tolist(), candidates, take)


def write_pseudo_labels(path: Path, texts: list[str], rows: list[int], selection: Selection,
                        label_names: list[str], probabilities: np.ndarray) -> None:
    """One ``{"row", "text", "label", "confidence", "probabilities"}`` per kept text, written atomically
    (``probabilities``: the teachers' per class, in ``label_names`` order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        for index, label, confidence in zip(selection.indices, selection.labels, selection.confidences):
            handle.write(json.dumps({"row": rows[index], "text": texts[index], "label": label_names[label],
                                     "confidence": confidence,
                                     "probabilities": [float(p) for p in probabilities[index]]},
                                    ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class PseudoLabels:
    """The pseudo-labels of one round as read back: texts, label ids, source rows, teachers' probabilities."""

    texts: list[str]
    labels: list[int]
    rows: list[int]
    probabilities: list[list[float]]


def read_pseudo_labels(path: Path, label_names: list[str]) -> PseudoLabels:
    """The pseudo-labels of a file written by :func:`write_pseudo_labels`."""
    texts, labels, rows, probabilities = [], [], [], []
    lines = path.read_bytes().decode("utf-8").split("\n")  # not splitlines(): texts may hold U+0085, U+2028...
    for number, line in enumerate(filter(None, lines), start=1):
        try:
            item = json.loads(line)
            label = label_names.index(item["label"])
            probs = [float(p) for p in item["probabilities"]]
            if len(probs) != len(label_names) or not all(0 <= p <= 1 for p in probs):
                raise ValueError(f"{len(probs)} probabilities in [0, 1] expected for {len(label_names)} classes")
            labels.append(label)
            texts.append(item["text"])
            rows.append(int(item["row"]))
            probabilities.append(probs)
        except (ValueError, KeyError, TypeError) as error:
            raise ResumeError(f"{path}: line {number} is not a pseudo-label of this run ({error})",
                              hint="start again without --resume") from error
    return PseudoLabels(texts, labels, rows, probabilities)


def counts_by_name(counts: list[int], label_names: list[str]) -> dict[str, int]:
    return dict(zip(label_names, counts))
