"""Read a fine-tuned Hugging Face classifier folder: ours (with mobilebert_edge.json) or any
``save_pretrained`` output (labels from config.json, max length from the caller, rule ``head``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_runtime.truncation import RULES
from mobilebert_edge.export.errors import CheckpointError
from mobilebert_edge.train.config import PoolingError, saved_pooling

OURS = "mobilebert_edge.json"
DEFAULT_MAX_LENGTH = 256
TOKENIZER_FILES = (
    "tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model",
)


@dataclass
class Checkpoint:
    """What export needs to know about a checkpoint folder."""

    path: Path
    labels: list[str]
    max_length: int
    rule: str
    head_tokens: int | None
    architecture: str | None
    pooling: str  # what the head reads (train/pooling.py)
    config: dict[str, Any]
    validation_file: Path | None
    tokenizer_path: Path
    ours: bool


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint {path.parent}: cannot read {path.name} ({error})", hint=f"{what}") from error
    if not isinstance(value, dict):
        raise CheckpointError(f"checkpoint {path.parent}: {path.name} is not a JSON object", found=type(value).__name__)
    return value


def _labels_from_config(path: Path, config: dict[str, Any]) -> list[str]:
    id2label = config.get("id2label") or {}
    n = config.get("num_labels") or len(id2label) or 2
    try:
        by_id = {int(key): str(value) for key, value in id2label.items()}
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"checkpoint {path}: config.json id2label keys must be integers", found=list(id2label)) from error
    if by_id and sorted(by_id) != list(range(len(by_id))):
        raise CheckpointError(
            f"checkpoint {path}: config.json id2label is not numbered 0..n-1", found=sorted(by_id)
        )
    return [by_id.get(i, f"LABEL_{i}") for i in range(max(n, len(by_id)))]


def read_checkpoint(
    path: str | Path, *, max_length: int | None = None, tokenizer: str | Path | None = None
) -> Checkpoint:
    """Check the folder and collect labels, max length, truncation rule and tokenizer location."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(
            f"checkpoint {path}: no such folder",
            hint="pass the folder written by 'mobilebert-edge train' or by save_pretrained",
        )
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path}: not a folder", hint="pass the checkpoint folder, not a file in it")
    if not (path / "config.json").is_file():
        raise CheckpointError(
            f"checkpoint {path}: config.json is missing",
            hint="this is not a Hugging Face model folder; pass the folder written by 'mobilebert-edge train' or save_pretrained",
        )
    config = _read_json(path / "config.json", "re-save the model with save_pretrained")
    architectures = config.get("architectures") or []
    classifiers = [name for name in architectures if str(name).endswith("ForSequenceClassification")]
    if architectures and not classifiers:
        raise CheckpointError(
            f"checkpoint {path}: not a sequence-classification model",
            expected="an architecture ending in ForSequenceClassification",
            found=", ".join(map(str, architectures)),
            hint="fine-tune it first ('mobilebert-edge train') or save an AutoModelForSequenceClassification",
        )
    if not any((path / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")):
        raise CheckpointError(
            f"checkpoint {path}: no model weights", expected="model.safetensors", found="none",
            hint="save the model with save_pretrained(..., safe_serialization=True)",
        )

    try:
        pooling = saved_pooling(config)
    except PoolingError as error:
        raise CheckpointError(f"checkpoint {path}: {error}", hint="re-save it with 'mobilebert-edge train'") from error
    ours = (path / OURS).is_file()
    validation_file = None
    if ours:
        meta = _read_json(path / OURS, "re-run 'mobilebert-edge train'")
        labels = meta.get("labels")
        if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
            raise CheckpointError(f"checkpoint {path}: {OURS} labels must be a list of names", found=repr(labels))
        truncation = meta.get("truncation") or {}
        rule = truncation.get("rule", "head")
        head_tokens = truncation.get("head_tokens")
        length = int(max_length or meta.get("max_length") or DEFAULT_MAX_LENGTH)
        name = meta.get("validation_file")
        if name and (path / name).is_file():
            validation_file = path / name
    else:
        labels = _labels_from_config(path, config)
        rule, head_tokens = "head", None
        length = int(max_length or DEFAULT_MAX_LENGTH)
    if rule not in RULES:
        raise CheckpointError(f"checkpoint {path}: unknown truncation rule", expected=" | ".join(RULES), found=repr(rule))
    n_config = config.get("num_labels") or len(config.get("id2label") or {}) or len(labels)
    if n_config != len(labels):
        raise CheckpointError(
            f"checkpoint {path}: label count of {OURS if ours else 'config.json'} does not match the model",
            expected=f"{n_config} labels", found=f"{len(labels)}",
        )
    positions = config.get("max_position_embeddings")
    if length < 3 or (isinstance(positions, int) and length > positions):
        raise CheckpointError(
            f"checkpoint {path}: max length out of range",
            expected=f"3..{positions or 'max_position_embeddings'}", found=length,
            hint="pass a smaller --max-length",
        )

    tokenizer_path = Path(tokenizer) if tokenizer is not None else path
    if tokenizer is not None and not tokenizer_path.is_dir():
        raise CheckpointError(f"tokenizer {tokenizer_path}: no such folder", hint="pass a folder with tokenizer.json or vocab.txt")
    if not any((tokenizer_path / name).is_file() for name in TOKENIZER_FILES):
        raise CheckpointError(
            f"checkpoint {tokenizer_path}: no tokenizer found",
            expected="tokenizer.json or vocab.txt",
            found="none",
            hint="pass --tokenizer PATH, a folder with the tokenizer the model was trained with",
        )
    return Checkpoint(
        path=path, labels=list(labels), max_length=length, rule=rule, head_tokens=head_tokens,
        architecture=classifiers[0] if classifiers else None, pooling=pooling, config=config,
        validation_file=validation_file, tokenizer_path=tokenizer_path, ours=ours,
    )


def load_model(checkpoint: Checkpoint):
    """The PyTorch classifier in eval mode (float32), with the head its config.json records (``train/pooling.py``)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from mobilebert_edge.train.pooling import with_saved_pooling

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            checkpoint.path, local_files_only=True, dtype=torch.float32
        )
    except (OSError, ValueError, KeyError) as error:
        raise CheckpointError(f"checkpoint {checkpoint.path}: cannot load the model ({error})") from error
    try:
        return with_saved_pooling(model).eval()
    except PoolingError as error:
        raise CheckpointError(f"checkpoint {checkpoint.path}: {error}") from error


def load_tokenizer(checkpoint: Checkpoint):
    """The fast (Rust) tokenizer, converted from a slow one if the folder has no tokenizer.json."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint.tokenizer_path, use_fast=True, local_files_only=True)
    except Exception as error:  # noqa: BLE001 - transformers raises many types for a bad folder
        raise CheckpointError(
            f"checkpoint {checkpoint.tokenizer_path}: cannot load the tokenizer ({type(error).__name__}: {error})",
            hint="pass --tokenizer PATH, a folder with tokenizer.json or vocab.txt",
        ) from error
    if not getattr(tokenizer, "is_fast", False):
        raise CheckpointError(
            f"checkpoint {checkpoint.tokenizer_path}: no fast tokenizer could be built",
            hint="pass --tokenizer PATH, a folder with tokenizer.json",
        )
    return tokenizer
