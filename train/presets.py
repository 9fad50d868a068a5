"""Training presets: named sets of settings, kept as plain data in one place.

``tutorial`` reproduces the recipe the project started from (every item padded to 256 tokens, head
truncation, batch 8, AdamW at a constant 2e-5, 4 epochs, fp32, last epoch kept). ``fast`` is the
default: head+tail truncation over 256 tokens, dynamic padding over length-grouped batches, warmup
then linear decay, bf16 autocast where the CPU supports it, no dropout on attention probabilities
(it lets PyTorch run its fused attention kernel, and dropout sampling was a third of the step time),
early stopping with best-epoch restore. ``accurate`` trades time for accuracy:
head+tail truncation (Sun et al., 2019) over 512 tokens and up to 4 epochs. The values of ``fast`` and ``accurate``
come from the measurements in docs/BENCHMARKS.md (section train-vs-tutorial).
"""

from __future__ import annotations

from typing import Any

DEFAULT_PRESET = "fast"

PRESETS: dict[str, dict[str, Any]] = {
    "tutorial": {
        "max_length": 256,
        "truncation": "head",
        "padding": "max_length",
        "group_by_length": False,
        "batch_size": 8,
        "lr": 2e-5,
        "schedule": "constant",
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "max_grad_norm": 0.0,
        "epochs": 4,
        "patience": 0,
        "restore_best": False,
        "precision": "fp32",
    },
    "fast": {
        "max_length": 256,
        "truncation": "head_tail",
        "padding": "longest",
        "group_by_length": True,
        "batch_size": 8,
        "lr": 5e-5,
        "schedule": "linear",
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "epochs": 2,
        "patience": 1,
        "restore_best": True,
        "precision": "auto",
        "attention_dropout": 0.0,
    },
    "accurate": {
        "max_length": 512,
        "truncation": "head_tail",
        "padding": "longest",
        "group_by_length": True,
        "batch_size": 8,
        "lr": 5e-5,
        "schedule": "linear",
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "epochs": 4,
        "patience": 1,
        "restore_best": True,
        "precision": "auto",
    },
}


def preset_names() -> list[str]:
    """The preset names, default first."""
    return [DEFAULT_PRESET, *(name for name in PRESETS if name != DEFAULT_PRESET)]
