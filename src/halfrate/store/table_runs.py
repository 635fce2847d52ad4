"""The jobs of `halfrate run`: each remembers its table and what was asked of it (a JSON text
the table job writes and reads; the store only keeps it), so its answers can be written back as
the table later and a rerun of failed rows can find the run it continues."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from halfrate.store.base import Database
from halfrate.store.tables import jobs


@dataclass(frozen=True)
class TableRun:
    job_id: str
    name: str
    created_at: float
    cancelled: bool
    plan: str  # JSON: the table, the prompt and the options


class TableRunQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def plan_of(self, job_id: str) -> str | None:
        """The job's table plan; None for a job not made by `halfrate run`."""
        with self._store.read() as conn:
            found = conn.execute(sa.select(jobs.c.table_plan).where(jobs.c.id == job_id))
            return found.scalar_one_or_none()

    def runs_of(self, source: str) -> list[TableRun]:
        """Every `halfrate run` job over the table at ``source`` (its resolved path), oldest
        first."""
        query = (
            sa.select(
                jobs.c.id,
                jobs.c.name,
                jobs.c.created_at,
                jobs.c.cancel_requested_at.is_not(None),
                jobs.c.table_plan,
            )
            .where(jobs.c.source == source, jobs.c.table_plan.is_not(None))
            .order_by(jobs.c.created_at, jobs.c.id)
        )
        with self._store.read() as conn:
            return [TableRun(*row) for row in conn.execute(query)]
