"""Spreadsheets through the Python API: one prompt over every row of a table, as one job (a
part of :class:`Halfrate`; ``halfrate run`` is built on it)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from halfrate.errors import InputError
from halfrate.intake.submit import Submitter
from halfrate.ledger.estimate import Estimate
from halfrate.models import SubmitOutcome
from halfrate.routing.router import Urgency
from halfrate.store import Store
from halfrate.table_job import TablePlan, answers_of, estimate_table, plan_table
from halfrate.tabular.write import added_columns, output_kind, write_answers


class Tables:
    """The spreadsheet methods of :class:`halfrate.Halfrate`."""

    store: Store
    submitter: Submitter

    def plan_table(self, path: str | Path, prompt: str, model: str | None = None) -> TablePlan:
        """A table's header, ``prompt`` written over its columns and the model, all checked
        (the rows are read by :meth:`estimate_table` and :meth:`submit_table`)."""
        return plan_table(path, prompt, model)

    def estimate_table(self, plan: TablePlan, output_tokens: int | None = None) -> Estimate:
        """Tokens and price of the table's job in each lane: every row read and checked,
        nothing stored."""
        return estimate_table(plan, self.store.prices, self.submitter.max_line_bytes, output_tokens)

    def submit_table(self, plan: TablePlan) -> SubmitOutcome:
        """Store one request per row as the plan's job (the same table, prompt and model: the
        same job, so running it again stores nothing twice)."""
        limit = self.submitter.max_line_bytes
        return self.submitter.routed(
            lambda: plan.lines(limit),
            job=plan.job_name,
            source=str(plan.table.path.resolve()),
            describe_line=str(plan.table.path),
            urgency=Urgency(),
            sinks=[],
            now=datetime.now().astimezone(),
        )

    def check_table_output(self, plan: TablePlan, target: Path) -> None:
        """Refuse, before anything runs, an output file that is the input or of a kind halfrate
        cannot write."""
        if target.resolve() == plan.table.path.resolve():
            raise InputError(f"-o {target}: that is the input file; name another file")
        output_kind(target)

    def write_table_answers(self, plan: TablePlan, job: str, target: Path) -> int:
        """Write the table to ``target`` with each row's answer, status and error; returns the
        rows written. Refused when the table changed since its job was submitted."""
        job_id = self.store.reads.find_job(job).id
        answers = answers_of(plan, self.store.reads.iter_results(job_id))
        return write_answers(plan.table, added_columns(plan.table.columns), answers, target)
