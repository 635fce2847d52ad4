"""Prices from the bundled ``genai-prices`` data (offline), per lane.

Realtime uses the standard price; batch uses the provider's batch price
(``price_context={"processing": "batch"}``); flex uses the flex tier. Where the data has no
batch price for a model, the provider's documented discount (half price) is applied and the
cost is marked *derived*; flex without its own price falls back to the batch price the same
way (OpenAI bills flex "at Batch API rates"). A model the data does not know has no price:
its cost stays empty and is reported as unpriced, never guessed.

Pricing every line through ``calc_price`` would cost ~200 µs a line, so each (provider, model,
lane) is priced once per token kind and the rates are applied by multiplication. That is exact
because prices are linear in tokens; models with tiered prices (a higher rate above a prompt
size) are priced call by call instead.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from importlib.metadata import version
from typing import Any

from halfrate.models import Lane, Usage
from halfrate.money import NANO, dollars
from halfrate.pricing.user_prices import UserPrice, user_rates

MILLION = 1_000_000

BATCH_DISCOUNT = Decimal("0.5")  # OpenAI, Anthropic and Google all document 50% off


@dataclass(frozen=True)
class Cost:
    nano: int  # billionths of a US dollar, as the store keeps them (exact sums in SQL)
    derived: bool  # the lane's price was derived from the documented discount

    @property
    def usd(self) -> Decimal:
        return dollars(self.nano)


@dataclass(frozen=True)
class _Rates:
    """Billionths of a dollar per token of each kind, or None where prices are tiered.

    Floats: a rate has a few significant digits and a cost stays far below 2^53 nano-dollars,
    so rounding to the nano-dollar is exact; Decimal arithmetic per line would slow the
    ingestion of a large batch by seconds.
    """

    per_token: tuple[float, float, float, float, float] | None
    factor: Decimal  # applied on top (the documented discount, for derived prices)
    context: dict[str, str] | None
    derived: bool
    source: str | None = None  # where a user price came from (None: genai-prices)


class PriceBook:
    """Prices from genai-prices, under the user's own price table (``user``: by model, from
    ``user_source``); thread-safe, remembers each model's rates."""

    def __init__(
        self, user: Mapping[str, UserPrice] | None = None, user_source: str = "config"
    ) -> None:
        self.source = f"genai-prices {version('genai-prices')}"
        self.user = dict(user or {})
        self._given_source = user_source
        self.user_source = f"user prices ({user_source})"
        self._rates: dict[tuple[str, str, Lane], _Rates | None] = {}
        self._attempt_rates: dict[
            tuple[str, str, Lane, Lane],
            tuple[_Rates | None, _Rates | None, _Rates | None, str | None],
        ] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type[PriceBook], tuple[dict[str, UserPrice], str]]:
        # Sent to a worker process as the user's prices; it remembers rates on its own.
        return (PriceBook, (self.user, self._given_source))

    def cost(self, provider: str, model: str, usage: Usage, lane: Lane) -> Cost | None:
        """What ``usage`` costs on ``lane``; None when the model has no known price."""
        if lane is Lane.CACHE:
            return Cost(0, derived=False)
        rates = self._rates_for(provider, model, lane)
        if rates is None:
            return None
        return Cost(_nano(provider, model, usage, rates), derived=rates.derived)

    def attempt_costs(
        self, provider: str, model: str, usage: Usage | None, lane: Lane, route_lane: Lane
    ) -> tuple[int | None, int | None, int | None, str | None]:
        """The ledger columns of one attempt: what it cost in ``lane``, what the same tokens
        cost in realtime and in the lane its route chose (nano-dollars), and the price source.
        No usage means nothing was billed; an unknown model leaves the costs empty.

        Runs once per attempt a batch stores: the three rate sets and the source are looked up
        once per (provider, model, lane, route lane) and kept."""
        if usage is None:
            return 0, 0, 0, None
        key = (provider, model, lane, route_lane)
        found = self._attempt_rates.get(key)
        if found is None:
            found = self._attempt_rates[key] = self._rates_of_attempt(*key)
        actual, realtime, planned, source = found
        if actual is None:
            return None, None, None, None
        spent = _nano(provider, model, usage, actual)
        return (
            spent,
            None if realtime is None else _nano(provider, model, usage, realtime),
            spent
            if planned is actual
            else None
            if planned is None
            else _nano(provider, model, usage, planned),
            source,
        )

    def _rates_of_attempt(
        self, provider: str, model: str, lane: Lane, route_lane: Lane
    ) -> tuple[_Rates | None, _Rates | None, _Rates | None, str | None]:
        realtime = self._rates_for(provider, model, Lane.REALTIME)
        if lane is Lane.CACHE:  # answered by an identical request: free, whatever the model
            listed = self._rates_for(provider, model, lane)
            planned = self._lane_rates(provider, model, route_lane)
            return _FREE, realtime, planned, (listed.source if listed else None) or self.source
        actual = self._rates_for(provider, model, lane)
        if actual is None:
            return None, None, None, None
        planned = actual if route_lane is lane else self._lane_rates(provider, model, route_lane)
        source = actual.source or self.source
        if actual.derived:
            source += f" ({lane.value} price derived: half of standard)"
        return actual, realtime, planned, source

    def _lane_rates(self, provider: str, model: str, lane: Lane) -> _Rates | None:
        """The rates :meth:`cost` prices ``lane`` at: nothing at all in the cache lane."""
        return _FREE if lane is Lane.CACHE else self._rates_for(provider, model, lane)

    def is_tiered(self, provider: str, model: str, lane: Lane) -> bool:
        """Whether the model's price in ``lane`` depends on the prompt's size (tiers), so a
        price of summed tokens is an estimate."""
        rates = self._rates_for(provider, model, lane)
        return rates is not None and rates.per_token is None

    def _rates_for(self, provider: str, model: str, lane: Lane) -> _Rates | None:
        key = (provider, model, lane)
        found = self._rates.get(key, _UNKNOWN)  # a dict read is atomic: no lock to take
        if found is not _UNKNOWN:
            return found  # type: ignore[return-value]
        user = self.user.get(model)
        if user is not None and user.applies_to(provider):
            per_token, derived = user_rates(user, lane.value)
            rates: _Rates | None = _Rates(
                per_token,  # type: ignore[arg-type]
                Decimal(1),
                None,
                derived,
                self.user_source[:100],
            )
        else:
            rates = _rates(provider, model, lane)
        with self._lock:
            self._rates[key] = rates
        return rates


