"""Static int8 quantization: activation scales calibrated once on sample texts and stored in the graph.

Every activation is quantized with a fixed scale and zero point, so a text's result does not depend
on its batch-mates, its padding or the batch size (dynamic quantization picks one scale per batch).

Two forms. ``quantize_static`` (the default) keeps the integer kernels of dynamic quantization
(QAttention, MatMulInteger, quantized embeddings) and replaces each DynamicQuantizeLinear, which
measures a scale on every batch, by a QuantizeLinear with the calibrated constants. ``quantize_qdq``
is onnxruntime's static QDQ format (QuantizeLinear/DequantizeLinear around each weight MatMul, fused
into integer MatMuls on load); fused attention has no QDQ form, so its projections run as separate
MatMuls before a float MultiHeadAttention.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mobilebert_edge.export.quantize import quantize_dynamic

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
DEFAULT_CALIBRATION = "minmax"
DEFAULT_PERCENTILE = 99.999


def _method(name: str):
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[name]


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over an iterable of input dicts."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]], names: Sequence[str]) -> None:
        self._feeds = iter(feeds)
        self._names = list(names)
        self.count = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        feed = next(self._feeds, None)
        if feed is None:
            return None
        self.count += 1
        return {name: feed[name] for name in self._names}

    def __iter__(self):
        return self

    def __next__(self):
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item


def _infer_shapes(src: Path, out: Path) -> None:
    """Types and shapes of every tensor, contrib ops included (the quantizer skips tensors of unknown type)."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = SymbolicShapeInference.infer_shapes(onnx.load(str(src)), auto_merge=True)
    onnx.save(model, str(out))


def keep_residuals_float(path: Path) -> int:
    """Feed every consumer of a quantized activation that is not a MatMul the float tensor again.

    The QDQ quantizer routes all consumers of a quantized tensor through its DequantizeLinear, so the
    residual connections (SkipLayerNormalization, Add) would see int8-rounded values. Returns how many
    inputs were rewired.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    quantized_from = {node.output[0]: node.input[0] for node in graph.node if node.op_type == "QuantizeLinear"}
    dequantized = {
        node.output[0]: quantized_from[node.input[0]]
        for node in graph.node
        if node.op_type == "DequantizeLinear" and node.input[0] in quantized_from and node.input[0] not in constants
    }
    rewired = 0
    for node in graph.node:
        if node.op_type == "MatMul":
            continue
        for i, name in enumerate(node.input):
            if name in dequantized:
                node.input[i] = dequantized[name]
                rewired += 1
    used = {name for node in graph.node for name in node.input}
    dead = [node for node in graph.node if node.op_type == "DequantizeLinear" and node.output[0] in dequantized
            and node.output[0] not in used]
    for node in dead:
        graph.node.remove(node)
    onnx.save(model, str(path))
    return rewired


def activation_matmuls(path: Path) -> list[str]:
    """Names of MatMul nodes without a constant weight (attention's scores and context products).

    They stay in float: attention probabilities quantized with one fixed step would round away most of
    a long text's weights (onnxruntime's MatMulConstBOnly does not apply to QDQ quantization).
    """
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    constants = {init.name for init in graph.initializer}
    return [node.name for node in graph.node if node.op_type == "MatMul" and node.input[1] not in constants]


def quantize_qdq(
    src: Path, out: Path, feeds: Iterable[dict[str, np.ndarray]], input_names: Sequence[str], *,
    method: str = "minmax", per_channel: bool = True, excluded: Sequence[str] = (),
    percentile: float = DEFAULT_PERCENTILE,
) -> dict[str, Any]:
    """Calibrate on ``feeds`` (one unpadded text each), quantize weight MatMuls to QDQ int8, and store the
    embedding tables as int8 (weights only); return what was done.

    ``excluded``: names of nodes left in float.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static as ort_static

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    reader = _Feeds(feeds, input_names)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs pre-processing hints on the root logger
    try:
        with tempfile.TemporaryDirectory(prefix="calibrate-", dir=out.parent) as tmp:
            typed, qdq = Path(tmp) / "typed.onnx", Path(tmp) / "qdq.onnx"
            _infer_shapes(src, typed)
            ort_static(
                str(typed), str(qdq), reader, quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"],
                per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                nodes_to_exclude=[*excluded, *activation_matmuls(typed)], calibrate_method=_method(method),
                extra_options={
                    "MatMulConstBOnly": True,  # attention's activation x activation products stay float
                    "OpTypesToExcludeOutputQuantization": ["MatMul"],  # MatMul -> float, fused on load
                    "CalibPercentile": percentile, "CalibMovingAverage": False,
                },
            )
            rewired = keep_residuals_float(qdq)
            # Embedding tables: int8 storage, dequantized per looked-up row (no activation is quantized).
            quantize_dynamic(str(qdq), str(out), op_types_to_quantize=["Gather", "EmbedLayerNormalization"],
                             weight_type=QuantType.QUInt8, extra_options={"MatMulConstBOnly": True})
    finally:
        root.setLevel(level)
    return {
        "method": "onnxruntime static QDQ (int8 weights, uint8 activations with calibrated scales)",
        "calibration": {"method": method, "texts": reader.count, **({"percentile": percentile} if method == "percentile" else {})},
        "residuals_kept_float": rewired,
    }



