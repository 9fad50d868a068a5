"""Evaluation on labelled data: metrics, calibration, a comparison of two models, and a report.

``evaluate_file`` (``run.py``) streams a labelled table through a bundle (and optionally a second
one); ``evaluate_arrays`` does the same for probabilities already in memory (training's validation
split, export's evaluation texts), so every path shares the metrics (``metrics.py``), the running
totals (``tally.py``), the terminal summary (``summary.py``) and the report folder (``report.py``,
pictures in ``plots.py`` with the ``report`` extra). Numpy only; names are imported on first use.
"""

from __future__ import annotations

from edge_runtime.lazy import lazy_exports

__all__ = ["evaluate_arrays", "evaluate_file", "format_summary", "write_report"]

_LAZY = {
    "evaluate_file": "edge_runtime.evaluation.run",
    "evaluate_arrays": "edge_runtime.evaluation.run",
    "format_summary": "edge_runtime.evaluation.summary",
    "write_report": "edge_runtime.evaluation.report",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
