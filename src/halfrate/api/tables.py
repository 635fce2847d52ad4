"""Spreadsheets through the Python API: one prompt over every row of a table, as one job (a
part of :class:`Halfrate`; ``halfrate run`` is built on it).

A *run* is the job a table and its question make; each ``--retry-failed`` makes a *rerun* job,
``RUN-retry-N``, asking again only the rows whose latest answer failed. The answers written
back merge them: each row's latest answer. Every job of a run keeps its table plan, so its
answers can be written back later from the job alone.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from halfrate.api.table_runner import Columns, shape_of, table_path, with_answers
from halfrate.catalog import DEFAULT_MAX_TOKENS, DEFAULT_MODEL
from halfrate.dispatch import RunMode, Worker
from halfrate.errors import InputError, NotFound
from halfrate.intake.checks import checked_job_name, urgency_of
from halfrate.intake.submit import Submitter
from halfrate.ledger.estimate import Estimate
from halfrate.models import SubmitOutcome
from halfrate.store import Store
from halfrate.store.reads import JobRow
from halfrate.table_job import (
    TableOptions,
    TablePlan,
    answers_of,
    estimate_table,
    failed_rows,
    plan_record,
    plan_table,
    stored_plan,
)
from halfrate.tabular.rows import open_table
from halfrate.tabular.workbook import sheet_names
from halfrate.tabular.write import added_columns, output_kind, write_answers

DEFAULT_FEATURE = "spreadsheet"  # how `halfrate run` work shows in reports without --feature
MAX_RERUNS = 1_000
RERUN = "-retry-"  # a rerun's name: the run's, then this, then its number
RUN_NAME_CHARS = 180  # a rerun's name keeps this much of its run's


def rerun_name(run_name: str, number: int) -> str:
    return f"{run_name[:RUN_NAME_CHARS]}{RERUN}{number}"


def is_rerun_name(name: str, run_names: Iterable[str]) -> bool:
    """Whether ``name`` is the name of a rerun of one of the runs named ``run_names``."""
    head, mark, number = name.rpartition(RERUN)
    if not mark or not number.isdigit():
        return False
    return any(run[:RUN_NAME_CHARS] == head for run in run_names)


@dataclass(frozen=True)
class TablePreview:
    """A table's first rows as text, what the web page shows before anything is asked."""

    columns: tuple[str, ...]
    rows: list[dict[str, str]]  # the first rows with a value, column -> text
    total_rows: int  # rows with a value, all of them
    sheets: tuple[str, ...]  # a workbook's sheets, in order; () for other files
    sheet: str | None


