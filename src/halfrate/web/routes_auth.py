"""Signing in and out, and the one-time set-up of the first admin."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from halfrate.errors import InputError
from halfrate.web import pages
from halfrate.web.state import check_csrf, start_session, web

router = APIRouter()


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.get("/")
def home(request: Request) -> Response:
    if web(request).setup_token is not None and not web(request).hr.has_accounts():
        return pages.render(request, "setup_needed.html", {})
    return RedirectResponse("/jobs/new", status_code=303)


@router.get("/signin")
def signin_page(request: Request, next: str | None = None) -> Response:
    return pages.render(request, "signin.html", {"next": pages.safe_next(next)})


@router.post("/signin", dependencies=[Depends(check_csrf)])
def signin(
    request: Request,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/jobs/new",
) -> Response:
    state = web(request)
    keys = (f"ip:{_client(request)}", f"account:{email.strip().lower()}")
    wait = state.limiter.wait_seconds(*keys)
    context = {"next": pages.safe_next(next), "email": email}
    if wait > 0:
        minutes = max(1, round(wait / 60))
        error = f"Too many wrong passwords. Try again in {minutes} minute{'s' * (minutes > 1)}."
        return pages.render(request, "signin.html", {**context, "error": error}, status_code=429)
    account = state.hr.sign_in(email, password)
    if account is None:
        state.limiter.failed(*keys)
        error = "That email and password do not match an account."
        return pages.render(request, "signin.html", {**context, "error": error}, status_code=401)
    state.limiter.succeeded(*keys)
    if account.disabled:
        error = "This account is disabled. Ask an admin to enable it."
        return pages.render(request, "signin.html", {**context, "error": error}, status_code=403)
    start_session(request, account)
    return RedirectResponse(pages.safe_next(next), status_code=303)


@router.post("/signout", dependencies=[Depends(check_csrf)])
def signout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/signin", status_code=303)


@router.get("/setup")
def setup_page(request: Request, token: str = "") -> Response:
    if not _setup_allowed(request, token):
        return pages.render(request, "not_found.html", {}, status_code=404)
    return pages.render(request, "setup.html", {"token": token})


@router.post("/setup", dependencies=[Depends(check_csrf)])
def setup(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    team: Annotated[str, Form(max_length=400)] = "",
    password: Annotated[str, Form(max_length=4096)] = "",
    password_again: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    state = web(request)
    if not _setup_allowed(request, token):
        return pages.render(request, "not_found.html", {}, status_code=404)
    context = {"token": token, "email": email, "team": team}
    if password != password_again:
        error = "The two passwords differ."
        return pages.render(request, "setup.html", {**context, "error": error}, status_code=400)
    try:
        account = state.hr.add_account(email, password, team or "Admins", admin=True)
    except InputError as exc:
        return pages.render(request, "setup.html", {**context, "error": str(exc)}, status_code=400)
    state.setup_token = None  # used once
    start_session(request, account)
    return RedirectResponse("/jobs/new", status_code=303)


def _setup_allowed(request: Request, token: str) -> bool:
    expected = web(request).setup_token
    if expected is None or web(request).hr.has_accounts():
        return False
    return hmac.compare_digest(expected, token)
