"""What every request of the web page shares: the connection to halfrate, the uploads, the
sign-in limiter, and the helpers that say who is asking and check the form's CSRF token."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from halfrate.api import Account, Halfrate, WorkerProcess
from halfrate.errors import NotFound
from halfrate.web.job_view import FinishedRuns
from halfrate.web.security import CSRF_FIELD, CSRF_HEADER, SignInLimiter, csrf_matches
from halfrate.web.security import new_csrf_token as _new_token
from halfrate.web.uploads import Uploads

ANONYMOUS_FORMS = ("/signin", "/setup", "/password")  # forms sent by someone not signed in


class SignInRequired(Exception):
    """Raised by :func:`signed_in` when nobody (or an expired sign-in) is asking."""


@dataclass
class WebState:
    hr: Halfrate
    uploads: Uploads
    limiter: SignInLimiter
    session_seconds: float
    setup_token: str | None  # the one-time link that makes the first admin; None once used
    finished: FinishedRuns = field(default_factory=FinishedRuns)  # figures that never change
    worker: WorkerProcess | None = None  # the server's worker, while it runs


def web(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (a signed-out visitor has one too)."""
    token = request.session.get("csrf")
    if not token:
        token = _new_token()
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose form (or htmx header) lacks the session's token."""
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not csrf_matches(request.session.get("csrf"), given):
        if "uid" not in request.session and request.url.path not in ANONYMOUS_FORMS:
            # The sign-in (and its token) expired while the form was open: sign in first, then
            # back to the page; nothing of the form is acted on.
            raise SignInRequired
        raise HTTPException(
            403, "This form has expired (or came from elsewhere). Reload the page and try again."
        )


def signed_in(request: Request) -> Account:
    """The account asking; :class:`SignInRequired` when no one is signed in or the sign-in
    is older than the session length, or the account was removed, disabled or signed out
    everywhere (a password set through a link) since."""
    account_id = request.session.get("uid")
    at = request.session.get("at")
    if not account_id or not isinstance(at, int | float):
        raise SignInRequired
    if time.time() - at > web(request).session_seconds:
        request.session.pop("uid", None)
        raise SignInRequired
    try:
        account = web(request).hr.account(str(account_id))
    except NotFound:
        request.session.clear()
        raise SignInRequired from None
    if not account.session_valid(float(at)):  # disabled, or signed out everywhere since
        request.session.clear()
        raise SignInRequired
    return account


def start_session(request: Request, account: Account) -> None:
    """A fresh session for ``account``: a new CSRF token, so none from before sign-in lives on."""
    request.session.clear()
    request.session["uid"] = account.id
    request.session["at"] = time.time()
    request.session["csrf"] = _new_token()
