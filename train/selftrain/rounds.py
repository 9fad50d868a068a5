"""Self-training rounds: a teacher trained on labelled texts labels the unlabelled ones, a student learns from both.

Round 0 is ordinary training on the labelled texts: the teacher. Each later round labels the
unlabelled texts with the previous round's model (batches sorted by length), keeps the confident
pseudo-labels (``train/pseudo_labels.py``) and trains a student on the labelled training texts plus
those; validation stays on the labelled validation texts. The student starts from the pretrained
encoder (``fresh``) or from the teacher's weights (``continue``) and is the next round's teacher. With
``student_finetune`` each student then trains on the labelled texts alone (same preset, its own epochs
in ``.resume/round-NN-labelled/``): the pseudo-labels teach first, the labels have the last word.
With ``student_epochs`` the students train that many epochs (their schedule spanning them), the teachers the
preset's. With ``students`` K > 1 a round trains K students from the same start and keeps the mean of their
weights (``train/soup.py``). With ``targets="soft"`` a student's loss is the cross-entropy against class probabilities: the
teachers' for the pseudo-labelled texts (kept in the round's JSONL), one-hot for the labelled ones.

Resumable like ``fit``: the round in progress keeps epoch checkpoints in ``.resume/round-NN/``; a
finished round leaves its weights in ``.resume/round-NN.safetensors`` and its record in
``.resume/rounds.json``; every round's pseudo-labels stay in ``OUT/pseudo_labels/round-NN.jsonl``, so
a resumed run neither trains a finished round again nor labels again.

With ``teachers`` K > 1, round 1 labels with the mean class probabilities of K teachers: the round-0
model and K-1 more trained on the same labelled texts with seeds ``seed + 1000 * j``. Fine-tuning on
a few hundred labels varies much from seed to seed; averaging seeds keeps a weak teacher from
choosing the pseudo-labels alone. Each extra teacher keeps its epochs in ``.resume/teachers/teacher-JJ/``
and, once trained, only its probabilities (``.resume/teachers/teacher-JJ.safetensors``).

With ``label_length`` the teachers read that many tokens of each unlabelled text when they label it (all
training, theirs and the students', stays at the run's max length): a review cut at 256 tokens loses
its end, where the verdict often is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as save_arrays
from safetensors.torch import load_file, save_file

from edge_runtime.atomic import atomic_write
from mobilebert_edge.data import LabelledTexts
from mobilebert_edge.train.config import TrainConfig
from mobilebert_edge.train.encode import Encoded, encode_texts
from mobilebert_edge.train.errors import ResumeError
from mobilebert_edge.train.loop import TrainState, clone_weights, fit, predict_logits, seed_everything
from mobilebert_edge.train.noise import TokenMasking
from mobilebert_edge.train.pseudo_labels import (SelfTrainConfig, counts_by_name, read_pseudo_labels,
                                                 select_pseudo_labels, softmax, write_pseudo_labels)
from mobilebert_edge.train.resume import RESUME_DIR, EpochCheckpoints
from mobilebert_edge.train.soup import STUDENTS_DIR, StudentPool, soup_students

PSEUDO_DIR = "pseudo_labels"
TEACHERS_DIR = "teachers"  # in .resume/: the extra teachers of round 1
TEACHER_SEED_STEP = 1000  # teacher j trains with seed + 1000 * j: other runs' seeds stay far apart
ROUNDS_FILE = "rounds.json"
# Fault injection for the resume tests: the process kills itself once the pseudo-labels of this round are written.
KILL_AFTER_LABELLING_ENV = "MOBILEBERT_EDGE_KILL_AFTER_LABELLING"


@dataclass
class SelfTrainResult:
    model: Any
    state: TrainState  # the last round's
    rounds: list[dict[str, Any]]  # one record per round: pseudo-label counts, training rows, loop state


def labelled_pass_folder(number: int) -> str:
    """Where round ``number``'s labelled-only pass (``student_finetune``) keeps its epochs, in ``.resume/``."""
    return f"round-{number:02d}-labelled"


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
        for folder in (f"round-{number:02d}", labelled_pass_folder(number), f"{STUDENTS_DIR}/round-{number:02d}"):
            shutil.rmtree(self.root / folder, ignore_errors=True)
        for old in self.root.glob("round-*.safetensors"):
            if old.name != name:
                old.unlink()


