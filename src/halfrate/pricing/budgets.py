"""Monthly budgets per feature and per team (dollars per UTC calendar month), kept in the
store: `halfrate budget set feature ticket-triage 50`, or the web page's Budgets page. A config
file's old ``[budgets]`` table is refused with the commands that move it into the store, so the
caps have one source.

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

from halfrate.errors import BudgetExceeded, ConfigError, InputError
from halfrate.money import money, nano_of
from halfrate.records import Budget

KINDS = ("feature", "team")
MAX_BUDGET_USD = 100_000_000.0
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class Budgets:
    by_kind: dict[str, dict[str, Budget]] = field(default_factory=dict)

    @classmethod
    def of(cls, caps: list[Budget]) -> Budgets:
        by_kind: dict[str, dict[str, Budget]] = {}
        for cap in caps:
            by_kind.setdefault(cap.kind, {})[cap.name] = cap
        return cls(by_kind)

    def applying(self, feature: str | None, team: str | None) -> list[Budget]:
        found = []
        for kind, name in (("feature", feature), ("team", team)):
            budget = self.by_kind.get(kind, {}).get(name) if name is not None else None
            if budget is not None:
                found.append(budget)
        return found

    def __bool__(self) -> bool:
        return any(self.by_kind.values())


def refuse_config_budgets(data: Mapping[str, Any], path: Path) -> None:
    """A ``[budgets]`` table in the config file is refused: the caps live in the store. The
    message gives the commands that move them there."""
    table = data.get("budgets")
    if table is None:
        return
    commands = []
    if isinstance(table, dict):
        for kind, entries in table.items():
            if isinstance(entries, dict):
                for name, value in entries.items():
                    commands.append(f"halfrate budget set {kind} {_shell(str(name))} {value}")
    moved = "; ".join(commands) if commands else "halfrate budget set KIND NAME DOLLARS"
    raise ConfigError(
        f"{path}: budgets are kept in the store now, not in [budgets]: run {moved}; then remove "
        "[budgets] from the file"
    )


def _shell(text: str) -> str:
    return text if text.replace("-", "").replace("_", "").isalnum() else repr(text)


def checked_budget(kind: str, name: str, dollars: object) -> Budget:
    """A cap as a person typed it: the kind, a name, a positive amount of dollars (a string
    from a form, or a number); one clear message naming what is wrong."""
    if kind not in KINDS:
        raise InputError(f"kind: {str(kind)[:40]!r} is not one of {', '.join(KINDS)}")
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        raise InputError(f"name: a {kind} name is 1 to {MAX_NAME_CHARS} characters")
    if isinstance(dollars, bool):
        raise InputError("cap: a number of dollars a month is needed")
    text = str(dollars).strip().lstrip("$").replace(",", "")
    try:
        number = float(text)
    except ValueError:
        raise InputError(
            f"cap: {str(dollars)[:40]!r} is not an amount of dollars (for example 250)"
        ) from None
    if not math.isfinite(number) or number <= 0 or number > MAX_BUDGET_USD:
        raise InputError(
            f"cap: {str(dollars)[:40]} is not a positive amount up to ${MAX_BUDGET_USD:,.0f}"
        )
    return Budget(kind, name, nano_of(number))


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
        f"cap: `halfrate budget set {budget.kind} {_shell(budget.name)} DOLLARS` or the Budgets "
        "page; or split the job)"
    )
