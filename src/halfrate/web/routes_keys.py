"""The Keys page (admins): the OpenAI and Anthropic keys the server's worker uses, entered on
the page, tested with the provider before they are saved (a key the provider refuses is not
saved), stored sealed with ``HALFRATE_SECRET_KEY``, and shown only as their last four
characters. The server's worker is started afresh after a change, so it uses the new key.

A key typed into the form is never written back into a page, not even after an error.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from halfrate.api import PROVIDER_NAMES, Account, secret_configured
from halfrate.errors import HalfrateError
from halfrate.web import pages
from halfrate.web.routes_admin import FIELD_CAP, admin_of
from halfrate.web.state import check_csrf, web

router = APIRouter()
KeyField = Annotated[str, Form(max_length=FIELD_CAP)]


def _page(
    request: Request,
    account: Account,
    *,
    results: list[tuple[bool, str]] | None = None,
    status: int = 200,
) -> Response:
    standings = {s.provider: s for s in web(request).hr.provider_keys()}
    context = {
        "account": account,
        "providers": PROVIDER_NAMES,
        "standings": standings,
        "results": results or [],
        "secret_set": secret_configured(),
    }
    response = pages.render(request, "keys.html", context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _restart_worker(request: Request) -> None:
    worker = web(request).worker
    if worker is not None:
        worker.restart()


@router.get("/keys")
def keys(request: Request) -> Response:
    return _page(request, admin_of(request))


@router.post("/keys", dependencies=[Depends(check_csrf)])
def save_keys(
    request: Request, openai_key: KeyField = "", anthropic_key: KeyField = ""
) -> Response:
    account = admin_of(request)
    given = {"openai": openai_key, "anthropic": anthropic_key}
    results: list[tuple[bool, str]] = []
    for provider, key in given.items():
        if not key.strip():
            continue
        try:
            checked = web(request).hr.save_provider_key(provider, key, by=account.email)
        except HalfrateError as exc:
            results.append((False, f"{PROVIDER_NAMES[provider]}: {exc}"))
        else:
            results.append((True, f"{checked.message} Saved."))
    if not results:
        results.append((False, "Nothing to save: both fields are empty."))
    if any(ok for ok, _ in results):
        _restart_worker(request)
    failed = not all(ok for ok, _ in results)
    return _page(request, account, results=results, status=400 if failed else 200)


@router.post("/keys/test", dependencies=[Depends(check_csrf)])
def try_key(request: Request, provider: KeyField = "") -> Response:
    account = admin_of(request)
    try:
        checked = web(request).hr.test_provider_key(provider)
    except HalfrateError as exc:
        return _page(request, account, results=[(False, str(exc))], status=400)
    return _page(request, account, results=[(checked.ok, checked.message)])


@router.post("/keys/remove", dependencies=[Depends(check_csrf)])
def remove_key(request: Request, provider: KeyField = "") -> Response:
    account = admin_of(request)
    try:
        web(request).hr.remove_provider_key(provider, by=account.email)
    except HalfrateError as exc:
        return _page(request, account, results=[(False, str(exc))], status=400)
    _restart_worker(request)
    return RedirectResponse("/keys", status_code=303)
