"""A MobileBERT bundle with the export's graph pass (NoNorm folded, MultiHeadAttention, int8) on the
emulated Cortex-A72, against x86. Needs the environment scripts/arm64_env.sh builds; run with -m arm64."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from test_export_fusion import TEXTS
from test_runtime_arm64 import BOUND, arm64  # noqa: F401 - the emulated runtime, a fixture

pytestmark = pytest.mark.arm64


@pytest.fixture(scope="module")
def fused_bundle(arm64, tmp_path_factory: pytest.TempPathFactory, tiny_mobilebert_dir: Path) -> Path:  # noqa: F811
    """The tiny MobileBERT exported int8 with the graph pass (the default). Its NoNorm keeps its fresh
    gains: with randomized ones the plain fp32 export of 256-token texts already differs from PyTorch
    by 1.4e-4, over the export's 1e-4 gate (the fold itself is tested in test_export_fusion)."""
    from transformers import AutoTokenizer, MobileBertForSequenceClassification

    from mobilebert_edge.export import export_bundle

    work = tmp_path_factory.mktemp("arm64-fused")
    model = MobileBertForSequenceClassification.from_pretrained(tiny_mobilebert_dir).eval()
    model.save_pretrained(work / "checkpoint", safe_serialization=True)
    AutoTokenizer.from_pretrained(tiny_mobilebert_dir).save_pretrained(work / "checkpoint")
    export_bundle(work / "checkpoint", work / "bundle", log=lambda _line: None)
    return work / "bundle"


def test_fused_bundle_checks_and_matches_x86_on_arm64(arm64, fused_bundle: Path):  # noqa: F811
    from edge_runtime import Classifier

    model = json.loads((fused_bundle / "manifest.json").read_text(encoding="utf-8"))["model"]
    assert model["graph_pass"] == "mobilebert-fusion" and "MultiHeadAttention" in model["contrib_ops"]
    done = arm64("check", str(fused_bundle))
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"golden examples at batch size 1 and \d+, all passed", done.stdout), done.stdout
    done = arm64("predict", "--json", str(fused_bundle), stdin="\n".join(TEXTS) + "\n")
    assert done.returncode == 0, done.stderr
    clf = Classifier.load(fused_bundle)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    on_arm = np.array([[r["probabilities"][label] for label in clf.labels] for r in records])
    on_x86 = clf.predict_proba(TEXTS)
    assert [r["label"] for r in records] == [clf.labels[k] for k in on_x86.argmax(1)]
    assert float(np.abs(on_arm - on_x86).max()) <= BOUND["int8"]
