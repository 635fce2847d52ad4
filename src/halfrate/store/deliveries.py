"""Write-back in the store: sinks, and the outbox of results they still have to receive.

A result and its outbox rows (one per sink of its job) commit together, so no sink can miss a
result however the process dies. A worker takes a sink with a lease (one writer per sink: a file
must not be appended to by two), hands it the pending results in request order, and records in
one transaction what was delivered, what failed (tried again later, with backoff), and the sink's
cursor. A sink added to a job that already has results gets those results queued at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from halfrate.records import SinkRow
from halfrate.sinks.base import DeliveryReport, Outgoing
from halfrate.store.base import Database, id_in, new_id
from halfrate.store.tables import deliveries, requests, results, sinks

MAX_RETRY_WAIT_SECONDS = 3600.0


def enqueue_deliveries(conn: sa.Connection, request_ids: list[int]) -> None:
    """Outbox rows for the results of ``request_ids`` just stored, one per sink of their job
    (in the same transaction as the results)."""
    if not request_ids:
        return
    conn.execute(
        deliveries.insert().from_select(
            ["sink_id", "request_id"],
            sa.select(sinks.c.id, requests.c.id)
            .select_from(requests.join(sinks, sinks.c.job_id == requests.c.job_id))
            .where(id_in(conn, requests.c.id, request_ids)),
        )
    )


@dataclass(frozen=True)
class DeliveryState:
    """A sink's progress, for status."""

    sink_id: str
    spec: str
    delivered: int
    pending: int
    failing: int  # pending results whose last try failed
    last_error: str | None


def idempotency_key(sink_id: str, request_id: int) -> str:
    return f"{sink_id}-{request_id}"


def attach_sink(conn: sa.Connection, job_id: str, spec: str, kind: str, now: float) -> str:
    """The job's sink for ``spec``, made if new (in the caller's transaction), with the job's
    results so far queued for it."""
    found = conn.execute(
        sa.select(sinks.c.id).where(sinks.c.job_id == job_id, sinks.c.spec == spec)
    ).scalar()
    if found is not None:
        return str(found)
    sink_id = new_id("hs")
    conn.execute(
        sinks.insert().values(id=sink_id, job_id=job_id, spec=spec, kind=kind, created_at=now)
    )
    _backfill(conn, sink_id, job_id)
    return sink_id


def _backfill(conn: sa.Connection, sink_id: str, job_id: str) -> int:
    """Queue the job's results the sink has no row for. Also run now and then for every sink:
    on PostgreSQL a result committed while the sink itself was being added may have seen no
    sink yet."""
    queued = sa.exists(
        sa.select(deliveries.c.request_id).where(
            deliveries.c.sink_id == sink_id, deliveries.c.request_id == results.c.request_id
        )
    )
    inserted: int = conn.execute(
        deliveries.insert().from_select(
            ["sink_id", "request_id"],
            sa.select(sa.literal(sink_id), results.c.request_id)
            .select_from(results.join(requests, requests.c.id == results.c.request_id))
            .where(requests.c.job_id == job_id, ~queued),
        )
    ).rowcount
    return inserted


class DeliveryQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def add_sink(self, job_id: str, spec: str, kind: str, now: float) -> str:
        """The job's sink for ``spec`` (made once), with the job's results so far queued."""
        with self._store.write() as conn:
            return attach_sink(conn, job_id, spec, kind, now)

    def backfill(self, sink: SinkRow) -> int:
        with self._store.write() as conn:
            return _backfill(conn, sink.id, sink.job_id)

    def sinks_of(self, job_id: str) -> list[SinkRow]:
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(sinks.c.id, sinks.c.job_id, sinks.c.spec, sinks.c.kind, sinks.c.cursor)
                .where(sinks.c.job_id == job_id)
                .order_by(sinks.c.created_at)
            ).all()
        return [SinkRow(*row) for row in rows]

    def due_sinks(self, now: float) -> list[SinkRow]:
        """Sinks with a delivery due now and no other worker on them."""
        due = sa.exists(
            sa.select(deliveries.c.request_id).where(
                deliveries.c.sink_id == sinks.c.id,
                deliveries.c.delivered_at.is_(None),
                deliveries.c.next_try_at <= now,
            )
        )
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(sinks.c.id, sinks.c.job_id, sinks.c.spec, sinks.c.kind, sinks.c.cursor)
                .where(sa.or_(sinks.c.lease_until.is_(None), sinks.c.lease_until < now), due)
                .order_by(sinks.c.created_at)
            ).all()
        return [SinkRow(*row) for row in rows]

    def take(self, sink_id: str, now: float, lease_seconds: float) -> SinkRow | None:
        """Lease the sink for this worker; None if another worker holds it. The row returned
        carries the cursor as of the lease (another worker may have moved it before)."""
        with self._store.write() as conn:
            taken = conn.execute(
                sa.update(sinks)
                .where(
                    sinks.c.id == sink_id,
                    sa.or_(sinks.c.lease_until.is_(None), sinks.c.lease_until < now),
                )
                .values(lease_until=now + lease_seconds)
            ).rowcount
            if taken != 1:
                return None
            row = conn.execute(
                sa.select(
                    sinks.c.id, sinks.c.job_id, sinks.c.spec, sinks.c.kind, sinks.c.cursor
                ).where(sinks.c.id == sink_id)
            ).one()
        return SinkRow(*row)

    def pending(self, sink: SinkRow, now: float, limit: int) -> list[Outgoing]:
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(
                    requests.c.id,
                    requests.c.key,
                    results.c.status,
                    results.c.status_code,
                    results.c.response,
                    results.c.error,
                )
                .select_from(
                    deliveries.join(requests, requests.c.id == deliveries.c.request_id).join(
                        results, results.c.request_id == deliveries.c.request_id
                    )
                )
                .where(
                    deliveries.c.sink_id == sink.id,
                    deliveries.c.delivered_at.is_(None),
                    deliveries.c.next_try_at <= now,
                )
                .order_by(deliveries.c.request_id)
                .limit(limit)
            ).all()
        return [
            Outgoing(
                key=row.key,
                job_id=sink.job_id,
                idempotency_key=idempotency_key(sink.id, row.id),
                status=row.status,
                status_code=row.status_code,
                response_json=row.response,
                error_json=row.error,
            )
            for row in rows
        ]

    def record(
        self,
        sink: SinkRow,
        report: DeliveryReport,
        *,
        now: float,
        backoff_seconds: float,
        keep_lease: float | None,
    ) -> None:
        """Store what a delivery achieved, and the sink's new cursor, in one transaction."""
        delivered = [_request_id(key) for key in report.delivered]
        failed = {_request_id(key): reason for key, reason in report.failed.items()}
        with self._store.write() as conn:
            if delivered:
                conn.execute(
                    sa.update(deliveries)
                    .where(
                        deliveries.c.sink_id == sink.id,
                        id_in(conn, deliveries.c.request_id, delivered),
                        deliveries.c.delivered_at.is_(None),
                    )
                    .values(delivered_at=now, last_error=None, tries=deliveries.c.tries + 1)
                )
            if failed:
                tries = dict(
                    conn.execute(
                        sa.select(deliveries.c.request_id, deliveries.c.tries).where(
                            deliveries.c.sink_id == sink.id,
                            id_in(conn, deliveries.c.request_id, list(failed)),
                        )
                    ).all()
                )
                # Waits double with each failed try, up to an hour: a sink that is down for a
                # day is tried again within the hour it comes back.
                groups: dict[tuple[str, int], list[int]] = {}
                for request_id, reason in failed.items():
                    groups.setdefault((reason, tries.get(request_id, 0)), []).append(request_id)
                for (reason, before), ids in groups.items():
                    wait = min(backoff_seconds * 2.0**before, MAX_RETRY_WAIT_SECONDS)
                    conn.execute(
                        sa.update(deliveries)
                        .where(
                            deliveries.c.sink_id == sink.id,
                            id_in(conn, deliveries.c.request_id, ids),
                            deliveries.c.delivered_at.is_(None),
                        )
                        .values(tries=before + 1, next_try_at=now + wait, last_error=reason)
                    )
            last_error = next(iter(failed.values()), None)
            conn.execute(
                sa.update(sinks)
                .where(sinks.c.id == sink.id)
                .values(
                    cursor=report.cursor,
                    last_error=last_error,
                    lease_until=None if keep_lease is None else now + keep_lease,
                )
            )

    def release(self, sink_id: str, error: str | None = None) -> None:
        with self._store.write() as conn:
            values: dict[str, object] = {"lease_until": None}
            if error is not None:
                values["last_error"] = error
            conn.execute(sa.update(sinks).where(sinks.c.id == sink_id).values(**values))

    def undelivered(self, now: float | None = None) -> int:
        """Results some sink has not received yet (all jobs)."""
        with self._store.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).where(deliveries.c.delivered_at.is_(None))
                ).scalar_one()
            )

    def next_due(self, skip: list[str], max_tries: int) -> float | None:
        """When the earliest pending delivery is due, among sinks not in ``skip`` and
        deliveries tried fewer than ``max_tries`` times; None if there is none. A worker run
        until idle waits for these, not for a sink that keeps failing."""
        where = [deliveries.c.delivered_at.is_(None), deliveries.c.tries < max_tries]
        if skip:
            where.append(deliveries.c.sink_id.not_in(skip))
        with self._store.read() as conn:
            due = conn.execute(sa.select(sa.func.min(deliveries.c.next_try_at)).where(*where))
            value = due.scalar()
        return None if value is None else float(value)


def _request_id(idempotency: str) -> int:
    return int(idempotency.rsplit("-", 1)[1])


def delivery_states(conn: sa.Connection, job_id: str) -> list[DeliveryState]:
    """Each sink of the job and how far its deliveries got, for status."""
    rows = conn.execute(
        sa.select(
            sinks.c.id,
            sinks.c.spec,
            sinks.c.last_error,
            sa.func.count(deliveries.c.delivered_at),
            sa.func.count(deliveries.c.request_id) - sa.func.count(deliveries.c.delivered_at),
            sa.func.count(
                sa.case(
                    (
                        sa.and_(deliveries.c.delivered_at.is_(None), deliveries.c.tries > 0),
                        1,
                    )
                )
            ),
        )
        .select_from(sinks.outerjoin(deliveries, deliveries.c.sink_id == sinks.c.id))
        .where(sinks.c.job_id == job_id)
        .group_by(sinks.c.id, sinks.c.spec, sinks.c.last_error)
        .order_by(sinks.c.id)
    ).all()
    return [
        DeliveryState(sink_id, spec, int(done), int(pending), int(failing), error)
        for sink_id, spec, error, done, pending, failing in rows
    ]
