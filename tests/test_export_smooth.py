"""Activation smoothing (SmoothQuant) for static int8, on a graph small enough to reason about."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from mobilebert_edge.export.calibrate import quantize_static

HIDDEN, OUT = 16, 8


def outlier_graph(path: Path, rng: np.random.Generator) -> np.ndarray:
    """x -> MatMul(W1) -> Relu -> MatMul(W2), and x read once more as it is (like a residual); returns W1."""
    w1 = rng.normal(size=(HIDDEN, OUT)).astype(np.float32)
    w2 = rng.normal(size=(OUT, OUT)).astype(np.float32)
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="first"),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="second"),
        helper.make_node("Identity", ["x"], ["residual"], name="residual"),
    ]
    graph = helper.make_graph(
        nodes, "outliers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "tokens", HIDDEN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "tokens", OUT]),
         helper.make_tensor_value_info("residual", TensorProto.FLOAT, ["batch", "tokens", HIDDEN])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return w1


def texts(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Activations with two channels 100x larger than the rest, as transformer layers have."""
    out = []
    for _ in range(n):
        x = rng.normal(size=(1, int(rng.integers(3, 9)), HIDDEN)).astype(np.float32)
        x[..., :2] *= 100.0
        out.append(x)
    return out


def run(path: Path, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y", "residual"], {"x": x})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("smooth")
    src = root / "fp32.onnx"
    outlier_graph(src, rng)
    calibration, held_out = texts(rng, 32), texts(rng, 16)
    reports = {}
    for alpha in (None, 0.5):
        out = root / f"int8-{alpha}.onnx"
        reports[alpha] = quantize_static(src, out, ({"x": x} for x in calibration), ["x"], op_types=("MatMul",),
                                         smooth=alpha)
    return src, root, held_out, reports


def test_smoothing_reduces_the_error_that_outlier_channels_cause(exported):
    src, root, held_out, reports = exported
    errors = {}
    for alpha in (None, 0.5):
        diffs = [np.abs(run(root / f"int8-{alpha}.onnx", x)[0] - run(src, x)[0]).max() for x in held_out]
        errors[alpha] = float(np.mean(diffs))
    assert errors[0.5] < 0.7 * errors[None], errors  # measured: about half
    assert reports[None]["smoothing"] is None
    assert reports[0.5]["smoothing"] == {"alpha": 0.5, "activations": 2, "weights": 2, "folded_into_kernels": 0,
                                         "largest_factor": pytest.approx(reports[0.5]["smoothing"]["largest_factor"])}
    assert reports[0.5]["smoothing"]["largest_factor"] > 1.0


def test_smoothing_leaves_other_readers_of_the_activation_untouched(exported):
    src, root, held_out, _ = exported
    for x in held_out[:4]:
        assert np.array_equal(run(root / "int8-0.5.onnx", x)[1], x)  # the residual reads x itself, not x / s


def test_smoothed_activation_is_divided_by_one_mul_then_quantized_per_tensor(exported):
    _, root, _, _ = exported
    graph = onnx.load(str(root / "int8-0.5.onnx")).graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    mul = next(node for node in graph.node if node.op_type == "Mul" and node.input[0] == "x")
    assert constants[mul.input[1]].shape == (HIDDEN,)
    inverse = constants[mul.input[1]]
    assert inverse[:2].max() < inverse[2:].min()  # the two outlier channels are divided the most
    quantize = next(node for node in graph.node if node.op_type == "QuantizeLinear" and node.input[0] == mul.output[0])
    # a per-channel QuantizeLinear on the last axis is a slow path in onnxruntime: the scale stays one number
    assert constants[quantize.input[1]].shape == () and constants[quantize.input[2]].shape == ()
    assert not any(attr.name == "axis" for attr in quantize.attribute)
    kernel = next(node for node in graph.node
                  if node.op_type == "MatMulIntegerToFloat" and quantize.output[0] in node.input)
    assert constants[kernel.input[2]].shape == ()  # the kernel's activation scale stays one number


def test_smoothing_needs_minmax(tmp_path: Path):
    src = tmp_path / "fp32.onnx"
    outlier_graph(src, np.random.default_rng(1))
    with pytest.raises(ValueError, match="smoothing needs minmax calibration"):
        quantize_static(src, tmp_path / "out.onnx", iter([]), ["x"], op_types=("MatMul",), method="entropy", smooth=0.5)
