"""Storing submitted requests: one job, all lines, one transaction, idempotent by key."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

import sqlalchemy as sa

from halfrate.errors import IdempotencyConflict, InputError
from halfrate.models import Lane, RequestState, SubmitOutcome
from halfrate.records import ParsedLine, PrefixTag, Reservation, RouteChoice, Sharing
from halfrate.sinks import SinkSpec
from halfrate.store.answers import link_identical
from halfrate.store.base import Database, bulk_insert, new_id
from halfrate.store.budgets import reserve
from halfrate.store.deliveries import attach_sink
from halfrate.store.request_bodies import body_of, new_request_ids, store_bodies
from halfrate.store.request_hashes import record_hashes
from halfrate.store.tables import jobs, requests, routes

INSERT_CHUNK = 5_000


class SubmissionQueries:
    def __init__(self, store: Database) -> None:
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
        sinks: Sequence[SinkSpec] = (),
        reservation: Reservation | None = None,
        sharing: Sharing | None = None,
        table_plan: str | None = None,
        founders: Callable[[], Sequence[tuple[str, PrefixTag]]] | None = None,
    ) -> SubmitOutcome:
        """Store ``lines`` as (part of) the job named ``job_name``.

        A key already stored in the job with the same request is skipped (so re-running a
        submission creates nothing); with a different request it is an error and nothing from
        this call is stored. ``sinks`` are attached to the job in the same transaction, and
        ``reservation`` is checked against its budgets and recorded there (BudgetExceeded:
        nothing is stored). With ``sharing``, requests with an identical one take its answer
        (see :mod:`halfrate.store.answers`). ``table_plan``: a `halfrate run` job's table and
        what was asked of it, kept with the job. ``founders``: asked once every line is stored,
        the (key, prefix) of requests that turned out to start a prefix group
        (:mod:`halfrate.prefixes.groups`), tagged in the same transaction.
        """
        now = time.time()
        created = skipped = 0
        hashed = False
        with self._store.write() as conn:
            job_id, is_new = self._job_id(conn, job_name, source, feature, team, now, table_plan)
            after_id = 0
            if not is_new:
                after_id, now = _after_last_submission(conn, job_id, now)
            if reservation is not None:
                reserve(conn, job_id, reservation)
            route_ids = _RouteIds(conn, now)
            for chunk in _chunks(lines, INSERT_CHUNK):
                # Only a job that existed before can hold these keys; look up just this chunk's
                # keys, so memory stays flat however large the job already is.
                existing = {} if is_new else self._existing(conn, job_id, chunk)
                fresh = []
                for line in chunk:
                    previous = existing.get(line.key)
                    if previous is None:
                        fresh.append(line)
                    elif previous == (line.endpoint, line.body_json):
                        skipped += 1
                    else:
                        raise IdempotencyConflict(
                            f"{describe_line} {line.line_no}: custom_id {line.key!r} was already "
                            f"submitted to job {job_name!r} with a different request; use a new "
                            "custom_id or another --job name"
                        )
                rows, bodies = [], []
                for request_id, line in zip(new_request_ids(conn, len(fresh)), fresh, strict=True):
                    hashed = hashed or line.content_hash is not None
                    route_id = route_ids.of(line.route)
                    rows.append(_row(request_id, job_id, line, feature, team, route_id, now))
                    bodies.append((request_id, line.body_json))
                bulk_insert(conn, requests, _REQUEST_COLUMNS, rows)
                store_bodies(conn, bodies)
                created += len(rows)
            if founders is not None:
                _tag_founders(conn, job_id, founders(), now)
            shared = 0
            if hashed:
                if sharing is not None:
                    shared = link_identical(conn, job_id, now, sharing, after_id)
                # Then: link_identical looks for the requests stored before this call there.
                record_hashes(conn, job_id, now, after_id)
            for spec in sinks:
                attach_sink(conn, job_id, spec.text, spec.kind, now)
        return SubmitOutcome(
            job_id=job_id, job_name=job_name, created=created, existing=skipped, shared=shared
        )

    def _job_id(
        self,
        conn: sa.Connection,
        name: str,
        source: str | None,
        feature: str | None,
        team: str | None,
        now: float,
        table_plan: str | None,
    ) -> tuple[str, bool]:
        """The job's id, and whether this call created it."""
        found = conn.execute(
            sa.select(jobs.c.id, jobs.c.cancel_requested_at).where(jobs.c.name == name)
        ).first()
        if found is not None:
            if found.cancel_requested_at is not None:
                raise InputError(f"job {name!r} was cancelled; submit under another --job name")
            return str(found.id), False
        job_id = new_id("job")
        # ON CONFLICT: a concurrent submit of the same name on PostgreSQL wins the race; we then
        # add to its job, exactly as if we had come second.
        insert = _insert_ignore(conn).values(
            id=job_id,
            name=name,
            source=source,
            feature=feature,
            team=team,
            created_at=now,
            table_plan=table_plan,
        )
        conn.execute(insert)
        stored = str(conn.execute(sa.select(jobs.c.id).where(jobs.c.name == name)).scalar_one())
        return stored, stored == job_id

    def _existing(
        self, conn: sa.Connection, job_id: str, chunk: list[ParsedLine]
    ) -> dict[str, tuple[str, str]]:
        keys = [line.key for line in chunk]
        rows = conn.execute(
            sa.select(requests.c.key, requests.c.endpoint, body_of(requests.c.id)).where(
                requests.c.job_id == job_id, requests.c.key.in_(keys)
            )
        )
        return {key: (endpoint, body) for key, endpoint, body in rows}


