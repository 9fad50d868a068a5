"""Activation smoothing for static int8 (SmoothQuant, Xiao et al., 2023).

Transformer activations have a few channels far larger than the rest, and one per-tensor uint8 step
sized for those rounds the others coarsely. Smoothing divides channel ``j`` of an activation by
``s_j = max|x_j| ** alpha / max|W_j| ** (1 - alpha)`` and multiplies row ``j`` of every weight that
consumes it by ``s_j``: the product is unchanged, the activation's range is even across channels and
the weights, quantized per output channel, take part of the spread. The division is one broadcast
Mul before the activation's per-tensor QuantizeLinear (a per-channel QuantizeLinear on the last axis
is a slow path in onnxruntime); the integer kernel keeps one scale for the whole tensor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Consumers whose constant weight (input 1, rows = input channels) can take the factors.
SMOOTHABLE_OPS = ("MatMul", "Attention")
# The default for static int8 with minmax calibration (None: off), chosen by measurement
# (docs/BENCHMARKS.md, section runtime-vs-optimum).
DEFAULT_SMOOTH: float | None = 0.9


def weight_consumers(graph, tensors: list[str], excluded: set[str]) -> dict[str, list]:
    """For each tensor, the nodes that quantization turns into integer kernels reading it, when all of
    them are MatMul or Attention with a constant 2-D weight used nowhere else; other tensors are left out."""
    from mobilebert_edge.export.calibrate import readers_of

    initializers = {init.name: init for init in graph.initializer}
    reading = readers_of(graph)
    found: dict[str, list] = {}
    for tensor in tensors:
        distinct = {id(node): node for node in reading.get(tensor, [])}.values()  # graph order
        readers = [node for node in distinct if node.name not in excluded]
        weighted = [node for node in readers if node.op_type in SMOOTHABLE_OPS + ("Gemm",)]
        if not weighted or any(
            node.op_type not in SMOOTHABLE_OPS or node.input[0] != tensor or node.input[1] not in initializers
            or len(initializers[node.input[1]].dims) != 2 or len(reading[node.input[1]]) != 1
            for node in weighted
        ):
            continue
        found[tensor] = weighted
    return found


def smoothing_factors(
    graph, channels: dict[str, tuple[np.ndarray, np.ndarray]], consumers: dict[str, list], alpha: float
) -> dict[str, np.ndarray]:
    """``s`` per smoothable tensor from its per-channel calibration range and its consumers' weights."""
    from onnx import numpy_helper

    initializers = {init.name: init for init in graph.initializer}
    factors = {}
    for tensor, nodes in consumers.items():
        low, high = channels[tensor]
        activation = np.maximum(np.abs(low), np.abs(high)).astype(np.float64)
        weight = np.max([np.abs(numpy_helper.to_array(initializers[node.input[1]])).max(axis=1) for node in nodes],
                        axis=0).astype(np.float64)
        if activation.shape != weight.shape:
            continue
        scale = np.power(np.maximum(activation, 1e-5), alpha) / np.power(np.maximum(weight, 1e-5), 1 - alpha)
        factors[tensor] = np.clip(scale, 1e-4, 1e4).astype(np.float32)
    return factors


def scale_weights(src: Path, out: Path, consumers: dict[str, list], factors: dict[str, np.ndarray]) -> int:
    """Write ``src`` with row ``j`` of each consumer's weight multiplied by ``s_j``; return how many weights."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    initializers = {init.name: init for init in model.graph.initializer}
    scaled = 0
    for tensor, s in factors.items():
        for node in consumers[tensor]:
            init = initializers[node.input[1]]
            weight = numpy_helper.to_array(init)
            init.CopyFrom(numpy_helper.from_array((weight * s[:, None]).astype(weight.dtype), init.name))
            scaled += 1
    onnx.save(model, str(out))
    return scaled


def smoothed_range(low: np.ndarray, high: np.ndarray, s: np.ndarray | None) -> tuple[float, float]:
    """The per-tensor range of ``x / s`` from per-channel ranges of ``x`` (``s`` None: ``x`` itself)."""
    if s is None:
        return float(low.min()), float(high.max())
    return float((low / s).min()), float((high / s).max())


def summary(factors: dict[str, np.ndarray], alpha: float, weights: int) -> dict[str, Any]:
    """What smoothing did, for the export report."""
    return {"alpha": alpha, "activations": len(factors), "weights": weights,
            "largest_factor": round(float(max((s.max() for s in factors.values()), default=1.0)), 3)}