_UNKNOWN = object()  # not looked up yet (None is a looked-up model without a price)
_FREE = _Rates((0.0, 0.0, 0.0, 0.0, 0.0), Decimal(1), None, derived=False)


def _nano(provider: str, model: str, usage: Usage, rates: _Rates) -> int:
    """``usage`` priced at ``rates``, in nano-dollars."""
    if rates.per_token is None:
        usd = _calc(provider, model, usage, rates.context) * rates.factor
        return int((usd * NANO).to_integral_value(ROUND_HALF_EVEN))
    fresh, read, write_5m, write_1h, output = rates.per_token
    written_1h = min(usage.cache_write_1h_tokens, usage.cache_write_tokens)
    uncached = max(0, usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens)
    total = (
        uncached * fresh
        + usage.cached_tokens * read
        + (usage.cache_write_tokens - written_1h) * write_5m
        + written_1h * write_1h
        + usage.output_tokens * output
    )
    return round(total)


def _model_info(provider: str, model: str) -> Any | None:
    from genai_prices import data_snapshot

    try:
        return data_snapshot.get_snapshot().find_provider_model(model, None, provider, None)[1]
    except LookupError:
        return None


def _has_variant(info: Any, key: str, value: str) -> bool:
    today = date.today()
    for variant in info.price_variants or ():
        if variant.when.get(key) != value:
            continue
        start = getattr(variant.constraint, "start_date", None)
        if start is None or start <= today:
            return True
    return False


def _rates(provider: str, model: str, lane: Lane) -> _Rates | None:
    info = _model_info(provider, model)
    if info is None:
        return None
    factor, derived, context = Decimal(1), False, None
    if lane is Lane.FLEX and _has_variant(info, "service_tier", "flex"):
        context = {"service_tier": "flex"}
    elif lane in (Lane.BATCH, Lane.FLEX):
        if _has_variant(info, "processing", "batch"):
            context = {"processing": "batch"}
            derived = lane is Lane.FLEX
        else:
            factor, derived = BATCH_DISCOUNT, True
    if _is_tiered(provider, model, context):
        return _Rates(None, factor, context, derived)

    def rate(**tokens: int) -> float:
        return float(_calc_raw(provider, model, tokens, context) * factor * NANO / MILLION)

    per_token = (
        rate(input_tokens=MILLION),
        rate(input_tokens=MILLION, cache_read_tokens=MILLION),
        rate(input_tokens=MILLION, cache_write_tokens=MILLION),
        rate(input_tokens=MILLION, cache_write_tokens=MILLION, cache_write_1h_tokens=MILLION),
        rate(output_tokens=MILLION),
    )
    return _Rates(per_token, factor, context, derived)


def _is_tiered(provider: str, model: str, context: dict[str, str] | None) -> bool:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price
    from genai_prices.types import TieredPrices

    found = calc_price(
        PriceUsage(input_tokens=1), model, provider_id=provider, price_context=context
    )
    return any(isinstance(value, TieredPrices) for value in vars(found.model_price).values())


def _calc_raw(provider: str, model: str, tokens: dict[str, int], context: Any) -> Decimal:
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    found = calc_price(PriceUsage(**tokens), model, provider_id=provider, price_context=context)
    return Decimal(found.total_price)


def _calc(provider: str, model: str, usage: Usage, context: Any) -> Decimal:
    tokens = {
        "input_tokens": usage.input_tokens,
        "cache_read_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cache_write_1h_tokens": min(usage.cache_write_1h_tokens, usage.cache_write_tokens),
        "output_tokens": usage.output_tokens,
    }
    return _calc_raw(provider, model, tokens, context)
