"""Fixed, reproducible slices of the IMDb train split for benchmarks.

One seeded permutation of ``../shared/data/imdb_train.csv.gz``: its first 5,000 reviews are the
held-out evaluation slice that no benchmark trains on; the rest is the pool that training-size
experiments draw from. Reviews whose text also appears in the tutorial sample are excluded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IMDB_TRAIN = SHARED_DATA / "imdb_train.csv.gz"
TUTORIAL_CSV = SHARED_DATA / "imdb_reviews_sample.csv"
HELDOUT_SIZE = 5000
SEED = 2011


def _normal(text: str) -> str:
    return " ".join(str(text).split()).lower()


def _permuted() -> pd.DataFrame:
    table = pd.read_csv(IMDB_TRAIN, usecols=["text", "label"])
    tutorial = pd.read_csv(TUTORIAL_CSV, encoding="cp949")
    seen = {_normal(text) for text in tutorial["Text"]}
    table = table[~table["text"].map(_normal).isin(seen)]
    order = np.random.default_rng(SEED).permutation(len(table))
    return table.iloc[order].reset_index(drop=True)


def heldout(n: int = HELDOUT_SIZE) -> pd.DataFrame:
    """The first ``n`` (<= 5,000) reviews of the held-out slice: columns text, label (0/1)."""
    if not 0 < n <= HELDOUT_SIZE:
        raise ValueError(f"held-out size must be 1..{HELDOUT_SIZE}, got {n}")
    return _permuted().iloc[:n].reset_index(drop=True)


def load_checkpoint(folder: Path) -> tuple[Any, Any]:
    """A checkpoint folder's model (eval mode, its saved pooling; safetensors only) and tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from mobilebert_edge.train.pooling import with_saved_pooling

    model = with_saved_pooling(AutoModelForSequenceClassification.from_pretrained(str(folder), use_safetensors=True))
    return model.eval(), AutoTokenizer.from_pretrained(str(folder), use_fast=True)


def score_on_slice(checkpoint: Path, model: Any, tokenizer: Any, table: pd.DataFrame, *, precision: str,
                   progress: str = "held-out", max_length: int | None = None) -> dict[str, float]:
    """Accuracy and macro-F1 on ``table`` (text, label) with the checkpoint's own labels, max length and truncation
    (``max_length`` overrides its max length, as ``export --max-length`` does)."""
    from mobilebert_edge.train.evaluate import predict_texts, score

    manifest = json.loads((Path(checkpoint) / "mobilebert_edge.json").read_text())
    gold = [manifest["labels"].index(str(label)) for label in table["label"]]
    logits = predict_texts(model, tokenizer, table["text"].tolist(), max_length=max_length or manifest["max_length"],
                           rule=manifest["truncation"]["rule"], head_tokens=manifest["truncation"]["head_tokens"],
                           batch_size=32, precision=precision, progress=progress)
    return score(logits, gold)


def training_pool(n: int | None = None) -> pd.DataFrame:
    """The first ``n`` reviews (all of them when ``n`` is None) outside the held-out slice."""
    pool = _permuted().iloc[HELDOUT_SIZE:]
    if n is None:
        return pool.reset_index(drop=True)
    if n > len(pool):
        raise ValueError(f"only {len(pool)} reviews outside the held-out slice, asked for {n}")
    return pool.iloc[:n].reset_index(drop=True)
