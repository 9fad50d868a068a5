"""Input noise for a student (Noisy Student, Xie et al., 2020): a share of each training text's tokens
replaced by the mask token, drawn afresh at every optimizer step.

The draw is a pure function of ``(seed, step)``, so a run stays deterministic and a resumed run masks
exactly as an uninterrupted one. Special tokens ([CLS], [SEP]) and padding are never masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mobilebert_edge.train.errors import ConfigError


@dataclass(frozen=True)
class TokenMasking:
    """Replace each eligible token by ``mask_id`` with probability ``share``."""

    share: float
    mask_id: int
    special_ids: tuple[int, ...]

    @classmethod
    def for_tokenizer(cls, share: float, tokenizer: Any) -> TokenMasking:
        """The masking for ``tokenizer``'s mask token and special tokens."""
        if tokenizer.mask_token_id is None:
            raise ConfigError("student input noise needs a tokenizer with a mask token",
                              found=type(tokenizer).__name__, hint="leave --student-mask at 0 for this model")
        return cls(float(share), int(tokenizer.mask_token_id), tuple(sorted(set(tokenizer.all_special_ids))))

    def apply(self, batch: dict[str, torch.Tensor], *, seed: int, step: int) -> dict[str, torch.Tensor]:
        """``batch`` with its ``input_ids`` masked; the draw depends on ``seed`` and ``step`` only."""
        ids = batch["input_ids"]
        generator = torch.Generator().manual_seed(_draw_seed(seed, step))
        drawn = torch.rand(ids.shape, generator=generator)
        eligible = batch["attention_mask"].bool() & ~torch.isin(ids, torch.tensor(self.special_ids, dtype=ids.dtype))
        return {**batch, "input_ids": ids.masked_fill(eligible & (drawn < self.share), self.mask_id)}


def _draw_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % 2**63

