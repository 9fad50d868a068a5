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


# What to do about an operating-system error, by errno name (``describe_os_error``).
OS_ERROR_HINTS = {
    "ENOSPC": "free some space on that disk or write elsewhere",
    "EDQUOT": "free some of your disk quota or write elsewhere",
    "EFBIG": "the file system cannot hold a file this large; write elsewhere",
    "EROFS": "the file system is read-only; write elsewhere",
    "EACCES": "check the permissions, or use another path",
    "EPERM": "check the permissions, or use another path",
    "EISDIR": "a folder is in the way; name a file",
    "ENOTDIR": "a file is in the way where a folder is needed; use another path",
    "ENOENT": "check the path",
    "EIO": "the device reported an I/O error; check the disk",
}


def os_errno(error: OSError) -> int | None:
    """The errno of an ``OSError``; pyarrow's carry it only in their text (``[Errno 28] ...``)."""
    import re

    if error.errno is not None:
        return error.errno
    match = re.search(r"\[Errno (\d+)\]", str(error))
    return int(match.group(1)) if match else None


def describe_os_error(error: OSError, path: object | None = None) -> str:
    """One line for an ``OSError``: the file, what failed and what to do (e.g. for a full disk)."""
    import errno as errno_names

    number = os_errno(error)
    reason = error.strerror or (str(error).splitlines() or [type(error).__name__])[0]
    if number is not None and not error.strerror:
        import os

        reason = os.strerror(number)
    where = path if path is not None else error.filename
    hint = OS_ERROR_HINTS.get(errno_names.errorcode.get(number, "") if number is not None else "")
    text = f"{where}: {reason}" if where is not None else reason
    return f"{text}; {hint}" if hint else text
