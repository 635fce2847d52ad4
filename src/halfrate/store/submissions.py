"""Storing submitted requests: one job, all lines, one transaction, idempotent by key."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from halfrate.errors import IdempotencyConflict
from halfrate.intake import ParsedLine
from halfrate.models import RequestState, SubmitOutcome
from halfrate.store.base import bulk_insert, new_id
from halfrate.store.tables import jobs, requests

if TYPE_CHECKING:
    from halfrate.store.base import Store

INSERT_CHUNK = 5_000


class SubmissionQueries:
    def __init__(self, store: Store) -> None:
        self._store = store

    def submit(
        self,
        *,
        job_name: str,
        source: str | None,
        feature: str | None,
        team: str | None,
        lines: Iterable[ParsedLine],
        describe_line: str = "line",
    ) -> SubmitOutcome:
        """Store ``lines`` as (part of) the job named ``job_name``.

        A key already stored in the job with the same request is skipped (so re-running a
        submission creates nothing); with a different request it is an error and nothing from
        this call is stored.
        """
        now = time.time()
        with self._store.write() as conn:
            job_id = self._job_id(conn, job_name, source, feature, team, now)
            existing = self._existing(conn, job_id)
            created = skipped = 0
            pending: list[tuple[object, ...]] = []
            for line in lines:
                previous = existing.get(line.key)
                if previous is not None:
                    if previous != (line.endpoint, line.body_json):
                        raise IdempotencyConflict(
                            f"{describe_line} {line.line_no}: custom_id {line.key!r} was already "
                            f"submitted to job {job_name!r} with a different request; use a new "
                            "custom_id or another --job name"
                        )
                    skipped += 1
                    continue
                pending.append(_row(job_id, line, feature, team, now))
                if len(pending) >= INSERT_CHUNK:
                    bulk_insert(conn, requests, _REQUEST_COLUMNS, pending)
                    created += len(pending)
                    pending = []
            if pending:
                bulk_insert(conn, requests, _REQUEST_COLUMNS, pending)
                created += len(pending)
        return SubmitOutcome(job_id=job_id, job_name=job_name, created=created, existing=skipped)

    def _job_id(
        self,
        conn: sa.Connection,
        name: str,
        source: str | None,
        feature: str | None,
        team: str | None,
        now: float,
    ) -> str:
        found = conn.execute(sa.select(jobs.c.id).where(jobs.c.name == name)).scalar_one_or_none()
        if found is not None:
            return str(found)
        job_id = new_id("job")
        # ON CONFLICT: a concurrent submit of the same name on PostgreSQL wins the race; we then
        # add to its job, exactly as if we had come second.
        insert = _insert_ignore(conn).values(
            id=job_id, name=name, source=source, feature=feature, team=team, created_at=now
        )
        conn.execute(insert)
        return str(conn.execute(sa.select(jobs.c.id).where(jobs.c.name == name)).scalar_one())

    def _existing(self, conn: sa.Connection, job_id: str) -> dict[str, tuple[str, str]]:
        rows = conn.execute(
            sa.select(requests.c.key, requests.c.endpoint, requests.c.body).where(
                requests.c.job_id == job_id
            )
        )
        return {key: (endpoint, body) for key, endpoint, body in rows}


def _insert_ignore(conn: sa.Connection) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(jobs).on_conflict_do_nothing(index_elements=["name"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(jobs).on_conflict_do_nothing(index_elements=["name"])


_REQUEST_COLUMNS = (
    "job_id",
    "key",
    "provider",
    "endpoint",
    "model",
    "body",
    "body_bytes",
    "feature",
    "team",
    "state",
    "attempt_count",
    "created_at",
    "updated_at",
)
_QUEUED = RequestState.QUEUED.value


def _row(
    job_id: str, line: ParsedLine, feature: str | None, team: str | None, now: float
) -> tuple[object, ...]:
    body = line.body_json
    return (
        job_id,
        line.key,
        line.provider.value,
        line.endpoint,
        line.model,
        body,
        len(body) if body.isascii() else len(body.encode()),
        feature,
        team,
        _QUEUED,
        0,
        now,
        now,
    )
