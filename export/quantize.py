"""Dynamic int8 quantization with onnxruntime, and a structural summary of the result."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

# Ops whose weights become int8: every weight MatMul, fused attention, and the embedding tables
# (Gather, or EmbedLayerNormalization once fused).
DEFAULT_OP_TYPES = ("MatMul", "Attention", "Gather", "EmbedLayerNormalization")
INTEGER_MATMULS = ("MatMulInteger", "DynamicQuantizeMatMul", "QAttention", "QEmbedLayerNormalization")


def op_counts(path: Path) -> Counter:
    """How many nodes of each op type the graph has."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return Counter(node.op_type for node in graph.node)


def weight_matmuls(path: Path) -> int:
    """MatMul nodes whose second input is a constant weight (the ones dynamic quantization targets)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {init.name for init in graph.initializer}
    return sum(1 for node in graph.node if node.op_type == "MatMul" and node.input[1] in constants)


def quantize(
    src: Path, out: Path, *, per_channel: bool = False, op_types: tuple[str, ...] = DEFAULT_OP_TYPES,
) -> dict[str, Any]:
    """Quantize weights of ``op_types`` to int8 (activations quantized on the fly); return a summary."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing hint on the root logger
    try:
        quantize_dynamic(
            str(src), str(out), op_types_to_quantize=list(op_types), per_channel=per_channel,
            weight_type=QuantType.QInt8, extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    before, after = op_counts(src), op_counts(out)
    return {
        "method": "onnxruntime dynamic (int8 weights, activations quantized per batch)",
        "per_channel": per_channel,
        "op_types": list(op_types),
        "weight_matmuls_fp32": weight_matmuls(src),
        "weight_matmuls_left_fp32": weight_matmuls(out),
        "integer_ops": {op: after[op] for op in (*INTEGER_MATMULS, "DynamicQuantizeLinear") if after[op]},
        "attention_fp32": before["Attention"],
    }
