"""The torch-free edge runtime: load a bundle, classify texts (onnxruntime + tokenizers + numpy).

``from edge_runtime import Classifier`` imports the heavy parts on first use, so that
``import edge_runtime.errors`` (every command does it at startup) stays cheap.
"""

from __future__ import annotations

from edge_runtime.lazy import lazy_exports

__all__ = ["Classifier", "Prediction", "EdgeError", "InputError", "BundleError", "verify_bundle"]

_LAZY = {
    "Classifier": "edge_runtime.classifier",
    "Prediction": "edge_runtime.classifier",
    "verify_bundle": "edge_runtime.bundle",
    "EdgeError": "edge_runtime.errors",
    "InputError": "edge_runtime.errors",
    "BundleError": "edge_runtime.errors",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
