"""The torch-free edge runtime: load a bundle, classify texts (onnxruntime + tokenizers + numpy).

``from edge_runtime import Classifier`` imports the heavy parts on first use, so that
``import edge_runtime.errors`` (every command does it at startup) stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Classifier", "Prediction", "EdgeError", "InputError", "BundleError", "verify_bundle"]

_LAZY = {
    "Classifier": "edge_runtime.classifier",
    "Prediction": "edge_runtime.classifier",
    "verify_bundle": "edge_runtime.bundle",
    "EdgeError": "edge_runtime.errors",
    "InputError": "edge_runtime.errors",
    "BundleError": "edge_runtime.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'edge_runtime' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
