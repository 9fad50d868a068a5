"""Labelling by several teachers: the mean class probabilities of the round-0 model and K-1 more.

Fine-tuning on a few hundred labels varies much from seed to seed; averaging teachers keeps a weak
one from choosing the pseudo-labels alone. Teacher j trains on the same labelled texts with seed
``seed + 1000 * j``, keeps its epochs in ``.resume/teachers/teacher-JJ/`` and, once trained, only its
probabilities (``.resume/teachers/teacher-JJ.safetensors``), so a resumed run trains none twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file as save_arrays

from mobilebert_edge.train.config import TrainConfig
from mobilebert_edge.train.encode import Encoded
from mobilebert_edge.train.errors import ResumeError
from mobilebert_edge.train.loop import fit, predict_logits, seed_everything
from mobilebert_edge.train.resume import RESUME_DIR, EpochCheckpoints
from mobilebert_edge.train.selftrain.pool import ModelPool
from mobilebert_edge.train.selftrain.pseudo_labels import softmax

TEACHERS_DIR = "teachers"  # in .resume/: the extra teachers of round 1
TEACHER_SEED_STEP = 1000  # teacher j trains with seed + 1000 * j: other runs' seeds stay far apart


def teacher_probabilities(model: torch.nn.Module, texts: Encoded, *, config: TrainConfig, pad_id: int,
                          precision: str) -> Any:
    """Class probabilities (n, classes) of the unlabelled texts: batches sorted by length, with a progress bar."""
    logits = predict_logits(model, texts, batch_size=max(32, config.batch_size), pad_id=pad_id,
                            precision=precision, progress="pseudo-labelling")
    return softmax(logits)


def train_teacher(pool: ModelPool, number: int, unlabelled_enc: Encoded, count: int, path: Path) -> None:
    """Train teacher ``number`` and save its probabilities of the unlabelled texts (with its seed and
    validation accuracy) to ``path``."""
    seed = pool.config.seed + TEACHER_SEED_STEP * number
    pool.log(f"round 1: teacher {number + 1} of {count} (seed {seed}) on the labelled texts")
    config = dataclasses.replace(pool.config, seed=seed)
    checkpoints = EpochCheckpoints(pool.out, config, pool.fingerprint, round=0,
                                   folder=f"{TEACHERS_DIR}/teacher-{number:02d}")
    seed_everything(seed)
    model = pool.new_model()
    state = fit(model, pool.train_enc, pool.val_enc, config, pad_id=pool.pad_id, precision=pool.precision,
                save_epoch=checkpoints.save, resume=checkpoints.resume_if_saved(pool.resume), log=pool.log)
    probabilities = teacher_probabilities(model, unlabelled_enc, config=config, pad_id=pool.pad_id,
                                          precision=pool.precision)
    accuracy = state.saved_metrics(config.restore_best).get("val_accuracy")
    tmp = path.with_name(f".{path.name}.tmp")
    save_arrays({"probabilities": np.ascontiguousarray(probabilities, dtype=np.float64)}, str(tmp),
                metadata={"seed": str(seed), "val_accuracy": json.dumps(accuracy)})
    os.replace(tmp, path)
    shutil.rmtree(checkpoints.root, ignore_errors=True)


def ensemble_probabilities(first: Any, count: int, unlabelled_enc: Encoded, pool: ModelPool) -> tuple[Any, list]:
    """The mean probabilities of ``first`` (the round-0 teacher's) and ``count - 1`` more teachers, each
    trained here (or read back when a resumed run already trained it); and each extra teacher's seed and
    validation accuracy."""
    folder = pool.out / RESUME_DIR / TEACHERS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    total, teachers = np.array(first, dtype=np.float64), []  # a copy: the sum must not change ``first``
    for number in range(1, count):
        path = folder / f"teacher-{number:02d}.safetensors"
        if not path.is_file():
            train_teacher(pool, number, unlabelled_enc, count, path)
        with safe_open(str(path), framework="np") as handle:
            metadata, probabilities = handle.metadata() or {}, handle.get_tensor("probabilities")
        if probabilities.shape != total.shape:
            raise ResumeError(f"{path}: probabilities of {probabilities.shape[0]} texts, not {total.shape[0]}",
                              hint="start again without --resume")
        total += probabilities
        teachers.append({"seed": int(metadata["seed"]), "val_accuracy": json.loads(metadata["val_accuracy"])})
    return total / count, teachers
