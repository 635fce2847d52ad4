"""`halfrate budget list|set|remove`: monthly caps per feature and team, kept in the store (the
web page's Budgets page edits the same caps). Each change is in the audit log."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from halfrate import api
from halfrate.cli.console import stdout_console
from halfrate.cli.help_format import PlainHelpCommand
from halfrate.money import cents, exact

budgets_app = typer.Typer(help="Monthly spending caps per feature and per team.")

Kind = Annotated[str, typer.Argument(metavar="KIND", help="feature or team")]
Name = Annotated[str, typer.Argument(metavar="NAME", help="the feature's or team's name")]


@budgets_app.command(name="list", cls=PlainHelpCommand)
def list_budgets(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Every cap with what was spent this month (UTC), reserved by running jobs, and left."""
    with api.connect() as hr:
        found = hr.budgets()
    if as_json:
        print(orjson.dumps([_json(s) for s in found]).decode())
        return
    out = stdout_console()
    if not found:
        out.print("no budgets: `halfrate budget set team NAME DOLLARS` sets a monthly cap")
        return
    out.print(f"{'kind':<8} {'name':<20} {'cap':>12} {'spent':>12} {'reserved':>12} {'left':>12}")
    for s in found:
        out.print(
            f"{s.budget.kind:<8} {s.budget.name:<20} {cents(s.budget.monthly_nano):>12} "
            f"{cents(s.spent_nano):>12} {cents(s.reserved_nano):>12} {cents(s.left_nano):>12}",
            markup=False,
        )


@budgets_app.command(name="set", cls=PlainHelpCommand)
def set_budget(
    kind: Kind,
    name: Name,
    dollars: Annotated[str, typer.Argument(metavar="DOLLARS", help="the monthly cap, e.g. 250")],
) -> None:
    """Set or change a monthly cap (dollars per UTC calendar month)."""
    with api.connect() as hr:
        before, now = hr.set_budget(kind, name, dollars)
    change = cents(now.monthly_nano)
    if before is not None:
        change = f"{cents(before.monthly_nano)} to {change}"
    stdout_console().print(f"budget {now.label}: {change} a month", markup=False)


@budgets_app.command(name="remove", cls=PlainHelpCommand)
def remove_budget(kind: Kind, name: Name) -> None:
    """Remove a cap: the feature or team may spend without limit."""
    with api.connect() as hr:
        removed = hr.remove_budget(kind, name)
    stdout_console().print(f"budget {removed.label} removed", markup=False)


def _json(s: api.CapStanding) -> dict[str, Any]:
    return {
        "kind": s.budget.kind,
        "name": s.budget.name,
        "cap_usd": exact(s.budget.monthly_nano),
        "spent_usd": exact(s.spent_nano),
        "reserved_usd": exact(s.reserved_nano),
        "left_usd": exact(s.left_nano),
        "updated_at": s.updated_at,
        "updated_by": s.updated_by,
    }
