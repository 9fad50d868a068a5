"""Export a fine-tuned classifier folder to a validated, optionally int8-quantized ONNX bundle.

``export_bundle`` is imported lazily so that ``mobilebert_edge.export.cli`` (and the CLI dispatcher) stay light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_bundle"]


def __getattr__(name: str) -> Any:
    if name == "export_bundle":
        from mobilebert_edge.export.pipeline import export_bundle

        return export_bundle
    raise AttributeError(f"module 'mobilebert_edge.export' has no attribute {name!r}")
