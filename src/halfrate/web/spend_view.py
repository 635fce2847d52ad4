"""What the spend page shows: a period (a preset or two dates), whose spend (a member: their
team; an admin: everyone, or one team), and the reports behind each chart.

Every figure comes from :meth:`Halfrate.report` and :func:`report_json`, the code behind
`halfrate report --format json`, so the page and the command line cannot disagree.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from halfrate.api import Account, Halfrate, breakdown_json, comparison_json, report_json
from halfrate.errors import InputError

PRESETS = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "this-month": "This month",
    "last-month": "Last month",
    "dates": "Between dates",
}
DEFAULT_PRESET = "30d"
PAGE_READERS = 3  # the page's reports read side by side (see spend_page)
# The charts, each a report grouped one way; "team" only for admins looking at every team.
CHARTS = {
    "day": "Spend by day, by lane",
    "feature": "Spend and saving by feature",
    "team": "Spend and saving by team",
    "model": "Spend and saving by model",
}
# The table of the realtime and flex calls' price and speed (no chart; its CSV as a chart's).
SPEED = "speed"
SPEED_TITLE = "Price and speed of realtime work"


@dataclass(frozen=True)
class Period:
    preset: str
    since: str | None  # as `halfrate report --since` takes it
    until: str | None  # a bare date includes that day
    label: str
    start: str = ""  # the dates of "Between dates", as the form had them
    end: str = ""


def period_of(preset: str, start: str, end: str, today: date) -> Period:
    """The period a form asks for; an unknown preset or a bad date is an InputError naming the
    field."""
    preset = preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise InputError(f"period: {preset!r} is not one of {', '.join(PRESETS)}")
    if preset in ("7d", "30d"):
        return Period(preset, preset, None, PRESETS[preset])
    if preset == "this-month":
        first = today.replace(day=1)
        return Period(preset, first.isoformat(), None, f"{first:%B %Y}")
    if preset == "last-month":
        last_day = today.replace(day=1) - timedelta(days=1)
        first = last_day.replace(day=1)
        return Period(preset, first.isoformat(), last_day.isoformat(), f"{first:%B %Y}")
    first, last = _day("from", start), _day("to", end)
    if last < first:
        raise InputError(f"to: {last} is before from ({first})")
    label = f"{first:%d %b %Y} to {last:%d %b %Y}"
    return Period(preset, first.isoformat(), last.isoformat(), label, start, end)


def _day(field: str, text: str) -> date:
    if not text.strip():
        raise InputError(f"{field}: a date is needed for 'Between dates' (YYYY-MM-DD)")
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{field}: {text.strip()[:40]!r} is not a date (YYYY-MM-DD)") from None


def team_of(account: Account, asked: str) -> str | None:
    """Whose spend: a member sees their own team's only, whatever the address asks; an admin
    everyone's (None) or the team chosen."""
    if not account.is_admin:
        return account.team
    return asked.strip() or None


@dataclass(frozen=True)
class SpendPage:
    period: Period
    team: str | None
    # report_json of the by-lane report: totals, KPIs, missed savings (and the features they
    # came from), the price and speed of the realtime work
    totals: dict[str, Any]
    charts: dict[str, dict[str, Any]]  # chart name -> report_json of its grouping
    teams: list[str]  # for an admin's team filter
    compared: dict[str, Any] | None = None  # comparison_json of a before/after, when asked
    compare_error: str = ""

    @property
    def empty(self) -> bool:
        return not self.totals["total"]["attempts"]


def spend_page(hr: Halfrate, account: Account, period: Period, team: str | None) -> SpendPage:
    # One full report (its missed savings and KPIs are the period's, whatever the grouping),
    # then each chart's lines alone. They are read side by side: each is mostly the
    # database's work, which SQLite and PostgreSQL do outside Python's lock, so on a
    # million-row ledger the page takes the time of its longest read, not of all of them.
    shown = [name for name in CHARTS if name != "team" or (account.is_admin and team is None)]
    with ThreadPoolExecutor(max_workers=PAGE_READERS, thread_name_prefix="spend") as pool:
        report = pool.submit(hr.report, "lane", since=period.since, until=period.until, team=team)
        made = {
            name: pool.submit(hr.breakdown, name, since=period.since, until=period.until, team=team)
            for name in shown
        }
        lanes = report_json(report.result())
        charts = {name: breakdown_json(future.result()) for name, future in made.items()}
    teams: list[str] = []
    if account.is_admin:
        if "team" in charts:
            seen = {row["key"] for row in charts["team"]["rows"]}
        else:
            everyone = hr.breakdown("team", since=period.since, until=period.until)
            seen = {line.key for line in everyone.lines}
        teams = sorted((seen | {a.team for a in hr.accounts()}) - {"(none)"})
    return SpendPage(period, team, lanes, charts, teams)


def with_comparison(hr: Halfrate, page: SpendPage, feature: str, at: str) -> SpendPage:
    """The page with a before/after of ``feature`` (everything when empty) around ``at``,
    inside its period and team; a bad date becomes the section's message."""
    if not at.strip():
        return page
    try:
        made = hr.compare(
            at.strip()[:40],
            since=page.period.since,
            until=page.period.until,
            feature=feature.strip() or None,
            team=page.team,
        )
    except InputError as exc:
        return replace(page, compare_error=f"Before and after: {exc}")
    return replace(page, compared=comparison_json(made, feature.strip() or None))


def chart_data(page: SpendPage) -> dict[str, Any]:
    """What the page's script draws: per chart its labels and datasets (dollars as numbers;
    the exact figures are in the tables under each chart)."""
    drawn: dict[str, Any] = {}
    if page.compared is not None:
        sides = (page.compared["before"], page.compared["after"])
        drawn["compare"] = {
            "labels": ["before", "after"],
            "stacked": False,
            "datasets": [
                {
                    "label": "spend per request",
                    "data": [float(s["spend_per_request_usd"] or 0) for s in sides],
                },
                {
                    "label": "at realtime per request",
                    "data": [
                        float(s["realtime_usd"]) / s["requests"] if s["requests"] else 0.0
                        for s in sides
                    ],
                },
            ],
        }
    for name, report in page.charts.items():
        if name == "day":
            days = sorted({row["key"] for row in report["by_lane"]})
            lanes = sorted({row["lane"] for row in report["by_lane"]})
            spend = {(row["key"], row["lane"]): row["spend_usd"] for row in report["by_lane"]}
            drawn[name] = {
                "labels": days,
                "stacked": True,
                "datasets": [
                    {"label": lane, "data": [float(spend.get((d, lane), 0)) for d in days]}
                    for lane in lanes
                ],
            }
        else:
            rows = report["rows"]
            drawn[name] = {
                "labels": [row["key"] for row in rows],
                "stacked": False,
                "datasets": [
                    {"label": "spend", "data": [float(row["spend_usd"]) for row in rows]},
                    {"label": "saved", "data": [float(row["saved_usd"]) for row in rows]},
                ],
            }
    return drawn


def today_utc() -> date:
    return datetime.now(UTC).date()


def _per_request(dollars: str, requests: int) -> float:
    return float(dollars) / requests if requests else 0.0
