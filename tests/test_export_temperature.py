"""Calibration at export: the temperature and the confidence map, their guards, and the calibrated bundle
(labels unchanged, golden texts, old bundles)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.bundle import write_manifest
from edge_runtime.classifier import Classifier, probabilities, softmax
from edge_runtime.confidence import Calibration, calibration_of
from edge_runtime.errors import BundleError
from mobilebert_edge.cli import main
from mobilebert_edge.export import export_bundle
from mobilebert_edge.export.temperature import (
    MIN_MAP_TEXTS, MIN_TEXTS, calibrate, fit_confidence_map, fit_temperature, nll, scores,
)
from tests.conftest import COMMON_WORDS, TINY_LABELS


def overconfident(n: int, temperature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose labels are drawn from softmax(z), given as z * temperature (too sure by that factor)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, size=(n, 2))
    gold = (rng.random(n) < softmax(z)[:, 1]).astype(int)
    return z * temperature, gold


@pytest.mark.parametrize("known", [0.5, 1.0, 3.0])
def test_fit_recovers_a_known_temperature(known: float):
    logits, gold = overconfident(20_000, known)
    assert fit_temperature(logits, gold) == pytest.approx(known, rel=0.06)


def test_fit_minimises_the_nll():
    logits, gold = overconfident(2_000, 2.5, seed=1)
    t = fit_temperature(logits, gold)
    assert nll(logits, gold, t) < nll(logits, gold, 1.0)
    assert nll(logits, gold, t) <= min(nll(logits, gold, t * 0.98), nll(logits, gold, t * 1.02))


def test_calibrate_lowers_ece_on_the_fitting_texts_and_reports_its_uncertainty():
    logits, gold = overconfident(200, 3.0, seed=2)
    entry = calibrate(logits, gold, source="validation.jsonl")
    assert entry["fitted"] and entry["method"] == "temperature" and entry["texts"] == 200
    assert entry["source"] == "validation.jsonl"
    assert entry["after"]["ece"] <= entry["before"]["ece"]
    assert entry["after"]["nll"] < entry["before"]["nll"] and entry["after"]["brier"] < entry["before"]["brier"]
    low, high = entry["temperature_interval_90"]
    assert low < entry["temperature"] < high
    assert [h["fit_texts"] + h["judged_texts"] for h in entry["halves"]] == [200, 200]
    assert entry["after_temperature"] == scores(logits, gold, Calibration(entry["temperature"]))
    assert entry["after"] == scores(logits, gold, calibration_of({"calibration": entry}))


def test_too_few_texts_keep_t_1_and_say_so():
    logits, gold = overconfident(MIN_TEXTS - 1, 3.0)
    entry = calibrate(logits, gold, source="tiny.csv")
    assert entry["temperature"] == 1.0 and not entry["fitted"]
    assert entry["note"] == f"not fitted: {MIN_TEXTS - 1} labelled texts, at least {MIN_TEXTS} needed"
    assert calibrate(*overconfident(MIN_TEXTS, 3.0), source="x")["fitted"]  # the other side of the limit


def test_a_fit_that_cannot_lower_the_nll_keeps_t_1():
    logits = np.zeros((100, 2))  # every temperature gives the same probabilities
    entry = calibrate(logits, np.arange(100) % 2, source="flat.csv")
    assert entry["temperature"] == 1.0 and not entry["fitted"] and "confidence_map" not in entry
    assert entry["note"].startswith("T = 1: T = ") and entry["note"].endswith(
        f"does not lower the NLL on the fitting texts; no confidence map: 100 labelled texts, at least {MIN_MAP_TEXTS} needed")


def labelled_file(path: Path, n: int = 120, seed: int = 0) -> Path:
    """Short reviews made of the tiny vocabulary, with random labels."""
    rng = np.random.default_rng(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(n):
            words = rng.choice(COMMON_WORDS, size=int(rng.integers(3, 30)))
            writer.writerow([" ".join(words), TINY_LABELS[int(rng.integers(0, 2))]])
    return path


def relabelled(path: Path, bundle: Path, seed: int = 0) -> Path:
    """``path`` with labels the ``bundle`` gets right with a step curve: always on its more confident half of the
    texts, half the time on the rest (a shape no single temperature fits, so the confidence map has work)."""
    rows = list(csv.DictReader(path.open()))
    clf = Classifier.load(bundle)
    probs = clf.predict_proba([row["text"] for row in rows])
    sure = probs.max(1) >= np.median(probs.max(1))
    coin = np.random.default_rng(seed).random(len(rows)) < 0.5
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for row, best, right in zip(rows, probs.argmax(1), sure | coin):
            writer.writerow([row["text"], clf.labels[best if right else 1 - best]])
    return path


@pytest.fixture(scope="module")
def calibrated_pair(tmp_path_factory: pytest.TempPathFactory, tiny_mobilebert_dir: Path) -> tuple[Path, Path, Path]:
    """The same tiny checkpoint exported (fp32) with and without calibration, and the labelled file (enough texts
    for a confidence map, labelled so that one helps)."""
    root = tmp_path_factory.mktemp("temperature")
    data = labelled_file(root / "eval.csv", n=MIN_MAP_TEXTS + 40)
    on, off = root / "calibrated", root / "plain"
    export_bundle(tiny_mobilebert_dir, off, precision="fp32", eval_data=data, calibrate_probabilities=False,
                  log=lambda _: None)
    relabelled(data, off)
    export_bundle(tiny_mobilebert_dir, on, precision="fp32", eval_data=data, log=lambda _: None)
    return on, off, data


def test_export_stores_the_fit_and_labels_never_change(calibrated_pair):
    on, off, data = calibrated_pair
    entry = json.loads((on / "manifest.json").read_text())["calibration"]
    assert entry["fitted"] and entry["source"] == "eval.csv" and entry["texts"] == MIN_MAP_TEXTS + 40
    assert entry["temperature"] != 1.0 and len(entry["confidence_map"]["from"]) >= 2
    assert json.loads((off / "manifest.json").read_text())["calibration"] is None
    report = json.loads((on / "report" / "report.json").read_text())  # the export's evaluation, with and without T
    assert report["calibration_before"]["temperature"] == entry["temperature"]
    assert report["calibration"]["ece"] == pytest.approx(entry["after"]["ece"], abs=1e-6)
    assert report["calibration_before"]["ece"] == pytest.approx(entry["before"]["ece"], abs=1e-6)
    assert "calibration_before" not in json.loads((off / "report" / "report.json").read_text())
    texts = [row["text"] for row in csv.DictReader(data.open())] + ["A wonderful film.", "meh"]
    calibrated, plain = Classifier.load(on), Classifier.load(off)
    assert calibrated.calibration == calibration_of({"calibration": entry}) and plain.calibration == Calibration()
    p_on, p_off = calibrated.predict_proba(texts), plain.predict_proba(texts)
    assert (p_on.argmax(1) == p_off.argmax(1)).all()  # every text
    assert not np.allclose(p_on, p_off)
    logits = calibrated.predict_logits(texts)
    np.testing.assert_allclose(p_on, probabilities(logits, calibrated.calibration), atol=1e-12)
    assert not np.allclose(p_on, softmax(logits / entry["temperature"]))  # the map is applied
    np.testing.assert_allclose(p_off, softmax(logits), atol=1e-6)


def test_golden_probabilities_are_the_calibrated_ones(calibrated_pair, capsys):
    on, off, _ = calibrated_pair
    manifest = json.loads((on / "manifest.json").read_text())
    examples = manifest["golden"]["examples"]
    found = Classifier.load(on).predict_proba([e["text"] for e in examples])
    for example, row in zip(examples, found):
        want = example["probabilities"]
        want = [want[label] for label in manifest["labels"]] if isinstance(want, dict) else want
        np.testing.assert_allclose(row, want, atol=1e-6)
    assert main(["check", str(on)]) == 0
    assert "all passed" in capsys.readouterr().out


def test_a_bundle_made_before_calibration_loads_with_t_1(calibrated_pair, tmp_path: Path):
    on, _, _ = calibrated_pair
    old = tmp_path / "old"
    old.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (old / name).write_bytes((on / name).read_bytes())
    manifest = json.loads((on / "manifest.json").read_text())
    for key in ("calibration", "files", "manifest_sha256", "golden"):
        manifest.pop(key)
    write_manifest(old, manifest)
    clf = Classifier.load(old)
    assert clf.calibration == Calibration()
    texts = ["A wonderful film.", "meh", "the plot was dull"]
    np.testing.assert_allclose(clf.predict_proba(texts), softmax(clf.predict_logits(texts)), atol=1e-12)


def test_a_bundle_with_a_temperature_only_loads(calibrated_pair, tmp_path: Path):
    on, _, _ = calibrated_pair
    only_t = tmp_path / "only-t"
    only_t.mkdir()
    for name in ("model.onnx", "tokenizer.json"):
        (only_t / name).write_bytes((on / name).read_bytes())
    manifest = json.loads((on / "manifest.json").read_text())
    manifest["calibration"] = {"method": "temperature", "temperature": 2.0}
    for key in ("files", "manifest_sha256", "golden"):
        manifest.pop(key)
    write_manifest(only_t, manifest)
    clf = Classifier.load(only_t)
    texts = ["A wonderful film.", "meh", "the plot was dull"]
    np.testing.assert_allclose(clf.predict_proba(texts), softmax(clf.predict_logits(texts) / 2.0), atol=1e-12)


def test_a_malformed_temperature_is_refused(calibrated_pair):
    on, _, _ = calibrated_pair
    manifest = json.loads((on / "manifest.json").read_text())
    bad = dict(manifest, calibration={"method": "temperature", "temperature": "hot"})
    with pytest.raises(BundleError, match=re.escape("calibration in manifest.json is malformed")):
        calibration_of(bad, on)
    assert calibration_of({**manifest, "calibration": None}) == Calibration()


def test_no_labelled_texts_keep_t_1(tiny_bundle: Path):
    entry = json.loads((tiny_bundle / "manifest.json").read_text())["calibration"]
    assert entry["temperature"] == 1.0 and not entry["fitted"]
    assert entry["note"] == f"not fitted: 0 labelled texts, at least {MIN_TEXTS} needed"


def test_export_cli_probability_data(tiny_mobilebert_dir: Path, tmp_path: Path, capsys):
    data = labelled_file(tmp_path / "fit.csv", n=60, seed=3)
    out = tmp_path / "bundle"
    assert main(["export", str(tiny_mobilebert_dir), "--out", str(out), "--precision", "fp32",
                 "--probability-data", str(data)]) == 0
    entry = json.loads((out / "manifest.json").read_text())["calibration"]
    assert entry["source"] == "fit.csv" and entry["texts"] == 60
    assert "calibration: temperature " in capsys.readouterr().err
    assert main(["export", str(tiny_mobilebert_dir), "--out", str(out), "--precision", "fp32", "--overwrite",
                 "--probability-data", str(data), "--no-probability-calibration"]) == 0
    assert json.loads((out / "manifest.json").read_text())["calibration"] is None
    assert "calibration: off (probabilities are the model's softmax)" in capsys.readouterr().err
