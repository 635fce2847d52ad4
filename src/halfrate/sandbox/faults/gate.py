"""HTTP faults on the file and batch endpoints: ``http_429``, ``http_500``, ``http_timeout``.

An ASGI layer just inside :class:`SandboxMiddleware` (so a request without a key is still a 401,
and fault answers carry the request's id). The app installs it only when one of these kinds is
active, so without them no request pays for it.

``http_429`` and ``http_500`` answer at once, before the route runs: nothing is created,
cancelled or uploaded. ``http_timeout`` lets the route run in full (a create really creates the
batch) and holds the answer back ``timeout_seconds``: a client with a shorter timeout gives up
without learning what happened, which is the case "the create reached the provider but the
client never got the id". The sandbox's own ``/_sandbox/*`` paths and the synchronous endpoints
are never touched here. How each provider answers is handed in by the app.
"""

from __future__ import annotations

from collections.abc import Mapping

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from halfrate.sandbox.common.responses import send_json
from halfrate.sandbox.faults.answers import HttpAnswer
from halfrate.sandbox.faults.dice import FaultDice

# The last path segment each family allows after an id: OpenAI files and batches, Anthropic's.
_FILE_TAILS: tuple[str, ...] = ("content",)
_BATCH_TAILS: tuple[str, ...] = ("cancel",)
_MESSAGE_BATCH_TAILS: tuple[str, ...] = ("cancel", "results")


def route_of(method: str, path: str) -> tuple[str, str] | None:
    """The provider and templated route (``GET /v1/batches/{id}``) of a file or batch request;
    None for any other path."""
    parts = path.split("/")  # "/v1/files/x/content" -> ["", "v1", "files", "x", "content"]
    if len(parts) < 3 or parts[0] or parts[1] != "v1":
        return None
    if parts[2] in ("files", "batches"):
        provider, base, rest = "openai", f"/v1/{parts[2]}", parts[3:]
        tails = _FILE_TAILS if parts[2] == "files" else _BATCH_TAILS
    elif parts[2] == "messages" and len(parts) > 3 and parts[3] == "batches":
        provider, base, rest = "anthropic", "/v1/messages/batches", parts[4:]
        tails = _MESSAGE_BATCH_TAILS
    else:
        return None
    if not rest:
        return provider, f"{method} {base}"
    if not rest[0] or len(rest) > 2 or (len(rest) == 2 and rest[1] not in tails):
        return None
    return provider, f"{method} {base}/{{id}}" + (f"/{rest[1]}" if len(rest) == 2 else "")


async def _gone(receive: Receive) -> None:
    """Return once the client has disconnected (reading past any request body left unread)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _held(receive: Receive, send: Send, seconds: float) -> Send:
    """``send``, but the first message (the status line) waits ``seconds`` first.

    The wait ends early if the client hangs up, as one that timed out does: nobody is left to
    answer, and a server being stopped need not wait out the hold of a request already lost.
    """
    waiting = True

    async def send_later(message: Message) -> None:
        nonlocal waiting
        if waiting:
            waiting = False
            with anyio.move_on_after(seconds):
                await _gone(receive)
        await send(message)

    return send_later


class FaultGate:
    """Rolls the HTTP faults for each file and batch request, and acts on the one that fires.

    ``dice``: the app's fault dice; ``answers``: how each provider answers an ``http_429`` or
    ``http_500``, by provider name.
    """

    def __init__(self, app: ASGIApp, dice: FaultDice, answers: Mapping[str, HttpAnswer]) -> None:
        self.app = app
        self.dice = dice
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = route_of(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        provider, route = found
        faults = self.dice.faults
        kind = self.dice.http_fault(provider, route)
        if kind is None:
            await self.app(scope, receive, send)
        elif kind == "http_timeout":
            await self.app(scope, receive, _held(receive, send, faults.timeout_seconds))
        else:
            request_id = str(scope.get("state", {}).get("request_id", ""))
            status, body, headers = self.answers[provider](kind, faults, request_id)
            await send_json(send, status, body, headers)
