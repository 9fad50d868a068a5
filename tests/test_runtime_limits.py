"""Thread and worker counts above 4 per usable core are refused with one line: Classifier and every command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge_runtime import Classifier, limits
from edge_runtime.errors import InputError
from mobilebert_edge.cli import main


@pytest.fixture()
def one_core(monkeypatch):
    """A machine with one usable core: the limit is 4."""
    monkeypatch.setattr(limits, "usable_cores", lambda: 1)
    return 4


def test_the_limit_is_four_per_usable_core():
    assert limits.max_count() == 4 * limits.usable_cores() >= 4


def test_classifier_refuses_threads_above_the_limit(tiny_bundle_fp32, one_core):
    message = "threads above the limit (expected 1..4 (4 x the 1 usable cores), found 5); more threads than cores"
    with pytest.raises(InputError, match=re.escape(message)):
        Classifier.load(tiny_bundle_fp32, threads=5)
    with pytest.raises(InputError, match=re.escape("threads must be a positive integer (expected >= 1, found 0)")):
        Classifier.load(tiny_bundle_fp32, threads=0)
    assert Classifier.load(tiny_bundle_fp32, threads=4).predict("a great film").label  # the limit itself is fine


@pytest.mark.parametrize(("command", "option"), [
    ("predict", "--threads"), ("check", "--threads"), ("score", "--threads"), ("score", "--workers"),
    ("evaluate", "--threads"), ("profile", "--threads"),
])
def test_commands_refuse_counts_above_the_limit_as_a_usage_error(tiny_bundle_fp32, tmp_path, capsys, one_core,
                                                                 command, option):
    data = tmp_path / "texts.csv"
    data.write_text("text,label\na great film,positive\n", encoding="utf-8")
    inputs = {"predict": ["some text"], "check": [], "score": [str(data), "--out", str(tmp_path / "out.csv")],
              "evaluate": [str(data)], "profile": [str(data)]}[command]
    argv = [command, str(tiny_bundle_fp32), *inputs, option, "100000"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected 1..4 (4 x the 1 usable cores), found '100000'" in err
    assert not (tmp_path / "out.csv").exists()


def test_score_file_refuses_workers_above_the_limit(tiny_bundle_fp32, tmp_path, one_core):
    from edge_runtime.scoring import score_file

    data = tmp_path / "texts.csv"
    data.write_text("text\na great film\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape("workers above the limit (expected 1..4 (4 x the 1 usable cores), found 5)")):
        score_file(tiny_bundle_fp32, data, tmp_path / "out.csv", workers=5)
    assert not (tmp_path / "out.csv").exists()
