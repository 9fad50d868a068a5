"""The resolved training configuration: one validated dataclass, stored with every checkpoint."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edge_runtime.truncation import RULES
from mobilebert_edge.train.errors import ConfigError
from mobilebert_edge.train.presets import DEFAULT_PRESET, PRESETS

DEFAULT_MODEL = "google/mobilebert-uncased"
PADDINGS = ("longest", "max_length")
SCHEDULES = ("linear", "constant")
PRECISIONS = ("auto", "bf16", "fp32")
POOLINGS = ("cls", "mean")  # what the head reads: train/pooling.py
POOLING_CHOICES = ("auto", *POOLINGS)  # auto: what the encoder declares, else cls
POOLING_KEY = "mobilebert_edge_pooling"  # the config.json entry naming a checkpoint's pooling

# Settings that may change between an interrupted run and its --resume.
RESUME_FREE = ("threads",)


@dataclass(frozen=True)
class TrainConfig:
    """Every setting that shapes a training run. Build it with :func:`resolve_config`."""

    model: str = DEFAULT_MODEL
    preset: str = DEFAULT_PRESET
    max_length: int = 256
    truncation: str = "head"
    head_tokens: int | None = None
    padding: str = "longest"
    group_by_length: bool = True
    batch_size: int = 8
    lr: float = 5e-5
    schedule: str = "linear"
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    epochs: int = 2
    patience: int = 1
    restore_best: bool = True
    precision: str = "auto"
    attention_dropout: float | None = None  # None: the model's own
    pooling: str = "auto"  # the [CLS] pooler, the mean of the token states, or what the encoder declares
    val_fraction: float = 0.2
    seed: int = 42
    threads: int | None = None

    def __post_init__(self) -> None:
        def fail(field: str, expected: str) -> None:
            raise ConfigError(f"invalid {field}", expected=expected, found=repr(getattr(self, field)))

        if not isinstance(self.model, str) or not self.model.strip():
            fail("model", "a hub id or a local model folder")
        if self.preset not in PRESETS:
            fail("preset", " | ".join(PRESETS))
        if not isinstance(self.max_length, int) or not 8 <= self.max_length <= 8192:
            fail("max_length", "an integer in 8..8192")
        if self.truncation not in RULES:
            fail("truncation", " | ".join(RULES))
        if self.head_tokens is not None:
            if self.truncation != "head_tail":
                fail("head_tokens", "no value unless truncation is head_tail")
            if not isinstance(self.head_tokens, int) or not 0 <= self.head_tokens <= self.max_length - 2:
                fail("head_tokens", f"an integer in 0..{self.max_length - 2}")
        if self.padding not in PADDINGS:
            fail("padding", " | ".join(PADDINGS))
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            fail("batch_size", "an integer >= 1")
        if not isinstance(self.lr, (int, float)) or not 0 < self.lr < 1:
            fail("lr", "a learning rate in (0, 1), e.g. 2e-5")
        if self.schedule not in SCHEDULES:
            fail("schedule", " | ".join(SCHEDULES))
        if not 0 <= self.warmup_ratio < 1:
            fail("warmup_ratio", "a fraction in [0, 1)")
        if self.weight_decay < 0:
            fail("weight_decay", "a value >= 0")
        if self.max_grad_norm < 0:
            fail("max_grad_norm", "a value >= 0 (0 turns clipping off)")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            fail("epochs", "an integer >= 1")
        if not isinstance(self.patience, int) or self.patience < 0:
            fail("patience", "an integer >= 0 (0 turns early stopping off)")
        if self.precision not in PRECISIONS:
            fail("precision", " | ".join(PRECISIONS))
        if self.attention_dropout is not None and (
            isinstance(self.attention_dropout, bool) or not isinstance(self.attention_dropout, (int, float))
            or not 0 <= self.attention_dropout < 1
        ):
            fail("attention_dropout", "a probability in [0, 1), or nothing for the model's own")
        if self.pooling not in POOLING_CHOICES:
            fail("pooling", " | ".join(POOLING_CHOICES))
        if not 0 < self.val_fraction < 1:
            fail("val_fraction", "a fraction strictly between 0 and 1, e.g. 0.2")
        if not isinstance(self.seed, int) or self.seed < 0:
            fail("seed", "an integer >= 0")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            fail("threads", "an integer >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def differences(self, other: TrainConfig, ignore: tuple[str, ...] = RESUME_FREE) -> dict[str, tuple]:
        """Fields whose values differ: ``{name: (self value, other value)}``."""
        mine, theirs = self.to_dict(), other.to_dict()
        return {key: (mine[key], theirs[key]) for key in mine if key not in ignore and mine[key] != theirs[key]}


class PoolingError(ValueError):
    """A model that cannot take the asked pooling, or a config.json naming an unknown one."""


def saved_pooling(config: Any) -> str:
    """The pooling a checkpoint's config (a dict or a transformers config) records; ``cls`` when none."""
    pooling = (config.get(POOLING_KEY) if isinstance(config, dict) else getattr(config, POOLING_KEY, None)) or "cls"
    if pooling not in POOLINGS:
        raise PoolingError(f"config.json {POOLING_KEY} is {pooling!r} (expected {' | '.join(POOLINGS)})")
    return pooling


def resolve_config(preset: str | None = None, **overrides: Any) -> TrainConfig:
    """The preset's values, then every override that is not None (explicit flags win)."""
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise ConfigError("unknown preset", expected=" | ".join(PRESETS), found=repr(name))
    values: dict[str, Any] = {"preset": name, **PRESETS[name]}
    unknown = set(overrides) - {field.name for field in dataclasses.fields(TrainConfig)}
    if unknown:
        raise ConfigError("unknown training setting", expected="a TrainConfig field", found=sorted(unknown))
    values.update({key: value for key, value in overrides.items() if value is not None})
    return TrainConfig(**values)
