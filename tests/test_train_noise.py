"""Student input noise (``--student-mask``): which tokens are masked, that the draw is reproducible, and
that only the students' training batches carry it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from mobilebert_edge.cli import main
from mobilebert_edge.train.errors import ConfigError
from mobilebert_edge.train.noise import TokenMasking
from mobilebert_edge.train.pseudo_labels import SelfTrainConfig
from test_train_loop import ROWS
from test_train_selftrain import flags, write_csv

PAD, CLS, SEP, MASK = 0, 2, 3, 4
MASKING = TokenMasking(share=0.3, mask_id=MASK, special_ids=(PAD, 1, CLS, SEP, MASK))


def batch(rows: int = 64, width: int = 40) -> dict[str, torch.Tensor]:
    """Rows of [CLS] words... [SEP] padding, of varied lengths; word ids 10..99."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 100, (rows, width), generator=generator)
    mask = torch.zeros((rows, width), dtype=torch.long)
    for row in range(rows):
        length = 5 + row % (width - 5)
        ids[row, 0], ids[row, length - 1], ids[row, length:] = CLS, SEP, PAD
        mask[row, :length] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.zeros(rows, dtype=torch.long)}


def test_masks_about_the_share_of_the_words_and_never_specials_or_padding() -> None:
    clean = batch()
    noisy = MASKING.apply(clean, seed=7, step=3)
    changed = noisy["input_ids"] != clean["input_ids"]
    words = clean["attention_mask"].bool() & (clean["input_ids"] >= 10)
    assert bool((noisy["input_ids"][changed] == MASK).all())
    assert not bool((changed & ~words).any())  # [CLS], [SEP] and padding untouched
    assert 0.25 < changed.sum().item() / words.sum().item() < 0.35
    assert torch.equal(noisy["attention_mask"], clean["attention_mask"]) and torch.equal(noisy["labels"], clean["labels"])


def test_the_draw_depends_on_seed_and_step_only() -> None:
    first = MASKING.apply(batch(), seed=7, step=3)["input_ids"]
    assert torch.equal(first, MASKING.apply(batch(), seed=7, step=3)["input_ids"])
    assert not torch.equal(first, MASKING.apply(batch(), seed=7, step=4)["input_ids"])
    assert not torch.equal(first, MASKING.apply(batch(), seed=8, step=3)["input_ids"])


@pytest.mark.parametrize("value", [-0.1, 0.6, True])
def test_student_mask_out_of_range_is_refused(value) -> None:
    with pytest.raises(ConfigError, match=re.escape(
            f"invalid student_mask (expected a share of the tokens in [0, 0.5], e.g. 0.1, found {value!r})")):
        SelfTrainConfig(student_mask=value)


def test_only_the_students_train_on_masked_texts(tiny_mobilebert_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from mobilebert_edge.train import loop

    model_dir = Path(shutil.copytree(tiny_mobilebert_dir, tmp_path / "base-model"))
    files = (write_csv(tmp_path / "labelled.csv", ["review", "sentiment"], ROWS * 4),
             write_csv(tmp_path / "unlabelled.csv", ["text"], [[f"{ROWS[i % 6][0]} number {i}"] for i in range(24)]))
    masked_per_step: list[int] = []
    real_step = loop.train_step

    def counting_step(model, optimizer, batch, **kwargs):
        masked_per_step.append(int((batch["input_ids"] == MASK).sum()))
        return real_step(model, optimizer, batch, **kwargs)

    monkeypatch.setattr(loop, "train_step", counting_step)
    assert main(flags(model_dir, files, "--out", str(tmp_path / "run"), "--pseudo-teachers", "1",
                      "--student-mask", "0.2")) == 0
    teacher_steps = 3 * 5  # 3 epochs of the 20 labelled training texts in batches of 4
    assert sum(masked_per_step[:teacher_steps]) == 0
    student = masked_per_step[teacher_steps:]
    assert len(student) > teacher_steps and sum(count > 0 for count in student) > len(student) // 2
