"""The People page (admins): add a person (they set their own password through a one-time
link), change their team and role, make a new password link, disable, enable or remove them.
And the page behind a password link, where the person sets their password.

A link is shown once, on the page that made it; the store keeps only its hash. Every change is
in the audit log. A member opening any of these answers 403 with nothing changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from halfrate.api import Account, Halfrate
from halfrate.errors import HalfrateError, InputError, NotFound
from halfrate.web import pages
from halfrate.web.routes_admin import FIELD_CAP, admin_of
from halfrate.web.state import check_csrf, start_session, web

router = APIRouter()
ROLES = ("member", "admin")
Field = Annotated[str, Form(max_length=FIELD_CAP)]
# The link's token must not outlive the page: not cached, not sent on as a referrer.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(
    request: Request,
    account: Account,
    *,
    error: str = "",
    made: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "account": account,
        "people": web(request).hr.accounts(),
        "error": error,
        "made": made,
        "roles": ROLES,
    }
    response = pages.render(request, "people.html", context, status_code=status)
    if made:
        response.headers.update(PRIVATE_HEADERS)
    return response


def _link(request: Request, token: str) -> str:
    return f"{request.base_url}password?token={token}"


def _role(role: str) -> bool:
    if role not in ROLES:
        raise InputError(f"role: {role[:40]!r} is not one of {', '.join(ROLES)}")
    return role == "admin"


@router.get("/people")
def people(request: Request) -> Response:
    return _page(request, admin_of(request))


@router.post("/people", dependencies=[Depends(check_csrf)])
def add_person(
    request: Request, email: Field = "", team: Field = "", role: Field = "member"
) -> Response:
    account = admin_of(request)
    try:
        added, token = web(request).hr.add_person(email, team, admin=_role(role), by=account)
    except HalfrateError as exc:
        return _page(request, account, error=str(exc), status=400)
    made = {
        "email": added.email,
        "link": _link(request, token),
        "why": "Welcome link",
        "valid": "7 days",
    }
    return _page(request, account, made=made)


@router.post("/people/change", dependencies=[Depends(check_csrf)])
def change_person(
    request: Request, email: Field = "", team: Field = "", role: Field = ""
) -> Response:
    def change(hr: Halfrate, by: Account) -> None:
        admin = _role(role)
        hr.set_team(email, team, by=by)
        hr.set_role(email, admin=admin, by=by)

    return _change(request, change)


@router.post("/people/link", dependencies=[Depends(check_csrf)])
def password_link(request: Request, email: Field = "") -> Response:
    account = admin_of(request)
    try:
        token = web(request).hr.password_link(email, by=account)
    except HalfrateError as exc:
        return _error(request, account, exc)
    made = {
        "email": email.strip().lower(),
        "link": _link(request, token),
        "why": "Password link",
        "valid": "24 hours",
    }
    return _page(request, account, made=made)


@router.post("/people/disable", dependencies=[Depends(check_csrf)])
def disable_person(request: Request, email: Field = "") -> Response:
    return _change(request, lambda hr, by: hr.disable_person(email, by=by))


@router.post("/people/enable", dependencies=[Depends(check_csrf)])
def enable_person(request: Request, email: Field = "") -> Response:
    return _change(request, lambda hr, by: hr.enable_person(email, by=by))


@router.post("/people/remove", dependencies=[Depends(check_csrf)])
def remove_person(request: Request, email: Field = "") -> Response:
    return _change(request, lambda hr, by: hr.remove_person(email, by=by))


def _change(request: Request, act: Callable[[Halfrate, Account], object]) -> Response:
    """Do an admin's change to a person, then back to the list; a refusal is the page with
    its reason (nothing changed)."""
    account = admin_of(request)
    try:
        act(web(request).hr, account)
    except HalfrateError as exc:
        return _error(request, account, exc)
    return RedirectResponse("/people", status_code=303)


def _error(request: Request, account: Account, exc: HalfrateError) -> Response:
    status = 404 if isinstance(exc, NotFound) else 400
    return _page(request, account, error=f"{exc}. Nothing was changed.", status=status)


@router.get("/password")
def password_page(request: Request, token: str = "") -> Response:
    found = web(request).hr.link_account(token[:400])
    context = {"token": token if found else "", "person": found}
    response = pages.render(request, "password.html", context, status_code=200 if found else 410)
    response.headers.update(PRIVATE_HEADERS)
    return response


@router.post("/password", dependencies=[Depends(check_csrf)])
def set_password(
    request: Request,
    token: Field = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    password_again: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    hr = web(request).hr
    found = hr.link_account(token)
    if found is None:
        response = pages.render(request, "password.html", {"person": None}, status_code=410)
        response.headers.update(PRIVATE_HEADERS)
        return response
    error = "The two passwords differ." if password != password_again else ""
    if not error:
        try:
            account = hr.set_password_with_link(token, password)
        except HalfrateError as exc:
            error = str(exc)
        else:
            start_session(request, account)
            return RedirectResponse("/jobs/new", status_code=303)
    context = {"token": token, "person": found, "error": error}
    response = pages.render(request, "password.html", context, status_code=400)
    response.headers.update(PRIVATE_HEADERS)
    return response
