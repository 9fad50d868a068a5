"""Text -> model inputs with the runtime's rule: content ids, ``truncate_ids``, special tokens.

Batches are padded either to their longest item (what the runtime does) or to a fixed length.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_runtime.truncation import truncate_ids


class Encoder:
    """Encode texts exactly as the edge runtime will."""

    def __init__(self, tokenizer, max_length: int, rule: str = "head", head_tokens: int | None = None) -> None:
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.rule = rule
        self.head_tokens = head_tokens
        self.budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def ids(self, text: str) -> list[int]:
        """Token ids of one text, special tokens included, at most ``max_length``."""
        content = self.tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        kept = truncate_ids(content, self.budget, self.rule, self.head_tokens)
        return self.tokenizer.build_inputs_with_special_tokens(kept)

    def batch(self, texts: Sequence[str], pad_to: int | None = None) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask``, ``token_type_ids`` (int64), padded to the longest or ``pad_to``."""
        rows = [self.ids(text) for text in texts]
        return self.pad(rows, pad_to)

    def pad(self, rows: Sequence[Sequence[int]], pad_to: int | None = None) -> dict[str, np.ndarray]:
        """Pad id lists into the three input arrays."""
        width = pad_to or max(len(row) for row in rows)
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
