"""``mobilebert-edge train`` on bad input: one clear line on stderr, exit code 1, no traceback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mobilebert_edge.cli import main
from mobilebert_edge.train.errors import ModelLoadError
from mobilebert_edge.train.model import load_model

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def model_dir(tiny_mobilebert_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_mobilebert_dir, tmp_path / "base-model"))


@pytest.fixture()
def good_csv(tmp_path: Path) -> Path:
    path = tmp_path / "good.csv"
    path.write_text("text,label\n" + "".join(f"review number {i},{'positive' if i % 2 else 'negative'}\n" for i in range(10)))
    return path


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(["train", *argv])
    err = capsys.readouterr().err
    return code, err


def last_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def bad_file(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [
        ("empty.csv", b"", [], "{path}: the file is empty; expected a header line and data rows"),
        ("header.csv", b"text,label\n", [], "{path}: no data rows; only a header was found (text, label)"),
        ("nocol.csv", b"text,label\nfine,positive\n", ["--text-column", "review"],
         "{path}: no text column 'review'; available columns: 'text', 'label'; pass --text-column NAME"),
        ("blank.csv", b"text,label\ngood film,positive\n  ,negative\nbad film,negative\n", [],
         "{path}: 1 bad row (row 2 (line 3): empty text); fix them, or pass --skip-bad-rows to skip them"),
        ("latin.csv", b"text,label\n\xff\xfe\xfa bad,1\nok,0\n", [],
         "{path}: not UTF-8 or cp949 text; pass --encoding with the file's encoding (e.g. --encoding latin-1) "
         "or convert it to UTF-8"),
    ],
)
def test_bad_data_is_one_line_exit_1(capsys, tmp_path: Path, model_dir: Path, name: str, content: bytes,
                                     extra: list[str], message: str) -> None:
    path = bad_file(tmp_path, name, content)
    code, err = run_cli(capsys, "--data", str(path), "--out", str(tmp_path / "out"), "--model", str(model_dir), *extra)
    assert code == 1
    assert last_error(err) == "error: " + message.format(path=path)
    assert not (tmp_path / "out").exists()


def test_missing_path_and_folder(capsys, tmp_path: Path, model_dir: Path) -> None:
    code, err = run_cli(capsys, "--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out"))
    assert code == 1 and last_error(err) == f"error: {tmp_path / 'nope.csv'}: no such file; check the path"
    code, err = run_cli(capsys, "--data", str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 1 and last_error(err) == (
        f"error: {tmp_path}: is a folder, not a data file; pass a file: .csv, .tsv, .jsonl or .parquet "
        "(the text formats also gzip'd, e.g. .csv.gz)")


def test_unknown_label_in_validation_file(capsys, tmp_path: Path, model_dir: Path, good_csv: Path) -> None:
    val = bad_file(tmp_path, "val.csv", b"text,label\nnice,positive\nmeh,neutral\n")
    code, err = run_cli(capsys, "--data", str(good_csv), "--val-data", str(val), "--out", str(tmp_path / "out"),
                        "--model", str(model_dir))
    assert code == 1 and last_error(err) == (
        f"error: {val}: 1 bad row (row 2 (line 3): unknown label 'neutral' (known: negative, positive)); "
        "fix them, or pass --skip-bad-rows to skip them")


def test_unreachable_hub_model_is_one_clear_error(capsys, tmp_path: Path, good_csv: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, err = run_cli(capsys, "--data", str(good_csv), "--out", str(tmp_path / "out"))
    assert code == 1
    line = last_error(err)
    assert line.startswith("error: cannot download model 'google/mobilebert-uncased': the Hugging Face hub is not reachable")
    assert line.endswith("; pass a local Hugging Face model folder with --model PATH, or run once with network access "
                         "(the model is then cached)")


def test_model_path_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=re.escape(f"model folder '{tmp_path / 'missing'}' does not exist")):
        load_model(str(tmp_path / "missing"), ["a", "b"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=re.escape(
            f"model folder '{tmp_path / 'empty'}' is not a Hugging Face model folder "
            "(expected config.json with the weights and tokenizer files, found an empty folder)")):
        load_model(str(tmp_path / "empty"), ["a", "b"])
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(ModelLoadError, match=re.escape(f"model path '{tmp_path / 'file.bin'}' is a file")):
        load_model(str(tmp_path / "file.bin"), ["a", "b"])


def test_attention_dropout_replaces_the_models_own(model_dir: Path) -> None:
    model, _ = load_model(str(model_dir), ["a", "b"])
    assert model.config.attention_probs_dropout_prob == 0.1
    model, _ = load_model(str(model_dir), ["a", "b"], attention_dropout=0.0)
    assert model.config.attention_probs_dropout_prob == 0.0
    dropouts = [module.p for name, module in model.named_modules() if name.endswith("attention.self.dropout")]
    assert dropouts and set(dropouts) == {0.0}


def test_attention_dropout_on_a_model_without_it_is_a_clear_error(model_dir: Path, monkeypatch) -> None:
    from mobilebert_edge.train import model as model_module

    monkeypatch.setattr(model_module, "ATTENTION_DROPOUT_FIELDS", ("attn_dropout_rate",))
    with pytest.raises(ModelLoadError, match=re.escape(
            f"model {str(model_dir)!r} has no attention dropout setting to override "
            "(expected attn_dropout_rate in its config, found MobileBertConfig)")):
        load_model(str(model_dir), ["a", "b"], attention_dropout=0.0)
    model, _ = load_model(str(model_dir), ["a", "b"])  # without the override the model loads
    assert model.config.attention_probs_dropout_prob == 0.1


def test_train_records_the_attention_dropout(capsys, tmp_path: Path, good_csv: Path, model_dir: Path) -> None:
    import json

    code, err = run_cli(capsys, "--data", str(good_csv), "--model", str(model_dir), "--out", str(tmp_path / "run"),
                        "--epochs", "1", "--max-length", "16", "--precision", "fp32", "--attention-dropout", "0")
    assert code == 0, err
    manifest = json.loads((tmp_path / "run" / "mobilebert_edge.json").read_text())
    assert manifest["config"]["attention_dropout"] == 0.0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["attention_probs_dropout_prob"] == 0.0


def test_output_folder_rules(capsys, tmp_path: Path, good_csv: Path) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    code, err = run_cli(capsys, "--data", str(good_csv), "--out", str(busy))
    assert code == 1 and last_error(err) == (
        f"error: output folder '{busy}' is not empty and holds no previous run; "
        "pass an empty or new --out, or --overwrite to write into it anyway")
    code, err = run_cli(capsys, "--data", str(good_csv), "--out", str(tmp_path / "fresh"), "--resume")
    assert code == 1 and last_error(err) == (
        f"error: nothing to resume in '{tmp_path / 'fresh'}' (expected an interrupted run (with .resume/), "
        "found no epoch checkpoint); run without --resume to start training")


def test_bad_flag_values(capsys, tmp_path: Path, good_csv: Path) -> None:
    code, err = run_cli(capsys, "--data", str(good_csv), "--out", str(tmp_path / "o"), "--lr", "5")
    assert code == 1 and last_error(err) == "error: invalid lr (expected a learning rate in (0, 1), e.g. 2e-5, found 5.0)"
    assert main(["train", "--data", str(good_csv), "--out", str(tmp_path / "o"), "--preset", "best"]) == 2


def test_subprocess_trains_and_reports(tmp_path: Path, model_dir: Path, good_csv: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mobilebert_edge", "train", "--data", str(good_csv), "--out", str(tmp_path / "out"),
         "--model", str(model_dir), "--epochs", "1", "--max-length", "16", "--threads", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "checkpoint folder: " + str(tmp_path / "out") in done.stdout
    assert "best epoch 1" in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "mobilebert_edge", "train", "--data", str(tmp_path / "missing.csv"), "--out",
         str(tmp_path / "o2")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing.csv'}: no such file; check the path"]


def test_label_names_name_integer_labels(tmp_path: Path, model_dir: Path, capsys):
    data = tmp_path / "ints.csv"
    data.write_text("Text,Sentiment\n" + "".join(f"review number {i},{i % 2}\n" for i in range(10)))
    out = tmp_path / "run"
    code = main(["train", "--data", str(data), "--out", str(out), "--model", str(model_dir), "--epochs", "1",
                 "--max-length", "16", "--label-names", "negative,positive", "--threads", "1"])
    assert code == 0, capsys.readouterr().err
    import json

    meta = json.loads((out / "mobilebert_edge.json").read_text())
    assert meta["labels"] == ["negative", "positive"]
    assert (meta["text_column"], meta["label_column"]) == ("Text", "Sentiment")
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    validation = [json.loads(line) for line in (out / "validation.jsonl").read_text().splitlines()]
    assert {row["label"] for row in validation} == {"negative", "positive"}
    # the validation report of the saved model, with the checkpoint's label names
    evaluation = json.loads((out / "report" / "report.json").read_text())
    assert evaluation["examples"] == len(validation) and evaluation["labels"] == ["negative", "positive"]
    assert (out / "report" / "report.html").is_file() and (out / "report" / "reliability.png").is_file()
    assert "validation report: " + str(out / "report" / "report.html") in capsys.readouterr().out


def test_label_names_usage_error(tmp_path: Path, good_csv: Path, capsys):
    code = main(["train", "--data", str(good_csv), "--out", str(tmp_path / "o"), "--label-names", "only"])
    assert code == 2
    assert "expected two or more distinct comma-separated names, found 'only'" in capsys.readouterr().err
