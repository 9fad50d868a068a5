"""Labelled text data: read tables (CSV, TSV, JSONL, Parquet, IMDb), pick columns, map labels, split.

Importing this package is light: pandas is imported only when a table is read.
"""

from __future__ import annotations

from mobilebert_edge.data.dataset import LabelledTexts, load_labelled, stratified_split
from mobilebert_edge.data.errors import DataError
from edge_runtime.labels import infer_label_names, label_names_from_json, label_names_to_json, normalize_label

__all__ = [
    "DataError",
    "LabelledTexts",
    "infer_label_names",
    "label_names_from_json",
    "label_names_to_json",
    "load_labelled",
    "normalize_label",
    "stratified_split",
]
