"""Fold MobileBERT's NoNorm (``x * g + h``, per channel) into the weights around it.

Each NoNorm output ``z`` is carried as ``z = s * u + t``: ``u`` a tensor the graph computes, ``s`` and
``t`` constant vectors. A NoNorm of a carried tensor only updates ``s`` and ``t``; a weight MatMul (or
Gemm) reading ``z`` reads ``u`` with ``s`` folded into its weight rows and ``t`` into its bias; a
residual ``linear + z`` becomes ``linear / s + u`` (the linear's weight columns and bias divided by
``s``), carried with the same ``s`` and ``t``. So the residual chain runs as one Add per block,
without NoNorm's multiply and add. Any other reader gets ``z`` back (one Mul and one Add).
"""

from __future__ import annotations

import numpy as np
from onnx import helper

from mobilebert_edge.export.fusion.graph import Graph

# A residual is rebased on ``u`` only when every |s| is at least this fraction of the largest (dividing
# weights by a near-zero scale would trade exactness for nothing).
MIN_RELATIVE_SCALE = 1e-3


def _nonorm(g: Graph, node, readers: dict) -> tuple | None:
    """``(y, g, h, add)`` when ``node`` is NoNorm's Mul(y, g) read only by Add(., h), g and h constant vectors."""
    if node.op_type != "Mul" or len(node.input) != 2:
        return None
    users = readers.get(node.output[0], [])
    if len(users) != 1 or users[0].op_type != "Add":
        return None
    add = users[0]
    for y, gain in (node.input, node.input[::-1]):
        scale = g.vector(gain)
        if scale is None or g.constant(y) is not None:
            continue
        shift_name = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        shift = g.vector(shift_name)
        if shift is not None and shift.shape == scale.shape:
            return y, scale, shift, add
    return None


def _bias_add(g: Graph, matmul, readers: dict) -> tuple | None:
    """``(add, bias_index)`` when ``matmul`` is ``MatMul(x, W)`` (W a constant matrix) read once, by Add(., b)."""
    users = readers.get(matmul.output[0], [])
    weight = g.constant(matmul.input[1]) if matmul.op_type == "MatMul" else None
    if weight is None or weight.ndim != 2 or len(users) != 1 or users[0].op_type != "Add":
        return None
    add = users[0]
    bias_index = 1 if add.input[0] == matmul.output[0] else 0
    return (add, bias_index) if g.vector(add.input[bias_index]) is not None else None


def _linear(g: Graph, name: str, producers: dict, readers: dict) -> tuple | None:
    """``(matmul, bias_add, bias_index)`` when ``name``, read once, is ``MatMul(x, W) + b`` (W, b constant)."""
    add = producers.get(name)
    if add is None or add.op_type != "Add" or len(readers.get(name, [])) != 1:
        return None
    for product in add.input:
        matmul = producers.get(product)
        found = _bias_add(g, matmul, readers) if matmul is not None else None
        if found is not None and found[0] is add:
            return matmul, add, found[1]
    return None


def _set_input(node, old: str, new: str) -> None:
    for i, name in enumerate(node.input):
        if name == old:
            node.input[i] = new


