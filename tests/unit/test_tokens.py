"""Offline token counting: exact for OpenAI models, bounded in memory for long texts."""

from __future__ import annotations

import random

from halfrate.tokens import COUNT_PIECE_CHARS, count_text, get_encoding


def test_a_long_text_is_counted_in_pieces_with_the_same_count() -> None:
    # Counting a long text whole holds every piece at once (a 10 MB cell took 620 MB); counted
    # in pieces cut at whitespace, the sum is the same.
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma\n", "délta", "42,", "x" * 30, "über-long"]
    text = " ".join(rng.choice(words) for _ in range(60_000))
    assert len(text) > 5 * COUNT_PIECE_CHARS
    whole = len(get_encoding("o200k_base").encode_ordinary(text))
    counted = count_text("gpt-4o-mini", text)
    assert counted.tokens == whole
    assert counted.exact


def test_a_long_text_without_whitespace_is_counted_and_labelled_approximate() -> None:
    solid = "y" * (3 * COUNT_PIECE_CHARS)
    whole = len(get_encoding("o200k_base").encode_ordinary(solid))
    counted = count_text("gpt-4o-mini", solid)
    assert abs(counted.tokens - whole) <= 3  # at most one token off per cut
    assert not counted.exact