class _RouteIds:
    """Stores each distinct routing decision of a submission once; requests refer to it."""

    def __init__(self, conn: sa.Connection, now: float) -> None:
        self._conn = conn
        self._now = now
        self._ids: dict[RouteChoice, int] = {}

    def of(self, choice: RouteChoice | None) -> int | None:
        if choice is None:
            return None
        found = self._ids.get(choice)
        if found is None:
            inserted = self._conn.execute(
                routes.insert().values(
                    lane=choice.lane.value,
                    model=choice.model,
                    fallback_lane=choice.fallback.value if choice.fallback else None,
                    waiting=choice.waiting,
                    rule_number=choice.rule_number,
                    rule_name=choice.rule_name,
                    policy_source=choice.source,
                    rule_line=choice.line,
                    explanation=choice.explanation,
                    created_at=self._now,
                    prompt_cache_ttl=choice.prompt_cache_ttl,
                )
            )
            key = inserted.inserted_primary_key
            assert key is not None
            found = int(key[0])
            self._ids[choice] = found
        return found


def _after_last_submission(conn: sa.Connection, job_id: str, now: float) -> tuple[int, float]:
    """For a submission into an existing job: the id of the job's last request (this call's
    rows come after it), and the time to store this call's rows at, after that request's. The
    rows of one call are told apart from the job's others by their time (link_identical,
    record_hashes, the prefix founders): two calls in one tick of the clock (two `call()`s into
    the job "calls") must not share it."""
    last = conn.execute(
        sa.select(requests.c.id, requests.c.created_at)
        .where(requests.c.job_id == job_id)
        .order_by(requests.c.id.desc())
        .limit(1)
    ).first()
    if last is None:
        return 0, now
    return int(last.id), max(now, math.nextafter(float(last.created_at), math.inf))


def _tag_founders(
    conn: sa.Connection, job_id: str, founders: Sequence[tuple[str, PrefixTag]], now: float
) -> None:
    """One UPDATE per group, for its first request (the others were stored tagged). Only a
    request this call stored: one submitted before (its key skipped now) may already be in a
    batch, whose line order must not change under it."""
    for key, tag in founders:
        conn.execute(
            sa.update(requests)
            .where(requests.c.job_id == job_id, requests.c.key == key, requests.c.created_at == now)
            .values(prefix_key=tag.key, prefix_tokens=tag.tokens, prefix_parts=tag.parts)
        )


def _chunks(lines: Iterable[ParsedLine], size: int) -> Iterator[list[ParsedLine]]:
    chunk: list[ParsedLine] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _insert_ignore(conn: sa.Connection) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(jobs).on_conflict_do_nothing(index_elements=["name"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(jobs).on_conflict_do_nothing(index_elements=["name"])


_REQUEST_COLUMNS = (
    "id",
    "job_id",
    "key",
    "provider",
    "endpoint",
    "model",
    "body_bytes",
    "feature",
    "team",
    "tags",
    "state",
    "lane",
    "route_id",
    "requested_model",
    "content_hash",
    "prefix_key",
    "prefix_tokens",
    "prefix_parts",
    "deadline",
    "guard_at",
    "attempt_count",
    "created_at",
    "updated_at",
)
_QUEUED = RequestState.QUEUED.value
_BATCH = Lane.BATCH.value


def _row(
    request_id: int,
    job_id: str,
    line: ParsedLine,
    feature: str | None,
    team: str | None,
    route_id: int | None,
    now: float,
) -> tuple[object, ...]:
    body = line.body_json
    prefix = line.prefix
    return (
        request_id,
        job_id,
        line.key,
        line.provider.value,
        line.endpoint,
        line.model,
        len(body) if body.isascii() else len(body.encode()),
        line.feature if line.feature is not None else feature,
        line.team if line.team is not None else team,
        line.tags_json,
        _QUEUED,
        line.route.lane.value if line.route is not None else _BATCH,
        route_id,
        line.requested_model,
        line.content_hash,
        prefix.key if prefix is not None else None,
        prefix.tokens if prefix is not None else None,
        prefix.parts if prefix is not None else None,
        line.deadline,
        line.guard_at,
        0,
        now,
        now,
    )
