"""The sandbox FastAPI app: routes, each provider's error shapes, the ledger endpoint."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from halfrate.sandbox.anthropic import fault_answers as anthropic_faults
from halfrate.sandbox.anthropic.batches_routes import message_batches_router, root_url
from halfrate.sandbox.anthropic.messages_routes import messages_router
from halfrate.sandbox.anthropic.wire import AnthropicError
from halfrate.sandbox.anthropic.wire import error_body as anthropic_error_body
from halfrate.sandbox.body_limits import BodyTooLarge
from halfrate.sandbox.common.batching import WINDOW_SECONDS
from halfrate.sandbox.common.responses import json_response
from halfrate.sandbox.faults.gate import FaultGate
from halfrate.sandbox.faults.spec import Faults
from halfrate.sandbox.middleware import SandboxMiddleware, speaks_anthropic, too_large_body
from halfrate.sandbox.models_routes import models_router
from halfrate.sandbox.openai import fault_answers as openai_faults
from halfrate.sandbox.openai.batches_routes import batches_router
from halfrate.sandbox.openai.files_routes import files_router
from halfrate.sandbox.openai.httpio import error_response
from halfrate.sandbox.openai.sync_routes import sync_router
from halfrate.sandbox.openai.wire import ApiError, error_body
from halfrate.sandbox.state import SandboxState

LEDGER_PATH = "/_sandbox/ledger"


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def _anthropic(request: Request, status: int, kind: str, message: str) -> Response:
    return json_response(anthropic_error_body(kind, message, _request_id(request)), status)


def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


def _anthropic_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AnthropicError)
    return json_response(exc.body(_request_id(request)), exc.status, exc.headers)


def _too_large(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BodyTooLarge)
    anthropic = speaks_anthropic(request)
    return json_response(too_large_body(anthropic, exc.limit, _request_id(request)), 413)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path, anthropic = request.url.path, speaks_anthropic(request)
    if exc.status_code in (404, 405):  # both providers answer an unknown route as not found
        if anthropic:
            message = f"Not found: {request.method} {path}"
            return _anthropic(request, 404, "not_found_error", message)
        return json_response(error_body(f"Invalid URL ({request.method} {path})"), 404)
    if anthropic:
        return _anthropic(request, exc.status_code, "invalid_request_error", str(exc.detail))
    return json_response(error_body(str(exc.detail)), exc.status_code)


def _validation_error(request: Request, exc: Exception) -> Response:
    if speaks_anthropic(request):
        return _anthropic(request, 400, "invalid_request_error", f"Invalid request: {exc}")
    return json_response(error_body(f"Invalid request: {exc}"), 400)


def create_app(
    latency: float = 0.0,
    *,
    clock: Callable[[], float] | None = None,
    window: float = WINDOW_SECONDS,
    realtime_latency: float = 0.0,
    token_interval: float = 0.0,
    cancel_latency: float | None = None,
    faults: Faults | str | None = None,
) -> FastAPI:
    """A sandbox app with its own empty in-memory state, serving OpenAI and Anthropic.

    ``latency``: seconds a batch takes from creation to completion (0: done at the first read).
    ``clock``: a replacement for :func:`time.time`, for tests that move time by hand.
    ``window``: the completion window in seconds (24 h, as at both providers); a batch still
    running after it ends with the work done so far, as a real one does.
    ``realtime_latency``: seconds every synchronous answer waits before its first byte.
    ``token_interval``: seconds between streamed content events.
    ``cancel_latency``: seconds a cancelled batch spends cancelling (None: a third of latency).
    ``faults``: injected failures, a :class:`Faults` or a spec string (see
    :mod:`halfrate.sandbox.faults`): on synchronous calls, batch lines, batches, uploaded files,
    and the file and batch routes.
    """
    state = SandboxState(
        latency,
        clock,
        window,
        realtime_latency=realtime_latency,
        token_interval=token_interval,
        cancel_latency=cancel_latency,
        faults=faults,
    )
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
    app.include_router(messages_router(state))
    app.include_router(message_batches_router(state))
    app.include_router(models_router())

    @app.get("/")
    def index(request: Request) -> Response:
        # Outside /v1, so no key is needed: lets scripts check that the sandbox is up.
        root = root_url(request)
        return json_response(
            {
                "object": "sandbox",
                "name": "halfrate",
                "latency": latency,
                "openai_base_url": f"{root}/v1",
                "anthropic_base_url": root,
            }
        )

    @app.get(LEDGER_PATH)
    def ledger() -> Response:
        # Outside /v1 and keyless, so a test in another process can read what was billed.
        return json_response({"entries": state.ledger.entries()})

    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(AnthropicError, _anthropic_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(BodyTooLarge, _too_large)
    app.add_exception_handler(RequestValidationError, _validation_error)
    if any(state.dice.http_kinds.values()):
        # Inside SandboxMiddleware (added later, so outermost): keys are checked first.
        answers = {"openai": openai_faults.http_fault, "anthropic": anthropic_faults.http_fault}
        app.add_middleware(FaultGate, dice=state.dice, answers=answers)
    app.add_middleware(SandboxMiddleware)
    return app
