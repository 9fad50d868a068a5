"""The int8 quality gate at its default limit: a damaged int8 model is refused, a sound one ships.

The tiny MobileBERT is fine-tuned until it classifies its six reviews perfectly. Then one hidden
unit of each layer's feed-forward network is made an outlier without changing the float model:
ReLU commutes with positive scaling, so scaling the unit's input weights by 1000 and its output
weights by 1/1000 gives the same function. One scale per weight tensor (``--no-per-channel``) is then
set by the outlier and rounds every other weight of that matrix to zero, a realistic way for int8
to ruin a model; one scale per output channel (the default) is unaffected.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from test_train_loop import ROWS, tiny_config, write_csv

from mobilebert_edge.cli import main
from mobilebert_edge.train.run import train_run

OUTLIER = 1000.0


def with_outlier_units(checkpoint: Path, out: Path) -> Path:
    """A copy of ``checkpoint`` whose float function is unchanged but whose weights have outlier channels."""
    from transformers import AutoModelForSequenceClassification

    shutil.copytree(checkpoint, out)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    with torch.no_grad():
        for layer in model.mobilebert.encoder.layer:
            up, down = layer.intermediate.dense, layer.output.dense  # relu between them
            up.weight[0] *= OUTLIER
            up.bias[0] *= OUTLIER
            down.weight[:, 0] /= OUTLIER
    model.save_pretrained(out, safe_serialization=True)
    return out


@pytest.fixture(scope="module")
def checkpoints(tiny_mobilebert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("gate")
    model_dir = Path(shutil.copytree(tiny_mobilebert_dir, root / "base-model"))
    data = write_csv(root / "six.csv", ROWS)
    config = tiny_config(model_dir, epochs=20, batch_size=3, lr=3e-4, restore_best=False)
    result = train_run(config, data=str(data), val_data=str(data), out=root / "fine-tuned", log=lambda _: None)
    assert result.history[-1]["val_accuracy"] == 1.0
    return root / "fine-tuned", with_outlier_units(root / "fine-tuned", root / "outliers"), root


def export(capsys, checkpoint: Path, out: Path, *flags: str) -> tuple[int, str, dict | None]:
    """Export with dynamic int8, where per-channel weight scales absorb the outlier units and per-tensor ones do not.

    (Static int8 is ruined by the outliers' activation ranges at any weight granularity; the gate refuses it too.)
    """
    capsys.readouterr()
    code = main(["export", str(checkpoint), "--out", str(out), "--no-optimize", "--quantization", "dynamic", *flags])
    err = capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text()) if out.exists() else None
    return code, err, manifest


def test_sound_int8_passes_the_default_gate(checkpoints, capsys) -> None:
    fine_tuned, outliers, root = checkpoints
    for checkpoint, name in ((fine_tuned, "per-tensor"), (outliers, "per-channel")):
        flags = ["--no-per-channel"] if name == "per-tensor" else []  # the outliers need per-channel scales
        code, err, manifest = export(capsys, checkpoint, root / f"{checkpoint.name}-{name}", *flags)
        assert code == 0, err
        quant = manifest["report"]["quantization"]
        assert quant["measured"] and quant["texts"] == len(ROWS) and quant["max_accuracy_drop"] == 1.0
        assert quant["fp32_accuracy"] == 100.0 and quant["accuracy_drop_points"] <= 1.0


def test_damaged_int8_is_refused_at_the_default_limit(checkpoints, capsys) -> None:
    _, outliers, root = checkpoints
    out = root / "refused"
    code, err, manifest = export(capsys, outliers, out, "--no-per-channel")
    assert code == 1 and manifest is None and not out.exists()
    line = err.strip().splitlines()[-1]
    match = re.fullmatch(
        re.escape("error: int8 quantization lost ") + r"(\d+\.\d\d)" + re.escape(f" accuracy points on {len(ROWS)} "
        "evaluation texts (100.00% -> ") + r"(\d+\.\d\d)" + re.escape("%) (expected a drop of at most 1 points "
        "(--max-accuracy-drop), found ") + r"(\d+\.\d\d)" + re.escape(f"); no bundle written (the texts int8 got wrong: "
        f"{root / 'refused.refused-int8' / 'report.html'}); export with --precision fp32, another --quantization "
        "or --keep-fp32, or raise --max-accuracy-drop"), line)
    assert match, line
    drop, int8_accuracy, found = (float(g) for g in match.groups())
    assert drop == found == pytest.approx(100.0 - int8_accuracy) and drop >= 30.0  # ruined, not nudged

    # the same model passes once the limit is above the measured drop, and fails just below it
    assert (root / "refused.refused-int8" / "report.html").is_file()
    code, _, manifest = export(capsys, outliers, out, "--no-per-channel", "--max-accuracy-drop", f"{drop + 0.01}")
    assert code == 0 and manifest["report"]["quantization"]["accuracy_drop_points"] == pytest.approx(drop, abs=0.01)
    assert not (root / "refused.refused-int8").exists()  # the refusal's report went with the refusal
    code, _, _ = export(capsys, outliers, root / "refused-again", "--no-per-channel", "--max-accuracy-drop",
                        f"{drop - 0.01}")
    assert code == 1 and not (root / "refused-again").exists()
