"""Mean pooling: the head reads the masked mean of the token states, in training, in the checkpoint and
in the exported bundle; ``auto`` follows what a sentence-transformers folder declares."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mobilebert_edge.cli import main
from mobilebert_edge.export.checkpoint import read_checkpoint
from mobilebert_edge.export.errors import CheckpointError
from mobilebert_edge.train.config import POOLING_KEY, resolve_config
from mobilebert_edge.train.errors import ConfigError, ModelLoadError
from mobilebert_edge.train.model import load_model
from mobilebert_edge.train.pooling import MeanPooledClassifier, declared_pooling, resolve_pooling
from test_train_loop import ROWS, write_csv

TEXTS = ["a wonderful film, I loved every minute of it", "dull", "terrible plot and wooden acting, a waste"]


@pytest.fixture()
def model_dir(tiny_mobilebert_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_mobilebert_dir, tmp_path / "base-model"))


def by_hand(model, tokenizer, texts: list[str], pooling: str) -> np.ndarray:
    """Logits of the plain transformers model, one unpadded text at a time: the head applied by hand."""
    import torch

    rows = []
    with torch.no_grad():
        for text in texts:
            inputs = tokenizer(text, return_tensors="pt")
            if pooling == "cls":
                rows.append(model(**inputs).logits[0].numpy())
            else:
                hidden = model.base_model(**inputs).last_hidden_state[0]
                rows.append(model.classifier(hidden.mean(dim=0)).numpy())
    return np.stack(rows)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def test_mean_pooled_head_reads_the_mean_of_the_unpadded_tokens(model_dir: Path) -> None:
    import torch

    model, tokenizer = load_model(str(model_dir), ["negative", "positive"], pooling="mean")
    assert isinstance(model, MeanPooledClassifier) and getattr(model.config, POOLING_KEY) == "mean"
    model.eval()
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")  # the short texts are padded
    with torch.no_grad():
        logits = model(**batch).logits.numpy()
    np.testing.assert_allclose(logits, by_hand(model.model, tokenizer, TEXTS, "mean"), atol=1e-5)
    assert np.abs(logits - by_hand(model.model, tokenizer, TEXTS, "cls")).max() > 1e-2


def test_train_with_mean_pooling_exports_a_bundle_that_reads_the_mean(model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from edge_runtime.classifier import Classifier

    data, out, bundle = write_csv(tmp_path / "reviews.csv", ROWS * 4), tmp_path / "run", tmp_path / "bundle"
    assert main(["train", "--data", str(data), "--out", str(out), "--model", str(model_dir), "--pooling", "mean",
                 "--max-length", "32", "--epochs", "1", "--precision", "fp32", "--threads", "1"]) == 0
    assert json.loads((out / "config.json").read_text())[POOLING_KEY] == "mean"
    manifest = json.loads((out / "mobilebert_edge.json").read_text())
    assert manifest["config"]["pooling"] == "mean" and manifest["config"]["resolved_pooling"] == "mean"

    assert main(["export", str(out), "--out", str(bundle), "--precision", "fp32"]) == 0
    assert json.loads((bundle / "manifest.json").read_text())["model"]["pooling"] == "mean"
    plain = AutoModelForSequenceClassification.from_pretrained(out).eval()  # transformers alone: a [CLS] head
    tokenizer = AutoTokenizer.from_pretrained(out)
    served = Classifier.load(bundle).predict_proba(TEXTS)
    np.testing.assert_allclose(served, softmax(by_hand(plain, tokenizer, TEXTS, "mean")), atol=1e-5)
    assert np.abs(served - softmax(by_hand(plain, tokenizer, TEXTS, "cls"))).max() > 1e-3


def test_auto_pooling_follows_a_sentence_transformers_folder(model_dir: Path, tmp_path: Path) -> None:
    assert declared_pooling(model_dir) is None and resolve_pooling("auto", str(model_dir)) == "cls"
    (model_dir / "1_Pooling").mkdir()
    modes = {"word_embedding_dimension": 64, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}
    (model_dir / "1_Pooling" / "config.json").write_text(json.dumps(modes))
    assert resolve_pooling("auto", str(model_dir)) == "mean" and resolve_pooling("cls", str(model_dir)) == "cls"
    (model_dir / "1_Pooling" / "config.json").write_text(json.dumps({**modes, "pooling_mode_cls_token": True,
                                                                       "pooling_mode_mean_tokens": False}))
    assert resolve_pooling("auto", str(model_dir)) == "cls"
    assert resolve_pooling("auto", "google/mobilebert-uncased") == "cls"  # a hub id declares nothing here
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, POOLING_KEY: "mean"}))  # a checkpoint of ours
    assert resolve_pooling("auto", str(model_dir)) == "mean"


def test_unknown_pooling_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match=re.escape("invalid pooling (expected auto | cls | mean, found 'max')")):
        resolve_config("fast", pooling="max")


def test_mean_pooling_of_a_model_without_token_types_says_why(tmp_path: Path) -> None:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    folder = tmp_path / "distilbert"
    DistilBertForSequenceClassification(DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2,
                                                         hidden_dim=32)).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]) + "\n")
    with pytest.raises(ModelLoadError, match=re.escape(
            "mean pooling needs a BERT-style classifier; DistilBertForSequenceClassification takes no token_type_ids")):
        load_model(str(folder), ["a", "b"], pooling="mean")


def test_checkpoint_naming_an_unknown_pooling_is_refused(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    (model_dir / "config.json").write_text(json.dumps({**config, POOLING_KEY: "max"}))
    with pytest.raises(CheckpointError, match=re.escape(
            f"checkpoint {model_dir}: config.json {POOLING_KEY} is 'max' (expected cls | mean)")):
        read_checkpoint(model_dir)
