"""int8 quantization with onnxruntime, static (the default, ``calibrate.py``) or dynamic, and a
structural summary of the stored result."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge_runtime.errors import InputError

QUANTIZATIONS = ("static", "qdq", "dynamic")
DEFAULT_QUANTIZATION = "static"
# static and qdq: activation scales calibrated at export (calibrate.py), so a text's result does not
# depend on its batch-mates. dynamic: scales measured on every batch (padding included), so results
# move with the batch.
INVARIANT = {"static": True, "qdq": True, "dynamic": False}
# Ops whose weights become int8 under dynamic quantization: every weight MatMul, fused attention, and the embedding tables
# (Gather, or EmbedLayerNormalization once fused).
DEFAULT_OP_TYPES = ("MatMul", "Attention", "Gather", "EmbedLayerNormalization")
# The second feed-forward MatMul of each BERT layer (its input, after GELU, has the widest range).
FFN_OUTPUT = r"layer\.\d+/output/dense/MatMul"
# Regular expressions over node names: nodes left in float by default, per quantization. Dynamic int8
# keeps the feed-forward output in float (it raised label agreement of the tutorial-recipe MiniLM from
# 97-98.5% to 99%); calibrated (static) int8 agreed as well with it in int8, and those MatMuls were a
# quarter of the int8 model's time (docs/BENCHMARKS.md, runtime-vs-optimum).
DEFAULT_KEEP_FP32: dict[str, tuple[str, ...]] = {"static": (), "qdq": (), "dynamic": (FFN_OUTPUT,)}
INTEGER_OPS = (
    "MatMulIntegerToFloat", "QLinearMatMul", "MatMulInteger", "DynamicQuantizeMatMul", "QAttention",
    "QEmbedLayerNormalization", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
)


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


def quantizer_names(path: Path, names: Sequence[str]) -> list[str]:
    """``names`` as onnxruntime's quantizer sees them: it first rewrites each Gemm as MatMul + Add named
    "<gemm>_MatMul" and "<gemm>_Add", and matches the nodes it must leave alone against those names."""
    import onnx

    gemms = {node.name for node in onnx.load(str(path), load_external_data=False).graph.node if node.op_type == "Gemm"}
    return [alias for name in names for alias in ((name, f"{name}_MatMul", f"{name}_Add") if name in gemms else (name,))]


def quantize_dynamic(
    src: Path, out: Path, *, per_channel: bool = True, op_types: tuple[str, ...] = DEFAULT_OP_TYPES,
    excluded: Sequence[str] = (),
) -> dict[str, Any]:
    """Quantize weights of ``op_types`` to int8, activations quantized on the fly per batch.

    ``excluded``: names of nodes left in float.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic as ort_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_dynamic logs a pre-processing hint on the root logger
    try:
        ort_dynamic(
            str(src), str(out), op_types_to_quantize=list(op_types), per_channel=per_channel,
            weight_type=QuantType.QInt8, nodes_to_exclude=list(excluded) or None,
            extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    return {"method": "onnxruntime dynamic (int8 weights, activations quantized per batch)", "op_types": list(op_types)}


def quantize(
    src: Path, out: Path, *, mode: str = DEFAULT_QUANTIZATION, per_channel: bool = True,
    op_types: tuple[str, ...] = DEFAULT_OP_TYPES, keep_fp32: Sequence[str] = (),
    feeds: Iterable[dict[str, np.ndarray]] = (), input_names: Sequence[str] = (), calibration: str = "minmax",
    smooth: float | None = None,
) -> dict[str, Any]:
    """Quantize ``src`` to int8 (``mode`` static or dynamic) into ``out``; return a summary.

    Nodes whose name matches one of the regular expressions ``keep_fp32`` stay in float. The static
    modes calibrate on ``feeds`` (unpadded single texts with the graph's ``input_names``) with ``calibration``;
    ``smooth`` is the static mode's SmoothQuant alpha (None: off).
    """
    if mode not in QUANTIZATIONS:
        raise InputError("unknown quantization", expected=" | ".join(QUANTIZATIONS), found=repr(mode))
    kept = matching_nodes(src, keep_fp32)
    excluded = quantizer_names(src, kept)
    if mode == "static":
        from mobilebert_edge.export.calibrate import quantize_static

        summary = quantize_static(src, out, feeds, input_names, method=calibration, per_channel=per_channel,
                                  op_types=op_types, excluded=excluded, smooth=smooth)
    elif mode == "qdq":
        from mobilebert_edge.export.calibrate import quantize_qdq

        summary = quantize_qdq(src, out, feeds, input_names, method=calibration, per_channel=per_channel,
                               excluded=excluded)
    else:
        summary = quantize_dynamic(src, out, per_channel=per_channel, op_types=op_types, excluded=excluded)
    return {
        "mode": mode, **summary, "batch_invariant_by_design": INVARIANT[mode], "per_channel": per_channel,
        "kept_fp32": list(keep_fp32), "nodes_kept_fp32": len(kept),
    }


def structure(fp32: Path, stored: Path) -> dict[str, Any]:
    """What the stored graph computes in integers, next to the float graph it came from."""
    before, after = op_counts(fp32), op_counts(stored)
    return {
        "weight_matmuls_fp32": weight_matmuls(fp32),
        "weight_matmuls_left_fp32": weight_matmuls(stored),
        "integer_ops": {op: after[op] for op in INTEGER_OPS if after[op]},
        "attention_fp32": before["Attention"] + before["MultiHeadAttention"],
        "attention_stored": {op: after[op] for op in ("QAttention", "Attention", "MultiHeadAttention") if after[op]},
    }
