"""How the classifier reads the encoder: its [CLS] pooler (``cls``) or the mean of its token states (``mean``).

``cls`` is the model's own head (``*ForSequenceClassification``: pooler, dropout, linear). ``mean``
classifies the attention-masked mean of the last hidden states with the same dropout and linear layer:
the reading sentence-transformers encoders (all-MiniLM-L6-v2 and kin) were trained for, whose [CLS]
pooler is an untrained initialization. ``auto`` (the default of ``train``) takes what the model folder
declares (a checkpoint of this package: its own pooling; a sentence-transformers folder:
``1_Pooling/config.json``), else ``cls``.

The choice is written into config.json under ``mobilebert_edge_pooling`` (``POOLING_KEY``), so every
loader of this package (export, evaluation, benchmarks) rebuilds the same head with
:func:`with_saved_pooling`. A plain ``AutoModelForSequenceClassification`` ignores the key and would
read [CLS]: load a mean-pooled checkpoint through this package, or use its exported bundle.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch

from mobilebert_edge.train.config import POOLING_KEY, POOLINGS, PoolingError, saved_pooling


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over the sequence axis of ``hidden`` (batch, sequence, width), padding excluded."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


class MeanPooledClassifier(torch.nn.Module):
    """A ``*ForSequenceClassification`` model whose linear head reads the masked mean of the token states.

    The wrapped model keeps its modules and weights (state-dict keys gain the prefix ``model.``);
    ``save_pretrained`` writes the wrapped model, ``config`` is its config.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        reason = _unsupported(model)
        if reason:
            raise PoolingError(f"mean pooling needs a BERT-style classifier; {type(model).__name__} {reason}")
        self.model = model

    @property
    def config(self) -> Any:
        return self.model.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, return_dict: bool = True) -> Any:
        from transformers.modeling_outputs import SequenceClassifierOutput

        hidden = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask,
                                       token_type_ids=token_type_ids).last_hidden_state
        logits = self.model.classifier(self.model.dropout(masked_mean(hidden, attention_mask)))
        loss = None if labels is None else torch.nn.functional.cross_entropy(logits.float(), labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, *args: Any, **kwargs: Any) -> None:
        self.model.save_pretrained(*args, **kwargs)


def _unsupported(model: Any) -> str | None:
    """Why ``model`` cannot be mean-pooled, or None."""
    classifier, width = getattr(model, "classifier", None), getattr(model.config, "hidden_size", None)
    if not isinstance(classifier, torch.nn.Linear) or classifier.in_features != width:
        return "has no linear classifier over its hidden states"
    if not isinstance(getattr(model, "dropout", None), torch.nn.Dropout):
        return "has no dropout before its classifier"
    if "token_type_ids" not in inspect.signature(model.base_model.forward).parameters:
        return "takes no token_type_ids"
    return None


def apply_pooling(model: Any, pooling: str) -> Any:
    """``model`` reading its input the ``pooling`` way, with the choice recorded in its config."""
    if pooling not in POOLINGS:
        raise PoolingError(f"unknown pooling {pooling!r} (expected {' | '.join(POOLINGS)})")
    wrapped = MeanPooledClassifier(model) if pooling == "mean" else model
    setattr(model.config, POOLING_KEY, pooling)
    return wrapped


def with_saved_pooling(model: Any) -> Any:
    """A loaded ``*ForSequenceClassification`` model with the head its config.json records."""
    return apply_pooling(model, saved_pooling(model.config))


def resolve_pooling(pooling: str, model: str) -> str:
    """``pooling``, or for ``auto`` the pooling model folder ``model`` declares (``cls`` when none)."""
    return (declared_pooling(model) or "cls") if pooling == "auto" else pooling


def declared_pooling(folder: str | Path) -> str | None:
    """The pooling a model folder declares, if any: a checkpoint of ours in its config.json, a
    sentence-transformers folder in ``1_Pooling/config.json``."""
    saved, modes = _json_object(Path(folder) / "config.json"), _json_object(Path(folder) / "1_Pooling" / "config.json")
    if saved.get(POOLING_KEY) in POOLINGS:
        return saved[POOLING_KEY]
    if modes.get("pooling_mode_mean_tokens") and not modes.get("pooling_mode_cls_token"):
        return "mean"
    if modes.get("pooling_mode_cls_token") and not modes.get("pooling_mode_mean_tokens"):
        return "cls"
    return None


def _json_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
