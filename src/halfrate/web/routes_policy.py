"""The Policy page: the routing rules in words, a form that explains the lane of a request like
yours, and for admins the policy itself, edited or uploaded, checked with its line-numbered
errors before it takes effect, every earlier version kept and restorable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from halfrate.api import MAX_POLICY_BYTES, Account
from halfrate.errors import HalfrateError
from halfrate.web import pages
from halfrate.web.routes_admin import admin_of
from halfrate.web.state import check_csrf, signed_in, web

router = APIRouter()
TRY_FIELDS = ("feature", "team", "deadline", "model")
FIELD_CAP = 400
SHOWN_NAME_CHARS = 80


def _page(
    request: Request,
    account: Account,
    *,
    tried: dict[str, Any] | None = None,
    error: str = "",
    draft: str | None = None,
    status: int = 200,
) -> Response:
    hr = web(request).hr
    effect = hr.policy_in_effect()
    context: dict[str, Any] = {
        "account": account,
        "effect": effect,
        "draft": effect.text if draft is None else draft,
        "versions": hr.policy_versions() if account.is_admin else [],
        "tried": tried or {},
        "max_kb": MAX_POLICY_BYTES // 1024,
    }
    if error:
        context["error"] = error
    return pages.render(request, "policy.html", context, status_code=status)


@router.get("/policy")
def policy(
    request: Request,
    feature: str = "",
    team: str = "",
    deadline: str = "",
    model: str = "",
    waiting: str = "",
    tried: str = "",
) -> Response:
    account = signed_in(request)
    if not tried:
        return _page(request, account)
    asked = {"feature": feature, "team": team, "deadline": deadline, "model": model}
    result: dict[str, Any] = {"asked": {k: v[:FIELD_CAP] for k, v in asked.items()}}
    result["waiting"] = waiting == "yes"
    try:
        result["answer"] = web(request).hr.route(
            **{k: v.strip()[:FIELD_CAP] for k, v in asked.items()}, waiting=result["waiting"]
        )
    except HalfrateError as exc:
        result["error"] = str(exc)
    return _page(request, account, tried=result, status=400 if "error" in result else 200)


@router.post("/policy", dependencies=[Depends(check_csrf)])
def save_policy(
    request: Request, text: Annotated[str, Form(max_length=MAX_POLICY_BYTES)] = ""
) -> Response:
    account = admin_of(request)
    try:
        web(request).hr.save_policy(text, note="edited on the page", by=account.email)
    except HalfrateError as exc:
        return _page(request, account, error=str(exc), draft=text, status=400)
    return RedirectResponse("/policy#in-effect", status_code=303)


@router.post("/policy/upload", dependencies=[Depends(check_csrf)])
def upload_policy(request: Request, policy_file: UploadFile | None = None) -> Response:
    account = admin_of(request)
    if policy_file is None or not policy_file.filename:
        return _page(request, account, error="Choose a policy file (.toml) to upload.", status=400)
    name = policy_file.filename[:SHOWN_NAME_CHARS]  # shown as text, never used as a path
    data = policy_file.file.read(MAX_POLICY_BYTES + 1)
    if len(data) > MAX_POLICY_BYTES:
        message = f"{name}: larger than {MAX_POLICY_BYTES // 1024} KB; a policy is a page of rules"
        return _page(request, account, error=message, status=400)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"{name}: not UTF-8 text (byte {exc.start + 1}); save it as UTF-8"
        return _page(request, account, error=message, status=400)
    try:
        web(request).hr.save_policy(text, note=f"uploaded {name}", by=account.email)
    except HalfrateError as exc:
        return _page(request, account, error=f"{name}: {exc}", draft=text, status=400)
    return RedirectResponse("/policy#in-effect", status_code=303)


@router.post("/policy/restore", dependencies=[Depends(check_csrf)])
def restore_policy(
    request: Request, version: Annotated[str, Form(max_length=FIELD_CAP)] = ""
) -> Response:
    account = admin_of(request)
    if not version.isdigit():
        return _page(request, account, error="version: choose a version to restore", status=400)
    try:
        web(request).hr.restore_policy(int(version), by=account.email)
    except HalfrateError as exc:
        return _page(request, account, error=str(exc), status=400)
    return RedirectResponse("/policy#in-effect", status_code=303)