def _collector(method: str, percentile: float):
    from onnxruntime.quantization.calibrate import HistogramCollector

    bins = 2048 if method == "percentile" else 128
    return HistogramCollector(method=method, symmetric=False, num_bins=bins, num_quantized_bins=128,
                              percentile=percentile, scenario="same")


def calibrate_ranges(
    src: Path, tensors: Sequence[str], feeds: Iterable[dict[str, np.ndarray]], input_names: Sequence[str], *,
    method: str = "minmax", percentile: float = DEFAULT_PERCENTILE,
) -> tuple[dict[str, tuple[float, float]], int]:
    """(low, high) of each float tensor of ``src`` over ``feeds``, and how many feeds were run.

    ``minmax`` takes the extremes; ``percentile`` and ``entropy`` use onnxruntime's histogram collector,
    fed one text at a time so memory stays flat.
    """
    import contextlib
    import io

    session = _session_with_outputs(src, tensors)
    lows = {name: np.inf for name in tensors}
    highs = {name: -np.inf for name in tensors}
    collector = None if method == "minmax" else _collector(method, percentile)
    count = 0
    for feed in feeds:
        values = session.run(list(tensors), {name: feed[name] for name in input_names})
        count += 1
        for name, value in zip(tensors, values):
            lows[name] = min(lows[name], float(value.min()))
            highs[name] = max(highs[name], float(value.max()))
        if collector is not None:
            with contextlib.redirect_stdout(io.StringIO()):  # the collector prints progress
                collector.collect({name: [value] for name, value in zip(tensors, values)})
    if count == 0:
        raise ValueError("no calibration texts")
    if collector is None:
        return {name: (lows[name], highs[name]) for name in tensors}, count
    with contextlib.redirect_stdout(io.StringIO()):
        found = collector.compute_collection_result()
    return {name: (float(found[name][0]), float(found[name][1])) for name in tensors}, count


def _session_with_outputs(src: Path, tensors: Sequence[str]):
    """An onnxruntime session of ``src`` that also returns the intermediate ``tensors``."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(src))
    model.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in tensors)
    with tempfile.TemporaryDirectory(prefix="calibrate-", dir=src.parent) as tmp:
        augmented = Path(tmp) / "augmented.onnx"
        onnx.save(model, str(augmented))
        return ort.InferenceSession(str(augmented), providers=["CPUExecutionProvider"])


def channel_ranges(
    src: Path, tensors: Sequence[str], feeds: Iterable[dict[str, np.ndarray]], input_names: Sequence[str]
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Per-channel (last axis) minimum and maximum of each float tensor of ``src`` over ``feeds``."""
    session = _session_with_outputs(src, tensors)
    ranges: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    count = 0
    for feed in feeds:
        values = session.run(list(tensors), {name: feed[name] for name in input_names})
        count += 1
        for name, value in zip(tensors, values):
            flat = value.reshape(-1, value.shape[-1])
            low, high = flat.min(axis=0), flat.max(axis=0)
            if name in ranges:
                low, high = np.minimum(ranges[name][0], low), np.maximum(ranges[name][1], high)
            ranges[name] = (low, high)
    if count == 0:
        raise ValueError("no calibration texts")
    return ranges, count


