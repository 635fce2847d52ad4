"""Offline token counting with tiktoken.

tiktoken downloads its BPE files on first use, which fails without internet. halfrate ships the two
encodings its OpenAI models need, named by tiktoken's own cache key, and points tiktoken at them
while loading. Where no encoding can be loaded (or for non-OpenAI models), counts fall back to a
labelled approximation of one token per four characters.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

_DATA_DIR = "data/tiktoken"
_load_lock = threading.Lock()
_encodings: dict[str, Any] = {}


@dataclass(frozen=True)
class TokenCount:
    tokens: int
    exact: bool  # False: an approximation (no tokenizer for this model, or it could not load)


def encoding_name_for(model: str) -> str | None:
    """The tiktoken encoding of an OpenAI model, or None where there is no offline tokenizer."""
    m = model.lower()
    if m.startswith(
        ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-6", "o1", "o3", "o4", "chatgpt")
    ):
        return "o200k_base"
    if m.startswith(("gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada")):
        return "cl100k_base"
    if m.startswith(("omni-moderation", "computer-use")):
        return "o200k_base"
    return None


def get_encoding(name: str) -> Any:
    """The tiktoken encoding ``name``, loaded once from the files bundled with halfrate (no
    download); for callers that need token ids, not only counts."""
    with _load_lock:
        if name in _encodings:
            return _encodings[name]
        import tiktoken

        data_dir = str(resources.files("halfrate").joinpath(_DATA_DIR))
        previous = os.environ.get("TIKTOKEN_CACHE_DIR")
        # tiktoken looks files up by the sha1 of their download URL in TIKTOKEN_CACHE_DIR and
        # checks their sha256; our bundled files carry exactly those names.
        os.environ["TIKTOKEN_CACHE_DIR"] = data_dir
        try:
            encoding = tiktoken.get_encoding(name)
        finally:
            if previous is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = previous
        _encodings[name] = encoding
        return encoding


# Texts longer than this are counted in pieces: tiktoken holds every piece of a text it splits,
# and its token ids, at once (a 10 MB cell took 620 MB). A cut just before whitespace is a place
# where its pre-tokenizer splits anyway, so the sum is the same count.
COUNT_PIECE_CHARS = 64 * 1024
# How far back from a piece's end to look for that whitespace.
COUNT_CUT_WINDOW = 4 * 1024


def pieces(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` in pieces of about :data:`COUNT_PIECE_CHARS`, each with whether it was cut
    at whitespace (a cut elsewhere may split a token in two)."""
    start = 0
    while len(text) - start > COUNT_PIECE_CHARS:
        end = start + COUNT_PIECE_CHARS
        cut = max(
            text.rfind(" ", end - COUNT_CUT_WINDOW, end),
            text.rfind("\n", end - COUNT_CUT_WINDOW, end),
        )
        clean = cut > start
        end = cut if clean else end
        yield text[start:end], clean
        start = end
    yield text[start:], True


def approximate(text: str) -> int:
    return math.ceil(len(text) / 4)


def count_text(model: str, text: str) -> TokenCount:
    """Tokens in ``text`` for ``model``: exact where tiktoken knows the model, else approximate."""
    name = encoding_name_for(model)
    if name is not None:
        try:
            encoding = get_encoding(name)
        except Exception:  # an unloadable encoding degrades to the labelled approximation
            return TokenCount(approximate(text), exact=False)
        if len(text) <= COUNT_PIECE_CHARS:
            return TokenCount(len(encoding.encode_ordinary(text)), exact=True)
        total, exact = 0, True
        for piece, clean in pieces(text):
            total += len(encoding.encode_ordinary(piece))
            exact = exact and clean
        return TokenCount(total, exact=exact)
    return TokenCount(approximate(text), exact=False)


def truncate_to_tokens(model: str, text: str, limit: int) -> tuple[str, int]:
    """Cut ``text`` to at most ``limit`` tokens; returns the text and its token count."""
    name = encoding_name_for(model)
    if name is None:
        cut = text[: max(limit, 0) * 4]
        return cut, approximate(cut)
    encoding = get_encoding(name)
    ids = encoding.encode_ordinary(text)
    if len(ids) <= limit:
        return text, len(ids)
    kept = ids[: max(limit, 0)]
    return encoding.decode(kept), len(kept)
