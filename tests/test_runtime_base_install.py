"""The runtime works from the base install alone: a fresh venv with ``pip install .`` and nothing else.

Slow: it builds a virtual environment and installs onnxruntime, tokenizers and numpy from the index.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest


REPO_ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("torch", "transformers", "pandas", "optimum")


@pytest.mark.slow
def test_predict_and_check_in_a_base_only_venv(tmp_path: Path, tiny_bundle: Path):
    env_dir = tmp_path / "device-venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(REPO_ROOT)],
        capture_output=True, text=True, timeout=900,
    )
    assert install.returncode == 0, install.stderr[-2000:]

    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format", "json"], capture_output=True, text=True, check=True
    )
    names = {row["name"].lower() for row in json.loads(listed.stdout)}
    assert not names & set(FORBIDDEN), f"base install pulled in {sorted(names & set(FORBIDDEN))}"

    cli = env_dir / "bin" / "mobilebert-edge"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    predicted = subprocess.run(
        [str(cli), "predict", "--json", str(tiny_bundle), "a wonderful film", "a dreadful film"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert len(rows) == 2 and all(set(row["probabilities"]) == {"negative", "positive"} for row in rows)

    checked = subprocess.run(
        [str(cli), "check", str(tiny_bundle)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    labelled = tmp_path / "test.csv"
    labelled.write_text("text,label\na wonderful film,positive\na dreadful film,negative\nfine,positive\n")
    evaluated = subprocess.run(
        [str(cli), "evaluate", str(tiny_bundle), str(labelled), "--report", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.startswith("3 examples: accuracy ")
    assert "note: the report's pictures need matplotlib: pip install 'mobilebert-edge[report]'" in evaluated.stderr
    assert (tmp_path / "report" / "report.html").is_file()

    untrained = subprocess.run(
        [str(cli), "train", "--data", "x.csv", "--out", "run"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert untrained.returncode == 1
    assert "pip install 'mobilebert-edge[train]'" in untrained.stderr
    assert "Traceback" not in untrained.stderr
    assert sys.executable not in untrained.stderr
