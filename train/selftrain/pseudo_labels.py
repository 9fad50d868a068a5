"""Pseudo-labels for self-training: the settings, which teacher predictions to keep, and their JSONL files.

Selection is a pure function of the teacher's probabilities. A text is a candidate of the class it is
predicted as when its top probability reaches ``threshold`` (default 0: every prediction). Each class
keeps at most its ``fraction * n / classes`` most confident candidates (n: the unlabelled texts; 1: no
cap), so the share kept does not depend on how well the teacher's probabilities are calibrated: a
fine-tuned model can be right and still rarely reach 0.9 for one class. ``balance="equal"`` then keeps the same number
per class (that of the class with the fewest), ``per_class`` caps every class. Ties are broken by input
order, so the choice is deterministic. With ``targets="soft"`` a student matches the teachers' class
probabilities of each kept text instead of its predicted class.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.atomic import atomic_write
from mobilebert_edge.train.errors import ConfigError, ResumeError

BALANCES = ("equal", "none")
STUDENTS = ("fresh", "continue")
TARGETS = ("hard", "soft")


@dataclass(frozen=True)
class SelfTrainConfig:
    """How self-training picks pseudo-labels and trains its students (``train --unlabeled``)."""

    threshold: float = 0.0
    fraction: float = 0.8
    balance: str = "equal"
    per_class: int | None = None
    rounds: int = 1
    student: str = "fresh"
    teachers: int = 3  # round 1 labels with the mean probabilities of this many teachers (other seeds)
    student_mask: float = 0.0  # share of a student's input tokens replaced by [MASK] at each step (train/noise.py)
    student_finetune: bool = False  # then each student trains on the labelled texts alone
    targets: str = "hard"  # soft: students match the teachers' probabilities of the kept texts
    student_epochs: int | None = None  # a student's epochs (its schedule spans them); None: the preset's
    students: int = 1  # per round, from the same start with other seeds; the model is their weights' mean
    label_length: int | None = None  # tokens the teachers read when they label; None: the run's max length

    def __post_init__(self) -> None:
        def fail(field: str, expected: str) -> None:
            raise ConfigError(f"invalid {field}", expected=expected, found=repr(getattr(self, field)))

        if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float)) \
                or not 0 <= self.threshold < 1:
            fail("threshold", "a probability in [0, 1), e.g. 0.9")
        if isinstance(self.fraction, bool) or not isinstance(self.fraction, (int, float)) \
                or not 0 < self.fraction <= 1:
            fail("fraction", "a share of the unlabelled texts in (0, 1], e.g. 0.8")
        if self.balance not in BALANCES:
            fail("balance", " | ".join(BALANCES))
        if self.per_class is not None and (not isinstance(self.per_class, int) or self.per_class < 1):
            fail("per_class", "an integer >= 1, or nothing for no cap")
        if not isinstance(self.rounds, int) or not 1 <= self.rounds <= 10:
            fail("rounds", "an integer in 1..10")
        if self.student not in STUDENTS:
            fail("student", " | ".join(STUDENTS))
        if isinstance(self.teachers, bool) or not isinstance(self.teachers, int) or not 1 <= self.teachers <= 10:
            fail("teachers", "an integer in 1..10")
        if isinstance(self.student_mask, bool) or not isinstance(self.student_mask, (int, float)) \
                or not 0 <= self.student_mask <= 0.5:
            fail("student_mask", "a share of the tokens in [0, 0.5], e.g. 0.1")
        if not isinstance(self.student_finetune, bool):
            fail("student_finetune", "true or false")
        if self.targets not in TARGETS:
            fail("targets", " | ".join(TARGETS))
        if self.student_epochs is not None and (isinstance(self.student_epochs, bool)
                                                or not isinstance(self.student_epochs, int)
                                                or not 1 <= self.student_epochs <= 100):
            fail("student_epochs", "an integer in 1..100, or nothing for the preset's epochs")
        if self.label_length is not None and (isinstance(self.label_length, bool)
                                              or not isinstance(self.label_length, int)
                                              or not 8 <= self.label_length <= 8192):
            fail("label_length", "an integer in 8..8192, or nothing for the run's max length")
        if isinstance(self.students, bool) or not isinstance(self.students, int) or not 1 <= self.students <= 10:
            fail("students", "an integer in 1..10")
        if self.students > 1 and self.student_finetune:
            raise ConfigError("students > 1 and student_finetune cannot be combined",
                              hint="average several students or give one a labelled-only pass, not both")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Selection:
    """The kept texts (positions in input order), their labels and confidences, and the counts per class."""

    indices: list[int]
    labels: list[int]
    confidences: list[float]
    candidates: list[int]  # per class: texts predicted as it, at or above the threshold
    used: list[int]  # per class: texts kept


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def select_pseudo_labels(probabilities: np.ndarray, *, threshold: float = 0.0, fraction: float = 1.0,
                         balance: str = "equal", per_class: int | None = None) -> Selection:
    """Keep the most confident predictions of ``probabilities`` (n, classes) under the share, balance and cap."""
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    count, classes = probabilities.shape
    ranked = []
    for label in range(classes):
        members = np.flatnonzero((predicted == label) & (confidence >= threshold))
        ranked.append(members[np.argsort(-confidence[members], kind="stable")])
    candidates = [len(members) for members in ranked]
    share = int(fraction * count) // classes if fraction < 1 else count  # 1: no share cap
    take = [min(n, share) for n in candidates]
    if balance == "equal":
        take = [min(take)] * classes
    if per_class is not None:
        take = [min(n, per_class) for n in take]
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
