"""Training-time encoding: the same ids as the Hugging Face tokenizer for head, and the other rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from mobilebert_edge.train.encode import encode_texts

TEXTS = [
    "A short one.",
    "the beginning is slow " * 20 + "but the ending is absolutely wonderful and moving",
    "",
    "Ünïcödé and punctuation!!! 12345 " * 10,
]


@pytest.fixture(scope="module")
def tokenizer(tiny_mobilebert_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_mobilebert_dir)


@pytest.mark.parametrize("max_length", [8, 16, 64, 512])
def test_head_equals_the_tokenizer_with_truncation(tokenizer, max_length: int) -> None:
    enc = encode_texts(tokenizer, TEXTS, [0] * len(TEXTS), max_length=max_length, rule="head")
    expected = tokenizer(TEXTS, truncation=True, max_length=max_length)
    assert enc.input_ids == expected["input_ids"]
    assert enc.token_type_ids == expected["token_type_ids"]


def test_tail_and_head_tail_keep_the_right_tokens(tokenizer) -> None:
    text = TEXTS[1]
    content = tokenizer(text, add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    tail = encode_texts(tokenizer, [text], [1], max_length=18, rule="tail").input_ids[0]
    assert tail == [cls, *content[-16:], sep]
    both = encode_texts(tokenizer, [text], [1], max_length=18, rule="head_tail").input_ids[0]
    assert both == [cls, *content[:4], *content[-12:], sep]  # default head share: a quarter of 16
    custom = encode_texts(tokenizer, [text], [1], max_length=18, rule="head_tail", head_tokens=10).input_ids[0]
    assert custom == [cls, *content[:10], *content[-6:], sep]
    assert tokenizer.decode(tail[-3:-1]) == "and moving"


def test_short_texts_are_not_changed_by_any_rule(tokenizer) -> None:
    reference = tokenizer(TEXTS[0])["input_ids"]
    for rule in ("head", "tail", "head_tail"):
        assert encode_texts(tokenizer, TEXTS[:1], [0], max_length=64, rule=rule).input_ids[0] == reference
