"""Self-training (train --unlabeled): pseudo-label selection, unlabelled files, determinism, resume, export."""

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
from mobilebert_edge.train.pseudo_labels import SelfTrainConfig, select_pseudo_labels
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
    [0.10, 0.90],  # 4: positive, exactly 0.9
    [0.85, 0.15],  # 5: negative
    [0.30, 0.70],  # 6: positive
])


def test_threshold_keeps_predictions_at_or_above_it() -> None:
    chosen = select_pseudo_labels(PROBS, threshold=0.9, balance="none")
    assert chosen.indices == [0, 3, 4] and chosen.labels == [0, 1, 1]
    assert chosen.candidates == [1, 2] and chosen.used == [1, 2]
    assert chosen.confidences == pytest.approx([0.95, 0.98, 0.90])
    below = select_pseudo_labels(PROBS, threshold=0.91, balance="none")
    assert below.indices == [0, 3]
    assert select_pseudo_labels(PROBS, threshold=0.0, balance="none").indices == list(range(7))


def test_equal_balance_keeps_the_most_confident_of_each_class() -> None:
    chosen = select_pseudo_labels(PROBS, threshold=0.6, balance="equal")
    # candidates: negative {0 (.95), 5 (.85)}, positive {3 (.98), 4 (.90), 1 (.80), 6 (.70)}
    assert chosen.candidates == [2, 4] and chosen.used == [2, 2]
    assert chosen.indices == [0, 3, 4, 5] and chosen.labels == [0, 1, 1, 0]
    # a class without candidates leaves nothing to balance against
    assert select_pseudo_labels(PROBS, threshold=0.96, balance="equal").indices == []


def test_fraction_keeps_each_class_its_share_of_the_most_confident() -> None:
    # 7 texts, fraction 0.6: int(4.2) // 2 = 2 per class at most, whatever the probabilities reach
    chosen = select_pseudo_labels(PROBS, fraction=0.6, balance="none")
    assert chosen.candidates == [3, 4] and chosen.used == [2, 2]
    assert chosen.indices == [0, 3, 4, 5]
    # the threshold still applies first: only 0 reaches 0.9 among the negatives
    assert select_pseudo_labels(PROBS, threshold=0.9, fraction=0.6, balance="none").used == [1, 2]


def test_fraction_does_not_collapse_under_an_underconfident_teacher() -> None:
    # a teacher whose negatives never reach 0.9: a threshold with equal balance keeps almost nothing,
    # the share rule keeps the same share of both classes
    rng = np.random.default_rng(0)
    negatives = rng.uniform(0.55, 0.91, 500)
    positives = rng.uniform(0.6, 0.999, 500)
    probs = np.concatenate([np.stack([negatives, 1 - negatives], 1), np.stack([1 - positives, positives], 1)])
    assert select_pseudo_labels(probs, threshold=0.9, balance="equal").used == [21, 21]
    chosen = select_pseudo_labels(probs, fraction=0.8)
    assert chosen.used == [400, 400]
    kept_negatives = negatives[[i for i in chosen.indices if i < 500]]
    assert kept_negatives.min() >= np.sort(negatives)[100]  # the 400 most confident of the 500


def test_per_class_cap_takes_the_top_k() -> None:
    chosen = select_pseudo_labels(PROBS, threshold=0.6, balance="none", per_class=3)
    assert chosen.used == [2, 3] and chosen.indices == [0, 1, 3, 4, 5]
    capped = select_pseudo_labels(PROBS, threshold=0.6, balance="equal", per_class=1)
    assert capped.used == [1, 1] and capped.indices == [0, 3]


def test_ties_are_broken_by_input_order() -> None:
    probs = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 2)
    assert select_pseudo_labels(probs, threshold=0.5, balance="equal").indices == [0, 1, 4, 5]


