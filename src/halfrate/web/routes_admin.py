"""Pages of what admins set: the Budgets page (every cap as a bar of spent, reserved and left;
admins set, change and remove caps) and the audit log (who changed what, when; CSV). A member
sees their own team's budget, and an admin-only page or form answers 403 with nothing changed.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from halfrate.api import Account, CapStanding, formula_safe
from halfrate.errors import HalfrateError
from halfrate.web import pages
from halfrate.web.state import check_csrf, signed_in, web

router = APIRouter()
ADMINS_ONLY = "Only an admin can do this. Nothing was changed."
# Form fields are capped well above what they may hold, so a huge post is refused at once; what
# is within the cap gets one clear message from the checks (checked_budget).
FIELD_CAP = 2000


def admin_of(request: Request) -> Account:
    account = signed_in(request)
    if not account.is_admin:
        raise HTTPException(403, ADMINS_ONLY)
    return account


def bar(s: CapStanding) -> dict[str, Any]:
    """A cap's bar: spent and reserved as shares of the cap (over 100% shows as full, and
    says so)."""
    cap = s.budget.monthly_nano
    spent = min(100.0, 100.0 * s.spent_nano / cap)
    reserved = min(100.0 - spent, 100.0 * s.reserved_nano / cap)
    return {
        "standing": s,
        "spent_pct": round(spent, 1),
        "reserved_pct": round(reserved, 1),
        "used_pct": round(100.0 * (s.spent_nano + s.reserved_nano) / cap, 1),
        "over": s.left_nano < 0,
    }


def _page(request: Request, account: Account, error: str = "", status: int = 200) -> Response:
    standings = web(request).hr.budgets()
    if not account.is_admin:
        standings = [
            s for s in standings if s.budget.kind == "team" and s.budget.name == account.team
        ]
    month = datetime.now(UTC).strftime("%B %Y")
    context = {"account": account, "bars": [bar(s) for s in standings], "month": month}
    if error:
        context["error"] = error
    return pages.render(request, "budgets.html", context, status_code=status)


@router.get("/budgets")
def budgets(request: Request) -> Response:
    return _page(request, signed_in(request))


@router.post("/budgets", dependencies=[Depends(check_csrf)])
def set_budget(
    request: Request,
    kind: Annotated[str, Form(max_length=FIELD_CAP)] = "",
    name: Annotated[str, Form(max_length=FIELD_CAP)] = "",
    cap: Annotated[str, Form(max_length=FIELD_CAP)] = "",
) -> Response:
    account = admin_of(request)
    try:
        web(request).hr.set_budget(kind, name, cap, by=account.email)
    except HalfrateError as exc:
        return _page(request, account, str(exc), 400)
    return RedirectResponse("/budgets", status_code=303)


@router.post("/budgets/remove", dependencies=[Depends(check_csrf)])
def remove_budget(
    request: Request,
    kind: Annotated[str, Form(max_length=FIELD_CAP)] = "",
    name: Annotated[str, Form(max_length=FIELD_CAP)] = "",
) -> Response:
    account = admin_of(request)
    try:
        web(request).hr.remove_budget(kind, name, by=account.email)
    except HalfrateError as exc:
        return _page(request, account, str(exc), 400)
    return RedirectResponse("/budgets", status_code=303)


@router.get("/audit")
def audit(request: Request) -> Response:
    account = admin_of(request)
    entries = web(request).hr.audit_log()
    rows = [
        {"entry": e, "when": datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}
        for e in entries
    ]
    return pages.render(request, "audit.html", {"account": account, "rows": rows})


@router.get("/audit.csv")
def audit_csv(request: Request) -> Response:
    admin_of(request)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["when_utc", "who", "action", "target", "detail"])
    for e in web(request).hr.audit_log(limit=100_000):
        when = datetime.fromtimestamp(e.at, UTC).isoformat(timespec="seconds")
        cells = [e.actor or "(command line)", e.action, e.target, e.detail or ""]
        writer.writerow([when, *(formula_safe(cell) for cell in cells)])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="halfrate-audit-log.csv"'},
    )
