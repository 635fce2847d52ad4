"""An attempt's ledger columns (``PriceBook.attempt_costs``, kept per provider, model and lanes
for speed) equal what pricing each lane on its own gives (``PriceBook.cost``): for flat and
tiered prices, an unknown model, the cache lane, and every mix of cached and written tokens."""

from __future__ import annotations

import random

from halfrate.models import Lane, Usage
from halfrate.pricing.prices import PriceBook

MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-5-mini"),
    ("openai", "gpt-6-cyber"),  # bills cache writes
    ("openai", "gpt-5.6-luna"),  # tiered
    ("openai", "no-such-model"),
    ("anthropic", "claude-haiku-4-5"),
]
LANES = [Lane.REALTIME, Lane.FLEX, Lane.BATCH, Lane.CACHE]


def lane_by_lane(
    book: PriceBook, provider: str, model: str, usage: Usage, lane: Lane, route_lane: Lane
) -> tuple[int | None, int | None, int | None, str | None]:
    actual = book.cost(provider, model, usage, lane)
    if actual is None:
        return None, None, None, None
    realtime = book.cost(provider, model, usage, Lane.REALTIME)
    planned = actual if route_lane is lane else book.cost(provider, model, usage, route_lane)
    listed = book._rates_for(provider, model, lane)
    source = listed.source if listed is not None and listed.source else book.source
    if actual.derived:
        source += f" ({lane.value} price derived: half of standard)"
    return (
        actual.nano,
        realtime.nano if realtime else None,
        planned.nano if planned else None,
        source,
    )


def test_attempt_costs_equal_each_lane_priced_alone() -> None:
    book = PriceBook()
    rng = random.Random(17)
    for _ in range(3_000):
        provider, model = rng.choice(MODELS)
        lane, route_lane = rng.choice(LANES), rng.choice(LANES)
        prompt = rng.randint(0, 400_000)  # past the 272,000-token tier of the tiered model
        cached = rng.randint(0, prompt)
        written = rng.randint(0, prompt - cached)
        usage = Usage(
            input_tokens=prompt,
            cached_tokens=cached,
            output_tokens=rng.randint(0, 8_000),
            cache_write_tokens=written,
            cache_write_1h_tokens=rng.randint(0, written),
        )
        expected = lane_by_lane(book, provider, model, usage, lane, route_lane)
        assert book.attempt_costs(provider, model, usage, lane, route_lane) == expected


def test_nothing_billed_costs_nothing() -> None:
    assert PriceBook().attempt_costs("openai", "gpt-4o-mini", None, Lane.BATCH, Lane.BATCH) == (
        0,
        0,
        0,
        None,
    )
