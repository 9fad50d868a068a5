"""The export subcommand: success summary, usage and user errors, one real subprocess run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mobilebert_edge.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_cli_exports_and_summarises(tmp_path: Path, tiny_mobilebert_dir: Path, capsys):
    code = main(["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--max-length", "64"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"wrote {tmp_path / 'b'}, model ") and "(int8; fp32 " in out and "fp32 parity " in out
    assert "quantization accuracy was not measured" in err  # progress and warnings go to stderr
    assert "fp32 ONNX vs PyTorch: max |logit diff|" in err
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["tokenizer"]["max_length"] == 64


def test_cli_user_errors_exit_1(tmp_path: Path, tiny_mobilebert_dir: Path, capsys):
    cases = [
        (["export", str(tmp_path / "nope"), "--out", str(tmp_path / "b")],
         f"error: checkpoint {tmp_path / 'nope'}: no such folder; pass the folder written by 'mobilebert-edge train' or by save_pretrained"),
        (["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--max-length", "100000"],
         f"error: checkpoint {tiny_mobilebert_dir}: max length out of range (expected 3..512, found 100000); pass a smaller --max-length"),
        (["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--tokenizer", str(tmp_path / "t")],
         f"error: tokenizer {tmp_path / 't'}: no such folder; pass a folder with tokenizer.json or vocab.txt"),
        (["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--keep-fp32", "layer.(", "--no-optimize"],
         "error: invalid --keep-fp32 pattern (expected a Python regular expression, found 'layer.(' "
         "(missing ), unterminated subpattern at position 6))"),
        (["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--smooth", "0.5", "--quantization", "dynamic"],
         "error: --smooth needs --quantization static, minmax calibration and an alpha in [0, 1] "
         "(expected e.g. --smooth 0.5, found 0.5 with dynamic, minmax)"),
        (["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--smooth", "1.5"],
         "error: --smooth needs --quantization static, minmax calibration and an alpha in [0, 1] "
         "(expected e.g. --smooth 0.5, found 1.5 with static, minmax)"),
    ]
    for argv, message in cases:
        assert main(argv) == 1
        assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "b").exists()


def test_cli_usage_errors_exit_2(tmp_path: Path, tiny_mobilebert_dir: Path, capsys):
    assert main(["export", str(tiny_mobilebert_dir)]) == 2  # --out is required
    assert main(["export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"), "--precision", "fp16"]) == 2
    assert "invalid choice: 'fp16'" in capsys.readouterr().err


def test_cli_subprocess(tmp_path: Path, tiny_mobilebert_dir: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "mobilebert_edge", "export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b"),
         "--precision", "fp32", "--no-optimize"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {tmp_path / 'b'}")
    assert "Traceback" not in done.stderr
    again = subprocess.run(
        [sys.executable, "-m", "mobilebert_edge", "export", str(tiny_mobilebert_dir), "--out", str(tmp_path / "b")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: output {tmp_path / 'b'} already exists; pass --overwrite to replace it, or choose another --out"
