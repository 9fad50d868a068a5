"""Load the base encoder with a fresh classification head, and its fast tokenizer."""

from __future__ import annotations

import logging
import os
import socket
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mobilebert_edge.train.errors import ConfigError, ModelLoadError
from mobilebert_edge.train.pooling import PoolingError, apply_pooling


def _brief(error: BaseException, limit: int = 160) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def resolve_model_source(name: str) -> str:
    """A local model folder (checked) or a hub id (returned unchanged)."""
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(
                f"model path {name!r} is a file",
                expected="a Hugging Face model folder (config.json, weights, tokenizer files)",
                found="a file",
            )
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"model folder {name!r} is not a Hugging Face model folder",
                expected="config.json with the weights and tokenizer files",
                found=", ".join(sorted(p.name for p in path.iterdir())[:8]) or "an empty folder",
                hint="pass the folder that save_pretrained wrote",
            )
        return str(path)
    if _looks_like_path(name):
        raise ModelLoadError(
            f"model folder {name!r} does not exist",
            hint="pass an existing local Hugging Face model folder or a hub id such as google/mobilebert-uncased",
        )
    return name


# Seconds to wait for a TCP connection to the hub before calling it unreachable.
HUB_PROBE_SECONDS = 3.0
OFFLINE_HINT = (
    "pass a local Hugging Face model folder with --model PATH, or run once with network access "
    "(the model is then cached)"
)


def _offline_mode() -> bool:
    from huggingface_hub import constants

    flags = (os.environ.get(name, "").strip().lower() for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return constants.HF_HUB_OFFLINE or any(flag in ("1", "true", "yes", "on") for flag in flags)


def hub_unreachable(timeout: float = HUB_PROBE_SECONDS) -> str | None:
    """Why the Hugging Face hub cannot be reached now (offline mode, no connection), or None when it can.

    One TCP connection to the hub (or to the proxy the environment names for it), so an offline
    machine is told at once instead of after the hub client's retries.
    """
    from huggingface_hub import constants

    if _offline_mode():
        return "HF_HUB_OFFLINE is set: offline mode"
    url = urlparse(os.environ.get("HF_ENDPOINT") or constants.ENDPOINT)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(url.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        via = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        host, port = via.hostname or "", via.port or 80
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as error:  # name resolution, refused, timed out
        return f"cannot connect to {host}:{port}: {_brief(error, 80)}"
    return None


def _cached(name: str) -> bool:
    """True when the hub model ``name`` has its config.json in the local Hugging Face cache."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(name, "config.json"), str)
    except ValueError:  # not a valid repository id
        return False


def _hub_error(name: str, error: BaseException) -> ModelLoadError:
    reason = _brief(error)
    if "not a valid model identifier" in reason or "Repository Not Found" in reason:
        return ModelLoadError(
            f"model {name!r} is neither a local folder nor a model on the Hugging Face hub ({reason})",
            hint="check the name, or pass a local Hugging Face model folder with --model PATH",
        )
    return ModelLoadError(
        f"cannot download model {name!r} (no network or hub unreachable: {reason})",
        hint="pass a local Hugging Face model folder with --model PATH",
    )


# Where architectures keep the dropout on attention probabilities (BERT and MobileBERT first).
ATTENTION_DROPOUT_FIELDS = ("attention_probs_dropout_prob", "attention_dropout", "attn_pdrop")


def _attention_dropout_field(config: Any, name: str) -> str:
    for field in ATTENTION_DROPOUT_FIELDS:
        if hasattr(config, field):
            return field
    raise ModelLoadError(
        f"model {name!r} has no attention dropout setting to override",
        expected=" or ".join(ATTENTION_DROPOUT_FIELDS) + " in its config",
        found=type(config).__name__,
        hint="leave --attention-dropout unset for this model",
    )


def load_model(
    name: str, label_names: list[str], attention_dropout: float | None = None, pooling: str = "cls"
) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a sequence classifier with ``len(label_names)`` outputs and a fast tokenizer.

    ``attention_dropout`` replaces the model's dropout on attention probabilities (None keeps it);
    ``pooling`` is what its head reads (``train/pooling.py``).
    """
    import transformers
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    source = resolve_model_source(name)
    local = source != name or Path(source).exists()
    offline = False
    if not local:
        reason = hub_unreachable()
        if reason is not None and not _cached(name):
            raise ModelLoadError(f"cannot download model {name!r}: the Hugging Face hub is not reachable ({reason}) "
                                 "and the model is not in the local cache", hint=OFFLINE_HINT)
        offline = reason is not None  # cached: load it from the cache without asking the hub
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the "newly initialized head" notice is expected here
    hub_log = logging.getLogger("huggingface_hub")
    hub_level = hub_log.level
    hub_log.setLevel(logging.ERROR)  # no retry notices: a failure ends in one error line
    try:
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True, local_files_only=offline)
            config = AutoConfig.from_pretrained(
                source,
                local_files_only=offline,
                num_labels=len(label_names),
                id2label=dict(enumerate(label_names)),
                label2id={label: i for i, label in enumerate(label_names)},
            )
            if attention_dropout is not None:
                setattr(config, _attention_dropout_field(config, name), float(attention_dropout))
            model = AutoModelForSequenceClassification.from_pretrained(
                source, config=config, ignore_mismatched_sizes=True, local_files_only=offline
            )
        except (OSError, ValueError) as error:  # ConnectionError, offline mode, missing files...
            if local:
                raise ModelLoadError(
                    f"cannot load the model in folder {source!r} ({_brief(error)})",
                    hint="pass a folder written by save_pretrained (config.json, weights, tokenizer files)",
                ) from error
            raise _hub_error(name, error) from error
    finally:
        transformers.logging.set_verbosity(verbosity)
        hub_log.setLevel(hub_level)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            f"model {name!r} has no fast tokenizer",
            expected="a tokenizer.json or a tokenizer transformers can convert to a fast one",
            found=type(tokenizer).__name__,
        )
    try:
        return apply_pooling(model, pooling), tokenizer
    except PoolingError as error:
        raise ModelLoadError(f"model {name!r}: {error}", hint="train it with --pooling cls") from error


def check_length(model: Any, length: int, flag: str) -> None:
    """Raise ``ConfigError`` when ``length`` tokens exceed what the model's position embeddings cover."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if isinstance(positions, int) and length > positions:
        raise ConfigError(f"{flag} {length} is longer than the model reads",
                          expected=f"at most {positions} tokens (its max_position_embeddings)", found=length,
                          hint=f"pass {flag} {positions} or less")
