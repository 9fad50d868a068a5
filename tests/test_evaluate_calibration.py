"""evaluate: calibration before and after the bundle's calibration (temperature and confidence map), coverage/accuracy,
--target-accuracy."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.classifier import Classifier, probabilities, softmax
from edge_runtime.confidence import unsure
from edge_runtime.evaluation.coverage import Coverage
from edge_runtime.evaluation.metrics import calibration_sums, expected_calibration_error
from edge_runtime.evaluation.run import evaluate_file
from mobilebert_edge.cli import main
from mobilebert_edge.export import export_bundle
from mobilebert_edge.export.temperature import MIN_MAP_TEXTS
from tests.test_export_temperature import labelled_file, relabelled


def test_coverage_counts_exactly_the_accepted_texts():
    rng = np.random.default_rng(0)
    confidence = np.concatenate([rng.uniform(0.5, 1.0, 500), [0.7, 0.9, 1.0]])
    right = rng.random(len(confidence)) < confidence
    coverage = Coverage()
    coverage.add(confidence[:200], right[:200])
    coverage.add(confidence[200:], right[200:])
    for threshold in (0.5, 0.7, 0.9, 0.95, 0.999):
        kept = ~unsure(confidence, threshold)
        found = coverage.at(threshold)
        assert found["accepted"] == kept.sum() and found["coverage"] == kept.mean()
        assert found["accuracy"] == pytest.approx(right[kept].mean())


def test_lowest_threshold_reaching_a_target_and_none():
    confidence = np.array([0.55, 0.6, 0.65, 0.8, 0.9, 0.95])
    right = np.array([False, True, False, True, True, True])
    coverage = Coverage()
    coverage.add(confidence, right)
    found = coverage.lowest_threshold(0.85)
    assert found["reached"] and found["threshold"] == 0.651  # from 0.651 up: 0.8, 0.9, 0.95, all right
    assert found["accepted"] == 3 and found["accuracy"] == 1.0
    assert coverage.lowest_threshold(0.8)["threshold"] == 0.551  # 0.6 and up: 4 of 5 right
    assert coverage.lowest_threshold(0.66)["threshold"] == 0.0  # all: 4 of 6
    assert coverage.lowest_threshold(0.67)["threshold"] == 0.551
    none = Coverage()
    none.add(confidence, np.zeros(6, dtype=bool))
    assert not none.lowest_threshold(0.5)["reached"]


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory: pytest.TempPathFactory, tiny_mobilebert_dir: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("evaluate-calibration")
    data = labelled_file(root / "eval.csv", n=MIN_MAP_TEXTS + 50, seed=4)
    export_bundle(tiny_mobilebert_dir, root / "plain", precision="fp32", eval_data=data, calibrate_probabilities=False,
                  log=lambda _: None)
    relabelled(data, root / "plain", seed=4)
    export_bundle(tiny_mobilebert_dir, root / "bundle", precision="fp32", eval_data=data, log=lambda _: None)
    return root / "bundle", data


def test_evaluate_reports_calibration_before_and_after(calibrated):
    bundle, data = calibrated
    clf = Classifier.load(bundle)
    texts = [row["text"] for row in csv.DictReader(data.open())]
    gold = np.array([clf.labels.index(row["label"]) for row in csv.DictReader(data.open())])
    raw = softmax(clf.predict_logits(texts))
    result = evaluate_file(bundle, data, log=lambda _: None, target_accuracy=0.55)
    before, after = result["calibration_before"], result["calibration"]
    assert before["temperature"] == clf.calibration.temperature != 1.0 and clf.calibration.confidence_map
    assert before["calibration"].endswith("-point confidence map")
    right = raw.argmax(1) == gold
    calibrated = probabilities(clf.predict_logits(texts), clf.calibration)  # "after" is temperature and map
    assert after["ece"] == pytest.approx(expected_calibration_error(calibration_sums(calibrated.max(1), right)))
    assert before["ece"] == pytest.approx(expected_calibration_error(calibration_sums(raw.max(1), right)))
    assert after["ece"] < before["ece"] and after["nll"] < before["nll"]
    assert result["accuracy"] == pytest.approx(right.mean())  # labels unchanged
    assert result["target"]["target"] == 0.55


def test_a_bundle_without_temperature_has_no_before(tiny_bundle_fp32, tmp_path):
    data = labelled_file(tmp_path / "eval.csv", n=20)
    assert "calibration_before" not in evaluate_file(tiny_bundle_fp32, data, log=lambda _: None)


def test_evaluate_cli_prints_both_and_the_coverage_table(calibrated, tmp_path, capsys):
    bundle, data = calibrated
    assert main(["evaluate", str(bundle), str(data), "--target-accuracy", "0.5", "--no-progress",
                 "--report", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert "calibration with the bundle's temperature " in out and "-point confidence map: ECE" in out and "without it (softmax of the logits): ECE" in out
    assert "min confidence  accepted  coverage  accuracy" in out
    n = MIN_MAP_TEXTS + 50
    assert f"target accuracy 50.00%: --min-confidence 0.000 keeps {n} of {n} texts (100.00%)" in out
    assert (tmp_path / "report" / "coverage.png").stat().st_size > 1000
    assert "Coverage and accuracy" in (tmp_path / "report" / "report.html").read_text()


def test_evaluate_cli_says_when_no_threshold_reaches_the_target(calibrated, capsys):
    bundle, data = calibrated
    assert main(["evaluate", str(bundle), str(data), "--target-accuracy", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "target accuracy 100.00%: no minimum confidence reaches it on this file" in out or \
        "target accuracy 100.00%: --min-confidence" in out


@pytest.mark.parametrize("value", ["0", "1.01", "-0.5", "nan", "most"])
def test_target_accuracy_outside_0_1_is_a_usage_error(calibrated, capsys, value):
    bundle, data = calibrated
    assert main(["evaluate", str(bundle), str(data), f"--target-accuracy={value}"]) == 2
    assert f"error: argument --target-accuracy: expected an accuracy in (0, 1], found {value!r}" in capsys.readouterr().err
