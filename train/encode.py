"""Text -> token ids under a truncation rule, the way the edge runtime does it.

``text -> content ids (no special tokens) -> truncate_ids -> add special tokens``. For ``head`` this
is exactly what ``tokenizer(text, truncation=True, max_length=L)`` gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_runtime.truncation import truncate_ids
from mobilebert_edge.train.errors import ConfigError, ModelLoadError

PROBE = "a short probe sentence"


@dataclass
class Encoded:
    """Token ids per text (special tokens included, unpadded), and token type ids when the model uses them."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]] | None
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)

    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def special_token_count(tokenizer: Any) -> int:
    return tokenizer.num_special_tokens_to_add(pair=False)


def content_budget(tokenizer: Any, max_length: int) -> int:
    budget = max_length - special_token_count(tokenizer)
    if budget < 1:
        raise ConfigError("max_length too small for this tokenizer", expected=f"> {special_token_count(tokenizer)}", found=max_length)
    return budget


def check_special_tokens(tokenizer: Any) -> None:
    """The tokenizer must add its special tokens the way its own ``__call__`` does (BERT-style models do)."""
    content = tokenizer(PROBE, add_special_tokens=False)["input_ids"]
    if tokenizer.build_inputs_with_special_tokens(content) != tokenizer(PROBE)["input_ids"]:
        raise ModelLoadError(
            f"tokenizer {type(tokenizer).__name__} does not add special tokens in a way training can reproduce",
            hint="use a BERT-style model (MobileBERT, BERT, MiniLM, DistilBERT)",
        )


def encode_texts(
    tokenizer: Any,
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    max_length: int,
    rule: str = "head",
    head_tokens: int | None = None,
) -> Encoded:
    """Encode ``texts`` for the model; every sequence has at most ``max_length`` ids."""
    budget = content_budget(tokenizer, max_length)
    check_special_tokens(tokenizer)
    content = tokenizer(list(texts), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    with_types = "token_type_ids" in tokenizer.model_input_names
    input_ids, token_types = [], []
    for ids in content:
        kept = truncate_ids(ids, budget, rule, head_tokens)
        input_ids.append(tokenizer.build_inputs_with_special_tokens(kept))
        if with_types:
            token_types.append(tokenizer.create_token_type_ids_from_sequences(kept))
    return Encoded(input_ids, token_types if with_types else None, list(labels))
