"""The shared data files load with no flags (slow: reads ../shared/data), and mobilebert_edge.data.cli stays light."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from mobilebert_edge.data import load_labelled, stratified_split

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_cli_module_imports_only_the_standard_library() -> None:
    code = (
        "import sys, mobilebert_edge.data.cli, mobilebert_edge.data, edge_runtime.encoding\n"
        "heavy = sorted(m for m in ('pandas', 'pyarrow', 'torch', 'transformers') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.slow
def test_tutorial_cp949_csv_loads_with_no_flags(shared_data: Path) -> None:
    messages: list[str] = []
    data = load_labelled(shared_data / "imdb_reviews_sample.csv", log=messages.append)
    assert len(data) == 1000
    assert data.label_names == ["0", "1"]
    assert Counter(data.labels) == {0: 500, 1: 500}
    assert messages[0].endswith("imdb_reviews_sample.csv: not UTF-8, read as cp949 (pass --encoding to choose another)")
    assert "text column 'Text' (inferred), label column 'Sentiment' (inferred)" in messages[1]
    train, val = stratified_split(data, 0.2, seed=42)
    assert (len(train), len(val)) == (800, 200)
    assert Counter(val.labels) == {0: 100, 1: 100}


@pytest.mark.slow
def test_imdb_train_csv_gz_loads(shared_data: Path) -> None:
    data = load_labelled(shared_data / "imdb_train.csv.gz", log=lambda _: None)
    assert len(data) == 25000
    assert Counter(data.labels) == {0: 12500, 1: 12500}
    assert data.rows[-1] == 25000
