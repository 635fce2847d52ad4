"""`halfrate report`: what was spent, what realtime would have cost, and what was saved."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer
from rich.console import Console

from halfrate.errors import InputError
from halfrate.ledger.report import GROUP_NAMES

FORMATS = ("table", "json", "csv")


def report(
    by: Annotated[
        str, typer.Option(help=f"group by: {', '.join(GROUP_NAMES)}", show_default=True)
    ] = "feature",
    since: Annotated[
        str | None,
        typer.Option(help="from: a date (2026-11-01), ISO 8601, today, yesterday, or 7d ago"),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="up to (a bare date includes that day); default: now")
    ] = None,
    feature: Annotated[str | None, typer.Option(help="only this feature")] = None,
    team: Annotated[str | None, typer.Option(help="only this team")] = None,
    compare_at: Annotated[
        str | None,
        typer.Option(help="before/after: split the period at this date (with --feature)"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
) -> None:
    """Spend, realtime equivalent, saved (amount and %), requests and tokens per group; missed
    savings; batch share, cache hit rate, batch turnaround, TTFT/TIBT and queue wait."""
    from halfrate.api import connect
    from halfrate.ledger import report_view as view
    from halfrate.ledger.period import parse_moment
    from halfrate.ledger.report import ReportMaker
    from halfrate.policy import load_policy
    from halfrate.store.ledger_reads import Scope

    if by not in GROUP_NAMES:
        raise InputError(f"--by {by!r} is not one of {', '.join(GROUP_NAMES)}")
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")
    now = datetime.now(UTC)
    start = parse_moment(since, now, "--since") if since is not None else None
    end = parse_moment(until, now, "--until", end=True) if until is not None else None
    if start is not None and end is not None and start >= end:
        raise InputError(f"--since {since} is not before --until {until}")
    at = parse_moment(compare_at, now, "--compare-at") if compare_at is not None else None
    if at is not None and not (
        (start is None or start < at) and (end is None or at < end) and at <= now.timestamp()
    ):
        raise InputError(f"--compare-at {compare_at} must fall inside the period, and not later")
    for name, value in (("--feature", feature), ("--team", team)):
        if value is not None and (not value.strip() or len(value) > 200):
            raise InputError(f"{name} must be 1 to 200 characters")
    scope = Scope(since=start, until=end, feature=feature, team=team)
    out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    policy = load_policy()
    with connect() as hr:
        maker = ReportMaker(hr.store, batch_after_seconds=policy.batch_reach.total_seconds())
        if at is not None:
            compared = maker.compare(scope, at, time.time())
            if fmt == "json":
                print(orjson.dumps(view.comparison_json(compared, feature)).decode())
            else:
                for line in view.comparison_lines(compared, feature):
                    out.print(line)
            return
        made = maker.report(by, scope, time.time())
    if fmt == "json":
        print(orjson.dumps(view.as_json(made), option=orjson.OPT_INDENT_2).decode())
    elif fmt == "csv":
        view.write_csv(made, sys.stdout)
    else:
        out.print(view.table(made))
        for line in view.summary_lines(made):
            out.print(line)
