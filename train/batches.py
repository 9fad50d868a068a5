"""Batch order (seeded, optionally length-grouped) and padding of one batch into tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mobilebert_edge.train.encode import Encoded

# Items sorted by length together: big enough to make batches uniform, small enough to stay random.
MEGA_BATCHES = 50


def batch_order(
    lengths: Sequence[int],
    batch_size: int,
    *,
    seed: int,
    epoch: int,
    shuffle: bool = True,
    group_by_length: bool = False,
) -> list[list[int]]:
    """Item indices per batch for one epoch; a pure function of its arguments.

    With ``group_by_length`` the shuffled items are cut into chunks of ``MEGA_BATCHES`` batches, each
    chunk is sorted by length (longest first) and cut into batches, and the batches are shuffled, so
    each batch pads little while the order stays random.
    """
    n = len(lengths)
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(n) if shuffle else np.arange(n)
    if not group_by_length:
        return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]
    lengths = np.asarray(lengths)
    chunk = batch_size * MEGA_BATCHES
    batches = []
    for start in range(0, n, chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size].tolist() for i in range(0, len(part), batch_size))
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def eval_order(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of items sorted by length (longest first): the least padding for inference."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]


def collate(data: Encoded, indices: Sequence[int], *, pad_id: int, pad_to: int | None = None) -> dict[str, Any]:
    """Tensors for the items ``indices``: padded to the longest item, or to ``pad_to`` when given."""
    import torch

    width = pad_to or max(len(data.input_ids[i]) for i in indices)
    ids = torch.full((len(indices), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(indices), width), dtype=torch.long)
    types = torch.zeros((len(indices), width), dtype=torch.long) if data.token_type_ids is not None else None
    for row, i in enumerate(indices):
        seq = data.input_ids[i]
        ids[row, : len(seq)] = torch.tensor(seq)
        mask[row, : len(seq)] = 1
        if types is not None:
            types[row, : len(seq)] = torch.tensor(data.token_type_ids[i])
    batch = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        batch["token_type_ids"] = types
    batch["labels"] = torch.tensor([data.labels[i] for i in indices], dtype=torch.long)
    return batch
