"""Export a fine-tuned classifier folder to a validated, optionally int8-quantized ONNX bundle.

``export_bundle`` is imported lazily so that ``export.cli`` (and the CLI dispatcher) stay light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["export_bundle"]


def __getattr__(name: str) -> Any:
    if name == "export_bundle":
        from export.pipeline import export_bundle

        return export_bundle
    raise AttributeError(f"module 'export' has no attribute {name!r}")
