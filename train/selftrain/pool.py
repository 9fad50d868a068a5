"""What training one more model of a self-training run needs (a teacher of another seed, a student)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from mobilebert_edge.train.config import TrainConfig
from mobilebert_edge.train.encode import Encoded


@dataclass
class ModelPool:
    """The run's folder, data, settings and a maker of fresh models."""

    out: Path
    train_enc: Encoded
    val_enc: Encoded
    config: TrainConfig
    fingerprint: str  # of the training and validation data, for the epoch checkpoints
    pad_id: int
    precision: str
    new_model: Callable[[], torch.nn.Module]
    resume: bool
    log: Callable[[str], None]
