"""Reading jobs, batches and results for status, results export and the public API."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from halfrate.errors import NotFound
from halfrate.models import (
    FINAL_REQUEST_STATES,
    OPEN_REQUEST_STATES,
    BatchState,
    BatchView,
    JobStatus,
    Moved,
    RequestState,
    Result,
    SinkView,
)
from halfrate.records import ResultRow
from halfrate.sinks.spec import mask, parse_sink
from halfrate.store.base import Database
from halfrate.store.deliveries import delivery_states
from halfrate.store.tables import (
    attempts,
    batches,
    jobs,
    request_state_is,
    requests,
    results,
    routes,
)


@dataclass(frozen=True)
class JobRow:
    id: str
    name: str
    created_at: float
    feature: str | None
    team: str | None
    cancelled_at: float | None = None


_JOB_COLUMNS = (
    jobs.c.id,
    jobs.c.name,
    jobs.c.created_at,
    jobs.c.feature,
    jobs.c.team,
    jobs.c.cancel_requested_at,
)

_BATCH_VIEW_COLUMNS = [batches.c[name] for name in BatchView.__dataclass_fields__]
_LIVE_BATCH_STATES = [BatchState.PENDING.value, BatchState.SUBMITTED.value]


@dataclass(frozen=True)
class RetryWait:
    """Queued requests that wait for their retry time, after a try that failed."""

    requests: int
    until: float  # the earliest of their retry times
    reason: str | None  # the last error of the largest group of them


@dataclass(frozen=True)
class Progress:
    """How far some jobs got, read in one snapshot for a progress display."""

    counts: dict[str, int]  # request state -> requests, over the jobs
    batches: list[BatchView]  # live batches (pending, submitted) holding the jobs' requests
    retry: RetryWait | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(self.counts.get(state.value, 0) for state in FINAL_REQUEST_STATES)

    @property
    def answered(self) -> int:
        """Done, plus the lines the live batches report finished at the provider: what moves
        while a batch runs, long before its results are stored."""
        at_provider = sum(
            min(b.request_count, (b.completed_count or 0) + (b.failed_count or 0))
            for b in self.batches
        )
        return min(self.total, self.done + at_provider)


class ReadQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def find_job(self, ref: str) -> JobRow:
        """A job by id or by name."""
        with self._store.read() as conn:
            row = conn.execute(
                sa.select(*_JOB_COLUMNS)
                .where(sa.or_(jobs.c.id == ref, jobs.c.name == ref))
                .order_by(sa.case((jobs.c.id == ref, 0), else_=1))
                .limit(1)
            ).first()
        if row is None:
            raise NotFound(f"no job with id or name {ref!r} (see `halfrate status` for all jobs)")
        return JobRow(*row)

    def recent_jobs(self, limit: int = 20) -> list[JobRow]:
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(*_JOB_COLUMNS)
                .order_by(jobs.c.created_at.desc(), jobs.c.id.desc())
                .limit(limit)
            )
            return [JobRow(*row) for row in rows]

    def job_status(self, ref: str) -> JobStatus:
        job = self.find_job(ref)
        with self._store.read() as conn:
            counts = {
                state: n
                for state, n in conn.execute(
                    sa.select(requests.c.state, sa.func.count())
                    .where(requests.c.job_id == job.id)
                    .group_by(requests.c.state)
                )
            }
            rows = conn.execute(
                sa.select(*_BATCH_VIEW_COLUMNS)
                .where(batches.c.id.in_(_job_batch_ids(job.id)))
                .order_by(batches.c.created_at, batches.c.id)
            )
            views = [BatchView(**row._mapping) for row in rows]
            moved = self._moved(conn, job.id)
            delivering = delivery_states(conn, job.id)
        return JobStatus(
            id=job.id,
            name=job.name,
            created_at=job.created_at,
            feature=job.feature,
            team=job.team,
            counts=counts,
            batches=views,
            lanes=self.job_lanes(job.id),
            moved=moved,
            sinks=[
                SinkView(d.sink_id, _shown(d.spec), d.delivered, d.pending, d.failing, d.last_error)
                for d in delivering
            ],
            cancelled_at=job.cancelled_at,
        )

    def open_job_ids(self) -> list[str]:
        """Jobs with requests not final yet (queued, in a batch, in a call), oldest first.

        One state at a time: each literal state matches a partial index, so only open rows
        are read, never the finished millions."""
        found: set[str] = set()
        with self._store.read() as conn:
            for state in OPEN_REQUEST_STATES:
                found.update(
                    conn.execute(
                        sa.select(requests.c.job_id).where(request_state_is(state)).distinct()
                    ).scalars()
                )
            if not found:
                return []
            return list(
                conn.execute(
                    sa.select(jobs.c.id)
                    .where(jobs.c.id.in_(found))
                    .order_by(jobs.c.created_at, jobs.c.id)
                ).scalars()
            )

    def progress(self, job_ids: Sequence[str], now: float) -> Progress:
        """The jobs' requests per state, the requests waiting for a retry at ``now`` (how many,
        until when, why) and their live batches with the provider's counts: one pass over the
        jobs' rows (and a second over the waiting ones, when some wait) and one over the few
        live batches, in one snapshot."""
        if not job_ids:
            return Progress({}, [], None)
        ids = list(job_ids)
        of_jobs = requests.c.job_id.in_(ids)
        waits = sa.and_(request_state_is(RequestState.QUEUED), requests.c.not_before > now)
        held = sa.exists(
            sa.select(requests.c.id).where(
                requests.c.batch_id == batches.c.id,
                request_state_is(RequestState.IN_BATCH),
                of_jobs,
            )
        )
        states = list(RequestState)
        with self._store.read() as conn:
            # One pass over the jobs' rows, a count per state and of the queued still waiting
            # for their retry time, without grouping (a million-row job in half the time of
            # a GROUP BY, which sorts every row into a temporary tree).
            tally = conn.execute(
                sa.select(
                    *(sa.func.count().filter(request_state_is(state)) for state in states),
                    sa.func.count().filter(waits),
                    sa.func.min(requests.c.not_before).filter(waits),
                ).where(of_jobs)
            ).one()
            # Only when some wait: why, by their last error (the biggest group is shown).
            why: Sequence[Any] = ()
            if tally[-2]:
                why = conn.execute(
                    sa.select(requests.c.last_error, sa.func.count())
                    .where(of_jobs, waits)
                    .group_by(requests.c.last_error)
                    .order_by(sa.func.count().desc(), requests.c.last_error)
                    .limit(1)
                ).all()
            live = conn.execute(
                sa.select(*_BATCH_VIEW_COLUMNS)
                .where(batches.c.state.in_(_LIVE_BATCH_STATES), held)
                .order_by(batches.c.created_at, batches.c.id)
            )
            views = [BatchView(**row._mapping) for row in live]
        counts = {state.value: int(n) for state, n in zip(states, tally, strict=False) if n}
        retry = None
        if tally[-2]:
            retry = RetryWait(
                requests=int(tally[-2]),
                until=float(tally[-1]),
                reason=why[0][0] if why else None,
            )
        return Progress(counts, views, retry)

    def _moved(self, conn: sa.Connection, job_id: str) -> list[Moved]:
        """Requests moved off their route's lane, per reason and rule, with the extra cost:
        what their attempts cost minus what the same tokens cost in the lane the rule chose."""
        extra = sa.func.sum(attempts.c.cost_nano - attempts.c.route_cost_nano)
        attempted = (
            sa.select(attempts.c.request_id, extra.label("extra"))
            .group_by(attempts.c.request_id)
            .subquery()
        )
        rows = conn.execute(
            sa.select(
                requests.c.moved_by,
                routes.c.rule_name,
                sa.func.count(),
                sa.func.sum(attempted.c.extra),
            )
            .select_from(
                requests.outerjoin(routes, routes.c.id == requests.c.route_id).outerjoin(
                    attempted, attempted.c.request_id == requests.c.id
                )
            )
            .where(requests.c.job_id == job_id, requests.c.moved_by.is_not(None))
            .group_by(requests.c.moved_by, routes.c.rule_name)
            .order_by(requests.c.moved_by, routes.c.rule_name)
        )
        return [
            Moved(why, rule, int(n), int(cost) if cost is not None else None)
            for why, rule, n, cost in rows
        ]

    def job_lanes(self, job_id: str) -> dict[str, int]:
        """Requests of the job per lane (where each runs now)."""
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(requests.c.lane, sa.func.count())
                .where(requests.c.job_id == job_id)
                .group_by(requests.c.lane)
            )
            return {lane: int(n) for lane, n in rows}

    def job_costs(self, job_id: str) -> tuple[int, int]:
        """What the job's attempts cost, and what the same tokens cost in realtime (nano-USD;
        unpriced attempts count as nothing)."""
        with self._store.read() as conn:
            paid, realtime = conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(attempts.c.cost_nano), 0),
                    sa.func.coalesce(sa.func.sum(attempts.c.realtime_cost_nano), 0),
                )
                .join(requests, requests.c.id == attempts.c.request_id)
                .where(requests.c.job_id == job_id)
            ).one()
        return int(paid), int(realtime)

    def job_usage(self, job_id: str) -> dict[str, int]:
        """Token totals over every attempt of the job's requests."""
        with self._store.read() as conn:
            row = conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(attempts.c.input_tokens), 0),
                    sa.func.coalesce(sa.func.sum(attempts.c.cached_tokens), 0),
                    sa.func.coalesce(sa.func.sum(attempts.c.output_tokens), 0),
                    sa.func.count(),
                )
                .join(requests, requests.c.id == attempts.c.request_id)
                .where(requests.c.job_id == job_id)
            ).one()
        return {
            "input_tokens": int(row[0]),
            "cached_tokens": int(row[1]),
            "output_tokens": int(row[2]),
            "attempts": int(row[3]),
        }

    def iter_result_rows(self, job_id: str, chunk: int = 2_000) -> Iterator[ResultRow]:
        """One row per request of the job, in submission order, streamed, JSON left as text."""
        with self._store.read() as conn:
            rows = conn.execution_options(yield_per=chunk).execute(
                _RESULT_ROW.select_from(
                    requests.outerjoin(results, results.c.request_id == requests.c.id)
                )
                .where(requests.c.job_id == job_id)
                .order_by(requests.c.id)
            )
            for row in rows:
                yield ResultRow(*row)

    def request_id(self, job_id: str, key: str) -> int:
        with self._store.read() as conn:
            found = conn.execute(
                sa.select(requests.c.id).where(requests.c.job_id == job_id, requests.c.key == key)
            ).scalar_one()
        return int(found)

    def result_of(self, request_id: int) -> Result:
        """The stored result of one request (or its state and last error, if it has none)."""
        with self._store.read() as conn:
            row = conn.execute(
                _RESULT_ROW.select_from(
                    requests.outerjoin(results, results.c.request_id == requests.c.id)
                ).where(requests.c.id == request_id)
            ).one()
        return ResultRow(*row).result()

    def iter_results(self, job_id: str) -> Iterator[Result]:
        """One :class:`Result` per request of the job, in submission order, streamed."""
        for row in self.iter_result_rows(job_id):
            yield row.result()


_RESULT_ROW = sa.select(
    requests.c.key,
    requests.c.state,
    requests.c.last_error,
    results.c.status_code,
    results.c.response,
    results.c.error,
)


def _job_batch_ids(job_id: str) -> sa.Select[tuple[str]]:
    """Every batch that holds or held a request of the job."""
    held = sa.select(attempts.c.batch_id).join(requests, requests.c.id == attempts.c.request_id)
    held = held.where(requests.c.job_id == job_id, attempts.c.batch_id.is_not(None))
    live = sa.select(requests.c.batch_id).where(
        requests.c.job_id == job_id, requests.c.batch_id.is_not(None)
    )
    return sa.union(held, live)  # type: ignore[return-value]


def _shown(spec: str) -> str:
    try:
        return parse_sink(spec).display()
    except Exception:  # a spec stored by another version: hide what might be secret
        return mask(spec)
