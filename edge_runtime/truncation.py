"""Truncation rules shared by training, export and the edge runtime.

A rule decides which content tokens of a long text are kept when it does not fit in
``max_length`` (special tokens excluded). The same pure function runs at training time and
on the device, so deployed predictions see the tokens training saw.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge_runtime.errors import InputError

RULES = ("head", "tail", "head_tail")


def default_head_tokens(budget: int) -> int:
    """Head share for ``head_tail``: a quarter of the budget (128 of 510 in Sun et al., 2019)."""
    return budget // 4


def truncate_ids(
    ids: Sequence[int], budget: int, rule: str = "head", head_tokens: int | None = None
) -> list[int]:
    """Keep at most ``budget`` content token ids of ``ids`` according to ``rule``.

    ``head`` keeps the first tokens, ``tail`` the last, ``head_tail`` the first ``head_tokens``
    (default: a quarter of the budget) followed by the last ``budget - head_tokens``.
    """
    if rule not in RULES:
        raise InputError("unknown truncation rule", expected=" | ".join(RULES), found=repr(rule))
    if budget < 1:
        raise InputError("truncation budget too small", expected=">= 1 content token", found=budget)
    ids = list(ids)
    if len(ids) <= budget:
        return ids
    if rule == "head":
        return ids[:budget]
    if rule == "tail":
        return ids[len(ids) - budget :]
    head = default_head_tokens(budget) if head_tokens is None else head_tokens
    if not 0 <= head <= budget:
        raise InputError("head_tokens out of range", expected=f"0..{budget}", found=head)
    tail = budget - head
    return ids[:head] + (ids[len(ids) - tail :] if tail else [])
