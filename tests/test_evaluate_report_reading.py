"""The evaluation report reads as text and pictures a reader can follow: every hatched block in the legend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_runtime import Classifier
from edge_runtime.evaluation import plots
from mobilebert_edge.cli import main

REVIEW = 'A slow start.<br /><br />Then <i>wonderful</i> & "moving"<BR>to the end.'


def test_mistakes_show_the_texts_line_breaks_not_their_markup(capsys, tmp_path: Path, tiny_bundle_fp32: Path) -> None:
    predicted = Classifier.load(tiny_bundle_fp32).predict([REVIEW])[0].label
    wrong = "negative" if predicted == "positive" else "positive"  # a mistake, so the table shows the text
    data = tmp_path / "t.csv"
    data.write_text("text,label\n" + f'"{REVIEW.replace(chr(34), 2 * chr(34))}",{wrong}\n', encoding="utf-8")
    assert main(["evaluate", str(tiny_bundle_fp32), str(data), "--report", str(tmp_path / "report"), "--no-progress"]) == 0
    page = (tmp_path / "report" / "report.html").read_text(encoding="utf-8")
    assert ('<div>A slow start.<br><br>Then &lt;i&gt;wonderful&lt;/i&gt; &amp; &quot;moving&quot;<br>to the end.</div>'
            in page)
    assert "&lt;br" not in page.lower()


def legend_of_reliability(monkeypatch, bins: list[dict[str, float]]) -> tuple[list[str], list[str]]:
    """(labels in the legend, labels of the hatched bar groups) of the reliability diagram of ``bins``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found: dict[str, Any] = {}

    def draw_here(draw, size=(6.0, 4.2)) -> bytes:
        fig, ax = plt.subplots()
        draw(fig, ax)
        found["legend"] = [text.get_text() for text in ax.get_legend().get_texts()]
        found["hatched"] = [bars.get_label() for bars in ax.containers if bars.patches and bars.patches[0].get_hatch()]
        plt.close(fig)
        return b""

    monkeypatch.setattr(plots, "figure_png", draw_here)
    width = 0.1
    reliability = [{"low": 0.5 + width * i, "count": 10, **b} for i, b in enumerate(bins)]
    plots.reliability_png({"labels": ["negative", "positive"],
                           "calibration": {"bins": 10, "ece": 0.1, "brier": 0.2, "reliability": reliability}})
    return found["legend"], found["hatched"]


@pytest.mark.parametrize(
    ("bins", "expected"),
    [
        ([{"confidence": 0.55, "accuracy": 0.5}, {"confidence": 0.65, "accuracy": 0.8}],
         ["confidence above accuracy (overconfident)", "accuracy above confidence (underconfident)"]),
        ([{"confidence": 0.55, "accuracy": 0.8}], ["accuracy above confidence (underconfident)"]),
        ([{"confidence": 0.55, "accuracy": 0.55}], []),
    ],
)
def test_every_hatched_block_of_the_reliability_diagram_is_in_its_legend(monkeypatch, bins, expected) -> None:
    legend, hatched = legend_of_reliability(monkeypatch, bins)
    assert hatched == expected
    assert all(label in legend for label in hatched)