def uint8_parameters(low: float, high: float) -> tuple[np.float32, np.uint8]:
    """Scale and zero point of DynamicQuantizeLinear's uint8 scheme for the range [low, high] (0 included)."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = np.float32((high - low) / 255.0) if high > low else np.float32(1.0)
    zero_point = np.uint8(np.clip(np.round(-low / scale), 0, 255))
    return scale, zero_point


def freeze_activation_scales(
    path: Path, ranges: dict[str, tuple[float, float]], factors: dict[str, np.ndarray] | None = None
) -> int:
    """Replace each DynamicQuantizeLinear by a QuantizeLinear with constants from ``ranges``; return how many.

    A tensor with smoothing ``factors`` (export/smooth.py) is first multiplied by ``1 / s`` (one Mul),
    so its integer kernels read ``x / s`` with the one per-tensor ``scale`` they are given.
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    factors = factors or {}
    nodes, frozen = [], 0
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        scale, zero_point = uint8_parameters(*ranges[node.input[0]])
        quantized, scale_name, zero_name = node.output
        graph.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), scale_name),
                                  numpy_helper.from_array(np.array(zero_point, np.uint8), zero_name)])
        source = node.input[0]
        s = factors.get(source)
        if s is not None:
            # x * (1 / s) as its own broadcast Mul: onnxruntime's QuantizeLinear with a per-channel scale
            # on the last axis takes a scalar loop that made the whole model several times slower
            inverse, smoothed = f"{source}_smooth_inverse", f"{source}_smoothed"
            graph.initializer.append(numpy_helper.from_array((1.0 / s).astype(np.float32), inverse))
            nodes.append(helper.make_node("Mul", [source, inverse], [smoothed],
                                          name=f"{node.name}_smooth" if node.name else ""))
            source = smoothed
        nodes.append(helper.make_node("QuantizeLinear", [source, scale_name, zero_name], [quantized],
                                      name=f"{node.name}_static" if node.name else ""))
        frozen += 1
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(path))
    return frozen


