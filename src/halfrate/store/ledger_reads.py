"""Reading the ledger for reports, from its daily rollups (:mod:`rollup`).

Whole days of a period are read from ``ledger_days`` and ``ledger_timings``; the partial days
at its edges (a ``--since`` at 14:37) from the attempts themselves, summed by the same code that
keeps the rollups, so a report is exact to the second and reads thousands of rows, not millions.
Days are UTC.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from halfrate.models import Lane
from halfrate.store.base import Database
from halfrate.store.edge_sums import add_attempts_between
from halfrate.store.rollup import DAY, HOUR, NO_DEADLINE, REBUILD_CHUNK, Rollup, rebuild
from halfrate.store.tables import (
    LEDGER_DAY_KEYS,
    LEDGER_DAY_SUMS,
    attempts,
    batches,
    ledger_days,
)
from halfrate.store.team_timings import ledger_team_timings, ledger_timings

DAY_SECONDS = 86400


_H = ledger_days.c
_KEY_INDEX = {name: i for i, name in enumerate(LEDGER_DAY_KEYS)}


def _key_part(name: str) -> Callable[[tuple[Any, ...]], Any]:
    index = _KEY_INDEX[name]
    return lambda key: key[index]


# What a report can be grouped by: the rollup column, and the same from a rollup key in Python.
GROUPS: dict[str, tuple[sa.ColumnElement[Any], Callable[[tuple[Any, ...]], Any]]] = {
    name: (_H[name], _key_part(name))
    for name in ("feature", "team", "model", "lane", "provider", "cache_kind")
}
# Whole days since 1970-01-01 UTC; the report turns them into dates.
GROUPS["day"] = (_H.day, lambda key: key[0])


@dataclass(frozen=True)
class Scope:
    """Which ledger rows a report covers: a time range (Unix seconds, ``until`` excluded) and
    optionally one feature or team."""

    since: float | None = None
    until: float | None = None
    feature: str | None = None
    team: str | None = None

    def days(self) -> tuple[int | None, int | None]:
        """The whole days inside the range: ``[first, end)``, None for an open side."""
        first = None if self.since is None else math.ceil(self.since / DAY)
        end = None if self.until is None else math.floor(self.until / DAY)
        if first is not None and end is not None and end < first:
            end = first  # the range lies inside one day: no whole day, one edge
        return first, end

    def edges(self) -> list[tuple[float, float]]:
        """The parts of the range outside its whole days, as [start, stop) in seconds."""
        first, end = self.days()
        parts = []
        if self.since is not None and first is not None:
            stop = first * DAY if self.until is None else min(first * DAY, self.until)
            parts.append((self.since, stop))
        if self.until is not None and end is not None:
            start = end * DAY if self.since is None else max(end * DAY, self.since)
            if not parts or start >= parts[0][1]:
                parts.append((start, self.until))
        return [(a, b) for a, b in parts if b > a]

    def day_terms(self, day: sa.ColumnElement[int]) -> list[sa.ColumnElement[bool]]:
        first, end = self.days()
        terms: list[sa.ColumnElement[bool]] = []
        if first is not None:
            terms.append(day >= first)
        if end is not None:
            terms.append(day < end)
        return terms

    def tag_terms(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        terms: list[sa.ColumnElement[bool]] = []
        if self.feature is not None:
            terms.append(table.c.feature == self.feature)
        if self.team is not None:
            terms.append(table.c.team == self.team)
        return terms

    def keeps(self, key: tuple[Any, ...]) -> bool:
        """Whether a rollup key (of an edge) is in the feature and team this scope asks for."""
        feature, team = key[_KEY_INDEX["feature"]], key[_KEY_INDEX["team"]]
        return (self.feature is None or feature == self.feature) and (
            self.team is None or team == self.team
        )


@dataclass
class Sums:
    """Ledger sums of one group (and lane). Costs in nano-dollars over the priced attempts."""

    key: Any
    lane: str | None = None
    attempts: int = 0
    requests: int = 0  # attempts that ended their request (retries do not)
    billed: int = 0  # attempts the provider billed (they have usage)
    unpriced: int = 0  # billed attempts of models without a known price
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nano: int = 0
    realtime_cost_nano: int = 0

    def add(self, values: Sequence[int]) -> None:
        for name, value in zip(LEDGER_DAY_SUMS, values, strict=True):
            setattr(self, name, getattr(self, name) + int(value))

    def values(self) -> list[int]:
        """The sums in the order of LEDGER_DAY_SUMS (what :meth:`add` takes)."""
        return [getattr(self, name) for name in LEDGER_DAY_SUMS]


@dataclass(frozen=True)
class ModelSums:
    """One group's sums in one lane, provider and model."""

    key: Any  # the group's value, as :meth:`LedgerQueries.grouped` gives it
    provider: str
    model: str
    lane: str
    sums: Sums


def _sum(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(column), 0)


DAY_SUMS = tuple(_sum(_H[name]) for name in LEDGER_DAY_SUMS)  # selected in that order