class Tables:
    """The spreadsheet methods of :class:`halfrate.Halfrate`."""

    store: Store
    submitter: Submitter
    worker: Callable[[], AbstractContextManager[Worker]]

    def run_table(
        self,
        table: str | Path | Iterable[Mapping[str, Any]] | Any,
        *,
        prompt: str,
        system: str | None = None,
        columns: Columns = None,
        model: str = DEFAULT_MODEL,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        temperature: float | None = None,
        sheet: str | None = None,
        feature: str | None = None,
        team: str | None = None,
        deadline: str | datetime | None = None,
        waiting: bool = False,
        job: str | None = None,
        retry_failed: bool = False,
        wait: bool = True,
    ) -> Any:
        """Ask ``prompt`` of every row of ``table`` (a .csv/.tsv/.xlsx/.jsonl path, a list of
        dicts, or a pandas DataFrame) and return its rows with the answer columns added:
        ``answer`` (or one per field of ``columns``: a spec such as ``"sentiment:
        positive|negative, score: number"``, or a JSON Schema object), ``status`` and
        ``error``. A DataFrame comes back as a new DataFrame, anything else as a list of dicts.

        ``wait=True`` works as a worker until every row has ended (other work queued in the
        store is done too); ``wait=False`` only submits, and the rows come back ``pending``
        until a worker answers them. The same call again finds the same job and pays nothing
        twice; ``retry_failed`` asks again only the rows whose answer failed."""
        options = TableOptions(model, system, max_tokens, temperature, sheet, shape_of(columns))
        path, records = table_path(table)
        plan = self.plan_table(path, prompt, options)
        outcome = self.submit_table(
            plan,
            job=job,
            feature=feature,
            team=team,
            deadline=deadline,
            waiting=waiting,
            retry_failed=retry_failed,
        )
        if wait:
            with self.worker() as worker:
                worker.run(RunMode.UNTIL_IDLE)
        added = added_columns(plan.table.columns, plan.options.answer_columns)
        cells = dict(self.table_answers(plan, outcome.job_id))
        if records is not None:
            return with_answers(table, records, added, cells)
        header = (*plan.table.columns, *added)
        empty = [""] * len(added)
        return [
            dict(zip(header, [*row.values, *cells.get(row.number, empty)], strict=True))
            for row in plan.table.all_rows()
        ]

    def plan_table(
        self, path: str | Path, prompt: str, options: TableOptions | None = None
    ) -> TablePlan:
        """A table's header, ``prompt`` written over its columns, and the options (model,
        system prompt, answer length, temperature, sheet, structured columns), all checked;
        the rows are read by :meth:`estimate_table` and :meth:`submit_table`."""
        return plan_table(path, prompt, options)

    def preview_table(
        self, path: str | Path, sheet: str | None = None, limit: int = 5
    ) -> TablePreview:
        """The table's columns, its first ``limit`` rows as text and how many rows it has (all
        read and checked), and a workbook's sheets."""
        table = open_table(path, sheet)
        first: list[dict[str, str]] = []
        total = 0
        for row in table.rows():
            total += 1
            if len(first) < limit:
                first.append(dict(row.texts))
        sheets = tuple(sheet_names(table.path)) if table.kind == "xlsx" else ()
        return TablePreview(table.columns, first, total, sheets, table.sheet)

    def sample_prompts(self, plan: TablePlan, count: int = 3) -> list[str]:
        """The prompt as the first ``count`` rows with values will send it."""
        rows = itertools.islice(plan.table.rows(), count)
        return [plan.template.render(row.texts) for row in rows]

    def estimate_table(
        self,
        plan: TablePlan,
        output_tokens: int | None = None,
        *,
        only: frozenset[int] | None = None,
    ) -> Estimate:
        """Tokens and price of the table's job in each lane (of the rows ``only`` names, when
        given): every row read and checked, nothing stored. A ceiling (every answer at its
        limit) unless ``output_tokens`` assumes a typical answer length."""
        limit = self.submitter.max_line_bytes
        return estimate_table(plan, self.store.prices, limit, output_tokens, only)

    def submit_table(
        self,
        plan: TablePlan,
        *,
        job: str | None = None,
        feature: str | None = None,
        team: str | None = None,
        deadline: str | datetime | None = None,
        waiting: bool = False,
        retry_failed: bool = False,
    ) -> SubmitOutcome:
        """Store one request per row as the plan's job: the same table, prompt and options
        make the same job, so running it again stores nothing twice. A job of that name that
        was cancelled is not reused: the table runs again as a new job. ``feature`` defaults
        to ``spreadsheet``; ``waiting``: a person waits (realtime).

        ``retry_failed``: ask again only the rows whose latest answer failed, as a rerun job
        (no earlier answer is reused for them); an unfinished rerun is continued instead.
        Refused when the run is unknown, still running, or has no failed row."""
        now = datetime.now().astimezone()
        urgency = urgency_of(
            feature or DEFAULT_FEATURE, team, None, waiting, deadline, now, flag="--"
        )
        name = self._run_name(plan, job)
        only: frozenset[int] | None = None
        rerun_of: str | None = None
        if retry_failed:
            run = self._run_to_retry(plan, name)
            reruns = self._reruns(run.name)
            if reruns and not self.store.reads.job_status(reruns[-1].id).done:
                last = reruns[-1]  # interrupted: the same command goes on with it
                return SubmitOutcome(last.id, last.name, created=0, existing=0, shared=0)
            only = self._failed(plan, run, reruns)
            name, rerun_of = f"{run.name[:180]}{RERUN}{len(reruns) + 1}", run.id
        limit = self.submitter.max_line_bytes
        return self.submitter.routed(
            lambda: plan.lines(limit, only),
            job=name,
            source=str(plan.table.path.resolve()),
            describe_line=str(plan.table.path),
            urgency=urgency,
            sinks=[],
            now=now,
            table_plan=plan_record(plan, rerun_of),
            fresh=retry_failed,
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

    def write_table_answers(self, plan: TablePlan, job: str, target: Path) -> dict[str, int]:
        """Write the table to ``target`` with each row's answer(s), status and error (the
        latest answer of the run ``job`` and its reruns; ``pending`` for a row whose request
        has not ended); returns how many rows have each status. Refused when the table
        changed since."""
        statuses: Counter[str] = Counter()
        status_at = len(plan.options.answer_columns)

        def counted() -> Iterator[tuple[int, list[Any]]]:
            for number, cells in self._answers(plan, job):
                statuses[cells[status_at]] += 1
                yield number, cells

        added = added_columns(plan.table.columns, plan.options.answer_columns)
        write_answers(plan.table, added, counted(), target)
        return dict(statuses)

    def table_answers(self, plan: TablePlan, job: str) -> Iterator[tuple[int, list[Any]]]:
        """Each row's number and its added cells (answer or fields, status, error), the
        latest of the run ``job`` and its reruns, in row order."""
        return self._answers(plan, job)

    def rows_to_retry(self, plan: TablePlan, *, job: str | None = None) -> frozenset[int] | None:
        """The rows ``submit_table(plan, job=job, retry_failed=True)`` would ask again, or None
        when it would go on with an interrupted rerun. Refused as that call would be."""
        run = self._run_to_retry(plan, self._run_name(plan, job))
        reruns = self._reruns(run.name)
        if reruns and not self.store.reads.job_status(reruns[-1].id).done:
            return None
        return self._failed(plan, run, reruns)

    def _answers(self, plan: TablePlan, job: str) -> Iterator[tuple[int, list[Any]]]:
        run = self._run_of(self.store.reads.find_job(job))
        reads = self.store.reads
        reruns = [reads.iter_results(r.id) for r in self._reruns(run.name)]
        return answers_of(plan, reads.iter_results(run.id), reruns)

    def _run_name(self, plan: TablePlan, job: str | None) -> str:
        return self._runnable_name(checked_job_name(job) if job is not None else plan.job_name)

    def table_job_plan(self, job: str) -> TablePlan | None:
        """The table a `halfrate run` job answers, planned again from its file as it is now
        (None for a job submitted otherwise)."""
        found = self.store.reads.find_job(job)
        text = self.store.table_runs.plan_of(found.id)
        return stored_plan(text).plan() if text is not None else None

    def run_jobs(self, job: str) -> list[str]:
        """The ids of the run ``job`` belongs to and of its reruns (``--retry-failed``),
        oldest first."""
        run = self._run_of(self.store.reads.find_job(job))
        return [run.id, *(rerun.id for rerun in self._reruns(run.name))]

    def _run_of(self, job: JobRow) -> JobRow:
        """The run a job belongs to: itself, or the run a rerun asked again."""
        text = self.store.table_runs.plan_of(job.id)
        rerun_of = stored_plan(text).rerun_of if text is not None else None
        return self.store.reads.find_job(rerun_of) if rerun_of is not None else job

    def _reruns(self, run_name: str) -> list[JobRow]:
        found: list[JobRow] = []
        for number in range(1, MAX_RERUNS + 1):
            try:
                found.append(self.store.reads.find_job(rerun_name(run_name, number)))
            except NotFound:
                return found
        raise InputError(f"job {run_name!r} was retried {MAX_RERUNS:,} times")

    def _run_to_retry(self, plan: TablePlan, name: str) -> JobRow:
        try:
            return self.store.reads.find_job(name)
        except NotFound:
            pass
        source = str(plan.table.path.resolve())
        earlier = [
            run
            for run in self.store.table_runs.runs_of(source)
            if stored_plan(run.plan).asked == plan.asked_digest and RERUN not in run.name
        ]
        if earlier:
            raise InputError(
                f"--retry-failed: {plan.table.path} changed since job {earlier[-1].name} ran, "
                "so its failed rows are not these rows: run the command without "
                "--retry-failed to answer the file as it is now"
            )
        raise InputError(
            f"--retry-failed: this question was never asked of {plan.table.path} (job {name}): "
            "run the command without --retry-failed first"
        )

    def _failed(self, plan: TablePlan, run: JobRow, reruns: list[JobRow]) -> frozenset[int]:
        reads = self.store.reads
        later = [reads.iter_results(r.id) for r in reruns]
        failed, pending = failed_rows(plan, reads.iter_results(run.id), later)
        if pending:
            raise InputError(
                f"--retry-failed: job {run.name} has {pending:,} rows not answered yet: run the "
                "command without --retry-failed to finish it first"
            )
        if not failed:
            raise InputError(f"--retry-failed: no row of job {run.name} failed; nothing to retry")
        return failed

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
