"""Runtime tokenization (tokenizers only) against the transformers tokenizer."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import varied_texts
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from edge_runtime.errors import BundleError, InputError
from edge_runtime.text import TextEncoder
from edge_runtime.truncation import truncate_ids

TEXTS = varied_texts()


@pytest.fixture(scope="module", params=["tiny_mobilebert", "minilm"])
def tokenizer_pair(request, tiny_mobilebert_dir: Path):
    """(tokenizer.json path, transformers fast tokenizer) for both test tokenizers."""
    from transformers import AutoTokenizer

    # MiniLM's only when asked: without its package only the MiniLM cases skip
    folder = tiny_mobilebert_dir if request.param == "tiny_mobilebert" else request.getfixturevalue("minilm_path")
    return folder / "tokenizer.json", AutoTokenizer.from_pretrained(folder)


def test_enough_varied_texts():
    assert len(set(TEXTS)) >= 200


@pytest.mark.parametrize("max_length", [8, 64, 512])
def test_head_rule_matches_transformers(tokenizer_pair, max_length):
    path, hf = tokenizer_pair
    encoder = TextEncoder.from_file(path, max_length=max_length, rule="head")
    ours = encoder.encode_ids(TEXTS)
    theirs = [hf(text, truncation=True, max_length=max_length)["input_ids"] for text in TEXTS]
    mismatches = [(t, a, b) for t, a, b in zip(TEXTS, ours, theirs) if a != b]
    assert not mismatches, mismatches[:3]
    assert max(len(ids) for ids in ours) == max_length  # the long texts really were truncated


@pytest.mark.parametrize("rule,head_tokens", [("tail", None), ("head_tail", None), ("head_tail", 3), ("head_tail", 0)])
def test_tail_rules_match_reference(tokenizer_pair, rule, head_tokens):
    path, hf = tokenizer_pair
    max_length = 24
    encoder = TextEncoder.from_file(path, max_length=max_length, rule=rule, head_tokens=head_tokens)
    budget = max_length - hf.num_special_tokens_to_add(pair=False)
    reference = [
        hf.build_inputs_with_special_tokens(
            truncate_ids(hf(text, add_special_tokens=False)["input_ids"], budget, rule, head_tokens)
        )
        for text in TEXTS
    ]
    assert encoder.encode_ids(TEXTS) == reference
    long = "first " + "middle " * 50 + "last"
    ids = encoder.encode_ids([long])[0]
    assert len(ids) == max_length and ids[-2] == hf.convert_tokens_to_ids("last")


def test_padded_batch_matches_transformers(tokenizer_pair):
    path, hf = tokenizer_pair
    texts = TEXTS[:40]
    batch = TextEncoder.from_file(path, max_length=32).encode(texts)
    theirs = hf(texts, truncation=True, max_length=32, padding=True, return_tensors="np")
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        array = getattr(batch, name)
        assert array.dtype == np.int64
        np.testing.assert_array_equal(array, theirs[name])


def test_tokenizer_file_padding_and_truncation_are_ignored(minilm_path):
    """MiniLM's tokenizer.json pads and truncates to 128; the runtime must do neither."""
    assert Tokenizer.from_file(str(minilm_path / "tokenizer.json")).padding is not None
    encoder = TextEncoder.from_file(minilm_path / "tokenizer.json", max_length=512)
    short, long = encoder.encode_ids(["hello world", "word " * 300])
    assert short == [101, 7592, 2088, 102]
    assert len(long) == 302
    assert encoder.pad_id == 0


def _word_level(post_processor) -> Tokenizer:
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "hello": 4, "world": 5}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    if post_processor is not None:
        tokenizer.post_processor = post_processor
    return tokenizer


def test_roberta_style_and_no_special_tokens():
    template = processors.TemplateProcessing(single="<s> $A:1 </s>:2", special_tokens=[("<s>", 1), ("</s>", 2)])
    encoder = TextEncoder(_word_level(template), max_length=4)
    assert encoder.encode_ids(["hello world hello", ""]) == [[1, 4, 5, 2], [1, 2]]
    batch = encoder.encode(["hello world hello", ""])
    np.testing.assert_array_equal(batch.token_type_ids, [[0, 1, 1, 2], [0, 2, 0, 0]])
    np.testing.assert_array_equal(batch.input_ids, [[1, 4, 5, 2], [1, 2, 0, 0]])  # <pad> found by name

    bare = TextEncoder(_word_level(None), max_length=2)
    assert bare.encode_ids(["hello world hello"]) == [[4, 5]]


def test_bad_settings_and_files(tmp_path, tiny_mobilebert_dir):
    path = tiny_mobilebert_dir / "tokenizer.json"
    with pytest.raises(InputError, match=re.escape("max_length leaves no room for text (expected > 2")):
        TextEncoder.from_file(path, max_length=2)
    with pytest.raises(InputError, match=re.escape("unknown truncation rule (expected head | tail | head_tail, found 'middle')")):
        TextEncoder.from_file(path, max_length=16, rule="middle")
    with pytest.raises(InputError, match=re.escape("head_tokens out of range (expected 0..14, found 15)")):
        TextEncoder.from_file(path, max_length=16, rule="head_tail", head_tokens=15)
    broken = tmp_path / "tokenizer.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(BundleError, match=re.escape(f"cannot load tokenizer {broken}")):
        TextEncoder.from_file(broken, max_length=16)
    with pytest.raises(InputError, match=re.escape("text 1 is not a string (expected str, found int)")):
        TextEncoder.from_file(path, max_length=16).encode_ids(["ok", 3])


@pytest.mark.slow
def test_head_rule_matches_transformers_on_imdb_reviews(shared_data, minilm_path):
    """2,000 real reviews (markup, long texts) through MiniLM's tokenizer at the tutorial's 256."""
    import csv
    import gzip

    from transformers import AutoTokenizer

    with gzip.open(shared_data / "imdb_train.csv.gz", "rt", encoding="utf-8", newline="") as handle:
        texts = [row["text"] for _, row in zip(range(2000), csv.DictReader(handle))]
    hf = AutoTokenizer.from_pretrained(minilm_path)
    encoder = TextEncoder.from_file(minilm_path / "tokenizer.json", max_length=256)
    theirs = hf(texts, truncation=True, max_length=256)["input_ids"]
    assert encoder.encode_ids(texts) == theirs
    assert sum(len(ids) == 256 for ids in theirs) > 500  # many reviews really are truncated
