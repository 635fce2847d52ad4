"""The attempts of a report's partial days (the edges of its period, which no rollup row covers
yet), added up in SQL a group of alike attempts at a time and then keyed and bucketed by the
rollups' own Python code (:class:`halfrate.store.rollup.Rollup`), so they count exactly as the
rollups do.

Reading them one fact per attempt cost 9.5 us an attempt: a worker's receipt after a million
requests of one day (a report since the worker started) took ten seconds. Attempts group well:
those of one stored batch share their kind, lane and tags, and their queue wait (one send time,
one submission time), so a group per row of SQL is a few rows where there were a million.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from halfrate.models import Lane
from halfrate.store.rollup import CALL_LANES, DAY, Fact, Rollup
from halfrate.store.tables import attempts, requests, routes

_A, _R = attempts.c, requests.c
_BILLED = _A.input_tokens.is_not(None)
_REALTIME = _A.lane == Lane.REALTIME.value
# The columns a rollup's day key is made of (Fact.day_key). Waiting, moved and the slack to the
# deadline only count for realtime attempts: only those are joined to their requests.
_OWN_KEYS: tuple[sa.ColumnElement[Any], ...] = (
    _A.provider,
    _A.model,
    _A.feature,
    _A.team,
    _A.lane,
    _A.cache_kind,
)
_SLACK = sa.case((_R.deadline.is_not(None), _R.deadline - _R.created_at), else_=sa.null())
_REALTIME_KEYS = (*_OWN_KEYS, routes.c.waiting, _R.moved_by.is_not(None), _SLACK)


def _billed_sum(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((_BILLED, sa.func.coalesce(column, 0)), else_=0))


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


# In Fact.sums order: attempts, non-retries, billed, unpriced, the six token counts (billed
# attempts only), cost and realtime cost.
_SUMS: tuple[sa.ColumnElement[Any], ...] = (
    sa.func.count(),
    _count_if(_A.outcome != "retry"),
    _count_if(_BILLED),
    _count_if(sa.and_(_BILLED, _A.cost_nano.is_(None))),
    _billed_sum(_A.input_tokens),
    _billed_sum(_A.cached_tokens),
    _billed_sum(_A.cache_write_tokens),
    _billed_sum(_A.cache_write_1h_tokens),
    _billed_sum(_A.output_tokens),
    _billed_sum(_A.reasoning_tokens),
    sa.func.sum(sa.func.coalesce(_A.cost_nano, 0)),
    sa.func.sum(sa.func.coalesce(_A.realtime_cost_nano, 0)),
)
_REALTIME_SOURCE = attempts.join(requests, _R.id == _A.request_id).outerjoin(
    routes, routes.c.id == _R.route_id
)
_TIMING_KEYS = (_A.lane, _A.team, _A.model, _A.feature, _A.ttft, _A.tibt, _A.queue_seconds)
_TIMED = sa.or_(_A.ttft.is_not(None), _A.tibt.is_not(None), _A.queue_seconds.is_not(None))


def add_attempts_between(
    conn: sa.Connection,
    rollup: Rollup,
    start: float,
    stop: float,
    terms: Sequence[sa.ColumnElement[bool]] = (),
) -> None:
    """Add to ``rollup`` the attempts stored in [``start``, ``stop``) that match ``terms``, as
    adding each one's :class:`Fact` would."""
    for day in range(math.floor(start / DAY), math.ceil(stop / DAY)):
        # A day at a time: every attempt of a query then has the same day in its key.
        within = sa.and_(
            _A.created_at >= max(start, day * DAY),
            _A.created_at < min(stop, (day + 1) * DAY),
            *terms,
        )
        _add_sums(conn, rollup, day, within)
        _add_timings(conn, rollup, day, within)


def _add_sums(
    conn: sa.Connection, rollup: Rollup, day: int, within: sa.ColumnElement[bool]
) -> None:
    others = sa.select(*_OWN_KEYS, *_SUMS).where(within, ~_REALTIME).group_by(*_OWN_KEYS)
    realtime = (
        sa.select(*_REALTIME_KEYS, *_SUMS)
        .select_from(_REALTIME_SOURCE)
        .where(within, _REALTIME)
        .group_by(*_REALTIME_KEYS)
    )
    for query, width in ((others, len(_OWN_KEYS)), (realtime, len(_REALTIME_KEYS))):
        for row in conn.execute(query):
            provider, model, feature, team, lane, cache_kind, *realtime_keys = row[:width]
            waiting, moved, slack = realtime_keys or (False, False, None)
            template = Fact(
                created_at=float(day * DAY),
                provider=provider,
                model=model,
                feature=feature,
                team=team,
                lane=lane,
                outcome="",  # the sums below count the retries
                waiting=bool(waiting),
                moved=bool(moved),
                slack=None if slack is None else float(slack),
                tokens=None,
                cost_nano=None,
                realtime_cost_nano=None,
                cache_kind=cache_kind,
            )
            # PostgreSQL sums integers as numeric.
            rollup.add_group(template, [int(value) for value in row[width:]])


def _add_timings(
    conn: sa.Connection, rollup: Rollup, day: int, within: sa.ColumnElement[bool]
) -> None:
    query = sa.select(*_TIMING_KEYS, sa.func.count()).where(within, _TIMED).group_by(*_TIMING_KEYS)
    for lane, team, model, feature, ttft, tibt, queue, count in conn.execute(query):
        call = (team or "", model or "", feature or "") if lane in CALL_LANES else None
        rollup.add_timings(day, lane, (ttft, tibt, queue), team, call, count=int(count))
