"""Prices from the bundled genai-prices data, per lane, checked by hand against published rates
(docs/pricing.md#example-rates; $/million tokens)."""

from __future__ import annotations

from decimal import Decimal

from halfrate.models import Lane, Usage
from halfrate.pricing.prices import PriceBook

BOOK = PriceBook()


def usd(provider: str, model: str, usage: Usage, lane: Lane) -> tuple[Decimal, bool] | None:
    cost = BOOK.cost(provider, model, usage, lane)
    return None if cost is None else (cost.usd, cost.derived)


def test_openai_realtime_batch_and_cached_tokens() -> None:
    # gpt-4o-mini: in 0.15, cached 0.075, out 0.60; batch in 0.075, out 0.30, and no batch
    # cached rate (cached input keeps the standard cached rate, 0.075).
    usage = Usage(input_tokens=120_000, cached_tokens=20_000, output_tokens=30_000)
    realtime = Decimal("0.015") + Decimal("0.0015") + Decimal("0.018")  # 100k, 20k, 30k
    batch = Decimal("0.0075") + Decimal("0.0015") + Decimal("0.009")
    assert usd("openai", "gpt-4o-mini", usage, Lane.REALTIME) == (realtime, False)
    assert usd("openai", "gpt-4o-mini", usage, Lane.BATCH) == (batch, False)


def test_openai_flex_has_its_own_price_where_offered() -> None:
    # gpt-5-mini flex: in 0.125, cached 0.0125, out 1.
    usage = Usage(input_tokens=2_000_000, cached_tokens=1_000_000, output_tokens=100_000)
    expected = Decimal("0.125") + Decimal("0.0125") + Decimal("0.1")
    assert usd("openai", "gpt-5-mini", usage, Lane.FLEX) == (expected, False)


def test_anthropic_batch_with_one_hour_cache_writes_and_reads() -> None:
    # claude-haiku-4-5 batch: in 0.5, write(5m) 0.625, write(1h) 1, read 0.05, out 2.5.
    usage = Usage(
        input_tokens=1_000_000,  # the whole prompt: 300k fresh + 500k read + 200k written
        cached_tokens=500_000,
        cache_write_tokens=200_000,
        cache_write_1h_tokens=200_000,
        output_tokens=40_000,
    )
    expected = Decimal("0.15") + Decimal("0.025") + Decimal("0.2") + Decimal("0.1")
    assert usd("anthropic", "claude-haiku-4-5", usage, Lane.BATCH) == (expected, False)
    standard = Decimal("0.3") + Decimal("0.05") + Decimal("0.4") + Decimal("0.2")
    assert usd("anthropic", "claude-haiku-4-5", usage, Lane.REALTIME) == (standard, False)


def test_a_model_without_a_batch_price_gets_the_documented_discount_marked_derived() -> None:
    # claude-3-5-haiku: in 0.80, out 4; the price data has no batch variant for it.
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert usd("anthropic", "claude-3-5-haiku-20241022", usage, Lane.REALTIME) == (
        Decimal("4.8"),
        False,
    )
    assert usd("anthropic", "claude-3-5-haiku-20241022", usage, Lane.BATCH) == (
        Decimal("2.4"),
        True,
    )


def test_an_unknown_model_is_unpriced_never_guessed() -> None:
    usage = Usage(input_tokens=10, output_tokens=10)
    assert usd("openai", "gpt-no-such-model-9", usage, Lane.REALTIME) is None
    assert BOOK.attempt_costs("openai", "gpt-no-such-model-9", usage, Lane.BATCH, Lane.BATCH) == (
        None,
        None,
        None,
        None,
    )


def test_attempt_costs_compare_the_lane_with_realtime_and_with_the_rule_s_lane() -> None:
    usage = Usage(input_tokens=100_000, output_tokens=10_000)
    # Moved by the deadline guard: ran in realtime, its rule had chosen batch.
    paid, realtime, planned, source = BOOK.attempt_costs(
        "openai", "gpt-4o-mini", usage, Lane.REALTIME, Lane.BATCH
    )
    assert (paid, realtime, planned) == (21_000_000, 21_000_000, 10_500_000)  # nano-dollars
    assert source is not None
    assert source.startswith("genai-prices ")
    # Nothing billed (no usage): zero, whatever the model.
    assert BOOK.attempt_costs("openai", "gpt-4o-mini", None, Lane.BATCH, Lane.BATCH) == (
        0,
        0,
        0,
        None,
    )
    derived = BOOK.attempt_costs(
        "anthropic", "claude-3-5-haiku-20241022", usage, Lane.BATCH, Lane.BATCH
    )
    assert derived[3] is not None
    assert "batch price derived" in derived[3]