def fold_nonorm(g: Graph) -> int:
    """Fold every NoNorm of ``g`` (see the module docstring); return how many were folded."""
    producers, readers = g.producers(), g.readers()
    carried: dict[str, tuple[str, np.ndarray, np.ndarray]] = {}
    values: dict[str, str] = {}
    nodes, dropped, folded = [], set(), 0

    def materialize(name: str, out: str) -> str:
        """Write the carried ``name``'s true value ``s * u + t`` to ``out`` (one Mul, one Add)."""
        u, s, t = carried[name]
        scaled = g.name(f"{name}_scaled")
        nodes.append(helper.make_node("Mul", [u, g.add_constant(s, f"{name}_nonorm_scale")], [scaled]))
        nodes.append(helper.make_node("Add", [scaled, g.add_constant(t, f"{name}_nonorm_shift")], [out]))
        return out

    def value(name: str) -> str:
        """A tensor holding the carried ``name``'s true value, made once."""
        if name not in values:
            values[name] = materialize(name, g.name(f"{name}_value"))
        return values[name]

    def replace(node, index: int, array: np.ndarray, hint: str) -> None:
        node.input[index] = g.add_constant(array.astype(np.float32), hint)

    for node in list(g.graph.node):
        if id(node) in dropped:
            continue
        found = _nonorm(g, node, readers)
        if found is not None:
            y, gain, shift, add = found
            u, s, t = carried.get(y, (y, np.ones_like(gain), np.zeros_like(shift)))
            carried[add.output[0]] = (u, gain * s, gain * t + shift)
            dropped.add(id(add))
            folded += 1
            continue
        if node.op_type == "Add" and len(node.input) == 2 and sum(name in carried for name in node.input) == 1:
            r = node.input[0] if node.input[0] in carried else node.input[1]
            a = node.input[1] if r == node.input[0] else node.input[0]
            u, s, t = carried[r]
            linear = _linear(g, a, producers, readers)
            if linear is not None and np.abs(s).min() >= MIN_RELATIVE_SCALE * np.abs(s).max():
                matmul, bias_add, bias_index = linear
                replace(matmul, 1, g.constant(matmul.input[1]) / s[None, :], f"{matmul.name}_weight")
                replace(bias_add, bias_index, g.constant(bias_add.input[bias_index]) / s, f"{bias_add.name}_bias")
                _set_input(node, r, u)
                carried[node.output[0]] = (node.output[0], s, t)
                nodes.append(node)
                continue
        for name in list(node.input):
            if name not in carried:
                continue
            u, s, t = carried[name]
            bias = _bias_add(g, node, readers) if node.input[0] == name else None
            if bias is not None:
                weight = g.constant(node.input[1])
                bias_add, bias_index = bias
                replace(node, 1, s[:, None] * weight, f"{node.name}_weight")
                replace(bias_add, bias_index, g.constant(bias_add.input[bias_index]) + t @ weight, f"{bias_add.name}_bias")
                node.input[0] = u
            elif node.op_type == "Gemm" and node.input[0] == name and _plain_gemm(g, node):
                weight, bias = g.constant(node.input[1]), g.constant(node.input[2])
                transposed = any(a.name == "transB" and a.i for a in node.attribute)
                replace(node, 1, weight * s[None, :] if transposed else s[:, None] * weight, f"{node.name}_weight")
                replace(node, 2, bias + (weight @ t if transposed else t @ weight), f"{node.name}_bias")
                node.input[0] = u
            elif node.op_type == "Shape":
                node.input[0] = u
            elif node.op_type == "Gather" and node.input[0] == name and _gathers_rows(g, node):
                node.input[0] = u
                carried[node.output[0]] = (node.output[0], s, t)
            else:
                _set_input(node, name, value(name))
        nodes.append(node)
    for output in g.graph.output:
        if output.name in carried:
            materialize(output.name, output.name)
    del g.graph.node[:]
    g.graph.node.extend(nodes)
    return folded


def _plain_gemm(g: Graph, node) -> bool:
    """Gemm(x, W, c) with constant W and c, no transposed x, alpha = beta = 1."""
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    return (len(node.input) == 3 and attributes.get("transA", 0) == 0 and attributes.get("alpha", 1.0) == 1.0
            and attributes.get("beta", 1.0) == 1.0 and g.constant(node.input[1]) is not None
            and g.constant(node.input[2]) is not None)


def _gathers_rows(g: Graph, node) -> bool:
    """Gather along the batch or sequence axis of a [batch, sequence, channels] tensor (channels kept)."""
    axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 0)
    return axis in (0, 1) and g.constant(node.input[1]) is not None
