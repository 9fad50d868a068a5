"""A text's probabilities do not depend on its batch-mates: static int8 and fp32 bundles give the same
result alone, in batches of 8 and 32, beside short or long texts, in any order and with any thread count.
Dynamic int8 does not (one activation scale per batch), which the same measurement shows."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from runtime_helpers import varied_texts

from edge_runtime import Classifier

TOLERANCE = 1e-5
PROBES = [
    "A wonderful, moving film.",
    "Dull, predictable and far too long. I want my two hours back.",
    "meh",
    "The plot made no sense, but the music was lovely and the cast clearly had fun. " * 5,
]
SHORT = ["ok", "bad", "no", "a fine film", "great"]
LONG = ["An overlong, self-indulgent mess with one great scene and a score that never stops. " * 12]


def batch_drift(bundle: Path, threads: int = 2) -> float:
    """Largest probability change of each probe in many batch compositions, against the probe alone."""
    clf = Classifier.load(bundle, threads=threads)
    alone = np.vstack([clf.predict_proba([text], batch_size=1) for text in PROBES])
    rng = random.Random(0)
    others = [t for t in varied_texts() if t.strip()][:80]  # blank texts are refused, not classified
    worst = 0.0
    for size in (8, 32):
        for mates in (SHORT, LONG, others):
            for i, probe in enumerate(PROBES):
                batch = [rng.choice(mates) for _ in range(size - 1)]
                batch.insert(rng.randrange(size), probe)
                found = clf.predict_proba(batch, batch_size=size)[batch.index(probe)]
                worst = max(worst, float(np.abs(found - alone[i]).max()))
    shuffled = PROBES[::-1] + others[:28]
    rng.shuffle(shuffled)
    found = clf.predict_proba(shuffled, batch_size=32)
    worst = max(worst, max(float(np.abs(found[shuffled.index(p)] - alone[i]).max()) for i, p in enumerate(PROBES)))
    single_thread = Classifier.load(bundle, threads=1).predict_proba(PROBES, batch_size=len(PROBES))
    return max(worst, float(np.abs(single_thread - alone).max()))


@pytest.fixture(scope="module")
def tiny_bundle_dynamic(tmp_path_factory: pytest.TempPathFactory, tiny_mobilebert_dir: Path) -> Path:
    from mobilebert_edge.export import export_bundle

    out = tmp_path_factory.mktemp("tiny-dynamic") / "bundle"
    export_bundle(tiny_mobilebert_dir, out, quantization="dynamic", log=lambda _line: None)
    return out


@pytest.mark.parametrize("fixture", ["tiny_bundle", "tiny_bundle_fp32"])
def test_result_does_not_depend_on_batch_mates(fixture, request):
    bundle = request.getfixturevalue(fixture)
    assert batch_drift(bundle) <= TOLERANCE
    manifest = Classifier.load(bundle).manifest
    assert manifest["golden"]["batch_invariant"] is True
    assert manifest["model"].get("quantization", "static") == "static"


def test_dynamic_int8_moves_with_batch_mates_and_says_so(tiny_bundle_dynamic: Path):
    assert batch_drift(tiny_bundle_dynamic) > 100 * TOLERANCE  # the harness above can fail
    manifest = Classifier.load(tiny_bundle_dynamic).manifest
    assert manifest["model"]["quantization"] == "dynamic"
    assert manifest["golden"]["batch_invariant"] is False and manifest["report"]["golden_batch_drift"] > TOLERANCE


@pytest.mark.slow
def test_minilm_static_int8_is_batch_invariant(tmp_path: Path, minilm_path: Path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from mobilebert_edge.export import export_bundle

    torch.manual_seed(3)
    folder = tmp_path / "checkpoint"
    AutoModelForSequenceClassification.from_pretrained(minilm_path, num_labels=2).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path).save_pretrained(folder)
    export_bundle(folder, tmp_path / "int8", max_length=128, log=lambda _line: None)
    assert batch_drift(tmp_path / "int8") <= TOLERANCE
