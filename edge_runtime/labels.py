"""Label values -> class ids and names: the one set of rules for training, export and evaluation.

- Integers (also written ``1.0``, or JSON numbers) are sorted numerically and named ``"0"``, ``"1"``...
- Strings: exactly negative/positive (or neg/pos, any case) become negative=0, positive=1;
  any other set (multi-class) is sorted.
- Given names (e.g. a checkpoint's labels) are reused as they are: a value maps to the name it
  equals (exactly, else case-insensitively) or, when the names are not numbers, an integer ``i``
  maps to the ``i``-th name. Anything else is an unknown label.

Names are a plain list of strings in id order, which is what travels as JSON with a model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from edge_runtime.errors import DataError

_BINARY_ORDERS = ({"negative": 0, "positive": 1}, {"neg": 0, "pos": 1})


def is_missing(value: object) -> bool:
    """True for None, NaN and pandas' missing markers (NA, NaT), without importing pandas."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, float) and math.isnan(value)


def normalize_label(value: object) -> int | str | None:
    """An int for integral numbers (``1``, ``1.0``, ``"1"``, ``" 1.0 "``, True), a stripped str otherwise.

    None for a missing label (None, NaN, empty or whitespace-only).
    """
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) or type(value).__module__ == "numpy":
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return str(value).strip() or None
        if math.isnan(number):
            return None
        return int(number) if number.is_integer() else str(value)
    text = str(value).strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer() and text.lstrip("+-").replace(".", "", 1).isdigit():
        return int(number)
    return text


def infer_label_names(values: Iterable[int | str]) -> list[str]:
    """Names in id order for the distinct normalized label values (see the module docstring)."""
    distinct = set(values)
    if not distinct:
        return []
    if all(isinstance(v, int) for v in distinct):
        return [str(v) for v in sorted(distinct)]  # type: ignore[type-var]
    names = sorted(str(v) for v in distinct)
    for order in _BINARY_ORDERS:
        if len(names) == 2 and {n.lower() for n in names} == set(order):
            return sorted(names, key=lambda n: order[n.lower()])
    return names


class LabelEncoder:
    """Maps normalized label values to ids for a fixed list of names."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = check_label_names(names)
        self._exact = {name: i for i, name in enumerate(self.names)}
        folded: dict[str, int | None] = {}
        for i, name in enumerate(self.names):
            key = name.lower()
            folded[key] = None if key in folded else i  # ambiguous when two names differ only by case
        self._folded = folded
        self._by_position = not any(isinstance(normalize_label(n), int) for n in self.names)

    def encode(self, value: int | str) -> int | None:
        """The id of a normalized label value, or None when it is not one of the names."""
        key = str(value)
        if key in self._exact:
            return self._exact[key]
        folded = self._folded.get(key.lower())
        if folded is not None:
            return folded
        if self._by_position and isinstance(value, int) and 0 <= value < len(self.names):
            return value
        return None


def check_label_names(names: object) -> list[str]:
    """Validate label names read from JSON or given by a user: a list of >= 2 distinct non-empty strings."""
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise DataError("label names must be a list of strings", found=repr(names))
    cleaned = [n.strip() for n in names]
    if any(not n for n in cleaned):
        raise DataError("label names must not be empty", found=repr(list(names)))
    if len(set(cleaned)) != len(cleaned):
        raise DataError("label names must be distinct", found=repr(list(names)))
    if len(cleaned) < 2:
        raise DataError("a classifier needs at least two labels", found=repr(list(names)))
    return cleaned


def label_names_to_json(names: Sequence[str]) -> list[str]:
    """The JSON-able form of label names (id order)."""
    return list(check_label_names(list(names)))


def label_names_from_json(value: object) -> list[str]:
    """Label names read back from JSON, validated."""
    return check_label_names(value)
