"""The deadline guard's view of the store: batched requests about to miss their deadline.

A batched request with a deadline carries ``guard_at`` (its deadline minus the policy's safety
margin). From then on it must not wait for a batch: queued ones go to the realtime lane at once;
those already in a batch are taken out of it, after the batch is cancelled where that helps.
"""

from __future__ import annotations

import sqlalchemy as sa

from halfrate.models import BatchState, Lane, RequestState
from halfrate.records import UrgentBatch
from halfrate.store.base import Database
from halfrate.store.tables import GUARDED, batches, request_state_is, requests
from halfrate.store.transitions import move_batch, move_requests

MOVED_BY_GUARD = "deadline_guard"


class GuardQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def reroute_queued(self, now: float) -> int:
        """Queued batch-lane requests past their guard time move to the realtime lane (a change
        of lane, not of state: they stay queued)."""
        due = sa.and_(
            sa.text(GUARDED), request_state_is(RequestState.QUEUED), requests.c.guard_at <= now
        )
        with self._store.read() as conn:  # the common case, nothing due, takes no write lock
            if conn.execute(sa.select(requests.c.id).where(due).limit(1)).first() is None:
                return 0
        with self._store.write() as conn:
            moved: int = conn.execute(
                sa.update(requests).where(due).values(**_to_realtime(now))
            ).rowcount
            return moved

    def urgent_batches(self, now: float) -> list[UrgentBatch]:
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(
                    requests.c.id,
                    requests.c.batch_id,
                    requests.c.guard_at,
                    requests.c.deadline,
                ).where(
                    sa.text(GUARDED),
                    request_state_is(RequestState.IN_BATCH),
                    requests.c.guard_at <= now,
                )
            ).all()
            if not rows:
                return []
            found: dict[str, tuple[list[int], list[int]]] = {}
            for request_id, batch_id, guard_at, deadline in rows:
                urgent, overdue = found.setdefault(batch_id, ([], []))
                urgent.append(request_id)
                # Halfway from the guard time to the deadline, stop waiting for a cancel.
                if (guard_at + deadline) / 2 <= now:
                    overdue.append(request_id)
            info = conn.execute(
                sa.select(
                    batches.c.id,
                    batches.c.state,
                    batches.c.provider,
                    batches.c.provider_batch_id,
                    batches.c.cancel_requested_at,
                ).where(batches.c.id.in_(list(found)))
            ).all()
        return [
            UrgentBatch(
                batch_id=row.id,
                state=row.state,
                provider=row.provider,
                provider_batch_id=row.provider_batch_id,
                cancel_requested=row.cancel_requested_at is not None,
                urgent=found[row.id][0],
                overdue=found[row.id][1],
            )
            for row in info
        ]

    def detach(self, batch_id: str, ids: list[int], now: float) -> int:
        """Take requests out of their batch and onto the realtime lane, to meet their deadline.

        A line for them that the batch still delivers is ignored (they no longer belong to it).
        """
        values = {**_to_realtime(now), "batch_id": None}
        with self._store.write() as conn:
            return move_requests(
                conn, ids, RequestState.QUEUED, batch_id=batch_id, values=values, strict=False
            )

    def detach_pending(self, batch_id: str, ids: list[int], now: float) -> int:
        """Take urgent requests out of a batch not yet created at the provider.

        Only while no worker is submitting it (its step is not leased) and no create has been
        tried (a create may have reached the provider unseen): otherwise the requests wait for
        the batch to be submitted and cancelled like any other. The uploaded file, if any, no
        longer matches the batch and is forgotten; a batch left empty is abandoned.
        """
        with self._store.write() as conn:
            free = conn.execute(
                sa.update(batches)
                .where(
                    batches.c.id == batch_id,
                    batches.c.state == BatchState.PENDING.value,
                    batches.c.create_started_at.is_(None),
                    batches.c.next_poll_at <= now,
                )
                .values(input_file_id=None)
            ).rowcount
            if free != 1:
                return 0
            values = {**_to_realtime(now), "batch_id": None}
            moved = move_requests(
                conn, ids, RequestState.QUEUED, batch_id=batch_id, values=values, strict=False
            )
            left = conn.execute(
                sa.select(requests.c.id)
                .where(requests.c.batch_id == batch_id, request_state_is(RequestState.IN_BATCH))
                .limit(1)
            ).first()
            if left is None:
                move_batch(
                    conn,
                    batch_id,
                    BatchState.ABANDONED,
                    {"last_error": "its requests moved to realtime", "next_poll_at": None},
                )
            return moved

    def cancel_requested(self, batch_id: str, now: float) -> None:
        """Record that the guard asked the provider to cancel the batch (it is then polled at the
        shortest interval, and its never-run lines go back to the queue without an attempt)."""
        with self._store.write() as conn:
            conn.execute(
                sa.update(batches)
                .where(batches.c.id == batch_id, batches.c.state == BatchState.SUBMITTED.value)
                .values(cancel_requested_at=now, cancel_reason=MOVED_BY_GUARD)
            )


def _to_realtime(now: float) -> dict[str, object]:
    return {
        "lane": Lane.REALTIME.value,
        "moved_by": MOVED_BY_GUARD,
        "not_before": None,
        "updated_at": now,
        "last_error": "its deadline is near and its batch had not finished: runs in realtime",
    }
