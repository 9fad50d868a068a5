"""Progress displays: redrawn on a terminal, sparse in a log file or a pipe (no line per step)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from edge_runtime.scoring import progress as progress_mod
from edge_runtime.scoring.progress import ProgressLine


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def _train(tmp_path: Path, tiny_mobilebert_dir: Path, stderr: _Stream, monkeypatch) -> list[str]:
    """Two epochs of 15 steps each on the tiny model, stderr replaced by ``stderr``; returns the log lines."""
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.run import train_run

    model = shutil.copytree(tiny_mobilebert_dir, tmp_path / "model")
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\n" + "".join(f"review number {i},{'pos' if i % 2 else 'neg'}\n" for i in range(40)))
    config = resolve_config("fast", model=str(model), max_length=16, batch_size=2, epochs=2, precision="fp32",
                            threads=1, warmup_ratio=0.0)
    monkeypatch.setattr("sys.stderr", stderr)
    log: list[str] = []
    train_run(config, data=str(data), out=tmp_path / "run", log=log.append)
    return log


def test_training_in_a_log_file_has_no_step_bars(tmp_path, tiny_mobilebert_dir, monkeypatch):
    stderr = _Stream(tty=False)
    log = _train(tmp_path, tiny_mobilebert_dir, stderr, monkeypatch)
    assert "epoch 1/2" not in stderr.getvalue() and "it/s" not in stderr.getvalue()
    assert [line.split(":")[0] for line in log if line.startswith("epoch ")] == ["epoch 1", "epoch 2"]  # one per epoch


def test_training_on_a_terminal_draws_step_bars(tmp_path, tiny_mobilebert_dir, monkeypatch):
    stderr = _Stream(tty=True)
    _train(tmp_path, tiny_mobilebert_dir, stderr, monkeypatch)
    assert "epoch 1/2" in stderr.getvalue() and "epoch 2/2" in stderr.getvalue()


@pytest.mark.parametrize("tty", [False, True])
def test_export_evaluation_bar_only_on_a_terminal(tty, monkeypatch, tiny_mobilebert_dir):
    from transformers import AutoTokenizer

    from mobilebert_edge.export import evaluate
    from mobilebert_edge.export.encode import Encoder

    class _Session:
        def get_inputs(self):
            return []

        def run(self, _outputs, _feed):
            import numpy as np

            return [np.zeros((1, 2), dtype=np.float32)]

    stderr = _Stream(tty=tty)
    monkeypatch.setattr("sys.stderr", stderr)
    encoder = Encoder(AutoTokenizer.from_pretrained(tiny_mobilebert_dir), 16, "head", None)
    evaluate.logits(_Session(), encoder, ["a film"] * 20, batch_size=1, progress="int8")
    assert ("int8" in stderr.getvalue()) is tty


def _clock(monkeypatch, times: list[float]) -> None:
    ticks = iter(times)
    monkeypatch.setattr(progress_mod.time, "perf_counter", lambda: next(ticks))


def test_progress_line_in_a_log_is_one_line_per_log_interval(monkeypatch):
    stream = _Stream(tty=False)
    _clock(monkeypatch, [100.0] + [100.0 + i / 100 for i in range(1, 2001)] + [131.0])
    bar = ProgressLine(stream=stream, log_every=30.0)
    for i in range(1, 2001):  # 20 s of updates every 10 ms
        bar.update(i * 10, i * 10, i / 4000)
    assert len(stream.getvalue().splitlines()) == 1
    bar.update(30_000, 30_000, 0.75)  # 31 s after the start: the next line
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("scoring: 30,000 rows") and "\r" not in stream.getvalue()


def test_progress_line_on_a_terminal_redraws_in_place(monkeypatch):
    stream = _Stream(tty=True)
    _clock(monkeypatch, [100.0] + [100.0 + i for i in range(1, 11)])
    bar = ProgressLine(stream=stream, every=0.5)
    for i in range(1, 11):
        bar.update(i, i, i / 10)
    bar.close()
    assert stream.getvalue().count("\r") == 10 and stream.getvalue().count("\n") == 1
