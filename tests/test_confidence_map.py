"""The confidence map: its fit on labelled confidences, how the runtime applies it (labels never change), and what
the manifest may say about it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from edge_runtime.classifier import probabilities, softmax
from edge_runtime.confidence import Calibration, calibration_of
from edge_runtime.errors import BundleError
from edge_runtime.manifest_schema import SCHEMA, SchemaError, validate
from mobilebert_edge.export.temperature import (
    MIN_MAP_TEXTS, calibrate, fit, fit_confidence_map, pool_adjacent_violators, scores,
)
from tests.test_export_temperature import overconfident

ADVERSE = Calibration(1.0, ((0.5, 0.99), (0.5, 0.5)))  # every confidence pulled down to a coin toss


def reliability(confidence: np.ndarray) -> np.ndarray:
    """A known monotone curve: the share right at a confidence (overconfident above 0.7, flat below)."""
    return np.where(confidence < 0.7, 0.6, 0.6 + (confidence - 0.7) * 0.9)


def test_the_fit_recovers_a_known_reliability_curve():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 40_000)
    right = rng.random(40_000) < reliability(confidence)
    xs, ys = fit_confidence_map(confidence, right, num_labels=2)
    assert len(xs) == 10 and all(a < b for a, b in zip(xs, xs[1:])) and all(a <= b for a, b in zip(ys, ys[1:]))
    probe = np.linspace(0.55, 0.95, 9)
    np.testing.assert_allclose(np.interp(probe, xs, ys), reliability(probe), atol=0.03)
    assert np.abs(np.interp(probe, xs, ys) - probe).max() > 0.1  # far from the identity: the test can fail


def test_pooling_makes_a_sequence_monotone_by_weight():
    pooled = pool_adjacent_violators(np.array([0.6, 0.8, 0.7, 0.9]), np.array([1.0, 1.0, 3.0, 1.0]))
    np.testing.assert_allclose(pooled, [0.6, 0.725, 0.725, 0.9])


def test_one_repeated_confidence_gives_no_map():
    assert fit_confidence_map(np.full(300, 0.8), np.arange(300) % 2 == 0, num_labels=2) is None


def test_bins_that_differ_below_the_stored_precision_become_one_point():
    """A random-weight model puts every confidence within 1e-6 of 0.5: the stored points stay strictly increasing."""
    rng = np.random.default_rng(1)
    confidence = 0.5 + np.sort(rng.uniform(0, 3e-6, 600))
    xs, ys = fit_confidence_map(confidence, rng.random(600) < 0.5, num_labels=2)
    assert len(xs) < 10 and all(a < b for a, b in zip(xs, xs[1:])) and all(a <= b for a, b in zip(ys, ys[1:]))
    assert xs == tuple(round(x, 6) for x in xs)
    entry = {"method": "temperature", "temperature": 1.0, "confidence_map": {"from": list(xs), "to": list(ys)}}
    assert calibration_of({"calibration": entry}).confidence_map == (xs, ys)  # the loader takes it


@pytest.mark.parametrize("labels", [2, 3, 5])
def test_the_map_never_changes_a_label_on_any_text(labels: int):
    rng = np.random.default_rng(labels)
    logits = rng.normal(0, 3, size=(20_000, labels))
    logits[:50, 1] = logits[:50, 0]  # exact ties: the first label, as argmax says
    logits[50:60, 0] = 1e4  # the top label takes everything
    adverse = Calibration(1.5, ((1 / labels + 1e-3, 0.99), (1 / labels, 1 / labels)))
    for calibration in (adverse, Calibration(0.7, ((0.5, 0.9, 1.0), (0.6, 0.95, 0.999)))):
        probs = probabilities(logits, calibration)
        assert (probs.argmax(axis=1) == logits.argmax(axis=1)).all()
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-12)
        assert probs.min() >= 0


def test_the_top_probability_is_mapped_and_the_rest_rescaled():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 50.0]])
    points = ((0.5, 0.7, 1.0), (0.55, 0.6, 0.9))
    probs = probabilities(logits, Calibration(1.0, points))
    plain = softmax(logits)
    assert probs[0, 0] == pytest.approx(np.interp(plain[0, 0], *points))
    np.testing.assert_allclose(probs[0, 1:] / probs[0, 1:].sum(), plain[0, 1:] / plain[0, 1:].sum())
    np.testing.assert_allclose(probs[1], [0.05, 0.05, 0.9], atol=1e-12)  # c == 1: the rest shared equally
    # below the tie with the runner-up the top label is kept just above it
    tied = probabilities(np.array([[1.0, 0.0]]), ADVERSE)
    assert tied[0, 0] > tied[0, 1] and tied[0, 0] == pytest.approx(0.5, abs=1e-8)


def test_the_map_lowers_the_ece_on_the_fitting_texts_and_needs_enough_of_them():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 2.5, size=(MIN_MAP_TEXTS, 1))
    gold = (rng.random(MIN_MAP_TEXTS) < reliability(1 / (1 + np.exp(-np.abs(z[:, 0]))))).astype(int)
    logits = np.hstack([np.zeros_like(z), np.abs(z)])  # label 1 always on top, right with the curve's share
    entry = calibrate(logits, gold, source="synthetic")
    assert len(entry["confidence_map"]["from"]) >= 2 and "note" not in entry
    assert entry["after"]["ece"] < entry["after_temperature"]["ece"] <= entry["before"]["ece"]
    assert all({"ece_before", "ece_temperature", "ece_after"} <= set(h) for h in entry["halves"])
    fewer = calibrate(logits[1:], gold[1:], source="synthetic")
    assert "confidence_map" not in fewer
    assert fewer["note"] == f"no confidence map: {MIN_MAP_TEXTS - 1} labelled texts, at least {MIN_MAP_TEXTS} needed"


def test_a_map_that_does_not_help_is_left_out():
    logits, gold = overconfident(400, 1.0, seed=5)  # calibrated as they are: T about 1, flat errors
    calibration, notes = fit(logits, gold, min_map_texts=10_000)
    assert calibration.confidence_map is None and notes[-1].startswith("no confidence map: 400 labelled texts")
    mapped, _ = fit(logits, gold)
    assert scores(logits, gold, mapped)["ece"] <= scores(logits, gold, Calibration(mapped.temperature))["ece"]


CALIBRATION_ONLY = {"type": "object", "properties": {"calibration": SCHEMA["properties"]["calibration"]}}


def manifest_with(confidence_map: object) -> dict:
    return {"calibration": {"method": "temperature", "temperature": 1.5, "confidence_map": confidence_map}}


def test_a_good_map_is_read():
    points = {"from": [0.5, 0.8, 1.0], "to": [0.5, 0.7, 0.7]}
    assert calibration_of(manifest_with(points)) == Calibration(1.5, ((0.5, 0.8, 1.0), (0.5, 0.7, 0.7)))
    validate(manifest_with(points), CALIBRATION_ONLY)


MALFORMED_MAPS = [
    {"from": [0.5, 0.8], "to": [0.5]},  # lengths differ
    {"from": [0.5], "to": [0.5]},  # one point
    {"from": [0.5, 0.5], "to": [0.5, 0.6]},  # from not strictly increasing
    {"from": [0.0, 0.5], "to": [0.5, 0.6]},  # from must be above 0
    {"from": [0.5, 0.6], "to": [0.7, 0.6]},  # to decreasing
    {"from": [0.5, 1.2], "to": [0.5, 0.6]},  # above 1
    {"from": list(np.linspace(0.5, 1, 65)), "to": list(np.linspace(0.5, 1, 65))},  # too many points
    {"from": [0.5, True], "to": [0.5, 0.6]},
    [0.5, 0.6],
]


@pytest.mark.parametrize("points", MALFORMED_MAPS, ids=range(len(MALFORMED_MAPS)))
def test_a_malformed_map_is_refused(points):
    message = ("bundle b: calibration.confidence_map in manifest.json is malformed (expected {\"from\": [...], \"to\": "
               "[...]} of the same length 2..64, from strictly increasing in (0, 1], to non-decreasing in [0, 1], found ")
    with pytest.raises(BundleError, match=re.escape(message)):
        calibration_of(manifest_with(points), "b")


@pytest.mark.parametrize(("points", "message"), [
    ({"from": [0.5, 0.8], "to": [0.5, 1.5]}, "calibration.confidence_map.to[1] is out of range (expected <= 1, found 1.5)"),
    ({"from": [0.5, 0.8]}, "calibration.confidence_map lacks required keys (expected from, to, found missing to)"),
    ({"from": [0.5, 0.8], "to": [0.5, 0.6], "bins": 10}, "calibration.confidence_map.bins is not a known key"),
    ({"from": [0.5], "to": [0.5]}, "calibration.confidence_map.from has too few items (expected at least 2, found 1)"),
])
def test_the_schema_refuses_a_map_of_the_wrong_shape(points, message):
    with pytest.raises(SchemaError, match=re.escape(message)):
        validate(manifest_with(points), CALIBRATION_ONLY)


# The JavaScript runtime's parity: both runtimes are held to the same file of Python's numbers.
JS_CASES = Path(__file__).resolve().parents[1] / "edge_runtime_js" / "test" / "confidence_map.json"


def js_cases() -> dict:
    """Logits, calibrations and Python's probabilities for them; malformed maps with Python's error message."""
    rng = np.random.default_rng(7)
    logits = [rng.normal(0, 3, size=(60, k)) for k in (2, 3)]
    for rows in logits:
        rows[0, 1] = rows[0, 0]  # a tie
        rows[1, 0] = 60.0  # the top label takes everything
    calibrations = [Calibration(2.134, ((0.55, 0.7, 0.9, 0.99), (0.52, 0.6, 0.85, 0.97))),
                    Calibration(0.8, ((0.2, 0.5, 1.0), (0.34, 0.34, 0.9))), ADVERSE]
    cases = [{"logits": rows.tolist(), "temperature": c.temperature,
              "confidence_map": {"from": list(c.confidence_map[0]), "to": list(c.confidence_map[1])},
              "probabilities": probabilities(rows, c).tolist()} for rows in logits for c in calibrations]
    refused = []
    for points in MALFORMED_MAPS[:-2]:
        points = {key: [float(x) for x in value] for key, value in points.items()}
        with pytest.raises(BundleError) as error:
            calibration_of(manifest_with(points), "b")
        refused.append({"confidence_map": points, "message": error.value.message})
    return {"cases": cases, "refused": refused}


def test_the_javascript_runtime_is_held_to_python_s_numbers():
    stored = json.loads(JS_CASES.read_text())
    fresh = js_cases()
    assert stored["refused"] == fresh["refused"]
    for old, new in zip(stored["cases"], fresh["cases"], strict=True):
        np.testing.assert_allclose(old["probabilities"], new["probabilities"], rtol=0, atol=1e-15,
                                   err_msg=f"rewrite {JS_CASES} with python -m tests.test_confidence_map")


if __name__ == "__main__":
    JS_CASES.write_text(json.dumps(js_cases()) + "\n")
    print(f"wrote {JS_CASES}")
