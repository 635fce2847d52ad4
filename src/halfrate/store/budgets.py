"""Budget checks and reservations, inside the transaction that stores a job.

Two submissions at once must not both slip under a cap: on PostgreSQL the check takes a
transaction-level advisory lock (one for every budget, held only while a submission with a
budget is stored); SQLite's writers already take the database lock up front.
"""

from __future__ import annotations

import sqlalchemy as sa

from halfrate.models import OPEN_REQUEST_STATES
from halfrate.pricing.budgets import month_of, refusal
from halfrate.records import Budget, Reservation
from halfrate.store.admin_tables import budget_caps
from halfrate.store.rollup import DAY
from halfrate.store.tables import attempts, ledger_days, requests, reservations

# pg_advisory_xact_lock's key for budget checks (any fixed 64-bit number; "halfrate" in hex).
BUDGET_LOCK = 0x68616C6672617465
OPEN_STATES = sorted(s.value for s in OPEN_REQUEST_STATES)


def standing(conn: sa.Connection, budget: Budget, at: float) -> tuple[int, int]:
    """What counts against ``budget`` in the month of ``at``: spent (the ledger), and reserved
    by jobs still running (their estimate less what they have spent)."""
    start, end = month_of(at)
    column = ledger_days.c[budget.kind]
    spent = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(ledger_days.c.cost_nano), 0)).where(
            ledger_days.c.day >= int(start // DAY),
            ledger_days.c.day < int(end // DAY),
            column == budget.name,
        )
    ).scalar_one()
    held = conn.execute(
        sa.select(reservations.c.job_id, reservations.c.reserved_nano).where(
            reservations.c.kind == budget.kind,
            reservations.c.name == budget.name,
            reservations.c.month_start == start,
        )
    ).all()
    reserved = 0
    for job_id, amount in held:
        still_open = conn.execute(
            sa.select(requests.c.id)
            .where(requests.c.job_id == job_id, requests.c.state.in_(OPEN_STATES))
            .limit(1)
        ).first()
        if still_open is None:
            continue  # settled: the job's actual cost is in what was spent
        job_spent = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(attempts.c.cost_nano), 0))
            .select_from(attempts.join(requests, requests.c.id == attempts.c.request_id))
            .where(requests.c.job_id == job_id)
        ).scalar_one()
        reserved += max(0, int(amount) - int(job_spent))
    return int(spent), reserved


def reserve(conn: sa.Connection, job_id: str, reservation: Reservation) -> None:
    """Refuse (BudgetExceeded, rolling the transaction back) or record the reservation."""
    if not reservation.needs:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(BUDGET_LOCK)))
    start, _ = month_of(reservation.at)
    for budget, needed in reservation.needs:
        # The cap as it is now, under the lock: an admin may have changed it since the
        # submission read it.
        cap = conn.execute(
            sa.select(budget_caps.c.monthly_nano).where(
                budget_caps.c.kind == budget.kind, budget_caps.c.name == budget.name
            )
        ).scalar()
        if cap is None:
            continue  # removed meanwhile: nothing to keep under
        current = Budget(budget.kind, budget.name, int(cap))
        spent, reserved = standing(conn, current, reservation.at)
        if spent + reserved + needed > current.monthly_nano:
            raise refusal(current, spent, reserved, needed)
    for budget, needed in reservation.needs:
        key = (
            reservations.c.job_id == job_id,
            reservations.c.kind == budget.kind,
            reservations.c.name == budget.name,
        )
        added = conn.execute(
            sa.update(reservations)
            .where(*key)
            .values(reserved_nano=reservations.c.reserved_nano + needed)
        )
        if added.rowcount == 0:
            conn.execute(
                sa.insert(reservations).values(
                    job_id=job_id,
                    kind=budget.kind,
                    name=budget.name,
                    month_start=start,
                    reserved_nano=needed,
                    created_at=reservation.at,
                )
            )
