"""Choose the text and label columns of a labelled table: given explicitly, or inferred from common names.

The one rule for training (``mobilebert_edge.data``) and evaluation (``edge_runtime.evaluation``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge_runtime.errors import DataError

# Common names, most specific first; matched case-insensitively.
TEXT_NAMES = ("text", "review", "sentence", "content", "document", "comment", "body", "tweet")
LABEL_NAMES = ("label", "sentiment", "labels", "class", "target", "category", "polarity")


def _find(columns: Sequence[str], wanted: str) -> str | None:
    """The column called ``wanted``: exactly if present, else case-insensitively."""
    if wanted in columns:
        return wanted
    folded = [c for c in columns if str(c).strip().lower() == wanted.strip().lower()]
    return folded[0] if folded else None


def _available(columns: Sequence[str]) -> str:
    return ", ".join(repr(str(c)) for c in columns)


def _pick(
    columns: Sequence[str], explicit: str | None, common: Sequence[str], role: str, source: str,
    flag: str | None = None,
) -> tuple[str, bool]:
    """The column to use for ``role`` ('text' or 'label') and whether it was inferred (``flag`` names the option)."""
    flag = flag or f"--{role}-column"
    if explicit is not None:
        found = _find(columns, explicit)
        if found is None:
            raise DataError(
                f"{source}: no {role} column {explicit!r}",
                hint=f"available columns: {_available(columns)}; pass {flag} NAME",
            )
        return found, False
    for name in common:
        found = _find(columns, name)
        if found is not None:
            return found, True
    raise DataError(
        f"{source}: cannot tell which column holds the {role}s",
        expected=f"one of {', '.join(common)} (any case)",
        found=_available(columns),
        hint=f"pass {flag} NAME",
    )


def choose_columns(
    columns: Sequence[str],
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    source: str = "data",
    log: Callable[[str], object] = print,
) -> tuple[str, str]:
    """The (text, label) column names of a table; says through ``log`` which were chosen."""
    columns = [str(c) for c in columns]
    text, text_inferred = _pick(columns, text_column, TEXT_NAMES, "text", source)
    label, label_inferred = _pick(columns, label_column, LABEL_NAMES, "label", source)
    if text == label:
        raise DataError(
            f"{source}: the text and label columns are the same column {text!r}",
            hint="pass different --text-column and --label-column",
        )
    inferred = [role for role, was in (("text", text_inferred), ("label", label_inferred)) if was]
    override = f"; override with {'/'.join(f'--{role}-column' for role in inferred)}" if inferred else ""
    log(f"{source}: text column {text!r} ({'inferred' if text_inferred else 'given'}), "
        f"label column {label!r} ({'inferred' if label_inferred else 'given'}){override}")
    return text, label


def choose_text_column(
    columns: Sequence[str],
    *,
    text_column: str | None = None,
    source: str = "data",
    flag: str = "--text-column",
    log: Callable[[str], object] = print,
) -> str:
    """The text column of a table without labels; says through ``log`` which was chosen."""
    text, inferred = _pick([str(c) for c in columns], text_column, TEXT_NAMES, "text", source, flag)
    log(f"{source}: text column {text!r} ({'inferred; override with ' + flag if inferred else 'given'})")
    return text