def test_pseudo_label_files_round_trip_any_text(tmp_path: Path) -> None:
    from mobilebert_edge.train.pseudo_labels import read_pseudo_labels, write_pseudo_labels

    texts = ["next\x85line", "line\u2028separator", "tab\tand\r\nbreak", "form\x0cfeed", "plain"]
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    chosen = select_pseudo_labels(probabilities, threshold=0.0, balance="none")
    path = tmp_path / "round-01.jsonl"
    write_pseudo_labels(path, texts, [10, 11, 12, 13, 14], chosen, ["neg", "pos"], probabilities)
    read = read_pseudo_labels(path, ["neg", "pos"])
    assert (read.texts, read.labels, read.rows) == (texts, [0, 1, 0, 1, 0], [10, 11, 12, 13, 14])
    assert read.probabilities == probabilities.tolist()


@pytest.mark.parametrize("values, message", [
    ({"threshold": 1.0}, "invalid threshold (expected a probability in [0, 1), e.g. 0.9, found 1.0)"),
    ({"fraction": 0.0}, "invalid fraction (expected a share of the unlabelled texts in (0, 1], e.g. 0.8, found 0.0)"),
    ({"balance": "even"}, "invalid balance (expected equal | none, found 'even')"),
    ({"per_class": 0}, "invalid per_class (expected an integer >= 1, or nothing for no cap, found 0)"),
    ({"rounds": 0}, "invalid rounds (expected an integer in 1..10, found 0)"),
    ({"student": "new"}, "invalid student (expected fresh | continue, found 'new')"),
    ({"teachers": 0}, "invalid teachers (expected an integer in 1..10, found 0)"),
    ({"teachers": 2.0}, "invalid teachers (expected an integer in 1..10, found 2.0)"),
    ({"students": 0}, "invalid students (expected an integer in 1..10, found 0)"),
    ({"student_epochs": 0},
     "invalid student_epochs (expected an integer in 1..100, or nothing for the preset's epochs, found 0)"),
    ({"label_length": 4},
     "invalid label_length (expected an integer in 8..8192, or nothing for the run's max length, found 4)"),
])
def test_settings_are_validated(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        SelfTrainConfig(**values)


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


def flags(model_dir: Path, files: tuple[Path, Path], *extra: str) -> list[str]:
    return ["train", "--data", str(files[0]), "--unlabeled", str(files[1]), "--model", str(model_dir),
            "--max-length", "16", "--batch-size", "4", "--lr", "1e-3", "--epochs", "3", "--patience", "0",
            "--warmup-ratio", "0", "--precision", "fp32", "--threads", "1", "--seed", "5",
            "--pseudo-threshold", "0.55", *extra]


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
        for stage in (record, record.get("before_finetune", {"metrics": {}, "history": []})):
            for epoch in [stage["metrics"], *stage["history"]]:
                epoch.pop("seconds", None)
    return metrics["self_training"]


def test_self_trained_checkpoint_records_pseudo_labels_exports_and_checks(model_dir: Path, files, tmp_path: Path,
                                                                         capsys) -> None:
    out = tmp_path / "run"
    assert main(flags(model_dir, files, "--out", str(out))) == 0
    printed = capsys.readouterr()
    manifest = json.loads((out / "mobilebert_edge.json").read_text())
    report = manifest["self_training"]
    assert report["settings"] == {"threshold": 0.55, "fraction": 0.8, "balance": "equal", "per_class": None,
                                  "rounds": 1, "student": "fresh", "teachers": 3, "student_mask": 0.0,
                                  "student_finetune": False, "targets": "hard", "student_epochs": None,
                                  "students": 1, "label_length": None}
    assert report["unlabeled"] == {"file": str(files[1]), "rows": 25, "text_column": "text"}
    teacher, student = report["rounds"]
    assert teacher["pseudo_labels"] is None and teacher["training_rows"] == 20
    used = student["pseudo_labels"]["used"]
    pseudo = [json.loads(line) for line in (out / "pseudo_labels" / "round-01.jsonl").read_text().splitlines()]
    assert 9 >= used["negative"] == used["positive"] > 0  # equal balance, at most 0.8 * 24 / 2 each
    assert {name: sum(p["label"] == name for p in pseudo) for name in used} == used
    assert student["training_rows"] == 20 + len(pseudo)
    assert all(p["confidence"] >= 0.55 and p["text"].endswith(f"number {p['row'] - 1}") for p in pseudo)
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


def test_same_seed_same_student_other_seed_other_student(model_dir: Path, files, tmp_path: Path) -> None:
    import torch

    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        torch.rand(17)  # the global generator is elsewhere before every run
        assert main([*flags(model_dir, files, "--out", str(tmp_path / name), "--student", "continue"),
                     "--seed", seed]) == 0
    assert same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert history(tmp_path / "a") == history(tmp_path / "b")
    assert not same_weights(weights(tmp_path / "a"), weights(tmp_path / "c"))


def test_resume_after_a_kill_between_rounds_does_not_relabel(model_dir: Path, files, tmp_path: Path,
                                                              monkeypatch) -> None:
    from mobilebert_edge.train import selftrain

    # a continuing student starts from the weights of the round before: the resumed run must restore them
    argv = [*flags(model_dir, files, "--self-train-rounds", "2", "--student", "continue"), "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0

    # killed once round 1 is trained and the pseudo-labels of round 2 are written
    env = {**os.environ, selftrain.KILL_AFTER_LABELLING_ENV: "2", "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-m", "mobilebert_edge", *argv, "--out", str(tmp_path / "cut")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    rounds = json.loads((tmp_path / "cut" / ".resume" / "rounds.json").read_text())["rounds"]
    assert [r["round"] for r in rounds] == [0, 1]
    assert (tmp_path / "cut" / "pseudo_labels" / "round-02.json").is_file()

    def no_relabelling(*_args, **_kwargs):
        raise AssertionError("a resumed run labelled the unlabelled texts again")

    monkeypatch.setattr(selftrain, "teacher_probabilities", no_relabelling)
    calls: list = []
    monkeypatch.setattr(selftrain, "fit", counting(selftrain.fit, calls))
    assert main([*argv, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert len(calls) == 1  # only round 2 trains again
    assert same_weights(weights(tmp_path / "whole"), weights(tmp_path / "cut"))
    assert history(tmp_path / "whole") == history(tmp_path / "cut")
    for name in ("round-01.jsonl", "round-02.jsonl"):
        assert (tmp_path / "whole" / "pseudo_labels" / name).read_text() == \
            (tmp_path / "cut" / "pseudo_labels" / name).read_text()


def counting(function, calls: list):
    def wrapper(*args, **kwargs):
        calls.append(1)
        return function(*args, **kwargs)
    return wrapper


def test_resume_refuses_changed_self_training_settings(model_dir: Path, files, tmp_path: Path, capsys) -> None:
    from mobilebert_edge.train import selftrain

    argv = flags(model_dir, files, "--out", str(tmp_path / "cut"))
    env = {**os.environ, selftrain.KILL_AFTER_LABELLING_ENV: "1", "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, "-m", "mobilebert_edge", *argv], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    capsys.readouterr()
    assert main([*argv, "--pseudo-threshold", "0.7", "--resume"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "error: the settings or data differ from the interrupted run (threshold: 0.55 -> 0.7); "
        "resume with the same command and flags as the interrupted run")


def test_self_training_flags_need_unlabeled(files, tmp_path: Path, capsys) -> None:
    assert main(["train", "--data", str(files[0]), "--out", str(tmp_path / "o"), "--pseudo-threshold", "0.8"]) == 1
    assert capsys.readouterr().err.strip() == ("error: self-training flags need --unlabeled FILE; "
                                               "pass --unlabeled or drop those flags")
    assert not (tmp_path / "o").exists()


def test_round_zero_is_the_run_without_unlabelled_texts(model_dir: Path, files, tmp_path: Path) -> None:
    """The benchmark scores round 0 as the baseline: it must be exactly the ordinary run."""
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.pseudo_labels import SelfTrainConfig
    from mobilebert_edge.train.run import train_run

    config = resolve_config("fast", model=str(model_dir), max_length=16, batch_size=4, lr=1e-3, epochs=2, patience=0,
                            warmup_ratio=0.0, precision="fp32", threads=1, seed=5)
    teacher = {}

    def keep_teacher(number: int, model, _tokenizer) -> None:
        if number == 0:
            teacher.update({name: tensor.clone() for name, tensor in model.state_dict().items()})

    train_run(config, data=str(files[0]), out=tmp_path / "self", unlabeled=str(files[1]),
              self_training=SelfTrainConfig(threshold=0.55), on_round=keep_teacher, log=lambda _: None)
    plain = train_run(config, data=str(files[0]), out=tmp_path / "plain", log=lambda _: None)
    assert same_weights(teacher, plain.model.state_dict())


def test_teacher_ensemble_labels_with_the_mean_of_its_teachers(model_dir: Path, files, tmp_path: Path,
                                                               monkeypatch, capsys) -> None:
    """--pseudo-teachers 3: round 1 selects from the mean of three teachers' probabilities (the round-0
    model, then runs with seeds 5 + 1000 j on the labelled texts); a run killed in the third teacher
    resumes without training the first two again and ends with the same pseudo-labels and student."""
    from mobilebert_edge.train import selftrain
    from mobilebert_edge.train.pseudo_labels import read_pseudo_labels

    kept: list = []
    labelling = selftrain.teacher_probabilities
    monkeypatch.setattr(selftrain, "teacher_probabilities", lambda *a, **k: kept.append(labelling(*a, **k)) or kept[-1])
    fits: list = []
    training = selftrain.fit
    monkeypatch.setattr(selftrain, "fit", lambda model, train, val, config, **k:
                        fits.append((config.seed, len(train.labels))) or training(model, train, val, config, **k))
    argv = flags(model_dir, files, "--pseudo-teachers", "3")
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    pseudo = json.loads((tmp_path / "whole" / "pseudo_labels" / "round-01.json").read_text())
    names = ["negative", "positive"]
    read = read_pseudo_labels(tmp_path / "whole" / "pseudo_labels" / "round-01.jsonl", names)
    labels, rows = read.labels, read.rows
    assert fits[:3] == [(5, 20), (1005, 20), (2005, 20)] and fits[3] == (5, 20 + len(labels))
    assert len(kept) == 3 and not np.allclose(kept[0], kept[1]) and not np.allclose(kept[1], kept[2])
    expected = select_pseudo_labels((kept[0] + kept[1] + kept[2]) / 3, threshold=0.55, fraction=0.8)
    assert labels == expected.labels and len(rows) == len(expected.indices) > 0
    assert pseudo["used"] == dict(zip(names, expected.used))
    assert [t["seed"] for t in pseudo["teachers"]] == [5, 1005, 2005]
    assert "round 1: the mean of 3 teachers' predictions of 24 unlabelled texts" in capsys.readouterr().err

    def killed_in_third_teacher(model, train, val, config, **k):
        if config.seed == 2005:
            raise KeyboardInterrupt
        return training(model, train, val, config, **k)

    monkeypatch.setattr(selftrain, "fit", killed_in_third_teacher)
    assert main([*argv, "--out", str(tmp_path / "cut")]) == 130  # Ctrl-C
    assert (tmp_path / "cut" / ".resume" / "teachers" / "teacher-01.safetensors").is_file()
    fits.clear()
    monkeypatch.setattr(selftrain, "fit", lambda model, train, val, config, **k:
                        fits.append((config.seed, len(train.labels))) or training(model, train, val, config, **k))
    assert main([*argv, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert [seed for seed, _ in fits] == [2005, 5]
    for name in ("round-01.jsonl", "round-01.json"):
        assert (tmp_path / "whole" / "pseudo_labels" / name).read_text() == \
            (tmp_path / "cut" / "pseudo_labels" / name).read_text()
    assert same_weights(weights(tmp_path / "whole"), weights(tmp_path / "cut"))


def test_student_finetune_trains_the_student_on_the_labelled_texts_alone(model_dir: Path, files, tmp_path: Path,
                                                                         capsys) -> None:
    """--student-finetune: the student first learns exactly as without it, then trains on the labelled texts
    alone; both passes are recorded; the result is an ordinary checkpoint."""
    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.pseudo_labels import SelfTrainConfig
    from mobilebert_edge.train.run import train_run

    config = resolve_config("fast", model=str(model_dir), max_length=16, batch_size=4, lr=1e-3, epochs=2, patience=0,
                            warmup_ratio=0.0, precision="fp32", threads=1, seed=5)
    settings = SelfTrainConfig(threshold=0.55, teachers=1)
    before = {}

    def keep(number: int, model, _tokenizer) -> None:
        before[number] = {name: tensor.clone() for name, tensor in model.state_dict().items()}

    plain = train_run(config, data=str(files[0]), out=tmp_path / "plain", unlabeled=str(files[1]),
                      self_training=settings, log=lambda _: None)
    tuned = train_run(config, data=str(files[0]), out=tmp_path / "tuned", unlabeled=str(files[1]),
                      self_training=SelfTrainConfig(threshold=0.55, teachers=1, student_finetune=True),
                      before_finetune=keep, log=lambda _: None)
    assert list(before) == [1]
    assert same_weights(before[1], plain.model.state_dict())
    assert not same_weights(before[1], tuned.model.state_dict())
    student = tuned.self_training["rounds"][1]
    mixed = plain.self_training["rounds"][1]
    assert student["before_finetune"]["history"] == [
        {**epoch, "seconds": student["before_finetune"]["history"][i]["seconds"]} for i, epoch in enumerate(mixed["history"])]
    assert student["training_rows"] > 20
    assert [epoch["steps"] for epoch in student["history"]] == [5, 10]  # 20 labelled texts, batches of 4
    assert student["metrics"] == tuned.metrics
    assert "before_finetune" not in tuned.self_training["rounds"][0]

    out = tmp_path / "cli"
    assert main(flags(model_dir, files, "--out", str(out), "--pseudo-teachers", "1", "--student-finetune")) == 0
    printed = capsys.readouterr()
    assert "round 1: the student trains on the 20 labelled texts alone" in printed.err
    assert re.search(r"round 1: pseudo-labels used .*, validation accuracy \d\.\d{4} after the labelled-only pass "
                     r"\(\d\.\d{4} before\)", printed.out)
    manifest = json.loads((out / "mobilebert_edge.json").read_text())
    assert manifest["self_training"]["settings"]["student_finetune"] is True
    assert not (out / ".resume").exists()
    assert main(["export", str(out), "--out", str(tmp_path / "bundle"), "--precision", "fp32"]) == 0
    assert main(["check", str(tmp_path / "bundle")]) == 0


def test_student_finetune_resumes_inside_the_labelled_only_pass(model_dir: Path, files, tmp_path: Path,
                                                                 monkeypatch) -> None:
    from mobilebert_edge.train import selftrain

    argv = flags(model_dir, files, "--pseudo-teachers", "1", "--student-finetune", "--epochs", "2")
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0

    class Interrupted(Exception):
        pass

    class CutAfterFirstLabelledEpoch(selftrain.EpochCheckpoints):
        def save(self, state, *args) -> None:
            super().save(state, *args)
            if self.root.name == "round-01-labelled" and state.epoch == 1:
                raise Interrupted

    monkeypatch.setattr(selftrain, "EpochCheckpoints", CutAfterFirstLabelledEpoch)
    with pytest.raises(Interrupted):
        main([*argv, "--out", str(tmp_path / "cut")])
    monkeypatch.undo()
    assert (tmp_path / "cut" / ".resume" / "round-01-labelled" / "latest.json").is_file()
    assert main([*argv, "--out", str(tmp_path / "cut"), "--resume"]) == 0
    assert same_weights(weights(tmp_path / "whole"), weights(tmp_path / "cut"))
    assert history(tmp_path / "whole") == history(tmp_path / "cut")


def test_soft_cross_entropy_is_the_usual_loss_for_one_hot_targets() -> None:
    import torch

    from mobilebert_edge.train.loop import soft_cross_entropy

    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    labels = torch.tensor([0, 2])
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    assert torch.allclose(soft_cross_entropy(logits, one_hot), torch.nn.functional.cross_entropy(logits, labels))
    soft = torch.tensor([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    by_hand = -(soft * torch.log(torch.softmax(logits, dim=-1))).sum(dim=-1).mean()
    assert torch.allclose(soft_cross_entropy(logits, soft), by_hand)


def test_soft_targets_train_the_student_on_the_teachers_probabilities(model_dir: Path, files, tmp_path: Path,
                                                                     monkeypatch) -> None:
    """--pseudo-targets soft: the student's training texts carry class probabilities: one-hot for the labelled
    ones, the teachers' (as written to the round's JSONL) for the pseudo-labelled ones; its loss is the
    cross-entropy against them, so it ends elsewhere than the hard-label student; export and check."""
    from mobilebert_edge.train import selftrain
    from mobilebert_edge.train.pseudo_labels import read_pseudo_labels

    seen: list = []
    training = selftrain.fit
    monkeypatch.setattr(selftrain, "fit", lambda model, train, val, config, **k:
                        seen.append(train) or training(model, train, val, config, **k))
    assert main([*flags(model_dir, files, "--pseudo-teachers", "1"), "--out", str(tmp_path / "hard")]) == 0
    assert [data.targets for data in seen] == [None, None]
    seen.clear()
    out = tmp_path / "soft"
    assert main([*flags(model_dir, files, "--pseudo-teachers", "1", "--pseudo-targets", "soft"), "--out", str(out)]) == 0
    teacher, student = seen
    assert teacher.targets is None
    read = read_pseudo_labels(out / "pseudo_labels" / "round-01.jsonl", ["negative", "positive"])
    assert len(student.targets) == 20 + len(read.labels) and len(read.labels) > 0
    assert student.targets[:20] == [[1.0, 0.0] if label == 0 else [0.0, 1.0] for label in student.labels[:20]]
    assert student.targets[20:] == read.probabilities
    assert student.labels[20:] == [int(np.argmax(p)) for p in read.probabilities] == read.labels
    assert any(0.0 < p[0] < 1.0 for p in read.probabilities)
    assert not same_weights(weights(tmp_path / "hard"), weights(out))
    manifest = json.loads((out / "mobilebert_edge.json").read_text())
    assert manifest["self_training"]["settings"]["targets"] == "soft"
    assert main(["export", str(out), "--out", str(tmp_path / "bundle"), "--precision", "fp32"]) == 0
    assert main(["check", str(tmp_path / "bundle")]) == 0


def test_student_epochs_shorten_the_students_schedule_not_the_teachers(model_dir: Path, files, tmp_path: Path,
                                                                       capsys) -> None:
    """--student-epochs 1 with --epochs 3: the teacher trains 3 epochs, the student 1 whose learning rate
    decays to the end of its schedule within it; recorded, refused on a changed resume, exported and checked."""
    out = tmp_path / "short"
    assert main([*flags(model_dir, files, "--pseudo-teachers", "1", "--student-epochs", "1"), "--out", str(out)]) == 0
    assert re.search(r"round 1 \(fresh student\): \d+ training texts, 1 epoch\(s\)\n", capsys.readouterr().err)
    report = history(out)  # metrics.json: the rounds with their epochs
    teacher, student = report["rounds"]
    assert [epoch["epoch"] for epoch in teacher["history"]] == [1, 2, 3]
    assert [epoch["epoch"] for epoch in student["history"]] == [1]
    manifest = json.loads((out / "mobilebert_edge.json").read_text())
    assert manifest["self_training"]["settings"]["student_epochs"] == 1
    assert main([*flags(model_dir, files, "--pseudo-teachers", "1"), "--out", str(tmp_path / "long")]) == 0
    long = history(tmp_path / "long")["rounds"][1]
    assert len(long["history"]) == 3
    steps = student["history"][0]["steps"]
    assert steps == long["history"][0]["steps"] > 0  # the same texts, the same batches
    # linear decay without warmup, the lr of an epoch's last step: about two thirds of the peak when the schedule
    # spans 3 epochs, the schedule's last step when it spans 1
    assert long["history"][0]["lr"] == pytest.approx(1e-3 * (2 * steps + 1) / (3 * steps))
    assert student["history"][0]["lr"] == pytest.approx(1e-3 / steps)
    assert main(["export", str(out), "--out", str(tmp_path / "bundle"), "--precision", "fp32"]) == 0
    assert main(["check", str(tmp_path / "bundle")]) == 0


def test_teachers_label_at_pseudo_max_length_and_train_at_max_length(model_dir: Path, files, tmp_path: Path,
                                                                     capsys) -> None:
    """--max-length 8 --pseudo-max-length 16: the teachers train exactly as without the flag, but their
    probabilities of a text cut at 8 tokens change once they read it whole, and those of a text that fits in 8
    tokens do not; every pseudo-label kept (no threshold, no balance) to compare the same rows; exported and checked."""
    from transformers import AutoTokenizer

    keep_all = ("--pseudo-threshold", "0", "--pseudo-fraction", "1", "--pseudo-balance", "none",
                "--pseudo-teachers", "2", "--max-length", "8")
    unlabelled = write_csv(tmp_path / "mixed.csv", ["text"],
                           [[f"{word} {i}"] for i, word in enumerate(["great", "awful"] * 4)]
                           + [[f"{ROWS[i % 6][0]} number {i}"] for i in range(8)])
    mixed = (files[0], unlabelled)
    runs = {}
    for name, extra in (("cut", ()), ("whole", ("--pseudo-max-length", "16"))):
        runs[name] = tmp_path / name
        assert main([*flags(model_dir, mixed, *keep_all, *extra), "--out", str(runs[name])]) == 0
    assert "round 1: the mean of 2 teachers' predictions (reading 16 tokens) of 16 unlabelled texts" \
        in capsys.readouterr().err
    assert history(runs["cut"])["rounds"][0] == history(runs["whole"])["rounds"][0]  # the same teacher
    pseudo = {name: {p["row"]: p for p in map(json.loads, (out / "pseudo_labels" / "round-01.jsonl").read_text()
                                               .splitlines())} for name, out in runs.items()}
    assert sorted(pseudo["cut"]) == sorted(pseudo["whole"]) == list(range(1, 17))
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    fits = {row: len(tokenizer(p["text"])["input_ids"]) <= 8 for row, p in pseudo["cut"].items()}
    assert sum(fits.values()) == 8  # the short texts
    for row, cut in pseudo["cut"].items():
        whole = pseudo["whole"][row]["probabilities"]
        if fits[row]:
            assert whole == pytest.approx(cut["probabilities"], abs=1e-5)
        else:
            assert whole != pytest.approx(cut["probabilities"], abs=1e-5), cut["text"]
    manifest = json.loads((runs["whole"] / "mobilebert_edge.json").read_text())
    assert manifest["max_length"] == 8 and manifest["self_training"]["settings"]["label_length"] == 16
    assert main(["export", str(runs["whole"]), "--out", str(tmp_path / "bundle"), "--precision", "fp32"]) == 0
    assert main(["check", str(tmp_path / "bundle")]) == 0


@pytest.mark.parametrize("flag", ["--max-length", "--pseudo-max-length"])
def test_lengths_beyond_the_model_positions_are_refused(model_dir: Path, files, tmp_path: Path, capsys,
                                                        flag: str) -> None:
    assert main([*flags(model_dir, files, flag, "600"), "--out", str(tmp_path / "o")]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {flag} 600 is longer than the model reads (expected at most 512 tokens (its "
        f"max_position_embeddings), found 600); pass {flag} 512 or less")
    assert not (tmp_path / "o").exists()


def test_students_average_into_one_model_of_the_same_size(model_dir: Path, files, tmp_path: Path, capsys,
                                                           monkeypatch) -> None:
    """--students 3: the round's first student is the ordinary one (same weights as without the flag), two
    more start from the same weights with other seeds, and the checkpoint holds the mean of the three (every
    floating-point tensor), validated as a model of its own; a run killed in the third student resumes
    without training the second again and ends with the same weights; exported and checked."""
    import torch
    from safetensors.torch import load_file

    from mobilebert_edge.train import soup

    kept: list = []
    extra = soup.train_extra_student

    def keeping(pool, index):
        path = extra(pool, index)
        kept.append(load_file(str(path)))
        return path

    one = tmp_path / "one"
    assert main([*flags(model_dir, files, "--pseudo-teachers", "1"), "--out", str(one)]) == 0
    out = tmp_path / "soup"
    soup.train_extra_student = keeping
    try:
        assert main([*flags(model_dir, files, "--pseudo-teachers", "1", "--students", "3"), "--out", str(out)]) == 0
    finally:
        soup.train_extra_student = extra
    printed = capsys.readouterr().err
    assert "round 1: student 2 of 3 (seed 1005), from the same start" in printed
    assert "round 1: student 3 of 3 (seed 2005), from the same start" in printed
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
    assert manifest["self_training"]["settings"]["students"] == 3
    assert not (out / ".resume").exists()
    assert main(["export", str(out), "--out", str(tmp_path / "bundle"), "--precision", "fp32"]) == 0
    assert main(["check", str(tmp_path / "bundle")]) == 0

    training, seeds = soup.fit, []

    def killed_in_third_student(model, train, val, config, **k):
        if config.seed == 2005:
            raise KeyboardInterrupt
        return training(model, train, val, config, **k)

    argv = [*flags(model_dir, files, "--pseudo-teachers", "1", "--students", "3"), "--out", str(tmp_path / "cut")]
    monkeypatch.setattr(soup, "fit", killed_in_third_student)
    assert main(argv) == 130  # Ctrl-C
    assert (tmp_path / "cut" / ".resume" / "students" / "round-01" / "student-01.safetensors").is_file()
    monkeypatch.setattr(soup, "fit", lambda model, train, val, config, **k:
                        seeds.append(config.seed) or training(model, train, val, config, **k))
    assert main([*argv, "--resume"]) == 0
    assert seeds == [2005]
    assert same_weights(weights(out), weights(tmp_path / "cut"))


def test_each_student_is_seen_before_the_mean_of_their_weights(model_dir: Path, files, tmp_path: Path) -> None:
    """``on_student`` (what the benchmark scores each student with) sees the round's students in order, each
    with its own weights, and the round's model is then their mean."""
    import torch

    from mobilebert_edge.train.config import resolve_config
    from mobilebert_edge.train.pseudo_labels import SelfTrainConfig
    from mobilebert_edge.train.run import train_run

    config = resolve_config("fast", model=str(model_dir), max_length=16, batch_size=4, lr=1e-3, epochs=2, patience=0,
                            warmup_ratio=0.0, precision="fp32", threads=1, seed=5)
    seen: list = []

    def keep_student(number: int, index: int, model, _tokenizer) -> None:
        seen.append((number, index, {name: tensor.clone() for name, tensor in model.state_dict().items()}))

    result = train_run(config, data=str(files[0]), out=tmp_path / "soup", unlabeled=str(files[1]),
                       self_training=SelfTrainConfig(threshold=0.55, teachers=1, students=2), on_student=keep_student,
                       log=lambda _: None)
    assert [(number, index) for number, index, _ in seen] == [(1, 0), (1, 1)]
    first, second = seen[0][2], seen[1][2]
    assert not same_weights(first, second)
    for name, tensor in weights(tmp_path / "soup").items():
        if tensor.is_floating_point():
            assert torch.allclose(tensor.double(), (first[name].double() + second[name].double()) / 2, atol=1e-6), name
    assert same_weights(weights(tmp_path / "soup"), {k: v.contiguous() for k, v in result.model.state_dict().items()})


def test_students_and_a_labelled_only_pass_are_refused_together() -> None:
    with pytest.raises(ConfigError, match="students > 1 and student_finetune cannot be combined"):
        SelfTrainConfig(students=2, student_finetune=True)


def test_average_weights_means_the_floats_and_keeps_the_rest() -> None:
    import torch

    from mobilebert_edge.train.soup import average_weights

    a = {"w": torch.tensor([1.0, 2.0]), "ids": torch.tensor([0, 1])}
    b = {"w": torch.tensor([3.0, 6.0]), "ids": torch.tensor([0, 1])}
    mean = average_weights([a, b])
    assert torch.equal(mean["w"], torch.tensor([2.0, 4.0])) and mean["w"].dtype == torch.float32
    assert torch.equal(mean["ids"], a["ids"]) and mean["ids"].dtype == torch.int64
    with pytest.raises(ValueError, match="not have the same tensors"):
        average_weights([a, {"w": b["w"]}])
