"""The price and speed of the work that must stay realtime: per model, feature and lane
(realtime and flex), what it spent, its cost per 1,000 requests, and its TTFT, TIBT and
queue-wait percentiles, so that the price of each millisecond is visible and a cheaper or
cached path can be weighed.

Money is exact (nano-dollars summed in SQL, a Decimal only here); percentiles come from the
rollups' histograms, so they are at most 10% (and 1 ms) below the exact ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from halfrate.ledger.percentiles import Percentiles
from halfrate.money import dollars as usd
from halfrate.store import Store
from halfrate.store.ledger_calls import CallSums
from halfrate.store.ledger_reads import Scope
from halfrate.store.rollup import Rollup

NONE = "(none)"  # a model or feature the requests did not name, as reports label it


@dataclass(frozen=True)
class SpeedLine:
    """One model, feature and lane's synchronous calls over a period."""

    model: str
    feature: str
    lane: str
    requests: int  # attempts that ended their request (retries do not)
    attempts: int
    spend: Decimal  # over the priced attempts, retries included
    unpriced: int  # billed attempts without a known price (in no sum)
    ttft: Percentiles  # seconds
    tibt: Percentiles
    queue_wait: Percentiles  # seconds from submission to first send

    @property
    def per_1000_requests(self) -> Decimal | None:
        """What 1,000 requests cost (their retries included); None without a request, or
        when some billed attempt has no known price (the figure would be a guess)."""
        if not self.requests or self.unpriced:
            return None
        return self.spend * 1000 / self.requests


def price_performance(store: Store, scope: Scope, edges: Rollup | None = None) -> list[SpeedLine]:
    """The realtime and flex calls of ``scope`` per model, feature and lane, most spend first.
    ``edges``: the scope's partial days (:meth:`LedgerQueries.edges`), when already read."""
    return speed_lines(read_calls(store, scope, edges))


def read_calls(store: Store, scope: Scope, edges: Rollup | None = None) -> list[CallSums]:
    """The sums and timing histograms behind :func:`speed_lines` and :func:`histogram`."""
    return store.call_ledger.price_speed(scope, edges)


def speed_lines(calls: Sequence[CallSums]) -> list[SpeedLine]:
    ordered = sorted(calls, key=lambda c: (-c.sums.cost_nano, c.model, c.feature, c.lane))
    return [
        SpeedLine(
            model=c.model or NONE,
            feature=c.feature or NONE,
            lane=c.lane,
            requests=c.sums.requests,
            attempts=c.sums.attempts,
            spend=usd(c.sums.cost_nano),
            unpriced=c.sums.unpriced,
            ttft=Percentiles.of_histogram(c.timings["ttft"]),
            tibt=Percentiles.of_histogram(c.timings["tibt"]),
            queue_wait=Percentiles.of_histogram(c.timings["queue"]),
        )
        for c in ordered
    ]


def histogram(calls: Sequence[CallSums], metric: str) -> list[tuple[float, int]]:
    """One metric's histogram over all of ``calls``: the same as the lane histograms of the
    realtime and flex lanes (each call is counted in both), so a report reads its TTFT and
    TIBT from here instead of reading them again."""
    counts: dict[float, int] = {}
    for call in calls:
        for seconds, n in call.timings[metric]:
            counts[seconds] = counts.get(seconds, 0) + n
    return sorted(counts.items())
