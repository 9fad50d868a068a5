"""Errors a user can cause and fix. The CLI prints them as one line and exits 1."""

from __future__ import annotations


class EdgeError(Exception):
    """Base of every user-facing error: what went wrong, what was expected and found, what to do."""

    def __init__(
        self,
        message: str,
        *,
        expected: object | None = None,
        found: object | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = self.message
        if self.expected is not None and self.found is not None:
            text += f" (expected {self.expected}, found {self.found})"
        elif self.expected is not None:
            text += f" (expected {self.expected})"
        elif self.found is not None:
            text += f" (found {self.found})"
        if self.hint:
            text += f"; {self.hint}"
        return text


class InputError(EdgeError):
    """Bad input data, path or argument."""


class DataError(InputError):
    """A data file that cannot be used: unreadable, empty, missing a column, or with bad rows."""


class BundleError(EdgeError):
    """A deployable bundle that is missing, partial, tampered or of an unknown format."""
