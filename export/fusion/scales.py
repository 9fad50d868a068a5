"""Fold smoothing's ``x * (1 / s)`` into the integer kernel that computes ``x``, after static int8.

Smoothing (export/smooth.py) divides an activation by per-channel factors with one Mul before its
QuantizeLinear. When that activation is the output of a ``MatMulIntegerToFloat`` read by nothing else,
directly, through a Relu (positive factors commute with it), or as the value projection of a
``MultiHeadAttention`` (attention mixes tokens, never channels), the kernel can produce ``x / s``
itself: its per-column weight scale and its bias divided by ``s``. The Mul is gone and the values are
the same up to float rounding (MobileBERT: one per feed-forward block, bottleneck and attention).
"""

from __future__ import annotations

import numpy as np

from mobilebert_edge.export.fusion.graph import Graph

SCALE, BIAS = 3, 6  # MatMulIntegerToFloat inputs: A, B, a_scale, b_scale, a_zero, b_zero, bias


def _kernel(producers: dict, readers: dict, name: str, positive: bool):
    """The MatMulIntegerToFloat with a bias whose output becomes ``name``, read only along the way."""
    node = producers.get(name)
    if node is None or len(readers.get(name, [])) != 1:
        return None
    if node.op_type == "Relu" and positive:
        return _kernel(producers, readers, node.input[0], positive)
    if node.op_type == "MultiHeadAttention" and len(node.input) > 2:
        return _kernel(producers, readers, node.input[2], positive)
    quantizer = producers.get(node.input[0]) if node.op_type == "MatMulIntegerToFloat" else None
    if (quantizer is not None and quantizer.op_type == "QuantizeLinear" and quantizer.input[1] == node.input[SCALE - 1]
            and len(node.input) > BIAS and node.input[BIAS]):  # the activation's scale first, the weight's after
        return node
    return None


def fold_smoothing(g: Graph) -> int:
    """Fold every foldable smoothing Mul of ``g`` into its producing kernel; return how many."""
    producers, readers = g.producers(), g.readers()
    quantizers = {node.input[0] for node in g.graph.node if node.op_type == "QuantizeLinear"}
    drop, folded = set(), 0
    for mul in g.graph.node:
        if mul.op_type != "Mul" or mul.output[0] not in quantizers:
            continue
        inverse = g.vector(mul.input[1])
        if inverse is None or any(node.op_type != "QuantizeLinear" for node in readers.get(mul.output[0], [])):
            continue
        kernel = _kernel(producers, readers, mul.input[0], positive=bool((inverse > 0).all()))
        scale = g.constant(kernel.input[SCALE]) if kernel is not None else None
        bias = g.constant(kernel.input[BIAS]) if kernel is not None else None
        if scale is None or bias is None or bias.shape != inverse.shape:
            continue
        kernel.input[SCALE] = g.add_constant((scale * inverse).astype(np.float32), f"{kernel.name}_smoothed_scale")
        kernel.input[BIAS] = g.add_constant((bias * inverse).astype(np.float32), f"{kernel.name}_smoothed_bias")
        for reader in readers[mul.output[0]]:
            reader.input[0] = mul.input[0]
        drop.add(id(mul))
        folded += 1
    kept = [node for node in g.graph.node if id(node) not in drop]
    del g.graph.node[:]
    g.graph.node.extend(kept)
    return folded



def fold_smoothing_file(path) -> int:
    """``fold_smoothing`` on the ONNX file at ``path``, rewritten in place; return how many Muls were folded."""
    import onnx

    model = onnx.load(str(path))
    graph = Graph(model)
    folded = fold_smoothing(graph)
    if folded:
        graph.prune()
        onnx.save(model, str(path))
    return folded
