"""What the Python API reads: jobs, results, costs and reports (a part of :class:`Halfrate`)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TextIO

from halfrate.errors import InputError
from halfrate.ledger.period import period_scope, split_moment
from halfrate.ledger.report import GROUP_NAMES, Breakdown, Comparison, Report, ReportMaker
from halfrate.ledger.speed import SpeedLine
from halfrate.models import JobStatus, Result
from halfrate.routing.rules import Policy
from halfrate.store import Store
from halfrate.store.reads import Progress
from halfrate.tabular.results import format_for, write_csv, write_jsonl_rows


class Reading:
    """The reading methods of :class:`halfrate.Halfrate`."""

    store: Store
    policy: Policy

    def status(self, job: str) -> JobStatus:
        """The job's requests per state and lane, its batches, sinks and moves (by id or name)."""
        return self.store.reads.job_status(job)

    def jobs(self, limit: int = 20) -> list[JobStatus]:
        """The most recent jobs, newest first."""
        return [self.store.reads.job_status(j.id) for j in self.store.reads.recent_jobs(limit)]

    def progress(self, job_ids: Sequence[str]) -> Progress:
        """How far the jobs (by id) are, cheaply enough to ask a few times a second: requests
        per state, the requests waiting for a retry time (how many, until when, why), and the
        live batches with the provider's own counts and their next poll."""
        return self.store.reads.progress(job_ids, time.time())

    def open_jobs(self) -> list[str]:
        """Ids of the jobs that still have requests to finish (queued, in a batch or a call),
        oldest first."""
        return self.store.reads.open_job_ids()

    def lanes(self, job: str) -> dict[str, int]:
        """The job's requests per lane they run in now."""
        return self.store.reads.job_lanes(self.store.reads.find_job(job).id)

    def results(self, job: str) -> Iterator[Result]:
        """One result per request of the job, in submission order, streamed."""
        return self.store.reads.iter_results(self.store.reads.find_job(job).id)

    def export_results(self, job: str, out: TextIO, fmt: str = "jsonl") -> int:
        """Write the job's results to ``out`` as JSONL or CSV; returns the number of lines."""
        fmt = format_for(None, fmt)
        job_id = self.store.reads.find_job(job).id
        if fmt == "jsonl":
            return write_jsonl_rows(self.store.reads.iter_result_rows(job_id), out)
        return write_csv(self.store.reads.iter_results(job_id), out)

    def job_costs(self, job: str) -> tuple[int, int]:
        """What the job's attempts cost and what the same tokens cost in realtime, in
        nano-dollars (unpriced attempts count as nothing)."""
        return self.store.reads.job_costs(self.store.reads.find_job(job).id)

    def job_usage(self, job: str) -> dict[str, int]:
        """Token totals over every attempt of the job's requests."""
        return self.store.reads.job_usage(self.store.reads.find_job(job).id)

    def undelivered(self) -> int:
        """Results some sink has not received yet, over all jobs."""
        return self.store.deliveries.undelivered()

    def report(
        self,
        by: str = "feature",
        *,
        since: str | float | None = None,
        until: str | float | None = None,
        feature: str | None = None,
        team: str | None = None,
        flag: str = "",
    ) -> Report:
        """Spend, realtime equivalent and savings per ``by`` (one of ``GROUP_NAMES``) over a
        period, with missed savings and KPIs. ``since``/``until``: Unix seconds, a date, an ISO
        8601 time, ``today``, ``yesterday`` or a span ago (``7d``); ``flag`` prefixes the
        parameters' names in error messages."""
        if by not in GROUP_NAMES:
            raise InputError(f"{flag}by {by!r} is not one of {', '.join(GROUP_NAMES)}")
        now = datetime.now(UTC)
        scope = period_scope(
            since=since, until=until, feature=feature, team=team, now=now, flag=flag
        )
        return self._reports().report(by, scope, now.timestamp())

    def breakdown(
        self,
        by: str = "feature",
        *,
        since: str | float | None = None,
        until: str | float | None = None,
        feature: str | None = None,
        team: str | None = None,
    ) -> Breakdown:
        """The lines of :meth:`report` alone (each group's sums, per lane, the total), without
        the period's missed savings and KPIs: what one chart needs."""
        if by not in GROUP_NAMES:
            raise InputError(f"by {by!r} is not one of {', '.join(GROUP_NAMES)}")
        now = datetime.now(UTC)
        scope = period_scope(since=since, until=until, feature=feature, team=team, now=now)
        return self._reports().breakdown(by, scope)

    def price_performance(
        self,
        *,
        since: str | float | None = None,
        until: str | float | None = None,
        feature: str | None = None,
        team: str | None = None,
    ) -> list[SpeedLine]:
        """The ``price_performance`` of :meth:`report` alone: per model, feature and lane of
        the realtime and flex calls, spend, cost per 1,000 requests, TTFT, TIBT and queue
        wait, most spend first."""
        now = datetime.now(UTC)
        scope = period_scope(since=since, until=until, feature=feature, team=team, now=now)
        return self._reports().price_performance(scope)

    def compare(
        self,
        at: str | float,
        *,
        since: str | float | None = None,
        until: str | float | None = None,
        feature: str | None = None,
        team: str | None = None,
        flag: str = "",
    ) -> Comparison:
        """Before and after ``at`` inside the period: what changed in spend and savings."""
        now = datetime.now(UTC)
        scope = period_scope(
            since=since, until=until, feature=feature, team=team, now=now, flag=flag
        )
        moment = split_moment(at, scope, now, flag)
        return self._reports().compare(scope, moment, now.timestamp())

    def _reports(self) -> ReportMaker:
        reach = self.policy.batch_reach.total_seconds()
        return ReportMaker(self.store, batch_after_seconds=reach)
