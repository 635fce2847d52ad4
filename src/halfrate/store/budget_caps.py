"""Monthly budget caps, as admins set them (the command line's `halfrate budget`, the web
page's Budgets page) and as submissions read them; each change with its audit row."""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from halfrate.errors import NotFound
from halfrate.money import cents
from halfrate.records import Budget
from halfrate.store.admin_tables import budget_caps
from halfrate.store.audit import record_audit
from halfrate.store.base import Database
from halfrate.store.budgets import standing


@dataclass(frozen=True)
class CapStanding:
    """A cap and what counts against it this month."""

    budget: Budget
    spent_nano: int
    reserved_nano: int
    updated_at: float
    updated_by: str | None

    @property
    def left_nano(self) -> int:
        return self.budget.monthly_nano - self.spent_nano - self.reserved_nano


class BudgetCapQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def caps(self) -> list[Budget]:
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(
                    budget_caps.c.kind, budget_caps.c.name, budget_caps.c.monthly_nano
                ).order_by(budget_caps.c.kind, budget_caps.c.name)
            ).all()
        return [Budget(kind, name, int(nano)) for kind, name, nano in rows]

    def standings(self, at: float) -> list[CapStanding]:
        """Every cap with what was spent in the month of ``at`` and what is reserved."""
        found = []
        with self._store.read() as conn:
            rows = conn.execute(
                sa.select(budget_caps).order_by(budget_caps.c.kind, budget_caps.c.name)
            ).all()
            for row in rows:
                budget = Budget(row.kind, row.name, int(row.monthly_nano))
                spent, reserved = standing(conn, budget, at)
                found.append(CapStanding(budget, spent, reserved, row.updated_at, row.updated_by))
        return found

    def set_cap(self, budget: Budget, actor: str | None) -> Budget | None:
        """Set (or change) a cap; returns the cap it replaced, if any."""
        now = time.time()
        key = (budget_caps.c.kind == budget.kind, budget_caps.c.name == budget.name)
        with self._store.write() as conn:
            before = conn.execute(sa.select(budget_caps.c.monthly_nano).where(*key)).scalar()
            values = {"monthly_nano": budget.monthly_nano, "updated_at": now, "updated_by": actor}
            if before is None:
                conn.execute(
                    sa.insert(budget_caps).values(kind=budget.kind, name=budget.name, **values)
                )
            else:
                conn.execute(sa.update(budget_caps).where(*key).values(**values))
            record_audit(conn, actor, "budget.set", budget.label, _change(before, budget))
        return None if before is None else Budget(budget.kind, budget.name, int(before))

    def remove_cap(self, kind: str, name: str, actor: str | None) -> Budget:
        key = (budget_caps.c.kind == kind, budget_caps.c.name == name)
        with self._store.write() as conn:
            before = conn.execute(sa.select(budget_caps.c.monthly_nano).where(*key)).scalar()
            if before is None:
                raise NotFound(f"no budget on {kind} {name!r}")
            conn.execute(sa.delete(budget_caps).where(*key))
            removed = Budget(kind, name, int(before))
            record_audit(conn, actor, "budget.remove", removed.label, None)
        return removed


def _change(before: int | None, after: Budget) -> str:
    if before is None:
        return f"cap {cents(after.monthly_nano)} a month"
    return f"cap {cents(int(before))} to {cents(after.monthly_nano)} a month"
