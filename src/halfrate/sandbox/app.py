"""The sandbox FastAPI app: routes, bearer auth, OpenAI-shaped errors, identifying headers."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from halfrate.sandbox.api_batches import batches_router
from halfrate.sandbox.api_files import files_router
from halfrate.sandbox.api_sync import sync_router
from halfrate.sandbox.httpio import error_response, json_response
from halfrate.sandbox.lifecycle import WINDOW_SECONDS
from halfrate.sandbox.state import SandboxState
from halfrate.sandbox.wire import ApiError, dumps, error_body

log = logging.getLogger(__name__)

SANDBOX_HEADER = (b"x-halfrate-sandbox", b"1")
MISSING_BEARER = "Missing bearer authentication in header"


def _has_bearer(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return scheme.lower() == "bearer" and bool(token.strip())
    return False


class SandboxMiddleware:
    """Outermost layer: bearer check on ``/v1``, sandbox and request-id headers, and a
    last-resort 500 in OpenAI's error shape instead of a bare traceback page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ("req_" + secrets.token_hex(16)).encode()
        started = False

        async def send_marked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [*message.get("headers", []), SANDBOX_HEADER]
                headers.append((b"x-request-id", request_id))
                message = {**message, "headers": headers}
            await send(message)

        path: str = scope["path"]
        if (path == "/v1" or path.startswith("/v1/")) and not _has_bearer(scope):
            await _send_json(send_marked, 401, error_body(MISSING_BEARER))
            return
        try:
            await self.app(scope, receive, send_marked)
        except Exception:
            log.exception("sandbox error on %s %s", scope.get("method"), path)
            if not started:
                body = error_body(
                    "The halfrate sandbox failed on this request.", kind="server_error"
                )
                await _send_json(send_marked, 500, body)


async def _send_json(send: Send, status: int, body: object) -> None:
    payload = dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):  # OpenAI answers both the same way
        message = f"Invalid URL ({request.method} {request.url.path})"
        return json_response(error_body(message), 404)
    return json_response(error_body(str(exc.detail)), exc.status_code)


def _validation_error(_: Request, exc: Exception) -> Response:
    return json_response(error_body(f"Invalid request: {exc}"), 400)


def create_app(
    latency: float = 0.0,
    *,
    clock: Callable[[], float] | None = None,
    window: float = WINDOW_SECONDS,
) -> FastAPI:
    """A sandbox app with its own empty in-memory state.

    ``latency``: seconds a batch takes from creation to completion (0: done at the first read).
    ``clock``: a replacement for :func:`time.time`, for tests that move time by hand.
    ``window``: the completion window in seconds (24 h, as at OpenAI); a batch still running
    after it ends ``expired`` with the work done so far, as a real one does.
    """
    state = SandboxState(latency, clock, window)
    app = FastAPI(
        title="halfrate sandbox",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.sandbox = state
    app.include_router(files_router(state))
    app.include_router(batches_router(state))
    app.include_router(sync_router(state))

    @app.get("/")
    def index() -> Response:
        # Outside /v1, so no key is needed: lets scripts check that the sandbox is up.
        return json_response({"object": "sandbox", "name": "halfrate", "latency": latency})

    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(SandboxMiddleware)
    return app
