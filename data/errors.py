"""Errors about input data: the CLI prints them as one line and exits 1.

``DataError`` is defined by the runtime (``edge_runtime.errors``), whose label and column rules
(``edge_runtime.labels``, ``edge_runtime.columns``) training and evaluation share.
"""

from __future__ import annotations

from edge_runtime.errors import DataError

__all__ = ["DataError"]
