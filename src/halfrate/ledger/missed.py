"""Missed savings: realtime work nobody was waiting for, whose deadline (if any) left time
for a batch, priced as a batch would have priced it, in total and per feature (the features
that caused them, largest amount first).

They are priced from token sums per provider, model and feature (prices are linear in
tokens), so they are marked *estimated* for the few models whose prices are tiered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from halfrate.ledger.prompt_cache import usage_of
from halfrate.models import Lane
from halfrate.money import dollars as usd
from halfrate.store import Store
from halfrate.store.ledger_reads import Scope
from halfrate.store.rollup import Rollup


@dataclass(frozen=True)
class MissedFeature:
    """One feature's part of the missed savings."""

    feature: str  # "(none)" for requests without one
    attempts: int
    spend: Decimal  # what it cost
    batch: Decimal  # what the same tokens would have cost in a batch
    unpriced: int  # attempts of models without a known price (left out of both)

    @property
    def amount(self) -> Decimal:
        return self.spend - self.batch


@dataclass(frozen=True)
class Missed:
    """Work that ran realtime though nobody was waiting and its deadline allowed batch."""

    attempts: int
    spend: Decimal  # what it cost
    batch: Decimal  # what the same tokens would have cost in a batch
    unpriced: int  # attempts of models without a known price (left out of both)
    estimated: bool  # some of it was priced from token sums of a tiered-price model
    features: list[MissedFeature] = field(default_factory=list)  # largest amount first

    @property
    def amount(self) -> Decimal:
        return self.spend - self.batch


def missed_savings(
    store: Store, scope: Scope, batch_after_seconds: float, edges: Rollup | None = None
) -> Missed:
    """The missed savings of ``scope``: realtime attempts whose request's deadline was at
    least ``batch_after_seconds`` after submission (or had none) and nobody waited for."""
    prices = store.prices
    # Per feature: attempts, spend, batch cost (nano-dollars), unpriced attempts.
    per_feature: dict[str | None, list[int]] = {}
    estimated = False
    for tokens in store.ledger.missed_tokens(scope, batch_after_seconds, edges):
        sums = per_feature.setdefault(tokens.feature, [0, 0, 0, 0])
        sums[0] += tokens.attempts
        cost = prices.cost(tokens.provider, tokens.model, usage_of(tokens), Lane.BATCH)
        if cost is None:
            sums[3] += tokens.attempts
            continue
        sums[1] += tokens.cost_nano
        sums[2] += cost.nano
        estimated = estimated or prices.is_tiered(tokens.provider, tokens.model, Lane.BATCH)
    features = sorted(
        (
            MissedFeature("(none)" if name is None else name, n, usd(spend), usd(batch), left)
            for name, (n, spend, batch, left) in per_feature.items()
        ),
        key=lambda f: (-f.amount, f.feature),
    )
    totals = [sum(sums[i] for sums in per_feature.values()) for i in range(4)]
    return Missed(
        attempts=totals[0],
        spend=usd(totals[1]),
        batch=usd(totals[2]),
        unpriced=totals[3],
        estimated=estimated,
        features=features,
    )
