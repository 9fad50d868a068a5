"""Dynamic int8 quantization with onnxruntime, and a structural summary of the result."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_runtime.errors import InputError

# Ops whose weights become int8: every weight MatMul, fused attention, and the embedding tables
# (Gather, or EmbedLayerNormalization once fused).
DEFAULT_OP_TYPES = ("MatMul", "Attention", "Gather", "EmbedLayerNormalization")
# The second feed-forward MatMul of each BERT layer (its input, after GELU, has the widest range).
FFN_OUTPUT = r"layer\.\d+/output/dense/MatMul"
# Regular expressions over node names: nodes left in float by default. Keeping the feed-forward
# output in float raised int8/fp32 label agreement of the tutorial-recipe MiniLM from 97-98.5% to
# 99% (docs/BENCHMARKS.md, runtime-vs-optimum).
DEFAULT_KEEP_FP32: tuple[str, ...] = (FFN_OUTPUT,)
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


def compile_patterns(patterns: Sequence[str]) -> list[re.Pattern]:
    """The ``keep_fp32`` regular expressions, compiled; a bad one is an ``InputError``."""
    try:
        return [re.compile(pattern) for pattern in patterns]
    except re.error as error:
        raise InputError("invalid --keep-fp32 pattern", expected="a Python regular expression",
                         found=f"{error.pattern!r} ({error})") from error


def matching_nodes(path: Path, patterns: Sequence[str]) -> list[str]:
    """Names of the nodes whose name matches (``re.search``) one of the regular expressions ``patterns``."""
    import onnx

    compiled = compile_patterns(patterns)
    if not compiled:
        return []
    graph = onnx.load(str(path), load_external_data=False).graph
    return [node.name for node in graph.node if any(c.search(node.name) for c in compiled)]


def quantize(
    src: Path, out: Path, *, per_channel: bool = True, op_types: tuple[str, ...] = DEFAULT_OP_TYPES,
    keep_fp32: Sequence[str] = (),
) -> dict[str, Any]:
    """Quantize weights of ``op_types`` to int8 (activations quantized on the fly); return a summary.

    Nodes whose name matches one of the regular expressions ``keep_fp32`` stay in float.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = matching_nodes(src, keep_fp32)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing hint on the root logger
    try:
        quantize_dynamic(
            str(src), str(out), op_types_to_quantize=list(op_types), per_channel=per_channel,
            weight_type=QuantType.QInt8, nodes_to_exclude=excluded or None, extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    before, after = op_counts(src), op_counts(out)
    return {
        "method": "onnxruntime dynamic (int8 weights, activations quantized per batch)",
        "per_channel": per_channel,
        "op_types": list(op_types),
        "kept_fp32": list(keep_fp32),
        "nodes_kept_fp32": len(excluded),
        "weight_matmuls_fp32": weight_matmuls(src),
        "weight_matmuls_left_fp32": weight_matmuls(out),
        "integer_ops": {op: after[op] for op in (*INTEGER_MATMULS, "DynamicQuantizeLinear") if after[op]},
        "attention_fp32": before["Attention"],
    }
