"""The base runtime on an emulated ARM64 CPU (Cortex-A72, the Raspberry Pi 4's core), against x86.

Needs the environment ``scripts/arm64_env.sh`` builds (skipped, saying so, when it is missing); run
with ``-m arm64``. MiniLM is fine-tuned briefly here (the first 320 tutorial reviews, 128 tokens, one
epoch) and exported int8 and fp32. The device install is a wheel of this project installed with
``--no-deps --target`` beside the aarch64 wheels of onnxruntime, tokenizers and numpy, as on a board.
Emulation costs seconds per review, so the texts are few.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT, TUTORIAL_CSV

pytestmark = pytest.mark.arm64

CACHE = Path(os.environ.get("MBE_ARM64_CACHE") or Path.home() / ".cache" / "mobilebert-edge" / "arm64")
TRAIN_ROWS = 320
COMPARED = slice(900, 916)  # 16 tutorial reviews the model never saw
# Largest |probability difference| allowed between the emulated Cortex-A72 and x86, per precision.
# fp32: the same graph through different kernels (NEON vs AVX-512), float rounding only.
# int8: the float approximations (exp, erf) differ by architecture and a tiny difference can move an
# activation across a quantization step; measured up to 5.4e-3 on a fine-tuned MiniLM's golden texts
# (0.012 on 40 reviews): the bound is the golden tolerance export records for int8 bundles.
BOUND = {"fp32": 1e-4, "int8": 0.02}


def _environment() -> dict[str, str] | None:
    env_file = CACHE / "env.sh"
    if not env_file.is_file():
        return None
    values = {}
    for line in env_file.read_text().splitlines():
        name, _, value = line.partition("=")
        values[name] = shlex.split(value)[0]
    return values


@pytest.fixture(scope="module")
def arm64(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``mobilebert-edge ARGS`` with this project's code on the emulated aarch64 Python."""
    found = _environment()
    if found is None:
        pytest.skip(f"no ARM64 environment in {CACHE}: build it with scripts/arm64_env.sh")
    sysroot, qemu = found["MBE_ARM64_SYSROOT"], found["MBE_ARM64_QEMU"]
    site = [p for p in found["MBE_ARM64_PYTHONPATH"].split(":") if not p.endswith("/project")]
    work = tmp_path_factory.mktemp("arm64-device")
    wheels, project = work / "wheels", work / "project"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                    str(REPO_ROOT)], check=True, capture_output=True, timeout=600)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(project),
                    *map(str, wheels.glob("*.whl"))], check=True, capture_output=True, timeout=600)
    launcher = [qemu, "-cpu", "cortex-a72", "-L", sysroot]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
           "PYTHONPATH": ":".join([str(project), *site]), "PYTHONNOUSERSITE": "1"}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        command = [*launcher, f"{sysroot}/usr/bin/python3.11", "-m", "mobilebert_edge", *args]
        return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=1200, env=env, cwd=work)

    run.launcher = " ".join(shlex.quote(part) for part in launcher)  # type: ignore[attr-defined]
    return run


def _tutorial_rows() -> list[dict[str, str]]:
    with open(TUTORIAL_CSV, encoding="cp949", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def bundles(arm64, tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> dict[str, Path]:
    """A briefly fine-tuned MiniLM exported int8 and fp32."""
    from mobilebert_edge.cli import main
    from mobilebert_edge.export import export_bundle

    work = tmp_path_factory.mktemp("arm64-minilm")
    subset = work / "train.csv"
    with open(subset, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["Text", "Sentiment"])
        writer.writeheader()
        writer.writerows({"Text": r["Text"], "Sentiment": r["Sentiment"]} for r in _tutorial_rows()[:TRAIN_ROWS])
    checkpoint = work / "minilm"
    assert main(["train", "--data", str(subset), "--model", str(minilm_path), "--out", str(checkpoint),
                 "--max-length", "128", "--epochs", "1", "--label-names", "negative,positive", "--seed", "0"]) == 0
    # The int8 quality gate is not under test here (64 validation reviews after one short epoch).
    export_bundle(checkpoint, work / "int8", max_accuracy_drop=100.0, log=lambda _line: None)
    export_bundle(checkpoint, work / "fp32", precision="fp32", log=lambda _line: None)
    return {"int8": work / "int8", "fp32": work / "fp32"}


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_check_passes_on_arm64(arm64, bundles, precision):
    done = arm64("check", str(bundles[precision]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^(\d+) golden examples at batch size 1 and \1, all passed ", done.stdout, re.M), done.stdout


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_predictions_match_x86(arm64, bundles, precision):
    from edge_runtime import Classifier

    texts = [" ".join(r["Text"].split()) for r in _tutorial_rows()[COMPARED]]
    done = arm64("predict", "--json", str(bundles[precision]), stdin="\n".join(texts) + "\n")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    clf = Classifier.load(bundles[precision])
    on_arm = np.array([[r["probabilities"][label] for label in clf.labels] for r in records])
    on_x86 = clf.predict_proba(texts)  # the same batches: predict's defaults
    assert [r["text"] for r in records] == texts
    assert [r["label"] for r in records] == [clf.labels[k] for k in on_x86.argmax(1)]
    worst = float(np.abs(on_arm - on_x86).max())
    print(f"{precision}: max |probability difference| ARM64 vs x86 on {len(texts)} reviews = {worst:.2e}")
    assert worst <= BOUND[precision]


def test_profile_runs_on_arm64(arm64, bundles, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("A warm, funny film.\nDull and far too long.\n", encoding="utf-8")
    done = arm64("profile", str(bundles["int8"]), str(texts), "--json", "--repeat", "2", "--cold-runs", "1",
                 "--scoring-texts", "2", "--threads", "2", "--launcher", arm64.launcher)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["machine"] == "aarch64" and result["precision"] == "int8"
    assert result["cold_start"]["seconds"] > 0 and result["latency"]["ms"]["p50"] > 0
    assert result["scoring"]["texts"] == 2 and result["scoring"]["peak_rss_mib"] > 0
