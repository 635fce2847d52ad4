"""What admins set (a part of :class:`halfrate.Halfrate`): monthly budget caps per feature and
team, and the audit log of who changed what. The command line (`halfrate budget`) and the web
page's Budgets page both come here, so the caps have one source: the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from halfrate.pricing.budgets import checked_budget
from halfrate.records import Budget
from halfrate.store import Store
from halfrate.store.audit import AuditEntry
from halfrate.store.budget_caps import CapStanding


@dataclass
class Admin:
    """The admin methods of :class:`halfrate.Halfrate`."""

    store: Store

    def budgets(self, at: float | None = None) -> list[CapStanding]:
        """Every monthly cap with what was spent this month (UTC) and what running jobs have
        reserved."""
        return self.store.budget_caps.standings(time.time() if at is None else at)

    def set_budget(
        self, kind: str, name: str, dollars: object, *, by: str | None = None
    ) -> tuple[Budget | None, Budget]:
        """Set or change the monthly cap of a feature or team (``dollars``: a positive amount,
        as a number or as typed); ``by``: who (an email; None: the command line). Returns the
        cap it replaced (None: there was none) and the new one. Recorded in the audit log."""
        cap = checked_budget(kind, name, dollars)
        return self.store.budget_caps.set_cap(cap, by), cap

    def remove_budget(self, kind: str, name: str, *, by: str | None = None) -> Budget:
        """Remove a cap (NotFound if there is none). Recorded in the audit log."""
        return self.store.budget_caps.remove_cap(kind, name.strip(), by)

    def audit_log(self, limit: int = 500) -> list[AuditEntry]:
        """Who changed caps, the policy, keys and people, and when: the newest first."""
        return self.store.audit.entries(limit)
