"""PyTorch classifier -> fp32 ONNX graph with dynamic batch and sequence axes.

Uses the TorchScript-based ``torch.onnx.export(dynamo=False)``: it exports MobileBERT and BERT
classifiers whose logits match PyTorch to ~1e-6 (the dynamo exporter needs onnxscript, which
the train extra does not install). The graph has one output, ``logits``.
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import numpy as np

from mobilebert_edge.export.errors import ExportError

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 18


def model_input_names(model) -> list[str]:
    """The inputs among ``INPUT_NAMES`` that the model's forward accepts, in that order."""
    accepted = inspect.signature(model.forward).parameters
    return [name for name in INPUT_NAMES if name in accepted]


def export_onnx(model, sample: dict[str, np.ndarray], out: Path, opset: int = DEFAULT_OPSET) -> list[str]:
    """Trace ``model`` on ``sample`` and write the ONNX graph to ``out``; return the input names."""
    import onnx
    import torch

    names = model_input_names(model)

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            return self.model(**dict(zip(names, tensors)), return_dict=True).logits

    args = tuple(torch.from_numpy(sample[name]) for name in names)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes[OUTPUT_NAME] = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.no_grad():
                torch.onnx.export(
                    Logits().eval(), args, str(out), input_names=names, output_names=[OUTPUT_NAME],
                    dynamic_axes=axes, opset_version=opset, do_constant_folding=True, dynamo=False,
                )
        except Exception as error:  # noqa: BLE001 - the exporter raises many types
            raise ExportError(
                f"ONNX export of {type(model).__name__} failed ({type(error).__name__}: {error})",
                hint="try another --opset, or report the model architecture",
            ) from error
    onnx.checker.check_model(str(out))
    return names
