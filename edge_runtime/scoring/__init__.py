"""Batch scoring, built on the runtime's ``Classifier``: texts lazily, or whole table files.

``score_texts`` (``texts.py``) streams predictions for an iterable of texts. ``score_file``
(``files.py``) scores a CSV/TSV/JSONL/Parquet file chunk by chunk into an output file, resumably,
in this process, in a pool of processes (``local.py``) or on Ray Data (``ray_engine.py``). Reading
(``tables.py``), the appended columns (``output.py``), the work folder (``journal.py``) and the
progress line (``progress.py``) each have a module; ``base.py`` holds what the engines share, and
``cli.py`` the ``score`` command. Names are imported on first use, so the command stays light.
"""

from __future__ import annotations

from edge_runtime.lazy import lazy_exports

__all__ = ["ScoreSummary", "print_summary", "score_file", "score_texts"]

_LAZY = {
    "score_texts": "edge_runtime.scoring.texts",
    "score_file": "edge_runtime.scoring.files",
    "ScoreSummary": "edge_runtime.scoring.base",
    "print_summary": "edge_runtime.scoring.base",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