def readers_of(graph) -> dict[str, list]:
    """For each tensor name, the nodes that read it, in graph order (once per input that names it)."""
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def fuse_integer_matmuls(path: Path) -> int:
    """MatMulInteger -> Cast -> Mul(Mul(a_scale, b_scale)) with constant scales, as one MatMulIntegerToFloat.

    onnxruntime fuses this pattern only behind DynamicQuantizeLinear; once the activation scale is a
    constant the integer product, its cast and its scaling would run as three kernels. Returns how many.
    """
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    constants = {init.name for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers = readers_of(graph)
    drop, fused = set(), 0
    for node in list(graph.node):
        if node.op_type != "MatMulInteger" or len(consumers.get(node.output[0], [])) != 1:
            continue
        cast = consumers[node.output[0]][0]
        if cast.op_type != "Cast" or len(consumers.get(cast.output[0], [])) != 1:
            continue
        mul = consumers[cast.output[0]][0]
        scales = producer.get(mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0])
        if mul.op_type != "Mul" or scales is None or scales.op_type != "Mul" or not set(scales.input) <= constants:
            continue
        a, b, a_zero, b_zero = (list(node.input) + ["", ""])[:4]
        replacement = helper.make_node(
            "MatMulIntegerToFloat", [a, b, scales.input[0], scales.input[1], a_zero, b_zero], [mul.output[0]],
            name=f"{node.name}_to_float" if node.name else "", domain="com.microsoft",
        )
        graph.node.insert(list(graph.node).index(node), replacement)
        drop.update(id(n) for n in (node, cast, mul))
        if all(id(c) in drop or c is mul for c in consumers.get(scales.output[0], [])):
            drop.add(id(scales))
        fused += 1
    kept = [node for node in graph.node if id(node) not in drop]
    del graph.node[:]
    graph.node.extend(kept)
    if fused and not any(op.domain == "com.microsoft" for op in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    fold_biases(graph)
    onnx.save(model, str(path))
    return fused


def fold_biases(graph) -> int:
    """``MatMulIntegerToFloat -> Add(constant vector)`` as one MatMulIntegerToFloat with its bias input.

    The kernel adds the bias while it scales the integer product, so each folded Add is one pass over
    the activations less (MobileBERT has one per projection: 363). Returns how many were folded.
    """
    import onnx

    initializers = {init.name: init for init in graph.initializer}
    for node in graph.node:  # equal tensors are exported once, the other names as Identity of it
        if node.op_type == "Identity" and node.input[0] in initializers:
            initializers.setdefault(node.output[0], initializers[node.input[0]])
    consumers = readers_of(graph)
    outputs = {value.name for value in graph.output}
    drop, folded = set(), 0
    for node in graph.node:
        if node.op_type != "MatMulIntegerToFloat" or len(node.input) > 6 or node.output[0] in outputs:
            continue
        users = consumers.get(node.output[0], [])
        if len(users) != 1 or users[0].op_type != "Add":
            continue
        add = users[0]
        bias = add.input[1] if add.input[0] == node.output[0] else add.input[0]
        weight, vector = initializers.get(node.input[1]), initializers.get(bias)
        if weight is None or vector is None or tuple(vector.dims) != (weight.dims[-1],) \
                or vector.data_type != onnx.TensorProto.FLOAT:
            continue
        node.input.extend([""] * (6 - len(node.input)) + [vector.name])
        node.output[0] = add.output[0]
        drop.add(id(add))
        folded += 1
    kept = [node for node in graph.node if id(node) not in drop]
    del graph.node[:]
    graph.node.extend(kept)
    return folded


def quantize_static(
    src: Path, out: Path, feeds: Iterable[dict[str, np.ndarray]], input_names: Sequence[str], *,
    method: str = "minmax", per_channel: bool = True, op_types: tuple[str, ...], excluded: Sequence[str] = (),
    percentile: float = DEFAULT_PERCENTILE, smooth: float | None = None,
) -> dict[str, Any]:
    """Dynamic quantization's integer kernels with activation scales calibrated on ``feeds`` (one unpadded
    text each) and frozen into the graph; return what was done.

    ``smooth`` (0..1, minmax calibration only): SmoothQuant's alpha (export/smooth.py); None: off.
    """
    import onnx

    if method not in CALIBRATION_METHODS:
        raise ValueError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    if smooth is not None and (method != "minmax" or not 0 <= smooth <= 1):
        raise ValueError(f"smoothing needs minmax calibration and an alpha in [0, 1], got {method!r}, {smooth!r}")
    quantize_dynamic(src, out, per_channel=per_channel, op_types=op_types, excluded=excluded)
    graph = onnx.load(str(out), load_external_data=False).graph
    tensors = sorted({node.input[0] for node in graph.node if node.op_type == "DynamicQuantizeLinear"})
    smoothing = None
    if smooth is None:
        ranges, count = calibrate_ranges(src, tensors, feeds, input_names, method=method, percentile=percentile)
        frozen = freeze_activation_scales(out, ranges)
    else:
        from mobilebert_edge.export import smooth as smooth_mod

        channels, count = channel_ranges(src, tensors, feeds, input_names)
        source = onnx.load(str(src), load_external_data=False).graph
        consumers = smooth_mod.weight_consumers(source, tensors, set(excluded))
        factors = smooth_mod.smoothing_factors(source, channels, consumers, smooth)
        with tempfile.TemporaryDirectory(prefix="smooth-", dir=out.parent) as tmp:
            scaled = Path(tmp) / "smoothed.onnx"
            weights = smooth_mod.scale_weights(src, scaled, consumers, factors)
            quantize_dynamic(scaled, out, per_channel=per_channel, op_types=op_types, excluded=excluded)
        _check_smoothed_readers(out, consumers, factors)
        ranges = {t: smooth_mod.smoothed_range(*channels[t], factors.get(t)) for t in tensors}
        frozen = freeze_activation_scales(out, ranges, factors)
        smoothing = smooth_mod.summary(factors, smooth, weights)
    fuse_integer_matmuls(out)
    if smoothing is not None:
        from mobilebert_edge.export.fusion.scales import fold_smoothing_file

        smoothing["folded_into_kernels"] = fold_smoothing_file(out)
    return {
        "method": "static: onnxruntime's integer kernels (QAttention, MatMulInteger) with activation scales "
                  "calibrated at export instead of measured per batch",
        "op_types": list(op_types),
        "calibration": {"method": method, "texts": count, "activations": frozen,
                        **({"percentile": percentile} if method == "percentile" else {})},
        "smoothing": smoothing,
    }


def _check_smoothed_readers(path: Path, consumers: dict[str, list], factors: dict[str, np.ndarray]) -> None:
    """Every integer kernel reading a smoothed activation must be one whose weight took the factors."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    kernels = readers_of(graph)
    readers: dict[str, int] = {}
    for node in graph.node:
        if node.op_type == "DynamicQuantizeLinear" and node.input[0] in factors:
            readers[node.input[0]] = len({id(kernel) for kernel in kernels.get(node.output[0], [])})
    for tensor in factors:
        if readers.get(tensor, 0) != len(consumers[tensor]):
            raise RuntimeError(f"smoothing: {tensor} is read by {readers.get(tensor, 0)} integer kernels, "
                               f"but {len(consumers[tensor])} weights were scaled")
