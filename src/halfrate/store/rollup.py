"""Keeping the ledger's rollups (``ledger_days``, ``ledger_timings`` and the histograms of
:mod:`team_timings`) in step with its rows.

Every attempt stored is also added to its day's sums and timing histograms, in the same
transaction, by :func:`add_attempts`; :func:`rebuild` recomputes them from the attempts (the
migration that introduced them uses it, and a test proves the two ways agree). The same Python
code keys, buckets and sums in both cases, and reports use it for the partial days at the edges
of a period (:mod:`edge_sums` adds their attempts up in SQL a group at a time, then hands each
group to it), so every path counts alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from halfrate.models import Lane
from halfrate.store.tables import (
    LEDGER_DAY_KEYS,
    LEDGER_DAY_SUMS,
    attempts,
    ledger_days,
    requests,
    routes,
)
from halfrate.store.team_timings import (
    ledger_call_timings,
    ledger_team_timings,
    ledger_timings,
)

HOUR = 3600
DAY = 86400  # the rollups' period: a UTC day
NO_DEADLINE = -1
MAX_SLACK_HOURS = 1_000_000
METRICS = ("ttft", "tibt", "queue")
# The lanes of synchronous calls: their timings are also kept per team, model and feature.
CALL_LANES = (Lane.REALTIME.value, Lane.FLEX.value)
REBUILD_CHUNK = 20_000


def bucket_ms(seconds: float) -> int:
    """A timing in milliseconds, cut to two significant digits (1 ms below 100 ms, 10 ms below
    a second, 100 ms below ten seconds, ...): about 190 buckets cover a millisecond to a day,
    and a percentile read from them is at most 10% (and 1 ms) below the exact one."""
    ms = max(0.0, seconds) * 1000.0
    if ms < 100:
        return int(ms)
    step: int = 10 ** (int(math.log10(ms)) - 1)
    return int(ms // step) * step


@dataclass(slots=True)  # not frozen: one is made per attempt stored, and frozen init is slower
class Fact:
    """What the rollups need of one attempt."""

    created_at: float
    provider: str | None
    model: str | None
    feature: str | None
    team: str | None
    lane: str
    outcome: str
    waiting: bool  # a person was waiting for the request
    moved: bool  # the deadline guard or a flex fallback moved it to this lane
    slack: float | None  # seconds from submission to the deadline; None without one
    tokens: tuple[int, int, int, int, int, int] | None  # None: not billed
    cost_nano: int | None  # None: unpriced (or not billed)
    realtime_cost_nano: int | None
    ttft: float | None = None
    tibt: float | None = None
    queue_seconds: float | None = None
    cache_kind: str | None = None  # lane cache: dedup or response

    def day_key(self) -> tuple[Any, ...]:
        realtime = self.lane == Lane.REALTIME.value
        if realtime and self.slack is not None:
            slack = int(min(MAX_SLACK_HOURS, max(0.0, self.slack) // HOUR))
        else:
            slack = NO_DEADLINE
        return (
            int(self.created_at // DAY),
            self.provider or "",
            self.model or "",
            self.feature or "",
            self.team or "",
            self.lane,
            int(realtime and self.waiting),
            int(realtime and self.moved),
            slack,
            self.cache_kind or "",
        )

    def sums(self) -> tuple[int, ...]:
        billed = self.tokens is not None
        unpriced = billed and self.cost_nano is None
        return (
            1,
            int(self.outcome != "retry"),
            int(billed),
            int(unpriced),
            *(self.tokens or (0, 0, 0, 0, 0, 0)),
            self.cost_nano or 0,
            self.realtime_cost_nano or 0,
        )


@dataclass
class Rollup:
    """Sums and histograms of some attempts, keyed as the rollup tables are."""

    days: dict[tuple[Any, ...], list[int]] = field(default_factory=dict)
    timings: dict[tuple[int, str, str, int], int] = field(default_factory=dict)
    # The same histograms per team (attempts without a team are in ``timings`` only).
    team_timings: dict[tuple[int, str, str, str, int], int] = field(default_factory=dict)
    # The calls' (CALL_LANES) histograms per team, model and feature ("" for none of each):
    # (day, team, model, feature, lane, metric, bucket_ms) -> count.
    call_timings: dict[tuple[int, str, str, str, str, str, int], int] = field(default_factory=dict)

    def add(self, fact: Fact) -> None:
        timed = fact.ttft is not None or fact.tibt is not None or fact.queue_seconds is not None
        timings = [(fact.ttft, fact.tibt, fact.queue_seconds)] if timed else []
        self.add_group(fact, fact.sums(), timings)

    def add_group(
        self,
        template: Fact,
        sums: Sequence[int],
        timings: Iterable[tuple[float | None, float | None, float | None]] = (),
    ) -> None:
        """Attempts that share ``template``'s key (its day, provider, model, tags, lane, ...),
        already added up (``sums`` in :meth:`Fact.sums` order), and each one's timings (ttft,
        tibt, queue wait). Stored batches add their attempts this way: one key per group, not
        one per attempt."""
        key = template.day_key()
        existing = self.days.get(key)
        if existing is None:
            self.days[key] = list(sums)
        else:
            for i, value in enumerate(sums):
                existing[i] += value
        # The day key holds the team, model and feature as the rollups keep them.
        call = (key[4], key[2], key[3]) if template.lane in CALL_LANES else None
        # A stored batch's attempts mostly share their three timings (its first attempts
        # waited from one submission to one send, and a batch measures no ttft or tibt):
        # each distinct three is bucketed and counted once.
        counted: dict[tuple[float | None, float | None, float | None], int] = {}
        for values in timings:
            counted[values] = counted.get(values, 0) + 1
        for values, count in counted.items():
            self.add_timings(key[0], template.lane, values, template.team, call, count=count)

    def add_timings(
        self,
        day: int,
        lane: str,
        values: Sequence[float | None],
        team: str | None = None,
        call: tuple[str, str, str] | None = None,
        count: int = 1,
    ) -> None:
        """Count one attempt's ttft, tibt and queue wait (None: not measured), or ``count``
        attempts' with the same three. ``team``: also in its team's histograms; ``call``:
        (team, model, feature), "" for none, also in the calls' histograms (for attempts in
        CALL_LANES)."""
        calls = self.call_timings
        if call is not None:
            call_team, model, feature = call
        for metric, timing in zip(METRICS, values, strict=True):
            if timing is not None:
                bucket = bucket_ms(timing)
                tkey = (day, lane, metric, bucket)
                self.timings[tkey] = self.timings.get(tkey, 0) + count
                if team:
                    team_key = (day, team, lane, metric, bucket)
                    self.team_timings[team_key] = self.team_timings.get(team_key, 0) + count
                if call is not None:
                    call_key = (day, call_team, model, feature, lane, metric, bucket)
                    calls[call_key] = calls.get(call_key, 0) + count

    def extend(self, facts: Iterable[Fact]) -> Rollup:
        for fact in facts:
            self.add(fact)
        return self

    def write(self, conn: sa.Connection) -> None:
        """Add these sums to the tables (sorted by key: concurrent writers lock rows in one
        order, so they cannot deadlock)."""
        if self.days:
            rows = [
                dict(zip(LEDGER_DAY_KEYS + LEDGER_DAY_SUMS, (*k, *v), strict=True))
                for k, v in sorted(self.days.items())
            ]
            _upsert_add(conn, ledger_days, LEDGER_DAY_KEYS, LEDGER_DAY_SUMS, rows)
        if self.timings:
            names = ("day", "lane", "metric", "bucket_ms", "count")
            rows = [dict(zip(names, (*k, n), strict=True)) for k, n in sorted(self.timings.items())]
            _upsert_add(conn, ledger_timings, names[:4], ("count",), rows)
        if self.team_timings:
            team_names = ("day", "team", "lane", "metric", "bucket_ms", "count")
            rows = [
                dict(zip(team_names, (*k, n), strict=True))
                for k, n in sorted(self.team_timings.items())
            ]
            _upsert_add(conn, ledger_team_timings, team_names[:5], ("count",), rows)
        if self.call_timings:
            call_names = ("day", "team", "model", "feature", "lane", "metric", "bucket_ms")
            rows = [
                dict(zip((*call_names, "count"), (*k, n), strict=True))
                for k, n in sorted(self.call_timings.items())
            ]
            _upsert_add(conn, ledger_call_timings, call_names, ("count",), rows)


def _upsert_add(
    conn: sa.Connection,
    table: sa.Table,
    keys: Sequence[str],
    sums: Sequence[str],
    rows: list[dict[str, Any]],
) -> None:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + excluded[name] for name in sums},
    )
    conn.execute(statement, rows)


def add_attempts(conn: sa.Connection, facts: Iterable[Fact]) -> None:
    """Add just-stored attempts to the rollups (call in the transaction that stored them)."""
    Rollup().extend(facts).write(conn)


# -- reading facts back from the attempts (rebuild, and the test of edge_sums) -----------------

_FACT_COLUMNS = (
    attempts.c.created_at,
    attempts.c.provider,
    attempts.c.model,
    attempts.c.feature,
    attempts.c.team,
    attempts.c.lane,
    attempts.c.outcome,
    routes.c.waiting,
    requests.c.moved_by,
    requests.c.deadline,
    requests.c.created_at,
    attempts.c.input_tokens,
    attempts.c.cached_tokens,
    attempts.c.cache_write_tokens,
    attempts.c.cache_write_1h_tokens,
    attempts.c.output_tokens,
    attempts.c.reasoning_tokens,
    attempts.c.cost_nano,
    attempts.c.realtime_cost_nano,
    attempts.c.ttft,
    attempts.c.tibt,
    attempts.c.queue_seconds,
    attempts.c.cache_kind,
)
_FACT_SOURCE = attempts.join(requests, requests.c.id == attempts.c.request_id).outerjoin(
    routes, routes.c.id == requests.c.route_id
)


def facts_query(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(*_FACT_COLUMNS).select_from(_FACT_SOURCE).where(where)


def fact_of_row(row: Sequence[Any]) -> Fact:
    (at, provider, model, feature, team, lane, outcome, waiting, moved_by, deadline) = row[:10]
    submitted = row[10]
    billed = row[11] is not None
    tokens = tuple(int(v or 0) for v in row[11:17]) if billed else None
    return Fact(
        created_at=float(at),
        provider=provider,
        model=model,
        feature=feature,
        team=team,
        lane=lane,
        outcome=outcome,
        waiting=bool(waiting),
        moved=moved_by is not None,
        slack=None if deadline is None else float(deadline) - float(submitted),
        tokens=tokens,  # type: ignore[arg-type]
        cost_nano=row[17],
        realtime_cost_nano=row[18],
        ttft=row[19],
        tibt=row[20],
        queue_seconds=row[21],
        cache_kind=row[22],
    )


def read_facts(conn: sa.Connection, where: sa.ColumnElement[bool]) -> Iterator[Fact]:
    # yield_per on the statement, not the connection: that would stream everything after.
    result = conn.execute(facts_query(where).execution_options(yield_per=REBUILD_CHUNK))
    for row in result:
        yield fact_of_row(row)


def rebuild(conn: sa.Connection) -> None:
    """Recompute the rollups from every attempt. (It reads the newest schema: a migration
    that changes the rollups runs it, and earlier migrations must not.)"""
    conn.execute(sa.delete(ledger_days))
    conn.execute(sa.delete(ledger_timings))
    conn.execute(sa.delete(ledger_team_timings))
    conn.execute(sa.delete(ledger_call_timings))
    Rollup().extend(read_facts(conn, sa.true())).write(conn)
