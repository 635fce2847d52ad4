"""Reports over the ledger: spend, what realtime would have cost, what was saved, per group and
in total; missed savings (:mod:`missed`); the price and speed of the realtime work
(:mod:`speed`); before/after a date; and the KPIs.

Money is exact: the store keeps nano-dollars as integers and sums them in SQL; a figure
becomes a Decimal only here. Attempts of models without a known price are counted as unpriced,
never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from halfrate.ledger.missed import Missed, missed_savings
from halfrate.ledger.percentiles import Percentiles
from halfrate.ledger.prompt_cache import prompt_cache_saved
from halfrate.ledger.speed import SpeedLine, histogram, price_performance, read_calls, speed_lines
from halfrate.models import REPORT_GROUPS, CacheKind, Lane
from halfrate.money import dollars as usd
from halfrate.store import Store
from halfrate.store.ledger_calls import CallSums
from halfrate.store.ledger_reads import DAY_SECONDS, GROUPS, LedgerQueries, Scope, Sums
from halfrate.store.rollup import Rollup

# What `halfrate report --by` offers (cache_kind only feeds the KPIs).
# The ledger groups by cache_kind too, for the report's own KPIs; a reader picks among these
# (tests/unit/test_api_names.py checks the two lists agree).
GROUP_NAMES = REPORT_GROUPS


@dataclass(frozen=True)
class Line:
    """One row of a report: a group's sums, with the money in dollars."""

    key: str
    requests: int
    attempts: int
    input_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    output_tokens: int
    spend: Decimal
    realtime: Decimal  # what the same tokens cost on the realtime lane
    unpriced: int  # billed attempts without a known price (in none of the sums)
    # What the providers' prompt caches saved, in the lanes the work ran in (:mod:`prompt_cache`).
    prompt_cache_saved: Decimal = Decimal(0)

    @property
    def saved(self) -> Decimal:
        return self.realtime - self.spend

    @property
    def saved_share(self) -> float | None:
        return float(self.saved / self.realtime) if self.realtime else None

    @property
    def spend_per_request(self) -> Decimal | None:
        return self.spend / self.requests if self.requests else None

    @property
    def prompt_cache_hit_rate(self) -> float | None:
        """The share of input tokens read from a provider's prompt cache."""
        return self.cached_tokens / self.input_tokens if self.input_tokens else None

    @classmethod
    def of(cls, key: str, sums: Sums, prompt_cache_nano: int = 0) -> Line:
        return cls(
            key=key,
            requests=sums.requests,
            attempts=sums.attempts,
            input_tokens=sums.input_tokens,
            cached_tokens=sums.cached_tokens,
            cache_write_tokens=sums.cache_write_tokens,
            output_tokens=sums.output_tokens,
            spend=usd(sums.cost_nano),
            realtime=usd(sums.realtime_cost_nano),
            unpriced=sums.unpriced,
            prompt_cache_saved=usd(prompt_cache_nano),
        )


@dataclass(frozen=True)
class Kpis:
    batch_share: float | None  # batch lane's share of spend
    cache_hit_rate: float | None  # cached ÷ input tokens
    # Requests answered by an identical one's answer, at $0: the realtime cost of each is
    # what it saved. Dedup: the identical one was in flight; response: it had been answered.
    saved_by_dedup: Decimal
    dedup_answers: int
    saved_by_response_cache: Decimal
    response_cache_answers: int
    batch_turnaround: Percentiles  # seconds, create to end
    ttft: Percentiles  # seconds, realtime and flex calls
    tibt: Percentiles
    queue_wait: Percentiles  # seconds from submission to first send


@dataclass(frozen=True)
class Breakdown:
    """Spend per group over a scope: each group's line, its lines per lane, and the total."""

    by: str
    scope: Scope
    lines: list[Line]
    total: Line
    # Each group's line split by lane (charts stack spend by lane), in the order of ``lines``.
    lanes: list[LaneLine]


@dataclass(frozen=True)
class Report(Breakdown):
    """A breakdown with the period's missed savings, KPIs and the price and speed of its
    realtime and flex calls (the same for every grouping)."""

    missed: Missed
    kpis: Kpis
    generated_at: float
    price_performance: list[SpeedLine]  # most spend first


