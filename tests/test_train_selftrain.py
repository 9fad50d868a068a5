"""Self-training (train --unlabeled): pseudo-label selection, recipes, unlabelled files, determinism, resume, export."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mobilebert_edge.cli import main
from mobilebert_edge.data.errors import DataError
from mobilebert_edge.data.unlabelled import load_unlabelled
from mobilebert_edge.train.errors import ConfigError
from mobilebert_edge.train.selftrain.pseudo_labels import Selection, select_pseudo_labels
from mobilebert_edge.train.selftrain.settings import RECIPES, SelfTrainConfig
from test_train_loop import ROWS

REPO = Path(__file__).resolve().parents[1]


def write_csv(path: Path, header: list[str], rows: list) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# -- selection ---------------------------------------------------------------------------------------------

PROBS = np.array([
    [0.95, 0.05],  # 0: negative, confident
    [0.20, 0.80],  # 1: positive
    [0.55, 0.45],  # 2: negative, unsure
    [0.02, 0.98],  # 3: positive, confident
    [0.10, 0.90],  # 4: positive
    [0.85, 0.15],  # 5: negative
    [0.30, 0.70],  # 6: positive
])


def test_equal_numbers_of_the_most_confident_of_each_class() -> None:
    # candidates: negative {0 (.95), 5 (.85), 2 (.55)}, positive {3 (.98), 4 (.90), 1 (.80), 6 (.70)}
    chosen = select_pseudo_labels(PROBS, share=1)
    assert chosen.candidates == [3, 4] and chosen.used == [3, 3]
    assert chosen.indices == [0, 1, 2, 3, 4, 5] and chosen.labels == [0, 1, 0, 1, 1, 0]
    assert chosen.confidences == pytest.approx([0.95, 0.80, 0.55, 0.98, 0.90, 0.85])
    # a class without candidates leaves nothing to balance against
    assert select_pseudo_labels(np.array([[0.9, 0.1], [0.8, 0.2]]), share=1).indices == []


def test_share_keeps_each_class_its_part_of_the_most_confident() -> None:
    # 7 texts, share 0.6: int(4.2) // 2 = 2 per class at most, whatever the probabilities reach
    chosen = select_pseudo_labels(PROBS, share=0.6)
    assert chosen.used == [2, 2] and chosen.indices == [0, 3, 4, 5]
    assert select_pseudo_labels(PROBS).used == [2, 2]  # the default share, 0.8: int(5.6) // 2 = 2
    assert select_pseudo_labels(PROBS, share=0.9).used == [3, 3]  # int(6.3) // 2 = 3


def test_share_does_not_collapse_under_an_underconfident_teacher() -> None:
    # a teacher whose negatives never reach 0.9 still gives both classes the same share
    rng = np.random.default_rng(0)
    negatives = rng.uniform(0.55, 0.91, 500)
    positives = rng.uniform(0.6, 0.999, 500)
    probs = np.concatenate([np.stack([negatives, 1 - negatives], 1), np.stack([1 - positives, positives], 1)])
    chosen = select_pseudo_labels(probs)
    assert chosen.used == [400, 400]
    kept_negatives = negatives[[i for i in chosen.indices if i < 500]]
    assert kept_negatives.min() >= np.sort(negatives)[100]  # the 400 most confident of the 500


def test_ties_are_broken_by_input_order() -> None:
    probs = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 2)
    assert select_pseudo_labels(probs, share=1).indices == [0, 1, 4, 5]


def test_pseudo_label_files_round_trip_any_text(tmp_path: Path) -> None:
    from mobilebert_edge.train.selftrain.pseudo_labels import read_pseudo_labels, write_pseudo_labels

    texts = ["next\x85line", "line\u2028separator", "tab\tand\r\nbreak", "form\x0cfeed", "plain"]
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    chosen = Selection(list(range(5)), [0, 1, 0, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5], [3, 2], [3, 2])
    path = tmp_path / "round-01.jsonl"
    write_pseudo_labels(path, texts, [10, 11, 12, 13, 14], chosen, ["neg", "pos"], probabilities)
    read = read_pseudo_labels(path, ["neg", "pos"])
    assert (read.texts, read.labels, read.rows) == (texts, [0, 1, 0, 1, 0], [10, 11, 12, 13, 14])
    assert read.probabilities == probabilities.tolist()


# -- settings and recipes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("values, message", [
    ({"teachers": 0}, "invalid teachers (expected an integer in 1..10, found 0)"),
    ({"teachers": 2.0}, "invalid teachers (expected an integer in 1..10, found 2.0)"),
    ({"students": 0}, "invalid students (expected an integer in 1..10, found 0)"),
    ({"label_length": 4},
     "invalid label_length (expected an integer in 8..8192, or nothing for the run's max length, found 4)"),
])
def test_settings_are_validated(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        SelfTrainConfig(**values)


def test_recipes_are_the_measured_settings_and_the_flag_offers_them_all() -> None:
    from mobilebert_edge.cli import build_parser

    assert RECIPES["standard"] == SelfTrainConfig(teachers=3, students=1, label_length=None)
    assert RECIPES["best"] == SelfTrainConfig(teachers=3, students=2, label_length=512)
    assert SelfTrainConfig.recipe("best").to_dict() == {"recipe": "best", "teachers": 3, "students": 2,
                                                         "label_length": 512}
    assert SelfTrainConfig(students=3).recipe_name() is None
    with pytest.raises(ConfigError, match=re.escape("unknown self-training recipe (expected standard | best, "
                                                    "found 'fast')")):
        SelfTrainConfig.recipe("fast")
    for name in RECIPES:
        args = build_parser().parse_args(["train", "--data", "d.csv", "--out", "o", "--self-train-recipe", name])
        assert args.self_train_recipe == name


# -- the unlabelled file -----------------------------------------------------------------------------------

def test_unlabelled_file_text_column_inferred_or_given(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u.csv", ["id", "Review", "note"], [[1, "good", "x"], [2, "bad", "y"]])
    lines: list[str] = []
    found = load_unlabelled(path, log=lines.append)
    assert found.texts == ["good", "bad"] and found.rows == [1, 2] and found.text_column == "Review"
    assert f"{path}: text column 'Review' (inferred; override with --unlabeled-text-column)" in lines
    assert load_unlabelled(path, text_column="note", log=lambda _: None).texts == ["x", "y"]
    with pytest.raises(DataError, match=re.escape(f"{path}: no text column 'body'; available columns: "
                                                  "'id', 'Review', 'note'; pass --unlabeled-text-column NAME")):
        load_unlabelled(path, text_column="body", log=lambda _: None)


def test_empty_unlabelled_texts_stop_or_are_skipped_and_counted(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "u.csv", ["text"], [["good"], ["  "], ["bad"], [""]])
    with pytest.raises(DataError, match=re.escape(f"{path}: 2 bad rows (row 2 (line 3): empty text; row 4 (line 5): "
                                                  "empty text); fix them, or pass --skip-bad-rows to skip them")):
        load_unlabelled(path, log=lambda _: None)
    lines: list[str] = []
    found = load_unlabelled(path, skip_bad_rows=True, log=lines.append)
    assert found.texts == ["good", "bad"] and found.rows == [1, 3]
    assert any(line.startswith(f"{path}: skipped 2 bad rows") for line in lines)


# -- training ----------------------------------------------------------------------------------------------

@pytest.fixture()
def model_dir(tiny_mobilebert_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_mobilebert_dir, tmp_path / "base-model"))


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    labelled = write_csv(tmp_path / "labelled.csv", ["review", "sentiment"], ROWS * 4)
    unlabelled = write_csv(tmp_path / "unlabelled.csv", ["text"],
                           [*([f"{ROWS[i % 6][0]} number {i}"] for i in range(24)), [ROWS[0][0]]])  # last: labelled
    return labelled, unlabelled


TINY = dict(max_length=16, batch_size=4, lr=1e-3, epochs=3, patience=0, warmup_ratio=0.0, precision="fp32",
            threads=1, seed=5)


def flags(model_dir: Path, files: tuple[Path, Path], *extra: str) -> list[str]:
    return ["train", "--data", str(files[0]), "--unlabeled", str(files[1]), "--model", str(model_dir),
            "--max-length", "16", "--batch-size", "4", "--lr", "1e-3", "--epochs", "3", "--patience", "0",
            "--warmup-ratio", "0", "--precision", "fp32", "--threads", "1", "--seed", "5", *extra]


def self_train_run(model_dir: Path, files, out: Path, settings: SelfTrainConfig, config: dict | None = None, **kwargs):
    """``train --unlabeled`` through the Python API, for settings no recipe names (fewer teachers: faster)."""
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.run import train_run

    resolved = resolve_config("fast", model=str(model_dir), **{**TINY, **(config or {})})
    kwargs.setdefault("log", lambda _: None)
    return train_run(resolved, data=str(files[0]), out=out, unlabeled=str(files[1]), self_training=settings, **kwargs)


def weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def same_weights(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def history(folder: Path) -> dict:
    metrics = json.loads((folder / "metrics.json").read_text())
    for record in metrics["self_training"]["rounds"]:
        record.pop("seconds")
        for epoch in [record["metrics"], *record["history"]]:
            epoch.pop("seconds", None)
    return metrics["self_training"]


def test_self_trained_checkpoint_records_pseudo_labels_exports_and_checks(model_dir: Path, files, tmp_path: Path,
                                                                         capsys) -> None:
    out = tmp_path / "run"
    assert main(flags(model_dir, files, "--out", str(out))) == 0
    printed = capsys.readouterr()
    manifest = json.loads((out / "mobilebert_edge.json").read_text())
    report = manifest["self_training"]
    assert report["settings"] == {"recipe": "standard", "teachers": 3, "students": 1, "label_length": None}
    assert report["unlabeled"] == {"file": str(files[1]), "rows": 25, "text_column": "text"}
    teacher, student = report["rounds"]
    assert teacher["pseudo_labels"] is None and teacher["training_rows"] == 20
    used = student["pseudo_labels"]["used"]
    pseudo = [json.loads(line) for line in (out / "pseudo_labels" / "round-01.jsonl").read_text().splitlines()]
    assert 9 >= used["negative"] == used["positive"] > 0  # equal balance, at most 0.8 * 24 / 2 each
    assert {name: sum(p["label"] == name for p in pseudo) for name in used} == used
    assert student["training_rows"] == 20 + len(pseudo)
    assert all(p["text"].endswith(f"number {p['row'] - 1}") for p in pseudo)
    assert f"{files[1]}: left out 1 text also in the labelled data" in printed.err  # it may be a validation text
    assert student["pseudo_labels"]["unlabelled"] == 24
    assert (f"pseudo-labels used (the most confident, up to 0.8 of the texts, equal balance): "
            f"negative {used['negative']}, positive {used['positive']}") in printed.err
    assert f"round 1: pseudo-labels used negative {used['negative']}, positive {used['positive']}" in printed.out
    assert json.loads((out / "metrics.json").read_text())["self_training"]["rounds"][1]["pseudo_labels"]["used"] == used
    assert manifest["metrics"] == student["metrics"]
    assert not (out / ".resume").exists()

    bundle = tmp_path / "bundle"
    # fp32: int8 on a tiny random model over 4 validation texts would trip the quantization gate
    assert main(["export", str(out), "--out", str(bundle), "--precision", "fp32"]) == 0
    assert main(["check", str(bundle)]) == 0


# the settings a checkpoint self-trained at revision ce6c88c or before records
RETIRED_SETTINGS = {"threshold": 0.55, "fraction": 0.8, "balance": "equal", "per_class": None, "rounds": 1,
                    "student": "fresh", "teachers": 3, "student_mask": 0.1, "student_finetune": True,
                    "targets": "soft", "student_epochs": 1, "students": 1, "label_length": None}


def test_a_checkpoint_recorded_with_retired_settings_still_exports(model_dir: Path, files, tmp_path: Path) -> None:
    """Checkpoints self-trained before options were retired record them (and a labelled-only pass per
    round): their manifest is read without error and they export and check like any other."""
    out = tmp_path / "old"
    self_train_run(model_dir, files, out, SelfTrainConfig(teachers=1), config={"epochs": 1})
    path = out / "mobilebert_edge.json"
    manifest = json.loads(path.read_text())
    manifest["self_training"]["settings"] = RETIRED_SETTINGS
    manifest["self_training"]["rounds"][1]["before_finetune"] = {"saved_epoch": 1, "metrics": {}, "history": []}
    path.write_text(json.dumps(manifest))
    assert main(["export", str(out), "--out", str(tmp_path / "bundle"), "--precision", "fp32"]) == 0
    assert main(["check", str(tmp_path / "bundle")]) == 0


def test_same_seed_same_student_other_seed_other_student(model_dir: Path, files, tmp_path: Path) -> None:
    import torch

    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        torch.rand(17)  # the global generator is elsewhere before every run
        assert main([*flags(model_dir, files, "--out", str(tmp_path / name), "--epochs", "2"), "--seed", seed]) == 0
    assert same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert history(tmp_path / "a") == history(tmp_path / "b")
    assert not same_weights(weights(tmp_path / "a"), weights(tmp_path / "c"))


def counting(function, calls: list):
    def wrapper(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)
    return wrapper


def test_resume_after_a_kill_after_labelling_does_not_relabel(model_dir: Path, files, tmp_path: Path,
                                                               monkeypatch) -> None:
    from mobilebert_edge.train.selftrain import rounds, teachers

    argv = [*flags(model_dir, files), "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0

    # killed once the teachers are trained and the pseudo-labels of round 1 are written
    env = {**os.environ, rounds.KILL_AFTER_LABELLING_ENV: "1", "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-m", "mobilebert_edge", *argv, "--out", str(tmp_path / "cut")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    finished = json.loads((tmp_path / "cut" / ".resume" / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in finished] == [0]
    assert (tmp_path / "cut" / "pseudo_labels" / "round-01.json").is_file()

    def no_relabelling(*_args, **_kwargs):
        raise AssertionError("a resumed run labelled the unlabelled texts again")

    calls: list = []
    for module in (rounds, teachers):
        monkeypatch.setattr(module, "teacher_probabilities", no_relabelling)
        monkeypatch.setattr(module, "fit", counting(module.fit, calls))
    assert main([*argv, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert len(calls) == 1  # only the student trains again
    assert same_weights(weights(tmp_path / "whole"), weights(tmp_path / "cut"))
    assert history(tmp_path / "whole") == history(tmp_path / "cut")
    for name in ("round-01.jsonl", "round-01.json"):
        assert (tmp_path / "whole" / "pseudo_labels" / name).read_text() == \
            (tmp_path / "cut" / "pseudo_labels" / name).read_text()


def test_resume_refuses_another_recipe(model_dir: Path, files, tmp_path: Path, capsys) -> None:
    from mobilebert_edge.train.selftrain import rounds

    argv = [*flags(model_dir, files, "--out", str(tmp_path / "cut")), "--epochs", "1"]
    env = {**os.environ, rounds.KILL_AFTER_LABELLING_ENV: "1", "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-m", "mobilebert_edge", *argv], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    capsys.readouterr()
    assert main([*argv, "--self-train-recipe", "best", "--resume"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: the settings or data differ from the interrupted run (recipe: 'standard' -> 'best', "
        "students: 1 -> 2, label_length: None -> 512); resume with the same command and flags as the interrupted run")


@pytest.mark.parametrize("flag", [["--self-train-recipe", "best"], ["--unlabeled-text-column", "text"]])
def test_self_training_flags_need_unlabeled(files, tmp_path: Path, capsys, flag: list[str]) -> None:
    assert main(["train", "--data", str(files[0]), "--out", str(tmp_path / "o"), *flag]) == 1
    assert capsys.readouterr().err.strip() == ("error: self-training flags need --unlabeled FILE; "
                                               "pass --unlabeled or drop those flags")
    assert not (tmp_path / "o").exists()


def test_round_zero_is_the_run_without_unlabelled_texts(model_dir: Path, files, tmp_path: Path) -> None:
    """The benchmark scores round 0 as the baseline: it must be exactly the ordinary run."""
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.run import train_run

    teacher = {}

    def keep_teacher(number: int, model, _tokenizer) -> None:
        if number == 0:
            teacher.update({name: tensor.clone() for name, tensor in model.state_dict().items()})

    self_train_run(model_dir, files, tmp_path / "self", SelfTrainConfig(teachers=1), config={"epochs": 2},
                   on_round=keep_teacher)
    config = resolve_config("fast", model=str(model_dir), **{**TINY, "epochs": 2})
    plain = train_run(config, data=str(files[0]), out=tmp_path / "plain", log=lambda _: None)
    assert same_weights(teacher, plain.model.state_dict())


def test_teacher_ensemble_labels_with_the_mean_of_its_teachers(model_dir: Path, files, tmp_path: Path,
                                                               monkeypatch, capsys) -> None:
    """The standard recipe: round 1 selects from the mean of three teachers' probabilities (the round-0
    model, then runs with seeds 5 + 1000 j on the labelled texts); a run killed in the third teacher
    resumes without training the first two again and ends with the same pseudo-labels and student."""
    from mobilebert_edge.train.selftrain import rounds, teachers
    from mobilebert_edge.train.selftrain.pseudo_labels import read_pseudo_labels

    kept: list = []
    labelling = teachers.teacher_probabilities
    for module in (rounds, teachers):
        monkeypatch.setattr(module, "teacher_probabilities", lambda *a, **k: kept.append(labelling(*a, **k)) or kept[-1])
    fits: list = []
    training = teachers.fit

    def recording(model, train, val, config, **k):
        fits.append((config.seed, len(train.labels)))
        return training(model, train, val, config, **k)

    for module in (rounds, teachers):
        monkeypatch.setattr(module, "fit", recording)
    argv = flags(model_dir, files)
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    pseudo = json.loads((tmp_path / "whole" / "pseudo_labels" / "round-01.json").read_text())
    names = ["negative", "positive"]
    read = read_pseudo_labels(tmp_path / "whole" / "pseudo_labels" / "round-01.jsonl", names)
    labels, rows = read.labels, read.rows
    assert fits[:3] == [(5, 20), (1005, 20), (2005, 20)] and fits[3] == (5, 20 + len(labels))
    assert len(kept) == 3 and not np.allclose(kept[0], kept[1]) and not np.allclose(kept[1], kept[2])
    expected = select_pseudo_labels((kept[0] + kept[1] + kept[2]) / 3)
    assert labels == expected.labels and len(rows) == len(expected.indices) > 0
    assert pseudo["used"] == dict(zip(names, expected.used))
    assert [t["seed"] for t in pseudo["teachers"]] == [5, 1005, 2005]
    assert "round 1: the mean of 3 teachers' predictions of 24 unlabelled texts" in capsys.readouterr().err

    def killed_in_third_teacher(model, train, val, config, **k):
        if config.seed == 2005:
            raise KeyboardInterrupt
        return training(model, train, val, config, **k)

    monkeypatch.setattr(teachers, "fit", killed_in_third_teacher)
    assert main([*argv, "--out", str(tmp_path / "cut")]) == 130  # Ctrl-C
    assert (tmp_path / "cut" / ".resume" / "teachers" / "teacher-01.safetensors").is_file()
    fits.clear()
    monkeypatch.setattr(teachers, "fit", recording)
    assert main([*argv, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert [seed for seed, _ in fits] == [2005, 5]
    for name in ("round-01.jsonl", "round-01.json"):
        assert (tmp_path / "whole" / "pseudo_labels" / name).read_text() == \
            (tmp_path / "cut" / "pseudo_labels" / name).read_text()
    assert same_weights(weights(tmp_path / "whole"), weights(tmp_path / "cut"))


def test_teachers_label_at_label_length_and_train_at_max_length(model_dir: Path, files, tmp_path: Path,
                                                                 monkeypatch) -> None:
    """max length 8, label length 16: the teachers train exactly as without it, but their probabilities of
    a text cut at 8 tokens change once they read it whole, and those of a text that fits in 8 tokens do not;
    exported and checked."""
    from transformers import AutoTokenizer

    from mobilebert_edge.train.selftrain import rounds

    seen: dict[str, dict[int, list[float]]] = {}
    writing = rounds.write_round_labels

    def keeping(path, unlabelled, probabilities, names, teachers=None):
        seen[path.parts[-3]] = dict(zip(unlabelled.rows, probabilities.tolist()))
        return writing(path, unlabelled, probabilities, names, teachers)

    monkeypatch.setattr(rounds, "write_round_labels", keeping)
    unlabelled = write_csv(tmp_path / "mixed.csv", ["text"],
                           [[f"{word} {i}"] for i, word in enumerate(["great", "awful"] * 4)]
                           + [[f"{ROWS[i % 6][0]} number {i}"] for i in range(8)])
    mixed = (files[0], unlabelled)
    runs, lines = {"cut": tmp_path / "cut", "whole": tmp_path / "whole"}, []
    self_train_run(model_dir, mixed, runs["cut"], SelfTrainConfig(teachers=2), config={"max_length": 8})
    self_train_run(model_dir, mixed, runs["whole"], SelfTrainConfig(teachers=2, label_length=16),
                   config={"max_length": 8}, log=lines.append)
    assert any(line.startswith("round 1: the mean of 2 teachers' predictions (reading 16 tokens) of 16 unlabelled "
                               "texts") for line in lines)
    assert history(runs["cut"])["rounds"][0] == history(runs["whole"])["rounds"][0]  # the same teacher
    assert sorted(seen["cut"]) == sorted(seen["whole"]) == list(range(1, 17))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    texts = {row: text for row, text in enumerate(
        [f"{word} {i}" for i, word in enumerate(["great", "awful"] * 4)]
        + [f"{ROWS[i % 6][0]} number {i}" for i in range(8)], start=1)}
    fits = {row: len(tokenizer(text)["input_ids"]) <= 8 for row, text in texts.items()}
    assert sum(fits.values()) == 8  # the short texts
    for row, cut in seen["cut"].items():
        if fits[row]:
            assert seen["whole"][row] == pytest.approx(cut, abs=1e-5)
        else:
            assert seen["whole"][row] != pytest.approx(cut, abs=1e-5), texts[row]
    manifest = json.loads((runs["whole"] / "mobilebert_edge.json").read_text())
    assert manifest["max_length"] == 8 and manifest["self_training"]["settings"]["label_length"] == 16
    assert main(["export", str(runs["whole"]), "--out", str(tmp_path / "bundle"), "--precision", "fp32"]) == 0
    assert main(["check", str(tmp_path / "bundle")]) == 0


def test_lengths_beyond_the_model_positions_are_refused(model_dir: Path, files, tmp_path: Path, capsys) -> None:
    assert main([*flags(model_dir, files, "--max-length", "600"), "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: --max-length 600 is longer than the model reads (expected at most 512 tokens (its "
        "max_position_embeddings), found 600); pass --max-length 512 or less")
    with pytest.raises(ConfigError, match=re.escape(
            "the teachers would read 600 tokens of each unlabelled text, more than the model reads (expected at most "
            "512 tokens (its max_position_embeddings), found 600); use --self-train-recipe standard with this model")):
        self_train_run(model_dir, files, tmp_path / "p", SelfTrainConfig(label_length=600))
    assert not (tmp_path / "o").exists() and not (tmp_path / "p").exists()
    self_train_run(model_dir, files, tmp_path / "q", SelfTrainConfig(teachers=1, label_length=512),
                   config={"epochs": 1})  # the most the model reads is allowed
    assert (tmp_path / "q" / "mobilebert_edge.json").is_file()


def test_students_average_into_one_model_of_the_same_size(model_dir: Path, files, tmp_path: Path,
                                                           monkeypatch) -> None:
    """Three students: the first is the ordinary one (same weights as with one), two more start from the same
    weights with other seeds, and the checkpoint holds the mean of the three (every floating-point tensor),
    validated as a model of its own; a run interrupted in the third student resumes without training the
    second again and ends with the same weights; exported and checked."""
    import torch
    from safetensors.torch import load_file

    from mobilebert_edge.train.selftrain import soup

    kept: list = []
    extra = soup.train_extra_student

    def keeping(pool, index):
        path = extra(pool, index)
        kept.append(load_file(str(path)))
        return path

    one, out, lines = tmp_path / "one", tmp_path / "soup", []
    self_train_run(model_dir, files, one, SelfTrainConfig(teachers=1))
    monkeypatch.setattr(soup, "train_extra_student", keeping)
    self_train_run(model_dir, files, out, SelfTrainConfig(teachers=1, students=3), log=lines.append)
    monkeypatch.setattr(soup, "train_extra_student", extra)
    assert "round 1: student 2 of 3 (seed 1005), from the same start" in lines
    assert "round 1: student 3 of 3 (seed 2005), from the same start" in lines
    assert len(kept) == 2 and not same_weights(kept[0], kept[1])
    first, mean = weights(one), weights(out)
    assert not same_weights(first, kept[0])
    for name, tensor in mean.items():
        if tensor.is_floating_point():
            expected = (first[name].double() + kept[0][name].double() + kept[1][name].double()) / 3
            assert torch.allclose(tensor.double(), expected, atol=1e-6), name
        else:
            assert torch.equal(tensor, first[name])
    manifest = json.loads((out / "mobilebert_edge.json").read_text())
    student = manifest["self_training"]["rounds"][1]
    assert [s["seed"] for s in student["students"]] == [5, 1005, 2005]
    assert manifest["metrics"] == student["metrics"] and set(student["metrics"]) >= {"val_accuracy", "val_loss"}
    assert manifest["self_training"]["settings"] == {"recipe": None, "teachers": 1, "students": 3, "label_length": None}
    assert not (out / ".resume").exists()
    assert main(["export", str(out), "--out", str(tmp_path / "bundle"), "--precision", "fp32"]) == 0
    assert main(["check", str(tmp_path / "bundle")]) == 0

    training, seeds = soup.fit, []

    def interrupted_in_third_student(model, train, val, config, **k):
        if config.seed == 2005:
            raise KeyboardInterrupt
        return training(model, train, val, config, **k)

    monkeypatch.setattr(soup, "fit", interrupted_in_third_student)
    with pytest.raises(KeyboardInterrupt):
        self_train_run(model_dir, files, tmp_path / "cut", SelfTrainConfig(teachers=1, students=3))
    assert (tmp_path / "cut" / ".resume" / "students" / "round-01" / "student-01.safetensors").is_file()
    monkeypatch.setattr(soup, "fit", lambda model, train, val, config, **k:
                        seeds.append(config.seed) or training(model, train, val, config, **k))
    self_train_run(model_dir, files, tmp_path / "cut", SelfTrainConfig(teachers=1, students=3), resume=True)
    assert seeds == [2005]
    assert same_weights(weights(out), weights(tmp_path / "cut"))


def test_each_student_is_seen_before_the_mean_of_their_weights(model_dir: Path, files, tmp_path: Path) -> None:
    """``on_student`` (what the benchmark scores each student with) sees the students in order, each with its
    own weights, and the model is then their mean."""
    import torch

    seen: list = []

    def keep_student(number: int, index: int, model, _tokenizer) -> None:
        seen.append((number, index, {name: tensor.clone() for name, tensor in model.state_dict().items()}))

    result = self_train_run(model_dir, files, tmp_path / "soup", SelfTrainConfig(teachers=1, students=2),
                            config={"epochs": 2}, on_student=keep_student)
    assert [(number, index) for number, index, _ in seen] == [(1, 0), (1, 1)]
    first, second = seen[0][2], seen[1][2]
    assert not same_weights(first, second)
    for name, tensor in weights(tmp_path / "soup").items():
        if tensor.is_floating_point():
            assert torch.allclose(tensor.double(), (first[name].double() + second[name].double()) / 2, atol=1e-6), name
    assert same_weights(weights(tmp_path / "soup"), {k: v.contiguous() for k, v in result.model.state_dict().items()})


def test_average_weights_means_the_floats_and_keeps_the_rest() -> None:
    import torch

    from mobilebert_edge.train.selftrain.soup import average_weights

    a = {"w": torch.tensor([1.0, 2.0]), "ids": torch.tensor([0, 1])}
    b = {"w": torch.tensor([3.0, 6.0]), "ids": torch.tensor([0, 1])}
    mean = average_weights([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0])) and mean["w"].dtype == torch.float32
    assert torch.equal(mean["ids"], a["ids"]) and mean["ids"].dtype == torch.int64
    with pytest.raises(ValueError, match="not have the same tensors"):
        average_weights([a, {"w": b["w"]}])
