"""The web page's application: FastAPI, pages rendered on the server (Jinja2, autoescaped), htmx
and the style served from the package itself, nothing from outside the machine.

One :class:`Halfrate` serves every request (the store's connections are pooled and safe across
threads); by default a worker runs in a child process beside it, so `halfrate serve` alone
answers the jobs it starts.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from halfrate.api import Halfrate, WorkerProcess
from halfrate.web import (
    pages,
    routes_admin,
    routes_auth,
    routes_jobs,
    routes_keys,
    routes_people,
    routes_policy,
    routes_spend,
    routes_wizard,
)
from halfrate.web.security import SignInLimiter
from halfrate.web.state import SignInRequired, WebState
from halfrate.web.uploads import Uploads

STATIC = Path(__file__).parent / "static"


def create_app(
    hr: Halfrate,
    *,
    secret: str,
    https_only: bool = False,
    run_worker: bool = True,
) -> FastAPI:
    """The web app over ``hr``'s store; ``https_only`` marks the session cookie Secure (behind
    a proxy that terminates TLS)."""
    settings = hr.settings
    state = WebState(
        hr=hr,
        uploads=Uploads(settings.resolved_home, int(settings.upload_max_mb * 2**20)),
        limiter=SignInLimiter(),
        session_seconds=settings.session_hours * 3600,
        setup_token=None if hr.has_accounts() else secrets.token_urlsafe(24),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The worker in a process of its own: its passes would otherwise take the interpreter
        # from the pages while a big job's results come in.
        worker = WorkerProcess(hr) if run_worker else None
        if worker is not None:
            worker.start()
        state.worker = worker  # the Keys page restarts it after a key changes
        try:
            yield
        finally:
            state.worker = None
            if worker is not None:
                worker.stop()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = state
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="halfrate_session",
        max_age=int(state.session_seconds),
        same_site="lax",
        https_only=https_only,
    )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(routes_auth.router)
    app.include_router(routes_wizard.router)
    app.include_router(routes_jobs.router)
    app.include_router(routes_spend.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_policy.router)
    app.include_router(routes_keys.router)
    app.include_router(routes_people.router)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: object) -> Response:
        response: Response = await call_next(request)  # type: ignore[operator]
        # Everything the page needs is served from here: no script or style from elsewhere,
        # no framing by another site.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _exc: SignInRequired) -> Response:
        # A form sent after the sign-in expired leads back to the page it was sent from (the
        # wizard keeps its upload in its address), not to the form's own address.
        target = f"/signin?next={pages.quote_path(request)}"
        if request.method != "GET":
            target = f"/signin?next={pages.referring_path(request)}"
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RequestValidationError)
    async def bad_form(request: Request, exc: RequestValidationError) -> Response:
        # A field over its cap or of the wrong kind: one line naming it, never a JSON dump.
        fields = sorted({str(error["loc"][-1]) for error in exc.errors() if error.get("loc")})
        named = ", ".join(fields) or "a"
        why = f"The form's {named} field is too long or not valid; nothing was changed."
        return pages.render(request, "forbidden.html", {"why": why}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return pages.render(request, "not_found.html", {}, status_code=404)
        if exc.status_code == 403:
            return pages.render(request, "forbidden.html", {"why": exc.detail}, status_code=403)
        return HTMLResponse(pages.escape(str(exc.detail)), status_code=exc.status_code)

    return app
