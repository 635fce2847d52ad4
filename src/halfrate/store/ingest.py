"""Storing what came back for a batch: attempts, results and request states, exactly once.

A line only counts if its request is still ``in_batch`` in *this* batch; everything else (a
duplicated output line, a second ingestion of the same file after a crash) changes nothing.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from halfrate.models import Lane, RequestState, Verdict
from halfrate.records import IngestCounts, LineOutcome, error_json
from halfrate.retry import UNRUN_CODES, RetryPolicy, settle_line
from halfrate.retry import reason as reason_of
from halfrate.store.attempts import (
    ATTEMPT_COLUMNS,
    RESULT_COLUMNS,
    PricedAs,
    fold_attempts,
    locked_for_settling,
    usage_columns,
)
from halfrate.store.base import Database, bulk_insert, id_in
from halfrate.store.batch_input import BATCH_LINE_ORDER
from halfrate.store.deliveries import enqueue_deliveries
from halfrate.store.rollup import Rollup
from halfrate.store.tables import (
    attempts,
    batches,
    request_state_is,
    requests,
    results,
    routes,
)
from halfrate.store.transitions import move_requests


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
        started = time.thread_time()
        with self._store.write() as conn:
            with counts.timing("match"):
                # In request order, not the output's (providers return lines shuffled): every
                # read, insert and update below then walks the tables and their indexes in
                # order instead of jumping around them, which at a million stored requests is
                # most of their cost.
                ids = sorted(unique)
                live, priced = self._live(conn, batch_id, ids)
                counts.ignored += len(unique) - len(live)
                returned = [rid for rid in ids if rid in live and unique[rid].free]
                unrun = self._unrun_so_far(conn, returned)
                settled = [
                    settle_line(unique[rid], live[rid], policy, unrun.get(rid, 0))
                    for rid in ids
                    if rid in live
                ]
                sent_at = conn.execute(
                    sa.select(batches.c.submitted_at).where(batches.c.id == batch_id)
                ).scalar()
                first = {rid for rid, tries in live.items() if tries == 0}
            with counts.timing("attempts"):
                self._store_attempts(conn, batch_id, settled, priced, now, sent_at, first, counts)
                self._store_paid_strays(conn, batch_id, unique, live, now, counts)
            with counts.timing("results"):
                self._store_results(conn, settled, now)
            with counts.timing("moves"):
                self._move(conn, batch_id, settled, live, policy, now, counts)
            inside = time.thread_time() - started
        # What the transaction's end took: the commit (and, on SQLite, its write to the WAL).
        counts.spend("commit", time.thread_time() - started - inside)
        return counts

    def unreported(self, batch_id: str) -> list[int]:
        """Requests of the batch that no output or error line has settled, in the order of the
        batch's input lines."""
        with self._store.read() as conn:
            return list(
                conn.execute(
                    sa.select(requests.c.id)
                    .where(requests.c.batch_id == batch_id, request_state_is(RequestState.IN_BATCH))
                    .order_by(*BATCH_LINE_ORDER)
                ).scalars()
            )

    def _unrun_so_far(self, conn: sa.Connection, ids: list[int]) -> dict[int, int]:
        """How often each of ``ids`` already came back from a batch without having run: its
        attempts recorded with a never-ran code (a free return spends no attempt, so the
        request's attempt count does not hold it)."""
        if not ids:
            return {}
        query = (
            sa.select(attempts.c.request_id, sa.func.count())
            .where(id_in(conn, attempts.c.request_id, ids), attempts.c.error_code.in_(UNRUN_CODES))
            .group_by(attempts.c.request_id)
        )
        return {row[0]: row[1] for row in conn.execute(query)}

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
        counts: IngestCounts | None = None,
    ) -> None:
        """``first``: the requests for which this is the first attempt, sent at ``sent_at``;
        ``counts``: where the rollups' CPU time is counted (apart from the attempts')."""
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
        started = time.thread_time()
        rollup = Rollup()
        fold_attempts(rollup, rows, [priced[o.request_id] for o in settled])
        rollup.write(conn)
        if counts is not None:
            # Counted as the rollups', not twice: taken back from the attempts' stage around it.
            spent = time.thread_time() - started
            counts.spend("rollups", spent)
            counts.spend("attempts", -spent)

    def _store_paid_strays(
        self,
        conn: sa.Connection,
        batch_id: str,
        unique: dict[int, LineOutcome],
        live: dict[int, int],
        now: float,
        counts: IngestCounts | None = None,
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
        self._store_attempts(
            conn, batch_id, [unique[rid] for rid in priced], priced, now, counts=counts
        )

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


def _by_reason(outcomes: list[LineOutcome]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for o in outcomes:
        grouped.setdefault(_reason(o), []).append(o.request_id)
    return grouped


def _reason(o: LineOutcome) -> str:
    return reason_of(o.error_code, o.error_message)
