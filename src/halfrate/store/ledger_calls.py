"""Reading the synchronous calls' price and speed: per model, feature and lane (realtime and
flex), their sums from ``ledger_days`` and their TTFT, TIBT and queue-wait histograms from
``ledger_call_timings`` (:mod:`team_timings`), for the whole days of a period; the partial days
at its edges from the attempts, summed by the same code that keeps the rollups
(:meth:`LedgerQueries.edges`). Batch work is left out (its latency is the batch's turnaround;
``ledger_call_timings`` holds the CALL_LANES alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from halfrate.store.base import Database
from halfrate.store.ledger_reads import DAY_SUMS, LedgerQueries, Scope, Sums
from halfrate.store.rollup import CALL_LANES, METRICS, Rollup
from halfrate.store.tables import ledger_days
from halfrate.store.team_timings import ledger_call_timings

_H = ledger_days.c


@dataclass
class CallSums:
    """One model, feature and lane's calls: their sums, and a histogram per metric (ttft,
    tibt, queue) as (bucket in seconds, count) in order of value. The rollups keep "no model"
    and "no feature" as empty text."""

    model: str
    feature: str
    lane: str
    sums: Sums
    timings: dict[str, list[tuple[float, int]]] = field(default_factory=dict)


class CallLedgerQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def price_speed(self, scope: Scope, edges: Rollup | None = None) -> list[CallSums]:
        """The realtime and flex calls of ``scope`` per (model, feature, lane), in that order.
        ``edges``: :meth:`LedgerQueries.edges` of the scope, when already read."""
        if edges is None:
            edges = LedgerQueries(self._store).edges(scope)
        keys = (_H.model, _H.feature, _H.lane)
        query = (
            sa.select(*keys, *DAY_SUMS)
            .where(
                *scope.day_terms(_H.day),
                *scope.tag_terms(ledger_days),
                _H.lane.in_(CALL_LANES),
            )
            .group_by(*keys)
        )
        t = ledger_call_timings.c
        grouping = (t.model, t.feature, t.lane, t.metric, t.bucket_ms)
        # On SQLite the days are compared as "day + 0", which no index serves: SQLite then
        # sums from the index in the order of the grouping (CALL_TIMINGS_BY_CALL) instead of
        # finding the days by the primary key and sorting all their rows (5x slower).
        sqlite = self._store.dialect == "sqlite"
        histograms = (
            sa.select(*grouping, sa.func.sum(t.count))
            .where(
                *scope.day_terms(t.day + 0 if sqlite else t.day),
                *scope.tag_terms(ledger_call_timings),
            )
            .group_by(*grouping)
            .order_by(*grouping)
        )
        found: dict[tuple[str, str, str], Sums] = {}
        # (model, feature, lane, metric) -> [(bucket_ms, count)] in order of bucket
        counts: dict[tuple[str, str, str, str], list[tuple[int, int]]] = {}
        with self._store.read() as conn:
            for model, feature, lane, *values in conn.execute(query):
                group = (model, feature, lane)
                found.setdefault(group, Sums(group, lane)).add(values)
            last: tuple[str, str, str, str] | None = None
            bins: list[tuple[int, int]] = []
            for model, feature, lane, metric, bucket, n in conn.execute(histograms):
                if (model, feature, lane, metric) != last:
                    last = (model, feature, lane, metric)
                    bins = counts.setdefault(last, [])
                bins.append((bucket, int(n)))
        # The edges: their attempts were read for the scope's feature and team alone.
        for key, values in edges.days.items():
            _, _, model, feature, _, lane = key[:6]
            if lane in CALL_LANES:
                group = (model, feature, lane)
                found.setdefault(group, Sums(group, lane)).add(values)
        if edges.call_timings:
            merged = {k: dict(v) for k, v in counts.items()}
            for (_, _, model, feature, lane, metric, bucket), n in edges.call_timings.items():
                edge_bins = merged.setdefault((model, feature, lane, metric), {})
                edge_bins[bucket] = edge_bins.get(bucket, 0) + n
            counts = {k: sorted(v.items()) for k, v in merged.items()}
        calls = []
        for (model, feature, lane), sums in sorted(found.items()):
            timings = {
                metric: [
                    (ms / 1000.0, n) for ms, n in counts.get((model, feature, lane, metric), ())
                ]
                for metric in METRICS
            }
            calls.append(CallSums(model, feature, lane, sums, timings))
        return calls
