"""Tokenize only the ends of a long text: memory bounded whatever the text's length, same ids as the whole.

A truncation rule keeps at most ``budget`` content tokens from the head and/or tail of a text
(``edge_runtime.truncation``), so only those ends need tokenizing. A text longer than the window is
tokenized a window of characters at a time from the end(s) the rule keeps: the tokens of the word the
window's edge may cut are dropped, and the window doubles until the whole words inside it give the
tokens needed (``WINDOW_CHARS_PER_TOKEN`` characters per token at first, at most ``MAX_WINDOW_CHARS``).
Tokenizers split words at spaces and punctuation without looking past them, so the ids are those of
the whole text truncated by the rule (a test compares them on long texts for every rule). A text whose
first (or last) ``MAX_WINDOW_CHARS`` characters do not hold enough whole words (one word of megabytes)
keeps the tokens of that window: the only case where the window, not the whole text, decides.
"""

from __future__ import annotations

from tokenizers import Tokenizer

from edge_runtime.truncation import default_head_tokens, truncate_ids

# Characters tokenized at first per content token wanted (English averages 4 to 5 per token).
WINDOW_CHARS_PER_TOKEN = 16
# The window stops growing here: about 25 MB of tokenizer state for 1 Mi characters of English.
MAX_WINDOW_CHARS = 1 << 20


def window_chars(budget: int) -> int:
    """Texts up to this many characters are tokenized whole (most reviews); longer ones by their ends."""
    return WINDOW_CHARS_PER_TOKEN * budget


def content_ids(tokenizer: Tokenizer, text: str, budget: int, rule: str, head_tokens: int | None) -> list[int]:
    """``truncate_ids(<content ids of text>, budget, rule, head_tokens)``, tokenizing only the ends of a long text."""
    if len(text) <= window_chars(budget):
        return truncate_ids(_ids(tokenizer, text), budget, rule, head_tokens)
    head = budget if rule == "head" else default_head_tokens(budget) if head_tokens is None else head_tokens
    # The head window must also prove the text holds at least ``budget`` tokens, so head_tail truncates it.
    first = _end_ids(tokenizer, text, budget, budget, from_end=False) if rule != "tail" else []
    last = _end_ids(tokenizer, text, budget - head if rule == "head_tail" else budget, budget, from_end=True) \
        if rule != "head" else []
    if first is None or last is None:  # a window reached the whole text: it has fewer tokens than the budget
        return truncate_ids(_ids(tokenizer, text), budget, rule, head_tokens)
    if rule == "head":
        return first
    if rule == "tail":
        return last
    return first[:head] + last


def token_count(tokenizer: Tokenizer, text: str, budget: int, at_most: int) -> int:
    """Content tokens of ``text``, counted up to ``at_most``, tokenizing only its head when it is long."""
    if len(text) > window_chars(budget):
        first = _end_ids(tokenizer, text, at_most, budget, from_end=False)
        if first is not None:
            return len(first)
    return min(len(_ids(tokenizer, text)), at_most)


def _ids(tokenizer: Tokenizer, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False).ids)


def _end_ids(tokenizer: Tokenizer, text: str, wanted: int, budget: int, *, from_end: bool) -> list[int] | None:
    """The first (``from_end``: last) ``wanted`` content ids of ``text``, from a window of its characters;
    None when the window grew to the whole text."""
    if wanted == 0:
        return []
    size = window_chars(budget)
    while size < len(text):
        piece = text[len(text) - size :] if from_end else text[:size]
        encoding = tokenizer.encode(piece, add_special_tokens=False)
        ids, words = encoding.ids, encoding.word_ids
        if ids:
            cut = words[0] if from_end else words[-1]  # the word the window's edge may have cut
            whole = [i for i, w in zip(ids, words) if w != cut or w is None]
            if len(whole) >= wanted:
                return whole[len(whole) - wanted :] if from_end else whole[:wanted]
            if size >= MAX_WINDOW_CHARS:
                return ids[-wanted:] if from_end else ids[:wanted]
        elif size >= MAX_WINDOW_CHARS:
            return []
        size *= 2
    return None