def teacher_probabilities(model: torch.nn.Module, texts: Encoded, *, config: TrainConfig, pad_id: int,
                          precision: str) -> Any:
    """Class probabilities (n, classes) of the unlabelled texts: batches sorted by length, with a progress bar."""
    logits = predict_logits(model, texts, batch_size=max(32, config.batch_size), pad_id=pad_id,
                            precision=precision, progress="pseudo-labelling")
    return softmax(logits)


def with_pseudo_labels(train: LabelledTexts, texts: list[str], labels: list[int], rows: list[int]) -> LabelledTexts:
    return LabelledTexts(texts=[*train.texts, *texts], labels=[*train.labels, *labels],
                         label_names=list(train.label_names), source=train.source, rows=[*train.rows, *rows],
                         text_column=train.text_column, label_column=train.label_column)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items())


@dataclass
class TeacherPool:
    """What the extra teachers of round 1 need: the labelled data, a fresh model, the run's settings."""

    out: Path
    train_enc: Encoded
    val_enc: Encoded
    config: TrainConfig
    fingerprint: str
    pad_id: int
    precision: str
    new_model: Callable[[], torch.nn.Module]
    resume: bool
    log: Callable[[str], None]


def ensemble_probabilities(first: Any, count: int, unlabelled_enc: Encoded, pool: TeacherPool) -> tuple[Any, list]:
    """The mean probabilities of ``first`` (the round-0 teacher's) and ``count - 1`` more teachers, each
    trained here (or read back when a resumed run already trained it); and each teacher's seed and
    validation accuracy."""
    folder = pool.out / RESUME_DIR / TEACHERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    total, teachers = np.array(first, dtype=np.float64), []  # a copy: the sum must not change ``first``
    for number in range(1, count):
        seed = pool.config.seed + TEACHER_SEED_STEP * number
        path = folder / f"teacher-{number:02d}.safetensors"
        if not path.is_file():
            pool.log(f"round 1: teacher {number + 1} of {count} (seed {seed}) on the labelled texts")
            config = dataclasses.replace(pool.config, seed=seed)
            checkpoints = EpochCheckpoints(pool.out, config, pool.fingerprint, round=0,
                                           folder=f"{TEACHERS_DIR}/teacher-{number:02d}")
            seed_everything(seed)
            model = pool.new_model()
            state = fit(model, pool.train_enc, pool.val_enc, config, pad_id=pool.pad_id, precision=pool.precision,
                        save_epoch=checkpoints.save,
                        resume=checkpoints.resume_if_saved(pool.resume), log=pool.log)
            probabilities = teacher_probabilities(model, unlabelled_enc, config=config, pad_id=pool.pad_id,
                                                  precision=pool.precision)
            accuracy = state.saved_metrics(config.restore_best).get("val_accuracy")
            tmp = path.with_name(f".{path.name}.tmp")
            save_arrays({"probabilities": np.ascontiguousarray(probabilities, dtype=np.float64)}, str(tmp),
                        metadata={"seed": str(seed), "val_accuracy": json.dumps(accuracy)})
            os.replace(tmp, path)
            shutil.rmtree(checkpoints.root, ignore_errors=True)
            del model
        with safe_open(str(path), framework="np") as handle:
            metadata, probabilities = handle.metadata() or {}, handle.get_tensor("probabilities")
        if probabilities.shape != total.shape:
            raise ResumeError(f"{path}: probabilities of {probabilities.shape[0]} texts, not {total.shape[0]}",
                              hint="start again without --resume")
        total += probabilities
        teachers.append({"seed": int(metadata["seed"]), "val_accuracy": json.loads(metadata["val_accuracy"])})
    return total / count, teachers


