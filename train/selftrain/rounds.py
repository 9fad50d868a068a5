"""The self-training run: round 0 trains the teacher on the labelled texts, round 1 a student on more.

Round 0 is ordinary training on the labelled texts. Round 1 labels the unlabelled texts with the mean
probabilities of the round-0 model and its fellow teachers (``teachers.py``; batches sorted by
length, reading ``label_length`` tokens of each text when set: a review cut at 256 tokens loses its
end, where the verdict often is), keeps the confident pseudo-labels (``pseudo_labels.py``) and trains
a student from the pretrained encoder on the labelled training texts plus those; with ``students``
K > 1, K students from the same start, their weights averaged (``soup.py``). Validation stays on the
labelled validation texts.

Resumable like ``fit``: the round in progress keeps epoch checkpoints in ``.resume/round-NN/``; a
finished round leaves its weights in ``.resume/round-NN.safetensors`` and its record in
``.resume/rounds.json``; the pseudo-labels stay in ``OUT/pseudo_labels/round-01.jsonl``, so a resumed
run neither trains a finished round again nor labels again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from edge_runtime.atomic import atomic_write
from mobilebert_edge.data import LabelledTexts
from mobilebert_edge.train.config import TrainConfig
from mobilebert_edge.train.encode import encode_texts
from mobilebert_edge.train.errors import ResumeError
from mobilebert_edge.train.loop import TrainState, clone_weights, fit, seed_everything
from mobilebert_edge.train.resume import RESUME_DIR, EpochCheckpoints
from mobilebert_edge.train.selftrain.pool import ModelPool
from mobilebert_edge.train.selftrain.pseudo_labels import (SHARE, counts_by_name, read_pseudo_labels,
                                                           select_pseudo_labels, write_pseudo_labels)
from mobilebert_edge.train.selftrain.settings import SelfTrainConfig
from mobilebert_edge.train.selftrain.soup import STUDENTS_DIR, StudentPool, soup_students
from mobilebert_edge.train.selftrain.teachers import TEACHERS_DIR, ensemble_probabilities, teacher_probabilities

PSEUDO_DIR = "pseudo_labels"
ROUNDS_FILE = "rounds.json"
# Fault injection for the resume tests: the process kills itself once the pseudo-labels of this round are written.
KILL_AFTER_LABELLING_ENV = "MOBILEBERT_EDGE_KILL_AFTER_LABELLING"


@dataclass
class SelfTrainResult:
    model: Any
    state: TrainState  # the last round's
    rounds: list[dict[str, Any]]  # one record per round: pseudo-label counts, training rows, loop state


class RoundStore:
    """The finished rounds of one run: ``.resume/rounds.json`` and the newest round's weights."""

    def __init__(self, out: Path, identity: dict[str, Any]) -> None:
        self.root = Path(out) / RESUME_DIR
        self.identity = identity  # settings and data fingerprints a resume must match

    def finished(self) -> list[dict[str, Any]]:
        path = self.root / ROUNDS_FILE
        if not path.is_file():
            return []
        saved = json.loads(path.read_text(encoding="utf-8"))
        changes = []
        for key, value in self.identity.items():
            old = saved["identity"].get(key)
            if isinstance(value, dict) and isinstance(old, dict):
                changes += [f"{name}: {old.get(name)!r} -> {new!r}" for name, new in value.items() if old.get(name) != new]
            elif old != value:
                changes.append(f"{key} data")
        if changes:
            raise ResumeError(f"the settings or data differ from the interrupted run ({', '.join(changes)})",
                              hint="resume with the same command and flags as the interrupted run")
        return saved["rounds"]

    def weights(self, number: int) -> dict[str, torch.Tensor]:
        return load_file(str(self.root / f"round-{number:02d}.safetensors"))

    def finish(self, rounds: list[dict[str, Any]], model: torch.nn.Module) -> None:
        """Record the round just finished: its weights, then the list of rounds, then drop what it replaces."""
        self.root.mkdir(parents=True, exist_ok=True)
        number = rounds[-1]["round"]
        name = f"round-{number:02d}.safetensors"
        tmp = self.root / f".{name}.tmp"
        save_file({key: value.detach().clone().contiguous() for key, value in model.state_dict().items()}, str(tmp))
        os.replace(tmp, self.root / name)
        with atomic_write(self.root / ROUNDS_FILE) as handle:
            json.dump({"identity": self.identity, "rounds": rounds}, handle, indent=1)
        for folder in (f"round-{number:02d}", f"{STUDENTS_DIR}/round-{number:02d}"):
            shutil.rmtree(self.root / folder, ignore_errors=True)
        for old in self.root.glob("round-*.safetensors"):
            if old.name != name:
                old.unlink()


