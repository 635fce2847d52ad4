"""Cancelling a job in the store.

`halfrate cancel JOB` marks the job. From then on: its queued requests end ``cancelled`` (each
with a result saying so), including any that come back to the queue later (a retry, a line its
cancelled batch never ran); nothing claims them for a batch or a call; the deadline guard stops
watching them; and its batches that hold no other job's work are cancelled at the provider.
What already finished is kept, and a call under way finishes (it is being paid for anyway).
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa

from halfrate.models import BatchState, CancelOutcome, RequestState
from halfrate.records import BatchToCancel
from halfrate.store.base import Database, id_in
from halfrate.store.deliveries import enqueue_deliveries
from halfrate.store.tables import batches, jobs, request_state_is, requests, results
from halfrate.store.transitions import move_batch, take_requests

JOB_CANCELLED = "job_cancelled"  # batches.cancel_reason of a batch cancelled with its job
CANCEL_ERROR = orjson.dumps(
    {"code": "cancelled", "message": "the job was cancelled before this request ran"}
).decode()


def cancelled_jobs() -> sa.Select[tuple[str]]:
    return sa.select(jobs.c.id).where(jobs.c.cancel_requested_at.is_not(None))


def not_cancelled() -> sa.ColumnElement[bool]:
    """Requests of jobs nobody cancelled: the only ones a batch or a call may take."""
    return requests.c.job_id.not_in(cancelled_jobs().scalar_subquery())


class CancelQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def cancel_job(self, job_id: str, now: float) -> CancelOutcome:
        with self._store.write() as conn:
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job_id, jobs.c.cancel_requested_at.is_(None))
                .values(cancel_requested_at=now)
            )
            conn.execute(
                sa.update(requests)
                .where(requests.c.job_id == job_id, requests.c.guard_at.is_not(None))
                .values(guard_at=None)
            )
            cancelled = self._sweep(conn, job_id, now)
            in_flight = self._count(conn, job_id, (RequestState.IN_BATCH, RequestState.IN_CALL))
            finished = self._count(conn, job_id, (RequestState.SUCCEEDED, RequestState.FAILED))
            marked = self._mark_batches(conn, job_id)
        return CancelOutcome(job_id, cancelled, in_flight, marked, finished)

    def sweep(self, now: float) -> int:
        """Queued requests of cancelled jobs end cancelled (they came back to the queue after
        the cancel: a retry, or a line their cancelled batch never ran)."""
        waiting = sa.and_(
            request_state_is(RequestState.QUEUED),
            requests.c.job_id.in_(cancelled_jobs().scalar_subquery()),
        )
        with self._store.read() as conn:  # the common case, nothing to do, takes no write lock
            if conn.execute(sa.select(requests.c.id).where(waiting).limit(1)).first() is None:
                return 0
        with self._store.write() as conn:
            return self._sweep(conn, None, now)

    def _sweep(self, conn: sa.Connection, job_id: str | None, now: float) -> int:
        where = []
        if job_id is not None:
            where.append(requests.c.job_id == job_id)
        else:
            where.append(requests.c.job_id.in_(cancelled_jobs().scalar_subquery()))
        # The state change first, and only the rows it moved get a result: on PostgreSQL a
        # worker may pack, call or answer one of them between a read and this write.
        ids = take_requests(
            conn,
            where,
            RequestState.CANCELLED,
            sources=[RequestState.QUEUED],
            values={"updated_at": now, "last_error": "the job was cancelled"},
        )
        if not ids:
            return 0
        conn.execute(
            results.insert().from_select(
                ["request_id", "status", "status_code", "response", "error", "created_at"],
                sa.select(
                    requests.c.id,
                    sa.literal(RequestState.CANCELLED.value),
                    sa.null(),
                    sa.null(),
                    sa.literal(CANCEL_ERROR),
                    sa.literal(now),
                ).where(id_in(conn, requests.c.id, ids)),
            )
        )
        enqueue_deliveries(conn, ids)
        return len(ids)

    def _count(self, conn: sa.Connection, job_id: str, states: tuple[RequestState, ...]) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    requests.c.job_id == job_id, requests.c.state.in_([s.value for s in states])
                )
            ).scalar_one()
        )

    def _mark_batches(self, conn: sa.Connection, job_id: str) -> int:
        """Mark the job's live batches that hold only cancelled jobs' work for cancelling. A
        batch shared with a job still wanted runs on: the cancelled job's lines in it are kept
        if they finish and cancelled if they come back."""
        live = conn.execute(
            sa.select(requests.c.batch_id)
            .where(requests.c.job_id == job_id, request_state_is(RequestState.IN_BATCH))
            .distinct()
        ).scalars()
        marked = 0
        for batch_id in list(live):
            others = conn.execute(
                sa.select(requests.c.id)
                .where(
                    requests.c.batch_id == batch_id,
                    request_state_is(RequestState.IN_BATCH),
                    requests.c.job_id.not_in(cancelled_jobs().scalar_subquery()),
                )
                .limit(1)
            ).first()
            if others is not None:
                continue
            marked += conn.execute(
                sa.update(batches)
                .where(
                    batches.c.id == batch_id,
                    batches.c.state.in_([BatchState.PENDING.value, BatchState.SUBMITTED.value]),
                    batches.c.cancel_reason.is_(None),
                )
                .values(cancel_reason=JOB_CANCELLED)
            ).rowcount
        return marked

    def batches_to_cancel(self) -> list[BatchToCancel]:
        """Batches marked with their job's cancel that the provider was not yet asked about."""
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(
                    batches.c.id, batches.c.state, batches.c.provider, batches.c.provider_batch_id
                ).where(
                    batches.c.cancel_reason == JOB_CANCELLED,
                    batches.c.cancel_requested_at.is_(None),
                    batches.c.state.in_([BatchState.PENDING.value, BatchState.SUBMITTED.value]),
                )
            ).all()
        return [BatchToCancel(*row) for row in rows]

    def drop_pending(self, batch_id: str, now: float) -> bool:
        """A marked batch never created at the provider (no create tried, no worker on it) is
        abandoned; its requests go back to the queue, where the sweep cancels them."""
        with self._store.write() as conn:
            taken = move_batch(
                conn,
                batch_id,
                BatchState.ABANDONED,
                {"next_poll_at": None, "last_error": "its job was cancelled"},
                strict=False,
                only_if=[
                    batches.c.state == BatchState.PENDING.value,
                    batches.c.create_started_at.is_(None),
                    batches.c.next_poll_at <= now,
                ],
            )
            if not taken:
                return False
            take_requests(
                conn,
                [requests.c.batch_id == batch_id],
                RequestState.QUEUED,
                sources=[RequestState.IN_BATCH],
                values={"batch_id": None, "updated_at": now},
            )
            self._sweep(conn, None, now)
            return True

    def cancel_sent(self, batch_id: str, now: float) -> None:
        with self._store.write() as conn:
            conn.execute(
                sa.update(batches)
                .where(batches.c.id == batch_id, batches.c.state == BatchState.SUBMITTED.value)
                .values(cancel_requested_at=now)
            )
