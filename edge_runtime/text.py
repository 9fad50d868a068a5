"""Texts to model inputs with ``tokenizers`` alone, the same ids training saw.

``text -> content ids (no special tokens) -> truncate_ids -> add special tokens``: the rule is
applied by :func:`edge_runtime.truncation.truncate_ids`, and the special tokens are the ones the
tokenizer's own post-processor adds (read once at load by probing it).
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from edge_runtime.errors import BundleError, InputError
from edge_runtime.truncation import truncate_ids
from edge_runtime.window import content_ids, token_count, window_chars

_PROBE = "a"
_PAD_TOKENS = ("[PAD]", "<pad>", "<PAD>")


# Unicode categories that carry no content: separators (spaces, line and paragraph separators),
# control (NUL, ...), format (zero-width space, BOM, soft hyphen, ...), private use, and nonspacing
# marks (a combining accent with nothing to sit on). BERT-style normalizers drop all of them.
NO_CONTENT_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Co", "Mn"})
REPLACEMENT_CHARACTER = "\ufffd"  # what a decoder leaves for an undecodable byte; BERT drops it too


def is_blank(text: str) -> bool:
    """True for a text with no content character (empty, spaces, control or format characters only, ...):
    nothing to classify (the runtime refuses it, ``score`` flags it). See ``NO_CONTENT_CATEGORIES``."""
    return all(
        char == REPLACEMENT_CHARACTER or unicodedata.category(char) in NO_CONTENT_CATEGORIES for char in text
    )


@dataclass(frozen=True)
class Batch:
    """Model inputs for a batch, int64, padded to its longest item."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray


class TextEncoder:
    """Encode texts into ids for a sequence classifier (single sequences, no pairs)."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        max_length: int,
        rule: str = "head",
        head_tokens: int | None = None,
    ) -> None:
        self.pad_id = _pad_id(tokenizer)  # before padding is switched off
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.rule = rule
        self.head_tokens = head_tokens
        self.prefix, self.suffix, self.prefix_types, self.suffix_types, self.content_type = _special_layout(tokenizer)
        self.budget = self.max_length - len(self.prefix) - len(self.suffix)
        if self.budget < 1:
            raise InputError(
                "max_length leaves no room for text",
                expected=f"> {len(self.prefix) + len(self.suffix)} (the special tokens)",
                found=self.max_length,
            )
        truncate_ids([], self.budget, rule, head_tokens)  # validates the rule once
        if head_tokens is not None and not 0 <= head_tokens <= self.budget:
            raise InputError("head_tokens out of range", expected=f"0..{self.budget}", found=head_tokens)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        max_length: int,
        rule: str = "head",
        head_tokens: int | None = None,
    ) -> TextEncoder:
        """Load ``tokenizer.json``; a file ``tokenizers`` cannot read is a :class:`BundleError`."""
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # tokenizers raises a bare Exception on bad files
            raise BundleError(
                f"cannot load tokenizer {Path(path)} ({error})",
                hint="the file must be a fast-tokenizer tokenizer.json; re-export the bundle",
            ) from error
        return cls(tokenizer, max_length, rule, head_tokens)

    def encode_ids(self, texts: Sequence[str], *, offset: int = 0) -> list[list[int]]:
        """Token ids with special tokens, truncated to ``max_length``, unpadded.

        ``offset`` is added to the text numbers in error messages (for texts read in chunks).
        """
        return [self.prefix + ids + self.suffix for ids in self._content_ids(texts, offset)]

    def token_counts(self, texts: Sequence[str], at_most: int | None = None) -> list[int]:
        """Tokens of each text before truncation, special tokens included (above ``max_length``: truncated).

        A count above ``at_most`` (default ``4 * max_length``, what the evaluation report bins up to) is
        ``at_most``: only the head of a long text is tokenized, so memory stays bounded whatever its length.
        """
        specials = len(self.prefix) + len(self.suffix)
        at_most = 4 * self.max_length if at_most is None else at_most
        limit = window_chars(self.budget)
        encodings = iter(self.tokenizer.encode_batch([t for t in texts if len(t) <= limit], add_special_tokens=False))
        return [
            specials + (min(len(next(encodings).ids), at_most - specials) if len(text) <= limit
                        else token_count(self.tokenizer, text, self.budget, at_most - specials))
            for text in texts
        ]

    def encode(self, texts: Sequence[str]) -> Batch:
        """A padded batch for ``texts`` (int64 arrays of shape (len(texts), longest))."""
        return self.pad(self.encode_ids(texts))

    def pad(self, rows: Sequence[Sequence[int]]) -> Batch:
        """Pad id rows (as from :meth:`encode_ids`) to the longest one."""
        width = max((len(row) for row in rows), default=0)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        token_type_ids = np.zeros((len(rows), width), dtype=np.int64)
        specials = len(self.prefix) + len(self.suffix)
        for i, row in enumerate(rows):
            n = len(row)
            input_ids[i, :n] = row
            attention_mask[i, :n] = 1
            token_type_ids[i, :n] = self.prefix_types + [self.content_type] * (n - specials) + self.suffix_types
        return Batch(input_ids, attention_mask, token_type_ids)

    def _content_ids(self, texts: Sequence[str], offset: int = 0) -> list[list[int]]:
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"text {offset + index} is not a string", expected="str", found=type(text).__name__)
        limit = window_chars(self.budget)
        short = [text for text in texts if len(text) <= limit]  # most texts: tokenized together
        try:
            encodings = iter(self.tokenizer.encode_batch(short, add_special_tokens=False))
            return [
                truncate_ids(next(encodings).ids, self.budget, self.rule, self.head_tokens) if len(text) <= limit
                else content_ids(self.tokenizer, text, self.budget, self.rule, self.head_tokens)  # only its ends
                for text in texts
            ]
        except TypeError:  # tokenizers refuses str holding lone surrogates (undecodable input bytes)
            for index, text in enumerate(texts):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError as error:
                    raise InputError(
                        f"text {offset + index} is not valid Unicode (a lone surrogate at character {error.start})",
                        hint="the input was probably decoded with the wrong encoding; pass UTF-8 text",
                    ) from error
            raise


def _special_layout(tokenizer: Tokenizer) -> tuple[list[int], list[int], list[int], list[int], int]:
    """Special ids (and type ids) the post-processor puts before and after a single sequence."""
    plain = tokenizer.encode(_PROBE, add_special_tokens=False)
    full = tokenizer.encode(_PROBE, add_special_tokens=True)
    mask = full.special_tokens_mask
    start = 0
    while start < len(mask) and mask[start]:
        start += 1
    end = len(mask)
    while end > start and mask[end - 1]:
        end -= 1
    if list(full.ids[start:end]) != list(plain.ids) or not plain.ids:
        raise BundleError(
            "unsupported tokenizer post-processor",
            expected="special tokens before and/or after the text (BERT-, RoBERTa- or template-style)",
            found=f"{full.tokens} for {_PROBE!r}",
        )
    types = list(full.type_ids)
    content_type = types[start] if start < end else 0
    return list(full.ids[:start]), list(full.ids[end:]), types[:start], types[end:], content_type


def _pad_id(tokenizer: Tokenizer) -> int:
    """The tokenizer's padding id: its padding config, else a [PAD]-like token, else 0 (masked anyway)."""
    padding = tokenizer.padding
    if padding and padding.get("pad_id") is not None:
        return int(padding["pad_id"])
    for token in _PAD_TOKENS:
        token_id = tokenizer.token_to_id(token)
        if token_id is not None:
            return token_id
    return 0
