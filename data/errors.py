"""Errors about input data: the CLI prints them as one line and exits 1."""

from __future__ import annotations

from edge_runtime.errors import InputError


class DataError(InputError):
    """A data file that cannot be used: unreadable, empty, missing a column, or with bad rows."""
