"""Reading the ledger (the attempts table) for reports: sums per group, and the raw figures
behind the KPIs. Every query is one scan of the attempts in a time range, at most.

A ledger row carries its request's provider, model, feature and team (copied in when it is
stored), so grouping needs no join with the requests table. Days are UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from halfrate.models import Lane
from halfrate.store.tables import attempts, batches, requests, routes

if TYPE_CHECKING:
    from halfrate.store.base import Store

# What a report can be grouped by, and the expression of each.
DAY_SECONDS = 86400
GROUPS: dict[str, sa.ColumnElement[Any]] = {
    "feature": attempts.c.feature,
    "team": attempts.c.team,
    "model": attempts.c.model,
    "lane": attempts.c.lane,
    "provider": attempts.c.provider,
    # Whole days since 1970-01-01 UTC; the report turns them into dates.
    "day": sa.cast(sa.func.floor(attempts.c.created_at / DAY_SECONDS), sa.BigInteger),
}


@dataclass(frozen=True)
class Scope:
    """Which ledger rows a report covers: a time range (Unix seconds, ``until`` excluded) and
    optionally one feature or team."""

    since: float | None = None
    until: float | None = None
    feature: str | None = None
    team: str | None = None

    def where(self) -> sa.ColumnElement[bool]:
        terms: list[sa.ColumnElement[bool]] = [sa.true()]
        if self.since is not None:
            terms.append(attempts.c.created_at >= self.since)
        if self.until is not None:
            terms.append(attempts.c.created_at < self.until)
        if self.feature is not None:
            terms.append(attempts.c.feature == self.feature)
        if self.team is not None:
            terms.append(attempts.c.team == self.team)
        return sa.and_(*terms)


@dataclass
class Sums:
    """Ledger sums of one group. Costs in nano-dollars over the priced attempts only."""

    key: Any
    attempts: int = 0
    requests: int = 0  # distinct requests with an attempt in the group
    billed: int = 0  # attempts the provider billed (they have usage)
    unpriced: int = 0  # billed attempts of models without a known price
    input_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nano: int = 0
    realtime_cost_nano: int = 0


def _sum(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(column), 0)


_SUMS = (
    sa.func.count(),
    sa.func.count(sa.distinct(attempts.c.request_id)),
    sa.func.count(attempts.c.input_tokens),
    _sum(
        sa.case(
            (sa.and_(attempts.c.input_tokens.is_not(None), attempts.c.cost_nano.is_(None)), 1),
            else_=0,
        )
    ),
    _sum(attempts.c.input_tokens),
    _sum(attempts.c.cached_tokens),
    _sum(attempts.c.cache_write_tokens),
    _sum(attempts.c.output_tokens),
    _sum(attempts.c.reasoning_tokens),
    _sum(attempts.c.cost_nano),
    _sum(attempts.c.realtime_cost_nano),
)


def _sums(key: Any, row: Sequence[Any]) -> Sums:
    return Sums(key, *(int(value) for value in row))


@dataclass(frozen=True)
class TokenSums:
    """Billed tokens of one provider and model (to price them in another lane)."""

    provider: str
    model: str
    attempts: int
    input_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    cost_nano: int


class LedgerQueries:
    def __init__(self, store: Store) -> None:
        self._store = store

    def grouped(self, by: str, scope: Scope) -> list[Sums]:
        """Sums per value of ``by`` (one of :data:`GROUPS`), largest spend first."""
        key = GROUPS[by]
        query = (
            sa.select(key.label("key"), *_SUMS)
            .where(scope.where())
            .group_by(key)
            .order_by(_sum(attempts.c.cost_nano).desc(), key)
        )
        with self._store.read() as conn:
            return [_sums(row[0], row[1:]) for row in conn.execute(query)]

    def missed_tokens(self, scope: Scope, batch_after_seconds: float) -> list[TokenSums]:
        """Billed realtime attempts that could have waited: nobody was waiting, the deadline
        guard did not move them, and their deadline (if any) was at least
        ``batch_after_seconds`` after submission. Summed per provider and model."""
        eligible = sa.and_(
            scope.where(),
            attempts.c.lane == Lane.REALTIME.value,
            attempts.c.input_tokens.is_not(None),
            sa.or_(routes.c.waiting.is_(None), routes.c.waiting.is_(False)),
            requests.c.moved_by.is_(None),
            sa.or_(
                requests.c.deadline.is_(None),
                requests.c.deadline - requests.c.created_at >= batch_after_seconds,
            ),
        )
        query = (
            sa.select(
                attempts.c.provider,
                attempts.c.model,
                sa.func.count(),
                _sum(attempts.c.input_tokens),
                _sum(attempts.c.cached_tokens),
                _sum(attempts.c.cache_write_tokens),
                _sum(attempts.c.cache_write_1h_tokens),
                _sum(attempts.c.output_tokens),
                _sum(attempts.c.cost_nano),
            )
            .select_from(
                attempts.join(requests, requests.c.id == attempts.c.request_id).outerjoin(
                    routes, routes.c.id == requests.c.route_id
                )
            )
            .where(eligible)
            .group_by(attempts.c.provider, attempts.c.model)
        )
        with self._store.read() as conn:
            return [
                TokenSums(str(row[0]), str(row[1]), *(int(v) for v in row[2:]))
                for row in conn.execute(query)
            ]

    def timings(self, scope: Scope, column: str, lanes: Sequence[Lane]) -> list[float]:
        """The values of a timing column (``ttft``, ``tibt``, ``queue_seconds``) of the
        attempts in ``lanes``, sorted (for percentiles)."""
        value = attempts.c[column]
        query = (
            sa.select(value)
            .where(
                scope.where(),
                value.is_not(None),
                attempts.c.lane.in_([lane.value for lane in lanes]),
            )
            .order_by(value)
        )
        with self._store.read() as conn:
            return [float(v) for v in conn.execute(query).scalars()]

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