@dataclass(frozen=True)
class LaneLine:
    """One group's sums in one lane."""

    key: str
    lane: str
    line: Line


@dataclass(frozen=True)
class Comparison:
    """One feature (or everything) before and after a date."""

    at: float
    before: Line
    after: Line
    before_days: float
    after_days: float
    before_batch_share: float | None
    after_batch_share: float | None

    @property
    def change_per_request(self) -> float | None:
        """How much more (or less, negative) a request cost after than before, as a
        fraction; None when either side has no request or nothing was spent before."""
        before, after = self.before.spend_per_request, self.after.spend_per_request
        if before is None or after is None or not before:
            return None
        return float((after - before) / before)


@dataclass
class ReportMaker:
    store: Store
    # Requests whose deadline was at least this far after submission could have been batched
    # (the policy's batch window plus its safety margin).
    batch_after_seconds: float = 25 * 3600

    def report(self, by: str, scope: Scope, now: float) -> Report:
        edges = self.store.ledger.edges(scope)
        # The calls' price and speed (the longest read) and the missed savings are read beside
        # the grouped sums: the database does most of each outside Python's lock.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="report") as pool:
            reading_calls = pool.submit(read_calls, self.store, scope, edges)
            reading_missed = pool.submit(self.missed, scope, edges)
            made, grouped = self._breakdown(by, scope, edges)
            calls = reading_calls.result()
            missed = reading_missed.result()
        lanes = list(_fold(grouped, lambda s: s.lane).values())
        return Report(
            **vars(made),
            missed=missed,
            kpis=self._kpis(scope, _total(grouped), lanes, edges, calls),
            generated_at=now,
            price_performance=speed_lines(calls),
        )

    def breakdown(self, by: str, scope: Scope) -> Breakdown:
        """The groups' lines alone: what a chart needs, without the period's missed savings
        and KPIs (a page that draws several groupings computes those once)."""
        return self._breakdown(by, scope, self.store.ledger.edges(scope))[0]

    def _breakdown(self, by: str, scope: Scope, edges: Rollup) -> tuple[Breakdown, list[Sums]]:
        if by not in GROUPS:
            raise ValueError(f"unknown grouping {by!r}")
        # One read per group, lane, provider and model: the lines add the models up; the
        # prompt caches' saving is priced per provider and model.
        rows = self.store.ledger.model_sums(by, scope, edges)
        pairs = _fold([row.sums for row in rows], lambda s: (s.key, s.lane))
        grouped = [replace(sums, key=key) for (key, _lane), sums in pairs.items()]
        per_key = _fold(grouped, lambda s: s.key)
        if by == "day":  # days in the order of the calendar; other groups by spend, most first
            ordered = sorted(per_key.values(), key=lambda s: (s.key is None, s.key or 0))
        else:
            ordered = sorted(
                per_key.values(), key=lambda s: (-s.cost_nano, s.key is None, str(s.key))
            )
        cached = prompt_cache_saved(self.store.prices, rows)  # (key, lane) -> nano
        cached_per_key: dict[Any, int] = {}
        for (key, _lane), nano in cached.items():
            cached_per_key[key] = cached_per_key.get(key, 0) + nano
        lines = [Line.of(_label(by, s.key), s, cached_per_key.get(s.key, 0)) for s in ordered]
        order = {sums.key: index for index, sums in enumerate(ordered)}
        split = sorted(grouped, key=lambda s: (order[s.key], str(s.lane)))
        made = Breakdown(
            by=by,
            scope=scope,
            lines=lines,
            total=Line.of("total", _total(grouped), sum(cached.values())),
            lanes=[
                LaneLine(
                    _label(by, s.key),
                    str(s.lane),
                    Line.of(str(s.lane), s, cached.get((s.key, str(s.lane)), 0)),
                )
                for s in split
            ],
        )
        return made, grouped

    def missed(self, scope: Scope, edges: Rollup | None = None) -> Missed:
        """Realtime work that could have waited for a batch, and the features it came from."""
        return missed_savings(self.store, scope, self.batch_after_seconds, edges)

    def price_performance(self, scope: Scope, edges: Rollup | None = None) -> list[SpeedLine]:
        """Per model, feature and lane of the realtime and flex calls: spend, cost per 1,000
        requests, TTFT, TIBT and queue wait; most spend first."""
        return price_performance(self.store, scope, edges)

    def compare(self, scope: Scope, at: float, now: float) -> Comparison:
        """``scope`` split at ``at``: its own since/until bound the two sides (default: all
        of the ledger before, and up to now after)."""
        ledger = self.store.ledger
        before_scope = replace(scope, until=at)
        after_scope = replace(scope, since=at)
        sides = []
        for side in (before_scope, after_scope):
            lanes = ledger.grouped("lane", side)
            sides.append((_total(lanes), _batch_share(lanes)))
        (before, before_share), (after, after_share) = sides
        first = scope.since if scope.since is not None else _first_day(ledger, before_scope, at)
        end = scope.until if scope.until is not None else now
        return Comparison(
            at=at,
            before=Line.of("before", before),
            after=Line.of("after", after),
            before_days=max(0.0, at - first) / DAY_SECONDS,
            after_days=max(0.0, end - at) / DAY_SECONDS,
            before_batch_share=before_share,
            after_batch_share=after_share,
        )

    def _kpis(
        self, scope: Scope, total: Sums, lanes: list[Sums], edges: Rollup, calls: list[CallSums]
    ) -> Kpis:
        """``calls``: the realtime and flex calls' sums and histograms (:func:`read_calls`):
        TTFT and TIBT are theirs; queue wait is every lane's."""
        ledger = self.store.ledger
        kinds = {
            s.key: s
            for s in _fold(ledger.grouped("cache_kind", scope, edges), lambda s: s.key).values()
        }
        dedup = kinds.get(CacheKind.DEDUP.value, Sums(None))
        response = kinds.get(CacheKind.RESPONSE.value, Sums(None))
        tagged = ledger.tagged(scope)
        return Kpis(
            batch_share=_batch_share(lanes),
            cache_hit_rate=(
                total.cached_tokens / total.input_tokens if total.input_tokens else None
            ),
            saved_by_dedup=usd(dedup.realtime_cost_nano),
            dedup_answers=dedup.attempts,
            saved_by_response_cache=usd(response.realtime_cost_nano),
            response_cache_answers=response.attempts,
            batch_turnaround=Percentiles.of(ledger.batch_turnarounds(scope)),
            ttft=Percentiles.of_histogram(histogram(calls, "ttft")),
            tibt=Percentiles.of_histogram(histogram(calls, "tibt")),
            queue_wait=Percentiles.of_histogram(
                ledger.timings(scope, "queue", None, edges, tagged)
            ),
        )


