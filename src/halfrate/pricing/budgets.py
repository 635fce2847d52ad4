"""Monthly budgets per feature and per team, from the config file::

    [budgets.feature]
    "ticket-triage" = 50       # dollars per calendar month (UTC)

    [budgets.team]
    support = 200

A submission whose estimate would take a budget past its cap is refused before anything is
stored (:mod:`store.budgets` checks and reserves in the transaction that stores the job). What
counts against a cap: what the ledger shows spent this month, what running jobs still have
reserved (their estimate less what they have spent so far), and the new job's estimate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from halfrate.config import read_config_file
from halfrate.errors import BudgetExceeded, ConfigError
from halfrate.money import money, nano_of
from halfrate.records import Budget

KINDS = ("feature", "team")
MAX_BUDGET_USD = 100_000_000.0


@dataclass(frozen=True)
class Budgets:
    by_kind: dict[str, dict[str, Budget]] = field(default_factory=dict)

    def applying(self, feature: str | None, team: str | None) -> list[Budget]:
        found = []
        for kind, name in (("feature", feature), ("team", team)):
            budget = self.by_kind.get(kind, {}).get(name) if name is not None else None
            if budget is not None:
                found.append(budget)
        return found

    def __bool__(self) -> bool:
        return any(self.by_kind.values())


def read_budgets(path: Path) -> Budgets:
    """The ``[budgets]`` table of the config file (none when the file or table is absent)."""
    return budgets_of(read_config_file(path), path)


def budgets_of(data: Mapping[str, Any], path: Path) -> Budgets:
    """The ``[budgets]`` table of a parsed config file (``path`` names it in messages)."""
    table = data.get("budgets", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [budgets] must be a table")
    unknown = sorted(set(table) - set(KINDS))
    if unknown:
        raise ConfigError(
            f"{path}: [budgets.{unknown[0]}] is not a kind of budget; use [budgets.feature] "
            "or [budgets.team]"
        )
    by_kind: dict[str, dict[str, Budget]] = {}
    for kind, entries in table.items():
        if not isinstance(entries, dict):
            raise ConfigError(f"{path}: [budgets.{kind}] must be a table of NAME = dollars")
        by_kind[kind] = {
            name: Budget(kind, name, _dollars(path, kind, name, value))
            for name, value in entries.items()
        }
    return Budgets(by_kind)


def _dollars(path: Path, kind: str, name: str, value: Any) -> int:
    where = f"{path}: [budgets.{kind}] {name!r}"
    if not name.strip() or len(name) > 200:
        raise ConfigError(f"{where}: a {kind} name must be 1 to 200 characters")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number of dollars a month")
    number = float(value)
    if not math.isfinite(number) or number < 0 or number > MAX_BUDGET_USD:
        raise ConfigError(f"{where} = {value} is outside 0 to {MAX_BUDGET_USD:,.0f} dollars")
    return nano_of(number)


def month_of(moment: float) -> tuple[float, float]:
    """The UTC calendar month holding ``moment``: [start, end) in Unix seconds."""
    at = datetime.fromtimestamp(moment, UTC)
    start = datetime(at.year, at.month, 1, tzinfo=UTC)
    end = datetime(at.year + (at.month == 12), at.month % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), end.timestamp()


def refusal(budget: Budget, spent: int, reserved: int, needed: int) -> BudgetExceeded:
    over = spent + reserved + needed - budget.monthly_nano
    return BudgetExceeded(
        f"budget {budget.label} ({money(budget.monthly_nano)} a month) would be crossed by "
        f"{money(over)}: spent {money(spent)} this month, {money(reserved)} reserved by jobs "
        f"still running, and this job needs about {money(needed)}; nothing was stored (raise the "
        "budget in [budgets] of the config, or split the job)"
    )