def with_pseudo_labels(train: LabelledTexts, texts: list[str], labels: list[int], rows: list[int]) -> LabelledTexts:
    return LabelledTexts(texts=[*train.texts, *texts], labels=[*train.labels, *labels],
                         label_names=list(train.label_names), source=train.source, rows=[*train.rows, *rows],
                         text_column=train.text_column, label_column=train.label_column)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def write_round_labels(path: Path, unlabelled: Any, probabilities: Any, names: list[str],
                       teachers: list[dict[str, Any]] | None = None) -> None:
    """Select the pseudo-labels of round 1; write them (JSONL), then their counts per class and, for an
    ensemble, its teachers (JSON)."""
    selection = select_pseudo_labels(probabilities)
    write_pseudo_labels(path, unlabelled.texts, unlabelled.rows, selection, names, probabilities)
    counts = {"unlabelled": len(unlabelled), "candidates": counts_by_name(selection.candidates, names),
              "used": counts_by_name(selection.used, names)}
    with atomic_write(path.with_suffix(".json")) as handle:
        json.dump({**counts, "teachers": teachers} if teachers else counts, handle, indent=1)


def read_round_labels(path: Path, train_set: LabelledTexts, settings: SelfTrainConfig,
                      log: Callable[[str], None]) -> tuple[dict[str, Any], LabelledTexts]:
    """The counts of round 1's pseudo-labels, and the labelled training texts plus those pseudo-labels."""
    pseudo = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    teacher = f"the mean of {len(pseudo['teachers'])} teachers'" if pseudo.get("teachers") else "the teacher's"
    length = f" (reading {settings.label_length} tokens)" if settings.label_length else ""
    log(f"round 1: {teacher} predictions{length} of {pseudo['unlabelled']} unlabelled texts: "
        f"{_counts(pseudo['candidates'])}; pseudo-labels used (the most confident, up to "
        f"{SHARE:g} of the texts, equal balance): {_counts(pseudo['used'])}")
    if not sum(pseudo["used"].values()):
        log("round 1: no pseudo-labels (the teachers predict one class only), the student learns from the "
            "labelled texts only")
    labels = read_pseudo_labels(path, list(train_set.label_names))
    return pseudo, with_pseudo_labels(train_set, labels.texts, labels.labels, labels.rows)


def label_round(model: torch.nn.Module, tokenizer: Any, path: Path, unlabelled: Any, rounds: list[dict[str, Any]],
                settings: SelfTrainConfig, pool: ModelPool, encode: dict[str, Any], names: list[str]) -> None:
    """Round 1's labelling: the teachers' mean probabilities of the unlabelled texts, then the files."""
    labelling = {**encode, "max_length": settings.label_length or pool.config.max_length}
    unlabelled_enc = encode_texts(tokenizer, unlabelled.texts, [0] * len(unlabelled), **labelling)
    probabilities = teacher_probabilities(model, unlabelled_enc, config=pool.config, pad_id=pool.pad_id,
                                          precision=pool.precision)
    teachers = None
    if settings.teachers > 1:
        probabilities, extra = ensemble_probabilities(probabilities, settings.teachers, unlabelled_enc, pool)
        first = TrainState.from_dict(rounds[0]["state"]).saved_metrics(pool.config.restore_best)
        teachers = [{"seed": pool.config.seed, "val_accuracy": first.get("val_accuracy")}, *extra]
    write_round_labels(path, unlabelled, probabilities, names, teachers)


