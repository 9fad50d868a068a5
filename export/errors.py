"""Errors of the export step. All are ``EdgeError``s: the CLI prints one line and exits 1."""

from __future__ import annotations

from edge_runtime.errors import EdgeError, InputError


class ExportError(EdgeError):
    """The export could not produce a bundle."""


class CheckpointError(InputError):
    """The checkpoint folder is missing, unreadable or not a sequence classifier."""


class ExportValidationError(ExportError):
    """The exported ONNX graph does not reproduce the PyTorch model."""


class OutputNamesError(ExportValidationError):
    """The graph's outputs are not the ones expected."""


class OutputShapeError(ExportValidationError):
    """An output of the graph has the wrong shape."""


class OutputValuesError(ExportValidationError):
    """The graph's outputs differ from PyTorch by more than the tolerance."""


class QualityGateError(ExportError):
    """int8 quantization lost more accuracy than allowed."""
