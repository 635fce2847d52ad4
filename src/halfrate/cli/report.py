"""`halfrate report`: what was spent, what realtime would have cost, and what was saved."""

from __future__ import annotations

import sys
from typing import Annotated

import orjson
import typer

from halfrate import api
from halfrate.cli.console import stdout_console
from halfrate.cli.views import report as view
from halfrate.errors import InputError

FORMATS = ("table", "json", "csv")


def report(
    by: Annotated[
        str,
        typer.Option(
            metavar="GROUP", help=f"group by: {', '.join(api.GROUP_NAMES)}", show_default=True
        ),
    ] = "feature",
    since: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN", help="from: a date (2026-11-01), ISO 8601, today, yesterday, or 7d ago"
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="up to (a bare date includes that day); default: now"),
    ] = None,
    feature: Annotated[str | None, typer.Option(metavar="NAME", help="only this feature")] = None,
    team: Annotated[str | None, typer.Option(metavar="NAME", help="only this team")] = None,
    compare_at: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN", help="before/after: split the period at this date (with --feature)"
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="table, json or csv")
    ] = "table",
) -> None:
    """Spend, realtime equivalent, saved (amount and %), requests and tokens per group; missed
    savings; batch share, cache hit rate, batch turnaround, TTFT/TIBT and queue wait."""
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    out = stdout_console()
    with api.connect() as hr:
        if compare_at is not None:
            compared = hr.compare(
                compare_at, since=since, until=until, feature=feature, team=team, flag="--"
            )
            if fmt == "json":
                print(orjson.dumps(api.comparison_json(compared, feature)).decode())
            else:
                for line in view.comparison_lines(compared, feature):
                    out.print(line)
            return
        made = hr.report(by, since=since, until=until, feature=feature, team=team, flag="--")
    if fmt == "json":
        print(orjson.dumps(api.report_json(made), option=orjson.OPT_INDENT_2).decode())
    elif fmt == "csv":
        api.write_report_csv(made, sys.stdout)
    else:
        out.print(view.table(made, out.width if out.is_terminal else None))
        if out.is_terminal and out.width < view.WIDTH_FOR_TOKENS:
            out.print(view.TOKENS_HIDDEN)
        for line in view.summary_lines(made):
            out.print(line)
