"""The training loop: explicit PyTorch, read top to bottom.

``fit`` seeds everything, builds AdamW, then for each epoch: sets the learning rate of every step
from ``learning_rate(step)``, runs forward/backward under the chosen precision, clips gradients,
steps; evaluates on the validation set; keeps the best epoch's weights; saves an epoch checkpoint
(so a killed run can ``--resume``); stops early when validation stops improving.
"""

from __future__ import annotations

import math
import os
import random
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from edge_runtime.evaluation.metrics import accuracy, macro_f1
from mobilebert_edge.train.batches import batch_order, collate, eval_order
from mobilebert_edge.train.config import TrainConfig
from mobilebert_edge.train.encode import Encoded
from mobilebert_edge.train.precision import autocast
from mobilebert_edge.train.schedule import learning_rate, warmup_steps

# Fault injection for the resume tests: the process kills itself (SIGKILL) after saving this epoch.
KILL_AFTER_EPOCH_ENV = "MOBILEBERT_EDGE_KILL_AFTER_EPOCH"


@dataclass
class TrainState:
    """Where a run is: everything besides tensors that a resumed run needs."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: list[float] | None = None  # [accuracy, -loss]: higher is better
    bad_epochs: int = 0
    stopped_early: bool = False

    def saved_epoch(self, restore_best: bool) -> int:
        """The epoch whose weights the run keeps: the best one when it restores the best."""
        return self.best_epoch if restore_best and self.best_epoch else self.epoch

    def saved_metrics(self, restore_best: bool) -> dict[str, Any]:
        """The history entry of :meth:`saved_epoch`."""
        return self.history[self.saved_epoch(restore_best) - 1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainState:
        return cls(**values)


def seed_everything(seed: int) -> None:
    """Same seed, same run: Python, numpy and torch generators, deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (no decay on biases and norm scales)."""
    decay, no_decay = [], []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.999), eps=1e-8, foreach=False)


def model_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value for key, value in batch.items() if key != "labels"}


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module, data: Encoded, *, batch_size: int, pad_id: int, precision: str,
    pad_to: int | None = None, progress: str | None = None,
) -> np.ndarray:
    """Logits (n, num_labels) in input order; batches sorted by length, padded per batch."""
    model.eval()
    out = np.zeros((len(data), model.config.num_labels), dtype=np.float32)
    batches = eval_order(data.lengths(), batch_size)
    for indices in tqdm(batches, desc=progress, file=sys.stderr, leave=False, disable=None if progress else True):
        batch = collate(data, indices, pad_id=pad_id, pad_to=pad_to)
        with autocast(precision):
            logits = model(**model_inputs(batch)).logits
        out[indices] = logits.float().numpy()
    return out


def evaluate(model: torch.nn.Module, data: Encoded, *, config: TrainConfig, pad_id: int, precision: str) -> dict[str, float]:
    """Validation loss, accuracy and macro-F1."""
    pad_to = config.max_length if config.padding == "max_length" else None
    logits = predict_logits(model, data, batch_size=max(16, config.batch_size), pad_id=pad_id,
                            precision=precision, pad_to=pad_to, progress="validation")
    gold = np.asarray(data.labels)
    loss = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(gold)).item()
    predicted = logits.argmax(axis=1)
    return {
        "val_loss": loss,
        "val_accuracy": accuracy(predicted, gold),
        "val_macro_f1": macro_f1(predicted, gold, logits.shape[1]),
    }


def clone_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], *,
               precision: str, max_grad_norm: float) -> torch.Tensor:
    """One optimizer step on ``batch``: forward under ``precision``, backward (the model's own cross-entropy
    on ``labels``), clipping (0: off), AdamW."""
    with autocast(precision):
        loss = model(**batch).loss
    loss.backward()
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss


def fit(
    model: torch.nn.Module,
    train_set: Encoded,
    val_set: Encoded,
    config: TrainConfig,
    *,
    pad_id: int,
    precision: str,
    save_epoch: Callable[[TrainState, torch.nn.Module, torch.optim.Optimizer, dict | None], None] | None = None,
    resume: Callable[[torch.nn.Module, torch.optim.Optimizer], tuple[TrainState, dict | None]] | None = None,
    log: Callable[[str], None] = print,
) -> TrainState:
    """Train ``model`` in place; at the end it holds the best epoch's weights if ``restore_best``."""
    seed_everything(config.seed)
    optimizer = build_optimizer(model, config)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = warmup_steps(total_steps, config.warmup_ratio)
    pad_to = config.max_length if config.padding == "max_length" else None
    lengths = train_set.lengths()

    state, best_weights = TrainState(), None
    if resume is not None:
        state, best_weights = resume(model, optimizer)  # also restores the RNG states
        log(f"resuming after epoch {state.epoch} (step {state.step})")

    kill_after = int(os.environ.get(KILL_AFTER_EPOCH_ENV, "0") or 0)
    for epoch in range(state.epoch + 1, config.epochs + 1):
        if state.stopped_early:
            break
        started = time.perf_counter()
        model.train()
        batches = batch_order(lengths, config.batch_size, seed=config.seed, epoch=epoch,
                              shuffle=True, group_by_length=config.group_by_length)
        # disable=None: a bar on a terminal only; a log file or pipe gets the one line per epoch below
        total_loss, bar = 0.0, tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", file=sys.stderr, leave=False,
                                    disable=None)
        for i, indices in enumerate(bar, start=1):
            lr = learning_rate(state.step, base_lr=config.lr, total_steps=total_steps, warmup=warmup,
                               schedule=config.schedule)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = collate(train_set, indices, pad_id=pad_id, pad_to=pad_to)
            loss = train_step(model, optimizer, batch, precision=precision, max_grad_norm=config.max_grad_norm)
            state.step += 1
            total_loss += loss.item()
            bar.set_postfix(loss=f"{total_loss / i:.4f}", lr=f"{lr:.2e}")
        bar.close()

        scores = evaluate(model, val_set, config=config, pad_id=pad_id, precision=precision)
        record = {"epoch": epoch, "train_loss": total_loss / len(batches), **scores,
                  "lr": lr, "steps": state.step, "seconds": round(time.perf_counter() - started, 3)}
        state.history.append(record)
        score = [scores["val_accuracy"], -scores["val_loss"]]
        improved = state.best_score is None or score > state.best_score
        if improved:
            state.best_epoch, state.best_score, state.bad_epochs = epoch, score, 0
            if config.restore_best:
                best_weights = clone_weights(model)
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        state.stopped_early = config.patience > 0 and state.bad_epochs >= config.patience and epoch < config.epochs
        log(f"epoch {epoch}: train loss {record['train_loss']:.4f}, val loss {scores['val_loss']:.4f}, "
            f"accuracy {scores['val_accuracy']:.4f}, macro-F1 {scores['val_macro_f1']:.4f} "
            f"({record['seconds']:.1f} s){' *' if improved else ''}")
        if save_epoch is not None:
            save_epoch(state, model, optimizer, best_weights if improved else None)
        if kill_after and epoch == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        if state.stopped_early:
            log(f"early stopping: no improvement for {state.bad_epochs} epoch(s)")

    if config.restore_best and best_weights is not None and state.best_epoch != state.epoch:
        model.load_state_dict(best_weights)
        log(f"restored the weights of epoch {state.best_epoch}")
    return state
