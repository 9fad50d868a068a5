"""The MobileBERT graph pass: fusions onnxruntime's transformer optimizer has no pattern for.

MobileBERT normalizes with NoNorm (an elementwise multiply-add) instead of LayerNormalization, so
onnxruntime's BERT fusions find no anchor in its graph. This pass, applied to the fp32 graph before
quantization, folds every NoNorm into the weights around it (``nonorm.py``) and fuses each layer's
self-attention into one ``com.microsoft.MultiHeadAttention`` (``attention.py``). Both are exact up to
float rounding; the export pipeline checks the result against PyTorch like the raw graph.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

GRAPH_PASS = "mobilebert-fusion"
# The pass's two parts, each measured to pay (docs/BENCHMARKS.md, int8-edge); bench/int8_edge.py runs each alone.
PASSES = ("nonorm", "attention")


def fuse_mobilebert(src: Path, out: Path, num_heads: int, passes: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Write ``src`` with MobileBERT's fusions (``passes``, default ``PASSES``) to ``out``; return
    ``{"applied", "fused", "nodes_before", ...}``."""
    import onnx
    from onnx import helper

    from mobilebert_edge.export.fusion.attention import fuse_attention
    from mobilebert_edge.export.fusion.graph import Graph
    from mobilebert_edge.export.fusion.nonorm import fold_nonorm

    model = onnx.load(str(src))
    before = len(model.graph.node)
    graph = Graph(model)
    passes = PASSES if passes is None else passes
    folded = fold_nonorm(graph) if "nonorm" in passes else 0
    attention = fuse_attention(graph, num_heads) if "attention" in passes else 0
    graph.prune()
    if not folded and not attention:
        return {"applied": False, "reason": "no NoNorm or self-attention pattern matched"}
    if attention and not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(out))
    try:  # loads and runs (a head count that does not divide the projections fails only when run)
        import numpy as np
        import onnxruntime as ort

        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        session.run(None, {item.name: np.ones((2, 4), np.int64) for item in session.get_inputs()})
    except Exception as error:  # noqa: BLE001 - onnxruntime's own exception types
        return {"applied": False, "reason": f"onnxruntime cannot run the fused graph ({error})"}
    ops = Counter(node.op_type for node in model.graph.node)
    return {
        "applied": True, "pass": GRAPH_PASS, "fused": {"MultiHeadAttention": attention, "NoNorm folded": folded},
        "attention": "MultiHeadAttention", "nodes_before": before, "nodes_after": sum(ops.values()),
    }
