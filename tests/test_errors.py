"""The one-line text of user-facing errors."""

from edge_runtime.errors import EdgeError, InputError


def test_expected_found_and_hint():
    error = InputError("bad size", expected="1..4", found=9, hint="pass --size N")
    assert str(error) == "bad size (expected 1..4, found 9); pass --size N"


def test_only_found_or_only_expected_or_neither():
    assert str(EdgeError("unknown label", found="'x'")) == "unknown label (found 'x')"
    assert str(EdgeError("no column", expected="text")) == "no column (expected text)"
    assert str(EdgeError("plain")) == "plain"