def _first_day(ledger: LedgerQueries, scope: Scope, at: float) -> float:
    """Where the "before" side starts when no --since was given: its first ledger day."""
    days = [s.key for s in ledger.grouped("day", scope) if s.key is not None]
    return float(min(days)) * DAY_SECONDS if days else at


def _fold(groups: Sequence[Sums], key: Callable[[Sums], Any]) -> dict[Any, Sums]:
    """The groups added up per ``key``."""
    folded: dict[Any, list[Sums]] = {}
    for s in groups:
        folded.setdefault(key(s), []).append(s)
    return {k: _total(parts, k) for k, parts in folded.items()}


def _total(groups: Sequence[Sums], key: Any = "total") -> Sums:
    """The groups added up."""
    lanes = {s.lane for s in groups}
    total = Sums(key, lanes.pop() if len(lanes) == 1 else None)
    for s in groups:
        total.add(s.values())
    return total


def _batch_share(lanes: Sequence[Sums]) -> float | None:
    spend = sum(s.cost_nano for s in lanes)
    batch = sum(s.cost_nano for s in lanes if s.key == Lane.BATCH.value)
    return batch / spend if spend else None


def _label(by: str, key: object) -> str:
    if key is None:
        return "(none)"
    if by == "day":
        return (date(1970, 1, 1) + timedelta(days=int(str(key)))).isoformat()
    return str(key)
