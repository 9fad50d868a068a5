"""Early stopping and best-epoch restore, uninterrupted and across --resume.

The validation accuracy of each epoch is scripted (the real evaluation runs, its accuracy is
replaced), so the curve peaks at epoch 2 whatever the tiny random model learns; the weights the
loop evaluates at each epoch are captured and compared with the saved checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from test_train_loop import ROWS, tiny_config, weights, write_csv

import mobilebert_edge.train.loop as loop
from mobilebert_edge.train.run import train_run

# validation accuracy per epoch: best at epoch 2, then two worse epochs stop a patience-2 run
CURVE = {1: 0.5, 2: 0.75, 3: 0.25, 4: 0.25, 5: 0.25, 6: 0.25}
EPOCHS, PATIENCE, BEST, STOPPED_AFTER = 6, 2, 2, 4
REAL_EVALUATE = loop.evaluate


class ScriptedValidation:
    """Stands in for ``loop.evaluate``: real loss and F1, the accuracy of ``CURVE``, weights captured."""

    def __init__(self, first_epoch: int = 1, interrupt_at: int | None = None) -> None:
        self.epoch = first_epoch - 1
        self.interrupt_at = interrupt_at
        self.captured: dict[int, dict[str, torch.Tensor]] = {}

    def __call__(self, model, data, **kwargs):
        self.epoch += 1
        if self.epoch == self.interrupt_at:  # the run dies before this epoch is checkpointed
            raise KeyboardInterrupt
        self.captured[self.epoch] = {name: t.detach().clone() for name, t in model.state_dict().items()}
        return {**REAL_EVALUATE(model, data, **kwargs), "val_accuracy": CURVE[self.epoch]}


def assert_weights_of(saved: dict[str, torch.Tensor], captured: dict[str, torch.Tensor]) -> None:
    assert saved and set(saved) <= set(captured)
    different = [name for name in saved if not torch.equal(saved[name], captured[name])]
    assert not different, different[:5]


def history(out: Path) -> list[dict]:
    rows = json.loads((out / "metrics.json").read_text())["history"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.fixture()
def setup(tiny_mobilebert_dir: Path, tmp_path: Path):
    model_dir = Path(shutil.copytree(tiny_mobilebert_dir, tmp_path / "base-model"))
    data = write_csv(tmp_path / "reviews.csv", ROWS * 4)
    config = tiny_config(model_dir, epochs=EPOCHS, patience=PATIENCE, restore_best=True)
    return config, str(data)


def test_stops_early_and_saves_the_best_epoch(setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, data = setup
    scripted = ScriptedValidation()
    monkeypatch.setattr(loop, "evaluate", scripted)
    lines: list[str] = []
    result = train_run(config, data=data, out=tmp_path / "out", log=lines.append)

    assert [row["epoch"] for row in result.history] == list(range(1, STOPPED_AFTER + 1))
    assert [row["val_accuracy"] for row in result.history] == [CURVE[e] for e in range(1, STOPPED_AFTER + 1)]
    assert f"early stopping: no improvement for {PATIENCE} epoch(s)" in lines
    assert f"restored the weights of epoch {BEST}" in lines
    manifest = json.loads((tmp_path / "out" / "mobilebert_edge.json").read_text())
    assert (manifest["best_epoch"], manifest["saved_epoch"], manifest["stopped_early"]) == (BEST, BEST, True)
    assert manifest["metrics"]["val_accuracy"] == CURVE[BEST]

    saved = weights(tmp_path / "out")
    assert_weights_of(saved, scripted.captured[BEST])
    with pytest.raises(AssertionError):  # the last epoch's weights really are different
        assert_weights_of(saved, scripted.captured[STOPPED_AFTER])


def test_without_restore_the_last_epoch_is_saved(setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, data = setup
    scripted = ScriptedValidation()
    monkeypatch.setattr(loop, "evaluate", scripted)
    result = train_run(config.__class__(**{**config.to_dict(), "restore_best": False}), data=data,
                       out=tmp_path / "out", log=lambda _: None)
    assert (result.best_epoch, result.saved_epoch, len(result.history)) == (BEST, STOPPED_AFTER, STOPPED_AFTER)
    assert_weights_of(weights(tmp_path / "out"), scripted.captured[STOPPED_AFTER])


def test_interrupted_after_the_best_epoch_resumes_to_the_same_model(setup, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config, data = setup
    whole = ScriptedValidation()
    monkeypatch.setattr(loop, "evaluate", whole)
    train_run(config, data=data, out=tmp_path / "whole", log=lambda _: None)

    # dies during epoch 4: epoch 3 (after the best one, one bad epoch counted) is the last checkpoint
    monkeypatch.setattr(loop, "evaluate", ScriptedValidation(interrupt_at=4))
    with pytest.raises(KeyboardInterrupt):
        train_run(config, data=data, out=tmp_path / "cut", log=lambda _: None)
    assert not (tmp_path / "cut" / "mobilebert_edge.json").exists()
    assert json.loads((tmp_path / "cut" / ".resume" / "latest.json").read_text()) == {"folder": "epoch-0003"}

    resumed = ScriptedValidation(first_epoch=4)
    monkeypatch.setattr(loop, "evaluate", resumed)
    lines: list[str] = []
    result = train_run(config, data=data, out=tmp_path / "cut", resume=True, log=lines.append)
    assert "resuming after epoch 3 (step 15)" in lines
    assert list(resumed.captured) == [4]  # the bad-epoch count survived: epoch 4 is the last one
    assert (result.best_epoch, result.saved_epoch) == (BEST, BEST)
    assert_weights_of(weights(tmp_path / "cut"), whole.captured[BEST])  # best weights from the checkpoint
    assert history(tmp_path / "cut") == history(tmp_path / "whole")
