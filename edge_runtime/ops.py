"""A bundle's graph needs an operator this onnxruntime lacks: name it and the export that avoids it.

Bundles store the graph as the exporting onnxruntime optimized it, with com.microsoft ops (fused
attention, integer MatMuls) listed in ``model.contrib_ops``; an older onnxruntime on a device may
have no kernel for one of them and refuses the model with a long message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from edge_runtime.errors import BundleError

# onnxruntime's two ways of saying it has no such operator (unknown op, or no CPU kernel for it).
_MISSING = (
    re.compile(r"(?:com\.microsoft[:.])?(\w+)\(-?\d+\) is not a registered function/op"),
    re.compile(r"Could not find an implementation for (\w+)\("),
)
# The export option that leaves an op out of the graph.
_AVOIDED_BY = {
    "MultiHeadAttention": "--no-optimize", "Attention": "--no-optimize", "SkipLayerNormalization": "--no-optimize",
    "EmbedLayerNormalization": "--no-optimize", "BiasGelu": "--no-optimize", "FastGelu": "--no-optimize",
    "QAttention": "--no-optimize", "QEmbedLayerNormalization": "--no-optimize",
    "MatMulIntegerToFloat": "--precision fp32", "DynamicQuantizeMatMul": "--precision fp32",
}


def missing_op(message: str, needed: Sequence[str] = ()) -> str | None:
    """The operator onnxruntime's load error ``message`` says it lacks (one of ``needed`` when given)."""
    for pattern in _MISSING:
        for op in pattern.findall(message):
            if not needed or op in needed:
                return op
    return None


def missing_op_error(bundle: object, model: dict, message: str, version: str) -> BundleError | None:
    """The one-line error for a graph op that onnxruntime ``version`` lacks, or None if that is not the cause."""
    op = missing_op(message, model.get("contrib_ops") or ())
    if op is None:
        return None
    made_by = f" (made by the export's graph pass {model['graph_pass']})" if model.get("graph_pass") else ""
    option = _AVOIDED_BY.get(op)
    fix = f"or re-export it with {option}" if option else "or re-export it on the device's onnxruntime"
    return BundleError(
        f"bundle {bundle}: onnxruntime {version} has no operator {op}, which {model.get('file', 'the model')} "
        f"uses{made_by}",
        hint=f"upgrade onnxruntime on this device to the version that exported the bundle (manifest.json versions), {fix}",
    )
