"""Counts in words: "1 batch", "2 batches", "1,204 rows"."""

from __future__ import annotations

_IRREGULAR = {"batch": "batches", "is": "are", "was": "were", "answer": "answers"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``count`` with ``word``, or its plural (``many``, else the word + s or es)."""
    if count == 1:
        return f"1 {word}"
    return f"{count:,} {many or _IRREGULAR.get(word) or word + 's'}"
