"""Spreadsheets through the Python API: one prompt over every row of a table, as one job (a
part of :class:`Halfrate`; ``halfrate run`` is built on it)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from halfrate.errors import InputError, NotFound
from halfrate.intake.checks import checked_job_name, urgency_of
from halfrate.intake.submit import Submitter
from halfrate.ledger.estimate import Estimate
from halfrate.models import SubmitOutcome
from halfrate.store import Store
from halfrate.table_job import TableOptions, TablePlan, answers_of, estimate_table, plan_table
from halfrate.tabular.write import added_columns, output_kind, write_answers

DEFAULT_FEATURE = "spreadsheet"  # how `halfrate run` work shows in reports without --feature
MAX_RERUNS = 1_000


class Tables:
    """The spreadsheet methods of :class:`halfrate.Halfrate`."""

    store: Store
    submitter: Submitter

    def plan_table(
        self, path: str | Path, prompt: str, options: TableOptions | None = None
    ) -> TablePlan:
        """A table's header, ``prompt`` written over its columns, and the options (model,
        system prompt, answer length, temperature, sheet), all checked; the rows are read by
        :meth:`estimate_table` and :meth:`submit_table`."""
        return plan_table(path, prompt, options)

    def estimate_table(self, plan: TablePlan, output_tokens: int | None = None) -> Estimate:
        """Tokens and price of the table's job in each lane: every row read and checked,
        nothing stored. A ceiling (every answer at its limit) unless ``output_tokens``
        assumes a typical answer length."""
        limit = self.submitter.max_line_bytes
        return estimate_table(plan, self.store.prices, limit, output_tokens)

    def submit_table(
        self,
        plan: TablePlan,
        *,
        job: str | None = None,
        feature: str | None = None,
        team: str | None = None,
        deadline: str | datetime | None = None,
        waiting: bool = False,
    ) -> SubmitOutcome:
        """Store one request per row as the plan's job: the same table, prompt and options
        make the same job, so running it again stores nothing twice. A job of that name that
        was cancelled is not reused: the table runs again as a new job. ``feature`` defaults
        to ``spreadsheet``; ``waiting``: a person waits (realtime)."""
        now = datetime.now().astimezone()
        urgency = urgency_of(
            feature or DEFAULT_FEATURE, team, None, waiting, deadline, now, flag="--"
        )
        name = self._runnable_name(checked_job_name(job) if job is not None else plan.job_name)
        limit = self.submitter.max_line_bytes
        return self.submitter.routed(
            lambda: plan.lines(limit),
            job=name,
            source=str(plan.table.path.resolve()),
            describe_line=str(plan.table.path),
            urgency=urgency,
            sinks=[],
            now=now,
        )

    def check_table_tags(
        self,
        *,
        job: str | None = None,
        feature: str | None = None,
        team: str | None = None,
        deadline: str | datetime | None = None,
        waiting: bool = False,
    ) -> None:
        """Refuse now, before a table is read or a provider asked, what :meth:`submit_table`
        would refuse of these."""
        urgency_of(feature, team, None, waiting, deadline, datetime.now().astimezone(), flag="--")
        if job is not None:
            checked_job_name(job)

    def check_table_output(self, plan: TablePlan, target: Path) -> None:
        """Refuse, before anything runs, an output file that is the input or of a kind halfrate
        cannot write."""
        if target.resolve() == plan.table.path.resolve():
            raise InputError(f"-o {target}: that is the input file; name another file")
        output_kind(target)

    def write_table_answers(self, plan: TablePlan, job: str, target: Path) -> int:
        """Write the table to ``target`` with each row's answer, status and error (``pending``
        for a row whose request has not ended); returns the rows answered. Refused when the
        table changed since its job was submitted."""
        job_id = self.store.reads.find_job(job).id
        answers = answers_of(plan, self.store.reads.iter_results(job_id))
        return write_answers(plan.table, added_columns(plan.table.columns), answers, target)

    def _runnable_name(self, name: str) -> str:
        """``name``, or when a cancelled job has it, the first of ``name-2``, ``name-3``, ...
        that no cancelled job has: the same command then finds the same rerun again."""
        for attempt in range(1, MAX_RERUNS + 1):
            candidate = name if attempt == 1 else f"{name[:190]}-{attempt}"
            try:
                found = self.store.reads.find_job(candidate)
            except NotFound:
                return candidate
            if found.cancelled_at is None:
                return candidate
        raise InputError(f"job {name!r} was cancelled {MAX_RERUNS:,} times; name another --job")
