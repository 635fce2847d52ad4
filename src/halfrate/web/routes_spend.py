"""The spend page: what was spent over a period, what realtime would have cost, what batch and
the caches saved, as charts with the table behind each and a CSV of it, and the price and
speed of the realtime work as a table with its CSV. A member sees their team's spend; an admin
everyone's, or one team's."""

from __future__ import annotations

import io
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from halfrate.api import write_lanes_csv, write_report_csv, write_speed_csv
from halfrate.errors import InputError
from halfrate.web import pages
from halfrate.web.spend_view import (
    CHARTS,
    PRESETS,
    SPEED,
    SPEED_TITLE,
    chart_data,
    period_of,
    spend_page,
    team_of,
    today_utc,
    with_comparison,
)
from halfrate.web.state import signed_in, web

router = APIRouter()


@router.get("/spend")
def spend(
    request: Request,
    period: str = "",
    start: str = "",
    end: str = "",
    team: str = "",
    compare_feature: str = "",
    compare_at: str = "",
) -> Response:
    account = signed_in(request)
    hr = web(request).hr
    context: dict[str, object] = {
        "account": account,
        "presets": PRESETS,
        "charts": CHARTS,
        "speed_title": SPEED_TITLE,
        "asked": {
            "period": period or "30d",
            "start": start,
            "end": end,
            "team": team,
            "compare_feature": compare_feature[:200],
            "compare_at": compare_at[:40],
        },
    }
    try:
        chosen = period_of(period, start, end, today_utc())
    except InputError as exc:
        context["error"] = str(exc)
        return pages.render(request, "spend.html", context, status_code=400)
    page = spend_page(hr, account, chosen, team_of(account, team))
    page = with_comparison(hr, page, compare_feature[:200], compare_at)
    query = f"period={quote(chosen.preset)}&start={quote(start)}&end={quote(end)}"
    if page.team is not None and account.is_admin:
        query += f"&team={quote(page.team)}"
    context.update({"page": page, "data": chart_data(page), "query": query})
    status = 400 if page.compare_error else 200
    return pages.render(request, "spend.html", context, status_code=status)


@router.get("/spend.csv")
def spend_csv(
    request: Request,
    chart: str,
    period: str = "",
    start: str = "",
    end: str = "",
    team: str = "",
) -> Response:
    """The table behind one chart (or, for ``speed``, the price and speed of the realtime
    work), as CSV (cells from users formula-safe)."""
    account = signed_in(request)
    if chart != SPEED and (chart not in CHARTS or (chart == "team" and not account.is_admin)):
        raise HTTPException(404)
    try:
        chosen = period_of(period, start, end, today_utc())
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
    whose = team_of(account, team)
    hr = web(request).hr
    out = io.StringIO()
    if chart == SPEED:
        lines = hr.price_performance(since=chosen.since, until=chosen.until, team=whose)
        write_speed_csv(lines, out)
        name = f"halfrate-price-and-speed-{chosen.preset}.csv"
    else:
        report = hr.breakdown(chart, since=chosen.since, until=chosen.until, team=whose)
        if chart == "day":
            write_lanes_csv(report, out)
        else:
            write_report_csv(report, out)
        name = f"halfrate-spend-by-{chart}-{chosen.preset}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