def self_train(
    model: torch.nn.Module,
    tokenizer: Any,
    train_set: LabelledTexts,
    val_set: LabelledTexts,
    unlabelled: Any,
    config: TrainConfig,
    settings: SelfTrainConfig,
    *,
    out: Path,
    identity: dict[str, Any],
    precision: str,
    new_model: Callable[[], torch.nn.Module],
    fingerprint: Callable[[LabelledTexts, LabelledTexts], str],
    resume: bool = False,
    on_round: Callable[[int, torch.nn.Module, Any], None] | None = None,
    on_student: Callable[[int, int, torch.nn.Module, Any], None] | None = None,
    log: Callable[[str], None] = print,
) -> SelfTrainResult:
    """Train the teacher (round 0) and the student (round 1); return the student (its best epoch's weights,
    or the mean of the students').

    ``new_model()`` loads the pretrained encoder with a new head (the student); ``on_round(number, model,
    tokenizer)`` sees each round's model as it finishes; ``on_student(number, index, model, tokenizer)``
    each of the students before their weights are averaged (``settings.students`` > 1).
    """
    out, names = Path(out), list(train_set.label_names)
    pad_id = tokenizer.pad_token_id or 0
    encode = dict(max_length=config.max_length, rule=config.truncation, head_tokens=config.head_tokens)
    val_enc = encode_texts(tokenizer, val_set.texts, val_set.labels, **encode)
    labelled_enc = encode_texts(tokenizer, train_set.texts, train_set.labels, **encode)  # the teachers'
    store = RoundStore(out, identity)
    unlabelled = unlabelled.without({*train_set.texts, *val_set.texts}, log=log)  # validation stays unseen
    if not resume:
        shutil.rmtree(out / PSEUDO_DIR, ignore_errors=True)
        shutil.rmtree(out / RESUME_DIR / TEACHERS_DIR, ignore_errors=True)
    rounds = store.finished() if resume else []
    if rounds:
        model.load_state_dict(store.weights(rounds[-1]["round"]))
        log(f"resuming self-training after round {rounds[-1]['round']}")
    elif resume and EpochCheckpoints(out, config, "", round=0).latest() is None:
        raise ResumeError(f"nothing to resume in {out}", expected="a self-training run (.resume/round-00 or rounds.json)",
                          found="none", hint="run without --resume to start training")
    kill_after = int(os.environ.get(KILL_AFTER_LABELLING_ENV, "0") or 0)

    for number in range(len(rounds), 2):
        started = time.perf_counter()
        data, pseudo = train_set, None
        if number == 1:
            path = out / PSEUDO_DIR / "round-01.jsonl"
            if not path.with_suffix(".json").is_file():  # the counts are written last: labels complete
                pool = ModelPool(out, labelled_enc, val_enc, config, fingerprint(train_set, val_set), pad_id,
                                   precision, new_model, resume, log)
                label_round(model, tokenizer, path, unlabelled, rounds, settings, pool, encode, names)
                if kill_after == number:
                    os.kill(os.getpid(), signal.SIGKILL)
            pseudo, data = read_round_labels(path, train_set, settings, log)
            del model
            seed_everything(config.seed)
            model = new_model()
        log(f"round {number} ({'teacher' if number == 0 else 'fresh student'}): {len(data)} training texts")
        train_enc = labelled_enc if data is train_set else encode_texts(tokenizer, data.texts, data.labels, **encode)
        checkpoints = EpochCheckpoints(out, config, fingerprint(data, val_set), round=number)
        start = clone_weights(model) if number > 0 and settings.students > 1 else None  # resumed: the same start
        state = fit(model, train_enc, val_enc, config, pad_id=pad_id, precision=precision, save_epoch=checkpoints.save,
                    resume=checkpoints.resume_if_saved(resume), log=log)
        record = {"round": number, "training_rows": len(data), "pseudo_labels": pseudo}
        if start is not None:
            pool = StudentPool(out, train_enc, val_enc, config, fingerprint(data, val_set), pad_id, precision,
                               new_model, resume, log, number=number, start=start)
            each = None if on_student is None else lambda index, student: on_student(number, index, student, tokenizer)
            record["soup"] = soup_students(model, state, settings.students, pool, each)
            del pool, start
        rounds.append({**record, "seconds": round(time.perf_counter() - started, 1), "state": state.to_dict()})
        store.finish(rounds, model)
        if on_round is not None:
            on_round(number, model, tokenizer)
    return SelfTrainResult(model, TrainState.from_dict(rounds[-1]["state"]), rounds)


def self_training_report(rounds: list[dict[str, Any]], unlabelled: Any, settings: SelfTrainConfig,
                         config: TrainConfig) -> dict[str, Any]:
    """What the checkpoint records: the settings, the unlabelled file, and per round the pseudo-labels used
    per class, the training rows, the saved epoch's validation scores, the seconds and the epoch history."""
    report = []
    for record in rounds:
        state = TrainState.from_dict(record["state"])
        report.append({"round": record["round"], "training_rows": record["training_rows"],
                       "pseudo_labels": record["pseudo_labels"], "saved_epoch": state.saved_epoch(config.restore_best),
                       "metrics": state.saved_metrics(config.restore_best), "seconds": record["seconds"],
                       "history": state.history})
        if "soup" in record:  # the mean of the round's students: its own validation, and each student's
            report[-1]["metrics"], report[-1]["students"] = record["soup"]["metrics"], record["soup"]["students"]
    return {"settings": settings.to_dict(),
            "unlabeled": {"file": unlabelled.source, "rows": len(unlabelled), "text_column": unlabelled.text_column},
            "rounds": report}