def write_round_labels(path: Path, unlabelled: Any, probabilities: Any, settings: SelfTrainConfig,
                       names: list[str], teachers: list[dict[str, Any]] | None = None) -> None:
    """Select the pseudo-labels of one round; write them (JSONL), then their counts per class and, for an
    ensemble, its teachers (JSON)."""
    selection = select_pseudo_labels(probabilities, threshold=settings.threshold, fraction=settings.fraction,
                                     balance=settings.balance, per_class=settings.per_class)
    write_pseudo_labels(path, unlabelled.texts, unlabelled.rows, selection, names, probabilities)
    counts = {"unlabelled": len(unlabelled), "candidates": counts_by_name(selection.candidates, names),
              "used": counts_by_name(selection.used, names)}
    with atomic_write(path.with_suffix(".json")) as handle:
        json.dump({**counts, "teachers": teachers} if teachers else counts, handle, indent=1)


def read_round_labels(path: Path, train_set: LabelledTexts, settings: SelfTrainConfig, number: int,
                      log: Callable[[str], None]) -> tuple[dict[str, Any], LabelledTexts, list[list[float]] | None]:
    """The counts of one round's pseudo-labels, the labelled training texts plus those pseudo-labels, and
    with soft targets, every training text's class probabilities (one-hot for the labelled ones)."""
    pseudo = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    soft = ", the teachers' probabilities as targets" if settings.targets == "soft" else ""
    reach = f" reaching confidence {settings.threshold:g}" if settings.threshold > 0 else ""
    teacher = f"the mean of {len(pseudo['teachers'])} teachers'" if pseudo.get("teachers") else "the teacher's"
    length = f" (reading {settings.label_length} tokens)" if settings.label_length else ""
    log(f"round {number}: {teacher} predictions{length} of {pseudo['unlabelled']} unlabelled texts{reach}: "
        f"{_counts(pseudo['candidates'])}; pseudo-labels used (the most confident, up to "
        f"{settings.fraction:g} of the texts, {settings.balance} balance{soft}): {_counts(pseudo['used'])}")
    if not sum(pseudo["used"].values()):
        log(f"round {number}: no pseudo-labels, the student learns from the labelled texts only "
            "(lower --pseudo-threshold, or --pseudo-balance none when the teacher predicts one class only)")
    labels = read_pseudo_labels(path, list(train_set.label_names))
    data = with_pseudo_labels(train_set, labels.texts, labels.labels, labels.rows)
    if settings.targets != "soft":
        return pseudo, data, None
    one_hot = np.eye(len(train_set.label_names)).tolist()
    return pseudo, data, [one_hot[label] for label in train_set.labels] + labels.probabilities


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
    before_finetune: Callable[[int, torch.nn.Module, Any], None] | None = None,
    on_student: Callable[[int, int, torch.nn.Module, Any], None] | None = None,
    log: Callable[[str], None] = print,
) -> SelfTrainResult:
    """Train the teacher and ``settings.rounds`` students; return the last student (its best epoch's weights).

    ``new_model()`` loads the pretrained encoder with a new head (fresh students); ``on_round(number, model,
    tokenizer)`` sees every round's model as it finishes; ``before_finetune`` (same arguments) a student
    before its pass over the labelled texts alone (``settings.student_finetune``); ``on_student(number, index,
    model, tokenizer)`` each of a round's students before their weights are averaged (``settings.students``).
    """
    out, names = Path(out), list(train_set.label_names)
    pad_id = tokenizer.pad_token_id or 0
    encode = dict(max_length=config.max_length, rule=config.truncation, head_tokens=config.head_tokens)
    val_enc = encode_texts(tokenizer, val_set.texts, val_set.labels, **encode)
    labelled_enc = encode_texts(tokenizer, train_set.texts, train_set.labels, **encode)  # teachers, labelled-only passes
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
    unlabelled_enc = None
    kill_after = int(os.environ.get(KILL_AFTER_LABELLING_ENV, "0") or 0)
    masking = TokenMasking.for_tokenizer(settings.student_mask, tokenizer) if settings.student_mask > 0 else None

    for number in range(len(rounds), settings.rounds + 1):
        started = time.perf_counter()
        data, pseudo, targets = train_set, None, None
        if number > 0:
            path = out / PSEUDO_DIR / f"round-{number:02d}.jsonl"
            if not path.with_suffix(".json").is_file():  # the counts are written last: labels complete
                if unlabelled_enc is None:
                    labelling = {**encode, "max_length": settings.label_length or config.max_length}
                    unlabelled_enc = encode_texts(tokenizer, unlabelled.texts, [0] * len(unlabelled), **labelling)
                probabilities = teacher_probabilities(model, unlabelled_enc, config=config, pad_id=pad_id,
                                                      precision=precision)
                teachers = None
                if number == 1 and settings.teachers > 1:
                    pool = TeacherPool(out, labelled_enc, val_enc, config, fingerprint(train_set, val_set), pad_id,
                                       precision, new_model, resume, log)
                    probabilities, extra = ensemble_probabilities(probabilities, settings.teachers,
                                                                  unlabelled_enc, pool)
                    first = TrainState.from_dict(rounds[0]["state"]).saved_metrics(config.restore_best)
                    teachers = [{"seed": config.seed, "val_accuracy": first.get("val_accuracy")}, *extra]
                write_round_labels(path, unlabelled, probabilities, settings, names, teachers)
                if kill_after == number:
                    os.kill(os.getpid(), signal.SIGKILL)
            pseudo, data, targets = read_round_labels(path, train_set, settings, number, log)
            if settings.student == "fresh":
                del model
                seed_everything(config.seed)
                model = new_model()
        noisy = number > 0 and masking is not None
        log(f"round {number} ({'teacher' if number == 0 else settings.student + ' student'}): "
            f"{len(data)} training texts{f', {settings.student_mask:g} of their tokens masked at each step' if noisy else ''}"
            f"{f', {settings.student_epochs} epoch(s)' if number > 0 and settings.student_epochs else ''}")
        train_enc = labelled_enc if data is train_set else encode_texts(tokenizer, data.texts, data.labels, **encode)
        if targets is not None:  # soft pseudo-labels: the student matches the teachers' probabilities
            train_enc = dataclasses.replace(train_enc, targets=targets)
        round_config = config if number == 0 or settings.student_epochs is None \
            else dataclasses.replace(config, epochs=settings.student_epochs)
        checkpoints = EpochCheckpoints(out, round_config, fingerprint(data, val_set), round=number)
        start = clone_weights(model) if number > 0 and settings.students > 1 else None  # resumed: the same start
        state = fit(model, train_enc, val_enc, round_config, pad_id=pad_id, precision=precision, save_epoch=checkpoints.save,
                    resume=checkpoints.resume_if_saved(resume), log=log,
                    masking=masking if noisy else None)
        record = {"round": number, "training_rows": len(data), "pseudo_labels": pseudo}
        if start is not None:
            pool = StudentPool(out, number, start, train_enc, val_enc, round_config, fingerprint(data, val_set),
                               pad_id, precision, new_model, masking if noisy else None, resume, log)
            each = None if on_student is None else lambda index, student: on_student(number, index, student, tokenizer)
            record["soup"] = soup_students(model, state, settings.students, pool, each)
            del pool, start
        if number > 0 and settings.student_finetune:
            if before_finetune is not None:
                before_finetune(number, model, tokenizer)
            record["before_finetune"] = state.to_dict()
            log(f"round {number}: the student trains on the {len(train_set)} labelled texts alone")
            labelled = EpochCheckpoints(out, config, fingerprint(train_set, val_set), round=number,
                                        folder=labelled_pass_folder(number))
            state = fit(model, labelled_enc, val_enc, config,
                        pad_id=pad_id, precision=precision, save_epoch=labelled.save,
                        resume=labelled.resume_if_saved(resume), log=log)
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
        if "before_finetune" in record:  # the student's pass with the pseudo-labels, before the labelled-only one
            first = TrainState.from_dict(record["before_finetune"])
            report[-1]["before_finetune"] = {"saved_epoch": first.saved_epoch(config.restore_best),
                                             "metrics": first.saved_metrics(config.restore_best),
                                             "history": first.history}
    return {"settings": settings.to_dict(),
            "unlabeled": {"file": unlabelled.source, "rows": len(unlabelled), "text_column": unlabelled.text_column},
            "rounds": report}
