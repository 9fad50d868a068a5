"""Errors of the training package: user-facing, printed by the CLI as one line (exit 1)."""

from __future__ import annotations

from edge_runtime.errors import EdgeError, InputError


class TrainError(EdgeError):
    """Base of the training errors."""


class ConfigError(InputError, TrainError):
    """An invalid training setting (a flag value or a preset combination)."""


class ModelLoadError(TrainError):
    """The base model or its tokenizer cannot be loaded (missing folder, unreachable hub, ...)."""


class OutputError(TrainError):
    """The output folder cannot be used (not empty, not a previous run, nothing to resume...)."""


class ResumeError(TrainError):
    """An epoch checkpoint that does not match the run being resumed."""
