"""Only the ends of a long text are tokenized (edge_runtime.window): the same ids as the whole text truncated
by its rule, for head, tail and head_tail, and a bounded peak memory for a 50 MB text."""

from __future__ import annotations

import gzip
import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from runtime_helpers import varied_texts
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from edge_runtime import window
from edge_runtime.text import TextEncoder
from edge_runtime.truncation import truncate_ids

RULES = [("head", None), ("tail", None), ("head_tail", None), ("head_tail", 0), ("head_tail", 3), ("head_tail", "all")]


def _long_texts(seed: int = 0) -> list[str]:
    """Texts of 1 to 40 windows: reviews' words, unicode, emoji, punctuation runs, giant words, no spaces."""
    rng = random.Random(seed)
    pieces = [t for t in varied_texts() if t.strip()]
    texts = []
    for size in (1, 2, 5, 12, 40):
        words = []
        while sum(map(len, words)) < size * 600:
            words.append(rng.choice(pieces))
        texts.append(" ".join(words))
        texts.append("".join(words))  # joined without spaces: words cut anywhere
    texts += ["x" * 30_000, "word " * 8_000 + "y" * 5_000, "z" * 5_000 + " end" * 3_000, "é" * 9_000,
              "a\u0301" * 6_000 + " fin", "\u200b".join(["zero", "width"] * 3_000), "🎬🍿" * 4_000, "!?." * 5_000]
    return texts


def _bpe(texts: list[str]) -> Tokenizer:
    """A small byte-level BPE (GPT-2 / RoBERTa style), trained on the spot."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=400, show_progress=False,
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tokenizer


@pytest.fixture(scope="module", params=["bert", "byte_level_bpe"])
def tokenizer(request, tiny_mobilebert_dir: Path) -> Tokenizer:
    if request.param == "bert":
        return Tokenizer.from_file(str(tiny_mobilebert_dir / "tokenizer.json"))
    return _bpe(varied_texts())


def _check_equal(tokenizer: Tokenizer, texts: list[str], budget: int) -> int:
    """Windowed ids equal the whole text's truncated ids for every rule; returns how many used a window."""
    tokenizer.no_truncation()
    tokenizer.no_padding()
    windowed = 0
    for text in texts:
        full = tokenizer.encode(text, add_special_tokens=False).ids
        windowed += len(text) > window.window_chars(budget)
        for rule, head in RULES:
            head = budget if head == "all" else head
            assert window.content_ids(tokenizer, text, budget, rule, head) == truncate_ids(full, budget, rule, head), (
                rule, head, text[:40])
        assert window.token_count(tokenizer, text, budget, 4 * budget) == min(len(full), 4 * budget)
    return windowed


@pytest.mark.parametrize("budget", [6, 30, 254])
def test_windowed_ids_equal_the_whole_texts_ids(tokenizer, budget):
    texts = _long_texts()
    assert _check_equal(tokenizer, texts, budget) >= len(texts) - 2  # nearly all of them need the window


def test_a_window_shorter_than_its_tokens_grows(tokenizer):
    """Texts much denser than 16 characters per token (one character per token) still come out exact."""
    texts = [" ".join(random.Random(i).choice("abcdefghij!?") for _ in range(20_000)) for i in range(3)]
    assert _check_equal(tokenizer, texts, 254) == 3


def test_the_encoder_uses_the_window_and_batches_short_texts(tiny_mobilebert_dir):
    encoder = TextEncoder.from_file(tiny_mobilebert_dir / "tokenizer.json", max_length=12, rule="head_tail", head_tokens=4)
    texts = ["a great film", "word " * 50_000 + "the end", "dull"]
    full = [encoder.tokenizer.encode(t, add_special_tokens=False).ids for t in texts]
    assert encoder.encode_ids(texts) == [encoder.prefix + truncate_ids(ids, 10, "head_tail", 4) + encoder.suffix for ids in full]
    assert encoder.token_counts(texts) == [len(full[0]) + 2, 48, len(full[2]) + 2]  # a long text counts up to 4 x 12


@pytest.mark.slow
def test_windowed_ids_equal_the_whole_texts_ids_on_imdb_reviews(minilm_path):
    """The pretrained tokenizer on 2,000 real reviews with small budgets, so that most need the window."""
    from conftest import IMDB_TRAIN

    with gzip.open(IMDB_TRAIN, "rt", encoding="utf-8") as handle:
        texts = [row["text"] for _, row in zip(range(2000), csv.DictReader(handle))]
    tokenizer = Tokenizer.from_file(str(minilm_path / "tokenizer.json"))
    assert _check_equal(tokenizer, texts, 6) > 1500
    assert _check_equal(tokenizer, texts, 30) > 200


PEAK = """
import json, sys
from edge_runtime import Classifier
clf = Classifier.load(sys.argv[1], threads=1)
text = ("a great film, " * 4 + "dull and long. ") * (50_000_000 // 71)  # 50 MB
assert len(text) >= 49_000_000
prediction = clf.predict(text)
same = clf.predict(text[: 20_000]).probabilities == prediction.probabilities  # head: only the start counts
status = open("/proc/self/status").read()
peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
print(json.dumps({"peak_mib": peak / 1024, "label": prediction.label, "same": same}))
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
def test_a_50_mb_text_stays_under_a_memory_ceiling(tiny_bundle_fp32):
    """Measured in a fresh process (VmHWM: its own peak). Before the window, one 50 MB review peaked at 7 GB."""
    done = subprocess.run([sys.executable, "-c", PEAK, str(tiny_bundle_fp32)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["same"] is True
    assert result["peak_mib"] < 400, result  # the text itself is 50 MB; Python, numpy, onnxruntime ~150 MB
