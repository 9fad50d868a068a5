"""bf16 autocast where the CPU has it, fp32 otherwise: the choice, the fallback and a real bf16 run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mobilebert_edge.train import precision as precision_module
from mobilebert_edge.train.errors import ConfigError
from mobilebert_edge.train.precision import cpu_has_bf16, resolve_precision

ROWS = [("a wonderful film, I loved it", "positive"), ("terrible and dull", "negative")] * 6


@pytest.fixture()
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "reviews.csv"
    path.write_text("review,sentiment\n" + "".join(f'"{text}",{label}\n' for text, label in ROWS), encoding="utf-8")
    return path


@pytest.fixture()
def model_dir(tiny_mobilebert_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_mobilebert_dir, tmp_path / "base-model"))


def without_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: False)


def _cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        pytest.skip("no /proc/cpuinfo to compare the probe with")
    return {flag for line in cpuinfo.read_text().splitlines() if line.startswith("flags")
            for flag in line.split(":", 1)[1].split()}


def test_cpu_probe_agrees_with_the_kernel_flags() -> None:
    flags = _cpu_flags()
    assert cpu_has_bf16() is bool({"avx512_bf16", "amx_bf16"} & flags)


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"), [
    (True, False, True), (False, True, True), (False, False, False), (RuntimeError, True, True),
    (RuntimeError, RuntimeError, False),
])
def test_cpu_probe_asks_avx512_bf16_then_amx(monkeypatch: pytest.MonkeyPatch, avx512_bf16, amx, expected) -> None:
    import torch

    def probe(answer):
        def ask() -> bool:
            if answer is RuntimeError:
                raise RuntimeError("probe missing from this build")
            return answer
        return ask

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", probe(avx512_bf16))
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", probe(amx))
    assert cpu_has_bf16() is expected


def test_auto_picks_bf16_only_where_the_cpu_has_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_bf16", lambda: True)
    assert resolve_precision("auto") == "bf16"
    without_bf16(monkeypatch)
    assert resolve_precision("auto") == "fp32"
    assert resolve_precision("fp32") == "fp32"
    with pytest.raises(ConfigError, match="no native bf16"):
        resolve_precision("bf16")


def train_flags(data: Path, model: Path, out: Path, precision: str) -> list[str]:
    return ["train", "--data", str(data), "--model", str(model), "--out", str(out), "--max-length", "16",
            "--batch-size", "4", "--epochs", "1", "--precision", precision, "--threads", "1", "--lr", "2e-3"]


def test_auto_falls_back_to_fp32_and_records_it(monkeypatch: pytest.MonkeyPatch, small_csv: Path,
                                                model_dir: Path, tmp_path: Path) -> None:
    from mobilebert_edge.cli import main

    without_bf16(monkeypatch)
    assert main(train_flags(small_csv, model_dir, tmp_path / "run", "auto")) == 0
    config = json.loads((tmp_path / "run" / "mobilebert_edge.json").read_text())["config"]
    assert (config["precision"], config["resolved_precision"]) == ("auto", "fp32")


def test_bf16_on_a_cpu_without_it_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch, small_csv: Path,
                                                     model_dir: Path, tmp_path: Path, capsys) -> None:
    from mobilebert_edge.cli import main

    without_bf16(monkeypatch)
    assert main(train_flags(small_csv, model_dir, tmp_path / "run", "bf16")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("error: this CPU has no native bf16 support (expected a CPU with AVX-512 BF16 or AMX, "
                       "found neither); use --precision fp32 or auto")
    assert "Traceback" not in "\n".join(err)
    assert not (tmp_path / "run" / "model.safetensors").exists()


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_training_saves_finite_fp32_weights(small_csv: Path, model_dir: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from mobilebert_edge.cli import main

    assert main(train_flags(small_csv, model_dir, tmp_path / "run", "bf16")) == 0
    config = json.loads((tmp_path / "run" / "mobilebert_edge.json").read_text())["config"]
    assert config["resolved_precision"] == "bf16"
    tensors = load_file(str(tmp_path / "run" / "model.safetensors"))
    before = load_file(str(model_dir / "model.safetensors"))
    assert {tensor.dtype for tensor in tensors.values()} == {torch.float32}
    assert all(torch.isfinite(tensor).all() for tensor in tensors.values())
    changed = [name for name, tensor in before.items() if name in tensors and not torch.equal(tensor, tensors[name])]
    assert changed, "bf16 training left every weight unchanged"
