"""Rendering pages: one Jinja2 environment with autoescaping always on (every model answer,
column name and file name is text on the page), and the helpers templates share."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader
from markupsafe import escape as _escape

from halfrate.money import money, share
from halfrate.web.state import csrf_token

TEMPLATES = Path(__file__).parent / "templates"
_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False)
_ENV.filters["money"] = money
# Report figures arrive as report_json has them: dollars as exact decimal strings.
_ENV.filters["usd"] = lambda text: money(Decimal(text))
_ENV.filters["share"] = share
_ENV.filters["utc"] = lambda at: datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC")
_ENV.filters["seconds"] = lambda value: "n/a" if value is None else f"{value:,.2f} s"


def escape(text: str) -> str:
    return str(_escape(text))


def render(
    request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
) -> HTMLResponse:
    """The template ``name`` with ``context``, the CSRF token and the signed-in account."""
    full = {"request": request, "csrf": csrf_token(request), **context}
    full.setdefault("account", None)
    return HTMLResponse(render_text(name, full), status_code=status_code)


def render_text(name: str, context: dict[str, Any]) -> str:
    """The template ``name`` with ``context`` as HTML text, everything in it escaped."""
    return _ENV.get_template(name).render(context)


def quote_path(request: Request) -> str:
    """The page asked for, as a ``next=`` value that can only lead back to this site."""
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return quote(path, safe="")


def referring_path(request: Request) -> str:
    """The page on this site a form was sent from (quoted for ``next=``); the new-job page
    when there is none."""
    referrer = urlsplit(request.headers.get("referer", ""))
    if referrer.netloc and referrer.netloc != request.url.netloc:
        return quote("/jobs/new", safe="")
    path = referrer.path or "/jobs/new"
    return quote(path + (f"?{referrer.query}" if referrer.query else ""), safe="")


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only, never another site's address."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/jobs/new"
    return target
