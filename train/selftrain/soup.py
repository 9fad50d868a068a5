"""Several students as one model: K students from the same start, other seeds, their weights averaged.

A student fine-tuned on noisy pseudo-labels varies with its seed (batch order, dropout) about as much as
the pseudo-labels change it. Students that start from the same weights and see the same texts end in one
basin of the loss, where the mean of their weights (a uniform model soup, Wortsman et al., 2022) keeps
what they agree on: one model of the same size, so the device pays nothing for it. Student j trains with
seed ``seed + 1000 * j``; the first is the round's ordinary student. Each extra student keeps its epochs
in ``.resume/students/round-NN/student-JJ/`` and, once trained, its weights
(``.resume/students/round-NN/student-JJ.safetensors``), so a resumed run trains none twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from mobilebert_edge.train.config import TrainConfig
from mobilebert_edge.train.loop import TrainState, clone_weights, evaluate, fit
from mobilebert_edge.train.resume import RESUME_DIR, EpochCheckpoints
from mobilebert_edge.train.selftrain.pool import ModelPool

STUDENTS_DIR = "students"  # in .resume/: the extra students of each round
STUDENT_SEED_STEP = 1000


def average_weights(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the floating-point tensors (summed in float64); the others (e.g. position
    ids) as the first state has them."""
    first = states[0]
    if any(state.keys() != first.keys() for state in states):
        raise ValueError("the students' weights do not have the same tensors")
    mean = {}
    for name, tensor in first.items():
        if tensor.is_floating_point():
            total = sum(state[name].to(torch.float64) for state in states)
            mean[name] = (total / len(states)).to(tensor.dtype)
        else:
            mean[name] = tensor.clone()
    return mean


def student_record(seed: int, state: TrainState, config: TrainConfig) -> dict[str, Any]:
    """What the round records of one student: its seed, saved epoch and validation accuracy."""
    return {"seed": seed, "saved_epoch": state.saved_epoch(config.restore_best),
            "val_accuracy": state.saved_metrics(config.restore_best).get("val_accuracy")}


@dataclass
class StudentPool(ModelPool):
    """What a round's extra students need: a pool of the round's data, and the round and its start."""

    number: int = 1  # the round
    start: dict[str, torch.Tensor] | None = None  # the weights every student of the round starts from

    def folder(self) -> Path:
        return self.out / RESUME_DIR / STUDENTS_DIR / f"round-{self.number:02d}"


def train_extra_student(pool: StudentPool, index: int) -> Path:
    """Student ``index`` (1-based after the round's own, 0) of the round: trained here unless a resumed run
    already has its weights; returns their file."""
    path = pool.folder() / f"student-{index:02d}.safetensors"
    if path.is_file():
        return path
    seed = pool.config.seed + STUDENT_SEED_STEP * index
    config = dataclasses.replace(pool.config, seed=seed)
    relative = f"{STUDENTS_DIR}/round-{pool.number:02d}/student-{index:02d}"
    checkpoints = EpochCheckpoints(pool.out, config, pool.fingerprint, round=pool.number, folder=relative)
    model = pool.new_model()
    model.load_state_dict(pool.start)
    state = fit(model, pool.train_enc, pool.val_enc, config, pad_id=pool.pad_id, precision=pool.precision,
                save_epoch=checkpoints.save, resume=checkpoints.resume_if_saved(pool.resume), log=pool.log)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file({name: tensor.contiguous() for name, tensor in clone_weights(model).items()}, str(tmp),
              metadata={"student": json.dumps(student_record(seed, state, config))})
    os.replace(tmp, path)
    shutil.rmtree(checkpoints.root, ignore_errors=True)
    return path


def soup_students(model: torch.nn.Module, state: TrainState, count: int, pool: StudentPool,
                  on_student: Callable[[int, torch.nn.Module], None] | None = None) -> dict[str, Any]:
    """Train ``count - 1`` more students like ``model`` (the round's student, already trained; ``state`` its
    loop state), load the mean of all their weights into ``model`` and return its validation metrics with
    every student's record. ``on_student(index, model)`` sees each student's weights before the mean."""
    states, students = [clone_weights(model)], [student_record(pool.config.seed, state, pool.config)]
    for index in range(1, count):
        pool.log(f"round {pool.number}: student {index + 1} of {count} "
                 f"(seed {pool.config.seed + STUDENT_SEED_STEP * index}), from the same start")
        path = train_extra_student(pool, index)
        with safe_open(str(path), framework="pt") as handle:
            students.append(json.loads((handle.metadata() or {})["student"]))
            states.append({name: handle.get_tensor(name) for name in handle.keys()})
    if on_student is not None:
        for index, weights in enumerate(states):
            model.load_state_dict(weights)
            on_student(index, model)
    model.load_state_dict(average_weights(states))
    metrics = evaluate(model, pool.val_enc, config=pool.config, pad_id=pool.pad_id, precision=pool.precision)
    each = ", ".join(f"{student['val_accuracy']:.4f}" for student in students)
    pool.log(f"round {pool.number}: the mean of {count} students' weights: validation accuracy "
             f"{metrics['val_accuracy']:.4f} (the students: {each})")
    return {"metrics": metrics, "students": students}
