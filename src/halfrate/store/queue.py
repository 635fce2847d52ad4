"""The dispatch side of the store: claiming queued requests into batches and recording each step
of a batch's life at the provider."""

from __future__ import annotations

import time
import zlib
from typing import Any

import sqlalchemy as sa

from halfrate.errors import InvalidTransition
from halfrate.models import BatchState, Lane, RequestState
from halfrate.records import BatchRecord, CreateStart, Group
from halfrate.store.base import Database, new_id
from halfrate.store.cancels import not_cancelled
from halfrate.store.tables import GUARDED, batches, request_state_is, requests
from halfrate.store.transitions import move_batch, move_requests

_BATCH_COLUMNS = [batches.c[name] for name in BatchRecord.__dataclass_fields__]


MAX_MODEL_LIST = 200  # characters of the batches.model column for a batch of several models


class QueueQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def ready_groups(self, now: float, mixed: frozenset[str] = frozenset()) -> list[Group]:
        """(provider, endpoint, model) groups with batch-lane requests ready to be packed; one
        group per endpoint for the providers in ``mixed``, whose batches may mix models."""
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(requests.c.provider, requests.c.endpoint, requests.c.model)
                .where(_ready(now))
                .group_by(requests.c.provider, requests.c.endpoint, requests.c.model)
            )
            groups = {Group(p, e, None if p in mixed else m): None for p, e, m in rows}
            return list(groups)

    def claim_batch(
        self, group: Group, *, max_lines: int, max_bytes: int, line_overhead: int, now: float
    ) -> BatchRecord | None:
        """Take up to the provider's limits of ready requests of ``group`` into a new batch.

        The batch row (our intent) and the requests' move to ``in_batch`` commit together, so a
        request is never in two batches and a crash leaves nothing half-claimed.
        """
        with self._store.write() as conn:
            query = (
                sa.select(requests.c.id, requests.c.body_bytes, requests.c.model)
                .where(_ready(now), _in_group(group))
                .order_by(requests.c.id)
                .limit(max_lines)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids: list[int] = []
            models: dict[str, None] = {}
            total = 0
            # .all() fetches in one call; iterating the result would fetch each row on its own.
            for request_id, body_bytes, model in conn.execute(query).all():
                size = body_bytes + line_overhead
                if ids and total + size > max_bytes:
                    break
                ids.append(request_id)
                models[model] = None
                total += size
            if not ids:
                return None
            batch_id = new_id("hb")
            conn.execute(
                batches.insert().values(
                    id=batch_id,
                    provider=group.provider,
                    endpoint=group.endpoint,
                    model=", ".join(models)[:MAX_MODEL_LIST],
                    state=BatchState.PENDING.value,
                    request_count=len(ids),
                    byte_count=total,
                    created_at=now,
                    next_poll_at=now,
                )
            )
            move_requests(
                conn, ids, RequestState.IN_BATCH, values={"batch_id": batch_id, "updated_at": now}
            )
            return self._get(conn, batch_id)

    def is_claimed(self, provider: str, provider_batch_id: str) -> bool:
        """Whether one of our batches already recorded this provider batch as its own."""
        with self._store.read() as conn:
            found = conn.execute(
                sa.select(batches.c.id).where(
                    batches.c.provider == provider,
                    batches.c.provider_batch_id == provider_batch_id,
                )
            ).first()
        return found is not None

    def get(self, batch_id: str) -> BatchRecord:
        with self._store.read() as conn:
            return self._get(conn, batch_id)

    def _get(self, conn: sa.Connection, batch_id: str) -> BatchRecord:
        row = conn.execute(sa.select(*_BATCH_COLUMNS).where(batches.c.id == batch_id)).one()
        return BatchRecord.from_row(row)

    def due(self, state: BatchState, now: float, limit: int = 100) -> list[BatchRecord]:
        """Batches in ``state`` whose next step (submit try or poll) is due."""
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(*_BATCH_COLUMNS)
                .where(batches.c.state == state.value, batches.c.next_poll_at <= now)
                .order_by(batches.c.next_poll_at)
                .limit(limit)
            )
            return [BatchRecord.from_row(row) for row in rows]

    def take_step(self, batch: BatchRecord, due_at: float, lease_seconds: float) -> float | None:
        """Claim the batch's next step (submit or poll) for this worker; returns the lease's end.

        Succeeds only if nobody moved ``next_poll_at`` since we read it, and pushes it out by the
        lease: a second worker skips the batch, and if this one dies the lease simply runs out.
        The value written is the token :meth:`renew_step` checks.
        """
        until = time.time() + lease_seconds
        with self._store.write() as conn:
            taken = conn.execute(
                sa.update(batches)
                .where(
                    batches.c.id == batch.id,
                    batches.c.state == batch.state,
                    batches.c.next_poll_at == due_at,
                )
                .values(next_poll_at=until)
            ).rowcount
        return until if taken == 1 else None

    def renew_step(self, batch_id: str, held_until: float, lease_seconds: float) -> float | None:
        """Push a held step's lease on; None if ``next_poll_at`` is no longer ours."""
        until = max(time.time() + lease_seconds, held_until)
        with self._store.write() as conn:
            renewed = conn.execute(
                sa.update(batches)
                .where(batches.c.id == batch_id, batches.c.next_poll_at == held_until)
                .values(next_poll_at=until)
            ).rowcount
        return until if renewed == 1 else None

    def update(self, batch_id: str, **values: Any) -> None:
        """Record facts about a batch that do not change its state (file ids, errors, timing)."""
        if "state" in values:
            raise InvalidTransition("a batch's state changes through store.transitions only")
        with self._store.write() as conn:
            conn.execute(sa.update(batches).where(batches.c.id == batch_id).values(**values))

    def start_create(
        self,
        batch_id: str,
        provider: str,
        *,
        alone: bool,
        now: float,
        held: float | None = None,
    ) -> CreateStart:
        """Record that a create for the batch is about to be sent (from then on it may exist at
        the provider even if we never hear back).

        ``held``: the lease this worker holds on the batch's step (its ``next_poll_at``); the
        record is only made while the lease is still that one, in the same transaction, so two
        workers never both send a create (LOST: another worker took the step over).

        ``alone``: for a provider whose batches cannot carry our id, a create may only start
        while no other batch of that provider has a create whose outcome is unknown. After a
        crash, such a batch is recognised by its size and time alone; two unknown creates at
        once could be mistaken for each other, and a request paid twice. Returns False when
        another create must be settled first (WAIT).
        """
        with self._store.write() as conn:
            if alone:
                if conn.dialect.name == "postgresql":
                    # Serialise this check across workers (SQLite's write lock already does).
                    key = zlib.crc32(f"halfrate-create-{provider}".encode())
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
                unsettled = conn.execute(
                    sa.select(batches.c.id)
                    .where(
                        batches.c.provider == provider,
                        batches.c.state == BatchState.PENDING.value,
                        batches.c.create_started_at.is_not(None),
                        batches.c.id != batch_id,
                    )
                    .limit(1)
                ).first()
                if unsettled is not None:
                    return CreateStart.WAIT
            mine = [batches.c.id == batch_id]
            if held is not None:
                mine.append(batches.c.next_poll_at == held)
            started = conn.execute(
                sa.update(batches).where(*mine).values(create_started_at=now)
            ).rowcount
            return CreateStart.STARTED if started == 1 else CreateStart.LOST

    def mark_submitted(
        self, batch_id: str, *, provider_batch_id: str, provider_status: str, next_poll_at: float
    ) -> bool:
        """Record the provider's batch; False if another worker already did (it took the step
        over from this one, which stalled past its lease)."""
        with self._store.write() as conn:
            return move_batch(
                conn,
                batch_id,
                BatchState.SUBMITTED,
                {
                    "provider_batch_id": provider_batch_id,
                    "provider_status": provider_status,
                    "submitted_at": time.time(),
                    "next_poll_at": next_poll_at,
                    "last_error": None,
                },
                strict=False,
            )

    def release(self, batch_id: str, ids: list[int], reason: str) -> int:
        """Put requests of the batch back in the queue without spending an attempt: they never
        ran, through no fault of their own."""
        with self._store.write() as conn:
            return self._release(conn, batch_id, ids, reason)

    def _release(self, conn: sa.Connection, batch_id: str, ids: list[int], reason: str) -> int:
        values = {"batch_id": None, "updated_at": time.time(), "last_error": reason}
        return move_requests(conn, ids, RequestState.QUEUED, batch_id=batch_id, values=values)

    def abandon(self, batch_id: str, reason: str) -> int:
        """The batch never reached the provider: its requests go back to the queue."""
        with self._store.write() as conn:
            ids = list(
                conn.execute(
                    sa.select(requests.c.id).where(
                        requests.c.batch_id == batch_id, request_state_is(RequestState.IN_BATCH)
                    )
                ).scalars()
            )
            self._release(conn, batch_id, ids, reason)
            move_batch(
                conn, batch_id, BatchState.ABANDONED, {"last_error": reason, "next_poll_at": None}
            )
            return len(ids)

    def mark_ingested(self, batch_id: str) -> bool:
        """False if the batch was already ingested (by a worker that took the step over)."""
        with self._store.write() as conn:
            return move_batch(
                conn,
                batch_id,
                BatchState.INGESTED,
                {"ingested_at": time.time(), "next_poll_at": None},
                strict=False,
            )

    def providers_with_work(self) -> dict[str, int]:
        """Requests per provider that still need a worker (queued, in a batch, in a call)."""
        with self._store.read() as conn:
            found: dict[str, int] = {}
            for state in (RequestState.QUEUED, RequestState.IN_BATCH, RequestState.IN_CALL):
                rows = conn.execute(
                    sa.select(requests.c.provider, sa.func.count())
                    .where(request_state_is(state))
                    .group_by(requests.c.provider)
                )
                for provider, n in rows:
                    found[provider] = found.get(provider, 0) + int(n)
            return found

    def is_idle(self) -> bool:
        """Nothing queued (even waiting for a retry time), in a call, or in a live batch.

        One statement, so one snapshot: on PostgreSQL each statement of a read-committed
        transaction sees its own, and a request moving from a call back to the queue between
        two of them would be seen in neither.
        """
        busy = [
            sa.exists(sa.select(requests.c.id).where(request_state_is(state)))
            for state in (RequestState.QUEUED, RequestState.IN_BATCH, RequestState.IN_CALL)
        ]
        live = sa.exists(
            sa.select(batches.c.id).where(
                batches.c.state.in_([BatchState.PENDING.value, BatchState.SUBMITTED.value])
            )
        )
        with self._store.read() as conn:
            return not conn.execute(sa.select(sa.or_(*busy, live))).scalar()

    def next_due_at(self, now: float) -> float | None:
        """The earliest time the batch loop has something to do: a poll, a submit retry, a
        request's retry, or the deadline guard's next move."""
        with self._store.read() as conn:
            batch_due = conn.execute(
                sa.select(sa.func.min(batches.c.next_poll_at)).where(
                    batches.c.state.in_([BatchState.PENDING.value, BatchState.SUBMITTED.value])
                )
            ).scalar()
            # Batch-lane requests are due now unless they wait for a retry; synchronous ones are
            # the call lane's to take, so only their retry times matter here.
            batch_lane = requests.c.lane == sa.literal_column(f"'{Lane.BATCH.value}'")
            request_due = conn.execute(
                sa.select(
                    sa.func.min(
                        sa.case(
                            (batch_lane, sa.func.coalesce(requests.c.not_before, 0.0)),
                            else_=requests.c.not_before,
                        )
                    )
                ).where(request_state_is(RequestState.QUEUED))
            ).scalar()
            # A guarded request is due at its guard time, and once that has passed (its batch
            # being cancelled), at the point where the guard stops waiting for the cancel.
            guard_due = conn.execute(
                sa.select(
                    sa.func.min(
                        sa.case(
                            (requests.c.guard_at > now, requests.c.guard_at),
                            else_=(requests.c.guard_at + requests.c.deadline) / 2,
                        )
                    )
                ).where(sa.text(GUARDED))
            ).scalar()
        times = [t for t in (batch_due, request_due, guard_due) if t is not None]
        return min(times) if times else None


def _in_group(group: Group) -> sa.ColumnElement[bool]:
    clauses = [requests.c.provider == group.provider, requests.c.endpoint == group.endpoint]
    if group.model is not None:
        clauses.append(requests.c.model == group.model)
    return sa.and_(*clauses)


def _ready(now: float) -> sa.ColumnElement[bool]:
    """Batch-lane requests that may be packed now: not waiting for a retry, and not so close
    to their deadline that the guard is about to send them to realtime instead."""
    return sa.and_(
        request_state_is(RequestState.QUEUED),
        requests.c.lane == sa.literal_column(f"'{Lane.BATCH.value}'"),
        not_cancelled(),
        sa.or_(requests.c.not_before.is_(None), requests.c.not_before <= now),
        sa.or_(requests.c.guard_at.is_(None), requests.c.guard_at > now),
    )
