"""An attempt as the store writes it: the row's columns, and what the attempt is priced as (its
request's provider, model and route lane) with the facts the ledger's rollups need of it.
Batch ingestion, the call lane and shared answers all write attempts this way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from halfrate.models import CacheKind, Lane, RequestState, Usage, Verdict
from halfrate.store.base import id_in
from halfrate.store.rollup import DAY, Fact, Rollup
from halfrate.store.tables import (
    requests,
    routes,
)


@dataclass(frozen=True, slots=True)
class PricedAs:
    """What an attempt is priced as: its request's provider and model, and its route's lane;
    and what the ledger row says it was for (the request's feature and team)."""

    provider: str
    model: str
    route_lane: Lane
    feature: str | None = None
    team: str | None = None
    submitted_at: float | None = None  # when the request was stored
    waiting: bool = False  # a person is waiting for it
    moved: bool = False  # the deadline guard or a flex fallback moved it off its route's lane
    deadline: float | None = None

    def fact(self, row: Sequence[Any], moved: bool = False) -> Fact:
        """What the ledger's rollups need of an attempt row (in ATTEMPT_COLUMNS order)."""
        billed = row[_INPUT] is not None
        return Fact(
            created_at=row[_CREATED],
            provider=self.provider,
            model=self.model,
            feature=self.feature,
            team=self.team,
            lane=row[_LANE],
            outcome=row[_OUTCOME],
            waiting=self.waiting,
            moved=self.moved or moved,
            slack=(
                None
                if self.deadline is None or self.submitted_at is None
                else self.deadline - self.submitted_at
            ),
            tokens=tuple(int(row[i] or 0) for i in _TOKENS) if billed else None,  # type: ignore[arg-type]
            cost_nano=row[_COST],
            realtime_cost_nano=row[_REALTIME],
            ttft=row[_TTFT],
            tibt=row[_TIBT],
            queue_seconds=row[_QUEUE],
        )

    def fact_of_cache(self, at: float, realtime_nano: int | None, kind: CacheKind) -> Fact:
        """The rollups' view of a cache-lane answer: nothing billed, nothing paid."""
        return Fact(
            created_at=at,
            provider=self.provider,
            model=self.model,
            feature=self.feature,
            team=self.team,
            lane=Lane.CACHE.value,
            outcome=RequestState.SUCCEEDED.value,
            waiting=self.waiting,
            moved=False,
            slack=None,
            tokens=None,
            cost_nano=0,
            realtime_cost_nano=realtime_nano,
            cache_kind=kind.value,
        )

    def queue_seconds(self, sent_at: float | None, first: bool) -> float | None:
        """How long a request's first attempt waited to be sent; None for later attempts."""
        if not first or sent_at is None or self.submitted_at is None:
            return None
        return max(0.0, sent_at - self.submitted_at)

    @classmethod
    def select(cls) -> tuple[sa.ColumnElement[Any], ...]:
        """The columns :meth:`of_row` reads, after the request id; select from
        ``requests`` outer-joined to ``routes``."""
        return (
            requests.c.provider,
            requests.c.model,
            routes.c.lane,
            requests.c.feature,
            requests.c.team,
            requests.c.created_at,
            routes.c.waiting,
            requests.c.moved_by,
            requests.c.deadline,
        )

    @classmethod
    def of_row(cls, row: Sequence[Any], default_lane: Lane) -> PricedAs:
        provider, model, lane, feature, team, submitted, waiting, moved_by, deadline = row
        return cls(
            provider,
            model,
            Lane(lane or default_lane.value),
            feature,
            team,
            submitted,
            bool(waiting),
            moved_by is not None,
            deadline,
        )

    @property
    def ledger_columns(self) -> tuple[str | None, ...]:
        """The dimension columns of an attempt row, in ATTEMPT_COLUMNS order."""
        return (self.provider, self.model, self.feature, self.team)


ATTEMPT_COLUMNS = (
    "request_id",
    "batch_id",
    "lane",
    "outcome",
    "status_code",
    "error_code",
    "error_message",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "ttft",
    "tibt",
    "duration",
    "cost_nano",
    "realtime_cost_nano",
    "route_cost_nano",
    "price_source",
    "created_at",
    "provider",
    "model",
    "feature",
    "team",
    "queue_seconds",
)


_AT = {name: i for i, name in enumerate(ATTEMPT_COLUMNS)}
_LANE, _OUTCOME, _INPUT, _CREATED = (
    _AT["lane"],
    _AT["outcome"],
    _AT["input_tokens"],
    _AT["created_at"],
)
_COST, _REALTIME, _QUEUE = _AT["cost_nano"], _AT["realtime_cost_nano"], _AT["queue_seconds"]
_TTFT, _TIBT = _AT["ttft"], _AT["tibt"]
# In the order of the rollup's token sums.
_TOKENS = tuple(
    _AT[name]
    for name in (
        "input_tokens",
        "cached_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "reasoning_tokens",
    )
)


def fold_attempts(
    rollup: Rollup, rows: Sequence[Sequence[Any]], priced: Sequence[PricedAs]
) -> None:
    """Add attempt rows (in ATTEMPT_COLUMNS order; ``priced[i]`` is what ``rows[i]`` is priced
    as) to ``rollup``, as :meth:`PricedAs.fact` and :meth:`Rollup.extend` would one by one,
    but per group of rows that share their key: the rows of a stored batch mostly share their
    request's kind, their lane and their day, and adding each group's columns up in one pass
    costs a fifth of making and adding a fact per row."""
    groups: dict[tuple[int, str, int], tuple[PricedAs, list[Sequence[Any]]]] = {}
    for item, row in zip(priced, rows, strict=True):
        key = (id(item), row[_LANE], int(row[_CREATED] // DAY))
        found = groups.get(key)
        if found is None:
            groups[key] = (item, [row])
        else:
            found[1].append(row)
    for item, same in groups.values():
        rollup.add_group(item.fact(same[0]), _group_sums(same), _group_timings(same))


def _group_sums(rows: list[Sequence[Any]]) -> tuple[int, ...]:
    """:meth:`Fact.sums` of each row, added up (a row is billed when it has input tokens)."""
    columns = list(zip(*rows, strict=True))
    billed = [row for row in rows if row[_INPUT] is not None]
    if billed:
        billed_columns = list(zip(*billed, strict=True))
        tokens = tuple(sum(filter(None, billed_columns[i])) for i in _TOKENS)
        unpriced = billed_columns[_COST].count(None)
    else:
        tokens, unpriced = (0,) * len(_TOKENS), 0
    return (
        len(rows),
        len(rows) - columns[_OUTCOME].count(Verdict.RETRY.value),
        len(billed),
        unpriced,
        *tokens,
        sum(filter(None, columns[_COST])),
        sum(filter(None, columns[_REALTIME])),
    )


def _group_timings(
    rows: list[Sequence[Any]],
) -> list[tuple[float | None, float | None, float | None]]:
    return [
        (row[_TTFT], row[_TIBT], row[_QUEUE])
        for row in rows
        if row[_TTFT] is not None or row[_TIBT] is not None or row[_QUEUE] is not None
    ]


def usage_columns(usage: Usage | None) -> tuple[int | None, ...]:
    """The token columns of an attempt row, in ATTEMPT_COLUMNS order."""
    if usage is None:
        return (None, None, None, None, None, None)
    return (
        usage.input_tokens,
        usage.cached_tokens,
        usage.output_tokens,
        usage.reasoning_tokens,
        usage.cache_write_tokens,
        usage.cache_write_1h_tokens,
    )


RESULT_COLUMNS = ("request_id", "status", "status_code", "response", "error", "created_at")


def priced_requests(conn: sa.Connection, ids: list[int], default_lane: Lane) -> dict[int, PricedAs]:
    """What attempts of the requests ``ids`` are priced as (see :meth:`PricedAs.of_row`)."""
    query = (
        sa.select(requests.c.id, *PricedAs.select())
        .select_from(requests.outerjoin(routes, routes.c.id == requests.c.route_id))
        .where(id_in(conn, requests.c.id, ids))
    )
    return {row[0]: PricedAs.of_row(row[1:], default_lane) for row in conn.execute(query)}


def locked_for_settling(
    conn: sa.Connection, where: sa.ColumnElement[bool], default_lane: Lane
) -> tuple[dict[int, int], dict[int, PricedAs]]:
    """The requests ``where`` selects, locked for this transaction: their attempts so far, and
    what their attempts are priced as (their provider and model, and their route's lane;
    ``default_lane`` for requests stored before routes existed)."""
    query = (
        sa.select(requests.c.id, requests.c.attempt_count, *PricedAs.select())
        .select_from(requests.outerjoin(routes, routes.c.id == requests.c.route_id))
        .where(where)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=requests)
    counts: dict[int, int] = {}
    priced: dict[int, PricedAs] = {}
    # The requests of a batch mostly share their provider, model, route, tags and submission:
    # one PricedAs per distinct row, not one per request.
    shared: dict[tuple[Any, ...], PricedAs] = {}
    # .all() fetches in one call; iterating the result would fetch each row on its own.
    for request_id, attempt_count, *rest in conn.execute(query).all():
        counts[request_id] = attempt_count
        key = tuple(rest)
        found = shared.get(key)
        if found is None:
            found = shared[key] = PricedAs.of_row(key, default_lane)
        priced[request_id] = found
    return counts, priced