@dataclass(frozen=True)
class TokenSums:
    """Billed tokens of one provider, model and feature (to price them in another lane)."""

    provider: str
    model: str
    feature: str | None
    attempts: int
    input_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    cost_nano: int


def none_if_empty(value: Any) -> Any:
    """The rollups keep "no feature" (or team, model, provider) as empty text."""
    return None if value == "" else value


class LedgerQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def grouped(self, by: str, scope: Scope, edges: Rollup | None = None) -> list[Sums]:
        """Sums per value of ``by`` (one of :data:`GROUPS`) and lane: the report adds the lanes
        up per value, and the values up per lane. (Its own query, not :meth:`model_sums` added
        up: grouping by two columns instead of four keeps the spend page 80 ms quicker on a
        million-row ledger, bench/spend.py.)"""
        column, of_key = GROUPS[by]
        keys = (column, _H.lane)
        terms = [*scope.day_terms(_H.day), *scope.tag_terms(ledger_days)]
        query = sa.select(*keys, *DAY_SUMS).where(*terms).group_by(*keys)
        found: dict[tuple[Any, str], Sums] = {}
        with self._store.read() as conn:
            for row in conn.execute(query):
                group = (none_if_empty(row[0]), row[1])
                found.setdefault(group, Sums(*group)).add(row[2:])
            for key, values in (edges or self._edges(conn, scope)).days.items():
                group = (none_if_empty(of_key(key)), key[_KEY_INDEX["lane"]])
                found.setdefault(group, Sums(*group)).add(values)
        return list(found.values())

    def model_sums(self, by: str, scope: Scope, edges: Rollup | None = None) -> list[ModelSums]:
        """The sums per value of ``by``, lane, provider and model: a report adds them up for
        its lines and prices the prompt caches' tokens per provider and model, from this one
        read."""
        column, of_key = GROUPS[by]
        keys = (column, _H.lane, _H.provider, _H.model)
        terms = [*scope.day_terms(_H.day), *scope.tag_terms(ledger_days)]
        query = sa.select(*keys, *DAY_SUMS).where(*terms).group_by(*keys)
        found: dict[tuple[Any, str, str, str], Sums] = {}
        with self._store.read() as conn:
            for row in conn.execute(query):
                group = (none_if_empty(row[0]), row[1], row[2], row[3])
                found.setdefault(group, Sums(group[0], row[1])).add(row[4:])
            for key, values in (edges or self._edges(conn, scope)).days.items():
                lane = key[_KEY_INDEX["lane"]]
                provider, model = key[_KEY_INDEX["provider"]], key[_KEY_INDEX["model"]]
                group = (none_if_empty(of_key(key)), lane, provider, model)
                found.setdefault(group, Sums(group[0], lane)).add(values)
        return [
            ModelSums(key, provider, model, lane, sums)
            for (key, lane, provider, model), sums in found.items()
        ]

    def missed_tokens(
        self, scope: Scope, batch_after_seconds: float, edges: Rollup | None = None
    ) -> list[TokenSums]:
        """Billed realtime attempts that could have waited: nobody was waiting, neither the
        deadline guard nor a flex fallback moved them there, and their deadline (if any) was
        at least ``batch_after_seconds`` after submission. Summed per provider, model and
        feature."""
        reach = math.ceil(batch_after_seconds / HOUR)

        def could_wait(lane: str, waiting: int, moved: int, slack: int) -> bool:
            return (
                lane == Lane.REALTIME.value
                and not waiting
                and not moved
                and (slack == NO_DEADLINE or slack >= reach)
            )

        keys = (_H.provider, _H.model, _H.feature)
        query = (
            sa.select(*keys, *DAY_SUMS)
            .where(
                *scope.day_terms(_H.day),
                *scope.tag_terms(ledger_days),
                _H.lane == Lane.REALTIME.value,
                _H.waiting == 0,
                _H.moved == 0,
                sa.or_(_H.slack_hours == NO_DEADLINE, _H.slack_hours >= reach),
            )
            .group_by(*keys)
        )
        found: dict[tuple[str, str, str], Sums] = {}
        with self._store.read() as conn:
            for row in conn.execute(query):
                found.setdefault((row[0], row[1], row[2]), Sums(row[1])).add(row[3:])
            for key, values in (edges or self._edges(conn, scope)).days.items():
                _, provider, model, feature, _, lane, waiting, moved, slack, _ = key
                if could_wait(lane, waiting, moved, slack):
                    found.setdefault((provider, model, feature), Sums(model)).add(values)
        return [
            TokenSums(
                provider,
                model,
                none_if_empty(feature),
                s.billed,
                s.input_tokens,
                s.cached_tokens,
                s.cache_write_tokens,
                s.cache_write_1h_tokens,
                s.output_tokens,
                s.cost_nano,
            )
            for (provider, model, feature), s in sorted(found.items())
            if s.billed
        ]

    def timings(
        self,
        scope: Scope,
        metric: str,
        lanes: Sequence[Lane] | None = None,
        edges: Rollup | None = None,
        tagged: Rollup | None = None,
    ) -> list[tuple[float, int]]:
        """A histogram of ``metric`` (ttft, tibt, queue) over the attempts in ``lanes``
        (default: all): (bucket in seconds, count), in order of value. ``edges`` and
        ``tagged``: :meth:`edges` and :meth:`tagged` of the scope, when already read."""
        wanted = None if lanes is None else {lane.value for lane in lanes}
        counts: dict[int, int] = {}
        with self._store.read() as conn:
            if scope.feature is not None:
                sources = [(tagged or self._tagged(conn, scope)).timings.items()]
            else:
                # Whole days from a histogram table (per team when the scope names one); the
                # partial days at the edges from the attempts (the scope's team only).
                t = ledger_timings.c if scope.team is None else ledger_team_timings.c
                terms = [*scope.day_terms(t.day), t.metric == metric]
                if scope.team is not None:
                    terms.append(ledger_team_timings.c.team == scope.team)
                if wanted is not None:
                    terms.append(t.lane.in_(sorted(wanted)))
                # Summed per bucket in SQL: a few hundred rows, not one per day and bucket.
                query = sa.select(t.bucket_ms, sa.func.sum(t.count)).where(*terms)
                for bucket, n in conn.execute(query.group_by(t.bucket_ms)):
                    counts[bucket] = int(n)
                sources = [(edges or self._edges(conn, scope)).timings.items()]
            for source in sources:
                for (_, lane, m, bucket), n in source:
                    if m == metric and (wanted is None or lane in wanted):
                        counts[bucket] = counts.get(bucket, 0) + n
        return [(ms / 1000.0, n) for ms, n in sorted(counts.items())]

    def batch_turnarounds(self, scope: Scope) -> list[float]:
        """Seconds from create to end of the provider batches that ended in the time range,
        sorted. (A feature or team scope does not narrow it: a batch may hold several.)"""
        ended = batches.c.ended_at
        terms: list[sa.ColumnElement[bool]] = [
            ended.is_not(None),
            batches.c.submitted_at.is_not(None),
        ]
        if scope.since is not None:
            terms.append(ended >= scope.since)
        if scope.until is not None:
            terms.append(ended < scope.until)
        span = ended - batches.c.submitted_at
        query = sa.select(span).where(*terms).order_by(span)
        with self._store.read() as conn:
            return [max(0.0, float(v)) for v in conn.execute(query).scalars()]

    def rebuild_rollups(self) -> None:
        """Recompute the rollups from every attempt (see :func:`rollup.rebuild`)."""
        with self._store.write() as conn:
            rebuild(conn)

    def tagged(self, scope: Scope) -> Rollup | None:
        """For a scope with a feature: its attempts summed as rollups (the timing histograms
        are per day, lane and team, so a feature's timings come from its attempts, read once
        for a report's several KPIs). None for other scopes."""
        if scope.feature is None:
            return None
        with self._store.read() as conn:
            return self._tagged(conn, scope)

    def _tagged(self, conn: sa.Connection, scope: Scope) -> Rollup:
        """Only the timing histograms, from the timing columns alone (no join)."""
        a = attempts.c
        query = sa.select(a.created_at, a.lane, a.ttft, a.tibt, a.queue_seconds).where(
            self._range(scope.since, scope.until, scope),
            sa.or_(a.ttft.is_not(None), a.tibt.is_not(None), a.queue_seconds.is_not(None)),
        )
        rollup = Rollup()
        with_timings = query.execution_options(yield_per=REBUILD_CHUNK)
        for at, lane, *values in conn.execute(with_timings):
            rollup.add_timings(int(at // DAY), lane, values)
        return rollup

    def edges(self, scope: Scope) -> Rollup:
        """The partial days of ``scope`` summed once, for a report's several queries."""
        with self._store.read() as conn:
            return self._edges(conn, scope)

    def _edges(self, conn: sa.Connection, scope: Scope) -> Rollup:
        """The attempts in the partial days at the edges of ``scope``, summed as rollups."""
        rollup = Rollup()
        tags = self._range(None, None, scope)
        for start, stop in scope.edges():
            add_attempts_between(conn, rollup, start, stop, [tags])
        if scope.feature is not None or scope.team is not None:
            rollup.days = {k: v for k, v in rollup.days.items() if scope.keeps(k)}
        return rollup

    @staticmethod
    def _range(start: float | None, stop: float | None, scope: Scope) -> sa.ColumnElement[bool]:
        terms: list[sa.ColumnElement[bool]] = []
        if start is not None:
            terms.append(attempts.c.created_at >= start)
        if stop is not None:
            terms.append(attempts.c.created_at < stop)
        if scope.feature is not None:
            terms.append(attempts.c.feature == scope.feature)
        if scope.team is not None:
            terms.append(attempts.c.team == scope.team)
        return sa.and_(sa.true(), *terms)
