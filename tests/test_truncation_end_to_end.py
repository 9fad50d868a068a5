"""Truncation from training to the device: train with head_tail on texts longer than max_length,
export, and check that the runtime feeds the model the ids training saw.

The expected ids are sliced by hand from the tokenizer's own ids (not with ``truncate_ids``):
max_length 16 leaves a budget of 14 content tokens; head_tail keeps the first 3 (a quarter) and the
last 11.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train_loop import tiny_config, write_csv

from edge_runtime import Classifier
from edge_runtime.text import TextEncoder
from mobilebert_edge.export import export_bundle
from mobilebert_edge.train.encode import encode_texts
from mobilebert_edge.train.run import train_run

MAX_LENGTH, BUDGET, HEAD = 16, 14, 3
WORDS = ("film story plot music scene cast actor script ending hour minute year day life world "
         "people thing way point sense money tears popcorn").split()


def words_text(n: int, offset: int = 0) -> str:
    """A text of exactly ``n`` content tokens (one vocabulary word each)."""
    return " ".join(WORDS[(offset + i) % len(WORDS)] for i in range(n))


def hand_truncated(content: list[int], rule: str, cls: int, sep: int) -> list[int]:
    """The reference: slices written out for a budget of 14 and a head of 3."""
    if len(content) <= BUDGET:
        kept = content
    elif rule == "head":
        kept = content[:14]
    elif rule == "tail":
        kept = content[-14:]
    else:  # head_tail
        kept = content[:3] + content[-11:]
    return [cls, *kept, sep]


@pytest.fixture(scope="module")
def trained(tiny_mobilebert_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A head_tail run on long reviews (the sentiment word sits at the end) and its fp32 bundle."""
    root = tmp_path_factory.mktemp("truncation")
    model_dir = Path(shutil.copytree(tiny_mobilebert_dir, root / "base-model"))
    rows = [(f"{words_text(20 + i, i)} {'superb' if i % 2 else 'awful'}", "positive" if i % 2 else "negative")
            for i in range(24)]
    data = write_csv(root / "long.csv", rows)
    config = tiny_config(model_dir, max_length=MAX_LENGTH, truncation="head_tail", epochs=1)
    result = train_run(config, data=str(data), out=root / "checkpoint", log=lambda _: None)
    export_bundle(root / "checkpoint", root / "bundle", precision="fp32", log=lambda _: None)
    return result, root / "checkpoint", root / "bundle"


@pytest.mark.parametrize("n", [BUDGET - 1, BUDGET, BUDGET + 1, MAX_LENGTH, 3 * MAX_LENGTH])
@pytest.mark.parametrize("rule", ["head", "tail", "head_tail"])
def test_runtime_ids_equal_hand_sliced_ids_around_the_budget(tiny_mobilebert_dir: Path, rule: str, n: int):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(tiny_mobilebert_dir)
    text = words_text(n)
    content = hf(text, add_special_tokens=False)["input_ids"]
    assert len(content) == n  # one token per word
    expected = hand_truncated(content, rule, hf.cls_token_id, hf.sep_token_id)
    assert len(expected) == min(n + 2, MAX_LENGTH)
    encoder = TextEncoder.from_file(tiny_mobilebert_dir / "tokenizer.json", max_length=MAX_LENGTH, rule=rule)
    assert encoder.encode_ids([text]) == [expected]
    trained_ids = encode_texts(hf, [text], [0], max_length=MAX_LENGTH, rule=rule).input_ids
    assert trained_ids == [expected]


def test_bundle_feeds_the_ids_training_saw(trained):
    result, checkpoint, bundle = trained
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["tokenizer"]["max_length"] == MAX_LENGTH
    assert manifest["tokenizer"]["truncation"] == {"rule": "head_tail", "head_tokens": None}
    texts = [json.loads(line)["text"] for line in (checkpoint / "validation.jsonl").read_text().splitlines()]
    texts += [words_text(n, 5) + " superb" for n in (BUDGET, BUDGET + 1, 40)]
    seen = encode_texts(result.tokenizer, texts, [0] * len(texts), max_length=MAX_LENGTH, rule="head_tail").input_ids
    assert all(len(result.tokenizer(t)["input_ids"]) > MAX_LENGTH for t in texts)  # every one is truncated
    assert Classifier.load(bundle).tokenizer_ids(texts) == seen
    hf = result.tokenizer
    for text, ids in zip(texts, seen):
        content = hf(text, add_special_tokens=False)["input_ids"]
        assert ids == hand_truncated(content, "head_tail", hf.cls_token_id, hf.sep_token_id)


def test_onnx_parity_on_truncated_texts(trained):
    """The bundle's probabilities equal the PyTorch model's on hand-truncated ids, one text at a time."""
    result, checkpoint, bundle = trained
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(checkpoint).eval()
    hf = result.tokenizer
    texts = [words_text(n, n) + (" superb" if n % 2 else " awful") for n in (MAX_LENGTH, 30, 45, 60)]
    expected = []
    for text in texts:
        ids = hand_truncated(hf(text, add_special_tokens=False)["input_ids"], "head_tail", hf.cls_token_id,
                             hf.sep_token_id)
        assert len(ids) == MAX_LENGTH
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long)).logits
        expected.append(torch.softmax(logits, -1)[0].numpy())
    found = Classifier.load(bundle).predict_proba(texts)
    np.testing.assert_allclose(found, np.stack(expected), rtol=0, atol=1e-5)
    assert np.abs(found[:, 0] - found[0, 0]).max() > 1e-4  # the texts are told apart
