"""The synchronous lanes in the store: taking requests for a call, and recording what came back.

A request taken for a call is ``in_call`` with a lease; a worker that dies mid-call lets its
lease run out and the request goes back to the queue. Each HTTP try is one attempt row; the
result lands once, and only while the request is still in the call that produced it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace

import sqlalchemy as sa

from halfrate.models import SYNC_LANES, CallTry, Lane, RequestState, Verdict
from halfrate.records import CallCounts, CallRecord, ClaimedCall, error_json
from halfrate.retry import RetryPolicy, gave_up, reason
from halfrate.store.attempts import (
    ATTEMPT_COLUMNS,
    RESULT_COLUMNS,
    PricedAs,
    locked_for_settling,
    priced_requests,
    usage_columns,
)
from halfrate.store.base import Database, bulk_insert, id_in
from halfrate.store.cancels import not_cancelled
from halfrate.store.deliveries import enqueue_deliveries
from halfrate.store.request_bodies import request_bodies
from halfrate.store.rollup import Fact, add_attempts
from halfrate.store.tables import attempts, request_state_is, requests, results, routes
from halfrate.store.transitions import move_requests, take_requests

_SYNC = sorted(lane.value for lane in SYNC_LANES)


class CallQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def claim(self, limit: int, lease_seconds: float, now: float) -> list[ClaimedCall]:
        """Take up to ``limit`` queued realtime and flex requests, oldest first."""
        if limit <= 0:
            return []
        with self._store.write() as conn:
            return self._claim(conn, limit, lease_seconds, now)

    def exchange(
        self,
        records: list[CallRecord],
        policy: RetryPolicy,
        limit: int,
        lease_seconds: float,
        now: float,
    ) -> tuple[CallCounts, list[ClaimedCall]]:
        """Store what came back and take the next requests, in one transaction (for a worker
        under load every transaction counts: see CallLane)."""
        with self._store.write() as conn:
            counts = self._finish(conn, records, policy, now) if records else CallCounts()
            taken = self._claim(conn, limit, lease_seconds, now) if limit > 0 else []
            return counts, taken

    def _claim(
        self, conn: sa.Connection, limit: int, lease_seconds: float, now: float
    ) -> list[ClaimedCall]:
        query = (
            sa.select(requests.c.id)
            .where(
                request_state_is(RequestState.QUEUED),
                requests.c.lane.in_(_SYNC),
                not_cancelled(),
                sa.or_(requests.c.not_before.is_(None), requests.c.not_before <= now),
            )
            .order_by(requests.c.id)
            .limit(limit)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.execute(query).scalars())
        return self._take(conn, ids, now + lease_seconds, now)

    def take_by_key(
        self, job_id: str, key: str, lease_seconds: float, now: float
    ) -> tuple[int, str, ClaimedCall | None]:
        """The request ``key`` of the job: its id, its state, and, if it was queued, the
        request taken for a call now (a person is waiting for it, so a request that was waiting
        for a batch, or for an identical request's answer, goes to the realtime lane)."""
        with self._store.write() as conn:
            request_id = conn.execute(
                sa.select(requests.c.id).where(requests.c.job_id == job_id, requests.c.key == key)
            ).scalar_one()
            now_lane = sa.case(
                (
                    requests.c.lane.in_([Lane.BATCH.value, Lane.CACHE.value]),
                    Lane.REALTIME.value,
                ),
                else_=requests.c.lane,
            )
            taken = self._take(conn, [request_id], now + lease_seconds, now, lane=now_lane)
            if taken:
                return request_id, RequestState.IN_CALL.value, taken[0]
            # Someone else (a worker's claim, a batch) had it first: say where it is.
            state = conn.execute(
                sa.select(requests.c.state).where(requests.c.id == request_id)
            ).scalar_one()
            return request_id, state, None

    def _take(
        self,
        conn: sa.Connection,
        ids: list[int],
        lease_until: float,
        now: float,
        lane: sa.ColumnElement[str] | None = None,
    ) -> list[ClaimedCall]:
        """Move the queued ones of ``ids`` into a call. Only rows this UPDATE moved are taken
        (RETURNING): on PostgreSQL another transaction may have moved one since we read it, and
        a later SELECT would see that worker's row as if it were ours."""
        if not ids:
            return []
        values: dict[str, object] = {
            "lease_until": lease_until,
            "updated_at": now,
            "answered_by": None,  # called itself: it no longer waits for an identical request
        }
        if lane is not None:
            values["lane"] = lane
        moved = take_requests(
            conn,
            [id_in(conn, requests.c.id, ids)],
            RequestState.IN_CALL,
            sources=[RequestState.QUEUED],
            values=values,
        )
        if not moved:
            return []
        rows = conn.execute(
            sa.select(
                requests.c.id,
                requests.c.provider,
                requests.c.endpoint,
                requests.c.model,
                request_bodies.c.body,
                requests.c.lane,
                routes.c.fallback_lane,
                requests.c.attempt_count,
                requests.c.prefix_key,
                requests.c.prefix_parts,
                routes.c.prompt_cache_ttl,
            )
            .select_from(
                requests.join(
                    request_bodies, request_bodies.c.request_id == requests.c.id
                ).outerjoin(routes, routes.c.id == requests.c.route_id)
            )
            .where(id_in(conn, requests.c.id, moved))
            .order_by(requests.c.id)
        )
        return [
            ClaimedCall(
                request_id=row.id,
                provider=row.provider,
                endpoint=row.endpoint,
                model=row.model,
                body_json=row.body,
                lane=Lane(row.lane),
                fallback=Lane(row.fallback_lane) if row.fallback_lane else None,
                attempt_count=row.attempt_count,
                prefix_key=row.prefix_key,
                prefix_parts=row.prefix_parts,
                prompt_cache_ttl=row.prompt_cache_ttl or "5m",
            )
            for row in rows
        ]

    def renew(self, ids: list[int], lease_seconds: float) -> None:
        """Keep the leases of calls still under way."""
        if not ids:
            return
        with self._store.write() as conn:
            conn.execute(
                sa.update(requests)
                .where(id_in(conn, requests.c.id, ids), request_state_is(RequestState.IN_CALL))
                .values(lease_until=time.time() + lease_seconds)
            )

    def requeue_stale(self, now: float) -> int:
        """Calls whose worker stopped renewing their lease go back to the queue.

        One UPDATE that checks the lease itself: a SELECT first would let two workers requeue
        the same call twice, the second after a third had already taken it again.
        """
        with self._store.write() as conn:
            moved = take_requests(
                conn,
                [requests.c.lease_until < now],
                RequestState.QUEUED,
                sources=[RequestState.IN_CALL],
                values={
                    "lease_until": None,
                    "updated_at": now,
                    "last_error": "the worker calling it stopped before it answered; called again",
                },
            )
            return len(moved)

    def finish(self, records: Iterable[CallRecord], policy: RetryPolicy) -> CallCounts:
        """Store every try, land final results once, and queue what goes on: a few statements
        for the whole group, whatever its size."""
        with self._store.write() as conn:
            return self._finish(conn, list(records), policy, time.time())

    def _finish(
        self, conn: sa.Connection, records: list[CallRecord], policy: RetryPolicy, now: float
    ) -> CallCounts:
        counts = CallCounts()
        live, priced = self._live(conn, [r.request_id for r in records])
        costs = self._store.prices.attempt_costs
        attempt_rows: list[tuple[object, ...]] = []
        facts: list[Fact] = []
        result_rows: list[tuple[object, ...]] = []
        landed: list[int] = []
        moves: dict[tuple[RequestState, tuple[tuple[str, object], ...]], list[int]] = {}
        strays = [r.request_id for r in records if r.request_id not in live]
        if strays:
            # Their lease ran out and another worker took them over: the tries were still
            # made (and a success paid), so they are recorded, with no change of state.
            priced.update(priced_requests(conn, strays, Lane.REALTIME))
        for record in records:
            item = priced.get(record.request_id)
            if item is not None:
                first = live.get(record.request_id) == 0
                for t in record.tries:
                    paid = costs(item.provider, item.model, t.usage, t.lane, item.route_lane)
                    waited = item.queue_seconds(record.started_at, first)
                    row = _attempt_row(record.request_id, t, paid, item, now, waited)
                    attempt_rows.append(row)
                    # A flex call that fell back to realtime is moved from its first try on.
                    facts.append(item.fact(row, moved=t.lane is not record.tries[0].lane))
                    first = False
            if record.request_id not in live:
                continue
            target, values, result = _plan(record, live[record.request_id], policy, now)
            key = (target, tuple(sorted(values.items())))
            moves.setdefault(key, []).append(record.request_id)
            if result is not None:
                result_rows.append(result)
                landed.append(record.request_id)
            counts.add(_count(target, record))
        bulk_insert(conn, attempts, ATTEMPT_COLUMNS, attempt_rows)
        add_attempts(conn, facts)
        bulk_insert(conn, results, RESULT_COLUMNS, result_rows)
        enqueue_deliveries(conn, landed)
        for (target, settled), ids in moves.items():
            move_requests(conn, ids, target, values=dict(settled))
        return counts

    def _live(
        self, conn: sa.Connection, ids: list[int]
    ) -> tuple[dict[int, int], dict[int, PricedAs]]:
        """The requests among ``ids`` still in a call."""
        calling = sa.and_(
            id_in(conn, requests.c.id, ids), requests.c.state == RequestState.IN_CALL.value
        )
        return locked_for_settling(conn, calling, Lane.REALTIME)


def _attempt_row(
    request_id: int,
    t: CallTry,
    paid: tuple[object, ...],
    item: PricedAs,
    now: float,
    queue_seconds: float | None,
) -> tuple[object, ...]:
    return (
        request_id,
        None,
        t.lane.value,
        t.verdict.value,
        t.status_code,
        t.error_code,
        t.error_message,
        *usage_columns(t.usage),
        t.ttft,
        t.tibt,
        t.duration,
        *paid,
        now,
        *item.ledger_columns,
        queue_seconds,
    )


def _plan(
    record: CallRecord, attempts_so_far: int, policy: RetryPolicy, now: float
) -> tuple[RequestState, dict[str, object], tuple[object, ...] | None]:
    """Where the request goes next, the values it gets, and its result row if it is final."""
    last = record.last
    base: dict[str, object] = {"lease_until": None, "updated_at": now, "lane": last.lane.value}
    if last.lane is not record.tries[0].lane:
        base["moved_by"] = "flex_unavailable"
    if record.to_batch:
        values = {**base, "lane": Lane.BATCH.value, "moved_by": "flex_unavailable"}
        return RequestState.QUEUED, {**values, "last_error": _reason(last)}, None
    spent = {**base, "attempt_count": attempts_so_far + 1}
    verdict = last.verdict
    if verdict is Verdict.RETRY and policy.exhausted(attempts_so_far):
        verdict = Verdict.FAILED
        last = _gave_up(last, attempts_so_far + 1)
    if verdict is Verdict.RETRY:
        spent["not_before"] = now + policy.queue_wait(attempts_so_far, last.retry_after)
        return RequestState.QUEUED, {**spent, "last_error": _reason(last)}, None
    error = None
    if verdict is not Verdict.SUCCEEDED:
        error = error_json(last.error_code, last.error_message)
        spent["last_error"] = _reason(last)
    row = (record.request_id, verdict.value, last.status_code, last.response_json, error, now)
    target = RequestState.SUCCEEDED if verdict is Verdict.SUCCEEDED else RequestState.FAILED
    return target, spent, row


def _count(target: RequestState, record: CallRecord) -> CallCounts:
    if record.to_batch:
        return CallCounts(to_batch=1)
    if target is RequestState.SUCCEEDED:
        return CallCounts(succeeded=1)
    if target is RequestState.FAILED:
        return CallCounts(failed=1)
    return CallCounts(retried=1)


def _reason(t: CallTry) -> str:
    return reason(t.error_code, t.error_message)


def _gave_up(t: CallTry, attempts: int) -> CallTry:
    return replace(t, verdict=Verdict.FAILED, error_message=gave_up(attempts, t.error_message))
