"""The sandbox's outermost ASGI layer: keys, versions, identifying headers, last-resort errors.

Two providers share one server. Paths under ``/v1/messages`` are Anthropic's: they take
``x-api-key`` or ``Authorization: Bearer`` and need a known ``anthropic-version``; their errors
use Anthropic's shape and carry a ``request-id`` header. ``/v1/models`` is both providers' path:
it is Anthropic's when the request carries ``x-api-key`` or ``anthropic-version`` (as Anthropic's
SDK does), OpenAI's otherwise. Every other ``/v1`` path is OpenAI's and needs a bearer key. Paths
outside ``/v1`` (``/``, ``/_sandbox/...``) need no key.

A key that begins with ``invalid`` (``invalid-key-1234``) is refused with the provider's 401, as
a revoked or mistyped key is, so a client's handling of a refused key can be tried. Unlike
OpenAI's, the sandbox's message never repeats any part of the key.
"""

from __future__ import annotations

import logging
import secrets

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from halfrate.sandbox.anthropic.checks import check_version
from halfrate.sandbox.anthropic.wire import AnthropicError, is_anthropic_request, new_request_id
from halfrate.sandbox.anthropic.wire import error_body as anthropic_error_body
from halfrate.sandbox.body_limits import (
    BodyTooLarge,
    body_limit,
    counting_receive,
    declared_length,
    too_large_message,
)
from halfrate.sandbox.common.responses import send_json
from halfrate.sandbox.openai.wire import error_body

log = logging.getLogger(__name__)

SANDBOX_HEADER = (b"x-halfrate-sandbox", b"1")
MISSING_BEARER = "Missing bearer authentication in header"
MISSING_KEY = "x-api-key header is required"
# A refused key's 401s (README.md#the-sandbox; docs/security.md#secrets-in-output).
REFUSED_PREFIX = "invalid"
INCORRECT_KEY = "Incorrect API key provided."
INVALID_X_API_KEY = "invalid x-api-key"


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def bearer_token(scope: Scope) -> str | None:
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def refused(key: str | None) -> bool:
    """Whether the sandbox refuses ``key`` as the provider refuses one it does not know."""
    return key is not None and key.startswith(REFUSED_PREFIX)


def openai_refusal(scope: Scope) -> dict[str, object] | None:
    """The 401 body for an OpenAI request without a bearer key, or with a refused one."""
    token = bearer_token(scope)
    if token is None:
        return error_body(MISSING_BEARER)
    if refused(token):
        return error_body(INCORRECT_KEY, code="invalid_api_key")
    return None


def anthropic_refusal(scope: Scope) -> AnthropicError | None:
    """Why an Anthropic request may not proceed: no key or a refused one (401), or a missing
    or unknown ``anthropic-version`` (400)."""
    api_key = (header(scope, b"x-api-key") or "").strip() or None
    token = bearer_token(scope)
    if api_key is None and token is None:
        return AnthropicError(401, MISSING_KEY, "authentication_error")
    if refused(api_key) or refused(token):
        return AnthropicError(401, INVALID_X_API_KEY, "authentication_error")
    try:
        check_version(header(scope, b"anthropic-version"))
    except AnthropicError as exc:
        return exc
    return None


def speaks_anthropic(request: Request) -> bool:
    """Whether the middleware took this request for Anthropic's (``request.state.anthropic``);
    judged again from the path and headers when it did not run."""
    marked = getattr(request.state, "anthropic", None)
    if isinstance(marked, bool):
        return marked
    return is_anthropic_request(request.url.path, request.headers.raw)


def too_large_body(anthropic: bool, limit: int, request_id: str) -> dict[str, object]:
    """The 413 each provider answers a body over its limit with (``request_too_large``)."""
    message = too_large_message(limit)
    if anthropic:
        return anthropic_error_body("request_too_large", message, request_id)
    return error_body(message, code="request_too_large")


class SandboxMiddleware:
    """Key and version checks, the sandbox and request-id headers, and a last-resort 500 in
    the provider's error shape instead of a bare traceback page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        anthropic = is_anthropic_request(path, scope["headers"])
        request_id = new_request_id() if anthropic else "req_" + secrets.token_hex(16)
        # Handlers put the same id in Anthropic error bodies (request.state.request_id), and
        # answer /v1/models in the shape of the provider found here (request.state.anthropic).
        state = scope.setdefault("state", {})
        state["request_id"], state["anthropic"] = request_id, anthropic
        marks = [SANDBOX_HEADER, (b"x-request-id", request_id.encode())]
        if anthropic:
            marks.append((b"request-id", request_id.encode()))
        started = False

        async def send_marked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *marks]}
            await send(message)

        if anthropic:
            refusal = anthropic_refusal(scope)
            if refusal is not None:
                body = refusal.body(request_id)
                await send_json(send_marked, refusal.status, body)
                return
        elif path == "/v1" or path.startswith("/v1/"):
            openai_401 = openai_refusal(scope)
            if openai_401 is not None:
                await send_json(send_marked, 401, openai_401)
                return
        limit = body_limit(scope["method"], path)
        declared = declared_length(scope)
        if declared is not None and declared > limit:  # refused before a byte of it is read
            await send_json(send_marked, 413, too_large_body(anthropic, limit, request_id))
            return
        try:
            await self.app(scope, counting_receive(receive, limit), send_marked)
        except BodyTooLarge as exc:  # a body without a length that streamed past the limit
            if not started:
                await send_json(send_marked, 413, too_large_body(anthropic, exc.limit, request_id))
        except Exception:
            log.exception("sandbox error on %s %s", scope.get("method"), path)
            if not started:
                message = "The halfrate sandbox failed on this request."
                if anthropic:
                    failure = anthropic_error_body("api_error", message, request_id)
                else:
                    failure = error_body(message, kind="server_error")
                await send_json(send_marked, 500, failure)
