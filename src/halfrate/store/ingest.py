"""Storing what came back for a batch: attempts, results and request states, exactly once.

A line only counts if its request is still ``in_batch`` in *this* batch; everything else (a
duplicated output line, a second ingestion of the same file after a crash) changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from halfrate.models import CacheKind, Lane, RequestState, Usage, Verdict
from halfrate.records import IngestCounts, LineOutcome, error_json
from halfrate.retry import RetryPolicy, gave_up
from halfrate.retry import reason as reason_of
from halfrate.store.base import bulk_insert, id_in
from halfrate.store.deliveries import enqueue_deliveries
from halfrate.store.rollup import Fact, add_attempts
from halfrate.store.tables import (
    attempts,
    batches,
    request_state_is,
    requests,
    results,
    routes,
)
from halfrate.store.transitions import move_requests

if TYPE_CHECKING:
    from halfrate.store.base import Database


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


class IngestQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def apply(
        self, batch_id: str, outcomes: list[LineOutcome], policy: RetryPolicy
    ) -> IngestCounts:
        counts = IngestCounts()
        unique: dict[int, LineOutcome] = {}
        for outcome in outcomes:
            if outcome.request_id in unique:
                counts.ignored += 1
            else:
                unique[outcome.request_id] = outcome
        if not unique:
            return counts
        now = time.time()
        with self._store.write() as conn:
            live, priced = self._live(conn, batch_id, list(unique))
            counts.ignored += len(unique) - len(live)
            settled = [_settle(unique[rid], live[rid], policy) for rid in live]
            sent_at = conn.execute(
                sa.select(batches.c.submitted_at).where(batches.c.id == batch_id)
            ).scalar()
            first = {rid for rid, tries in live.items() if tries == 0}
            self._store_attempts(conn, batch_id, settled, priced, now, sent_at, first)
            self._store_paid_strays(conn, batch_id, unique, live, now)
            self._store_results(conn, settled, now)
            self._move(conn, batch_id, settled, live, policy, now, counts)
        return counts

    def unreported(self, batch_id: str) -> list[int]:
        """Requests of the batch that no output or error line has settled."""
        with self._store.read() as conn:
            return list(
                conn.execute(
                    sa.select(requests.c.id)
                    .where(requests.c.batch_id == batch_id, request_state_is(RequestState.IN_BATCH))
                    .order_by(requests.c.id)
                ).scalars()
            )

    def _live(
        self, conn: sa.Connection, batch_id: str, ids: list[int]
    ) -> tuple[dict[int, int], dict[int, PricedAs]]:
        """The batch's requests among ``ids`` that it still owns."""
        owned = sa.and_(
            id_in(conn, requests.c.id, ids),
            requests.c.batch_id == batch_id,
            requests.c.state == RequestState.IN_BATCH.value,
        )
        return locked_for_settling(conn, owned, Lane.BATCH)

    def _store_attempts(
        self,
        conn: sa.Connection,
        batch_id: str,
        settled: list[LineOutcome],
        priced: dict[int, PricedAs],
        now: float,
        sent_at: float | None = None,
        first: set[int] | frozenset[int] = frozenset(),
    ) -> None:
        """``first``: the requests for which this is the first attempt, sent at ``sent_at``."""
        if not settled:
            return
        costs = self._store.prices.attempt_costs
        rows = []
        for o in settled:
            item = priced[o.request_id]
            rows.append(
                (
                    o.request_id,
                    batch_id,
                    Lane.BATCH.value,
                    o.verdict.value,
                    o.status_code,
                    o.error_code,
                    o.error_message,
                    *usage_columns(o.usage),
                    None,
                    None,
                    None,
                    *costs(item.provider, item.model, o.usage, Lane.BATCH, item.route_lane),
                    now,
                    *item.ledger_columns,
                    item.queue_seconds(sent_at, o.request_id in first),
                )
            )
        bulk_insert(conn, attempts, ATTEMPT_COLUMNS, rows)
        facts = (priced[o.request_id].fact(row) for o, row in zip(settled, rows, strict=True))
        add_attempts(conn, facts)

    def _store_paid_strays(
        self,
        conn: sa.Connection,
        batch_id: str,
        unique: dict[int, LineOutcome],
        live: dict[int, int],
        now: float,
    ) -> None:
        """Succeeded lines of requests this batch no longer owns (the deadline guard took them
        out while the batch ran them) were still paid: their attempt is recorded, once, so the
        ledger shows every cent; their result stays the one that landed first."""
        strays = [
            rid
            for rid, o in unique.items()
            if rid not in live and o.verdict is Verdict.SUCCEEDED and o.usage is not None
        ]
        if not strays:
            return
        recorded = sa.exists(
            sa.select(attempts.c.id).where(
                attempts.c.request_id == requests.c.id, attempts.c.batch_id == batch_id
            )
        )
        query = (
            sa.select(requests.c.id, *PricedAs.select())
            .select_from(requests.outerjoin(routes, routes.c.id == requests.c.route_id))
            .where(id_in(conn, requests.c.id, strays), ~recorded)
        )
        priced = {row[0]: PricedAs.of_row(row[1:], Lane.BATCH) for row in conn.execute(query)}
        self._store_attempts(conn, batch_id, [unique[rid] for rid in priced], priced, now)

    def _store_results(self, conn: sa.Connection, settled: list[LineOutcome], now: float) -> None:
        rows = []
        for o in settled:
            if o.verdict is Verdict.RETRY:
                continue
            error = None
            if o.verdict is not Verdict.SUCCEEDED:
                error = error_json(o.error_code, o.error_message)
            rows.append((o.request_id, o.verdict.value, o.status_code, o.response_json, error, now))
        if rows:
            bulk_insert(conn, results, RESULT_COLUMNS, rows)
            enqueue_deliveries(conn, [row[0] for row in rows])

    def _move(
        self,
        conn: sa.Connection,
        batch_id: str,
        settled: list[LineOutcome],
        live: dict[int, int],
        policy: RetryPolicy,
        now: float,
        counts: IngestCounts,
    ) -> None:
        by_verdict: dict[Verdict, list[LineOutcome]] = {v: [] for v in Verdict}
        for o in settled:
            by_verdict[o.verdict].append(o)
        done = {"attempt_count": requests.c.attempt_count + 1, "updated_at": now}
        ok = [o.request_id for o in by_verdict[Verdict.SUCCEEDED]]
        move_requests(conn, ok, RequestState.SUCCEEDED, batch_id=batch_id, values=done)
        counts.succeeded += len(ok)
        cancelled = [o.request_id for o in by_verdict[Verdict.CANCELLED]]
        move_requests(conn, cancelled, RequestState.CANCELLED, batch_id=batch_id, values=done)
        counts.cancelled += len(cancelled)
        for reason, ids in _by_reason(by_verdict[Verdict.FAILED]).items():
            values = {**done, "last_error": reason}
            move_requests(conn, ids, RequestState.FAILED, batch_id=batch_id, values=values)
        counts.failed += len(by_verdict[Verdict.FAILED])
        free = [o for o in by_verdict[Verdict.RETRY] if o.free]
        for reason, ids in _by_reason(free).items():
            values = {"batch_id": None, "updated_at": now, "not_before": None, "last_error": reason}
            move_requests(conn, ids, RequestState.QUEUED, batch_id=batch_id, values=values)
        # Retries wait longer each time: backoff * 2^(attempts so far).
        retry_groups: dict[tuple[int, str], list[int]] = {}
        for o in by_verdict[Verdict.RETRY]:
            if o.free:
                continue
            retry_groups.setdefault((live[o.request_id], _reason(o)), []).append(o.request_id)
        for (previous, reason), ids in retry_groups.items():
            values = {
                **done,
                "batch_id": None,
                "not_before": now + policy.queue_wait(previous),
                "last_error": reason,
            }
            move_requests(conn, ids, RequestState.QUEUED, batch_id=batch_id, values=values)
        counts.retried += len(by_verdict[Verdict.RETRY])


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
    for row in conn.execute(query):
        request_id = row[0]
        counts[request_id] = row[1]
        priced[request_id] = PricedAs.of_row(row[2:], default_lane)
    return counts, priced


def _by_reason(outcomes: list[LineOutcome]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for o in outcomes:
        grouped.setdefault(_reason(o), []).append(o.request_id)
    return grouped


def _reason(o: LineOutcome) -> str:
    return reason_of(o.error_code, o.error_message)


def _settle(outcome: LineOutcome, attempts_so_far: int, policy: RetryPolicy) -> LineOutcome:
    """A retry past the attempt cap becomes a final failure carrying the last reason."""
    if outcome.verdict is not Verdict.RETRY or outcome.free:
        return outcome
    if not policy.exhausted(attempts_so_far):
        return outcome
    return LineOutcome(
        request_id=outcome.request_id,
        verdict=Verdict.FAILED,
        status_code=outcome.status_code,
        response_json=outcome.response_json,
        error_code=outcome.error_code,
        error_message=gave_up(attempts_so_far + 1, outcome.error_message),
        usage=outcome.usage,
    )
