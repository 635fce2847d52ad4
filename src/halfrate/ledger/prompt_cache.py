"""What the providers' prompt caches saved: per group of a report (and lane), the price of its
tokens as billed (cache reads at the cached rate, cache writes at the write rate) against the
price of the same tokens had nothing been cached (every input token at the lane's plain input
rate), both at the lane's own prices, so a batch's discount stacks as the provider applies it.

A cache write costs more than plain input (1.25 or 2 times at Anthropic), so a group that wrote
a cache it never read back shows a negative saving: the honest figure. Priced from token sums
per provider and model (prices are linear in tokens) at the providers' own rates from
``genai-prices`` (docs/pricing.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from halfrate.models import Lane, Usage
from halfrate.pricing.prices import PriceBook
from halfrate.store.ledger_reads import ModelSums, Sums


def prompt_cache_saved(prices: PriceBook, rows: Iterable[ModelSums]) -> dict[tuple[Any, str], int]:
    """Nano-dollars the prompt caches saved, per (group, lane); groups and lanes that touched
    no cache are absent (they saved nothing)."""
    saved: dict[tuple[Any, str], int] = {}
    for row in rows:
        sums = row.sums
        if not (sums.cached_tokens or sums.cache_write_tokens) or not sums.billed:
            continue
        lane = Lane(row.lane)
        if lane is Lane.CACHE:  # answered from halfrate's own store: no provider was paid
            continue
        billed = prices.cost(row.provider, row.model, usage_of(sums), lane)
        uncached = prices.cost(row.provider, row.model, uncached_usage(sums), lane)
        if billed is None or uncached is None:  # no known price: counted as unpriced elsewhere
            continue
        group = (row.key, row.lane)
        saved[group] = saved.get(group, 0) + uncached.nano - billed.nano
    return saved


class TokenTotals(Protocol):
    """Summed tokens of the ledger, as a report's sums and the missed savings' rows hold them."""

    @property
    def input_tokens(self) -> int: ...
    @property
    def cached_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...
    @property
    def cache_write_1h_tokens(self) -> int: ...


def usage_of(sums: TokenTotals) -> Usage:
    return Usage(
        input_tokens=sums.input_tokens,
        cached_tokens=sums.cached_tokens,
        output_tokens=sums.output_tokens,
        cache_write_tokens=sums.cache_write_tokens,
        cache_write_1h_tokens=sums.cache_write_1h_tokens,
    )


def uncached_usage(sums: Sums) -> Usage:
    """The same tokens with nothing read from or written to a cache."""
    return Usage(input_tokens=sums.input_tokens, output_tokens=sums.output_tokens)
