"""The synchronous endpoints: chat completions, embeddings and responses, simulated."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from halfrate.sandbox.checks import CHAT, EMBEDDINGS, RESPONSES
from halfrate.sandbox.httpio import json_body, json_response
from halfrate.sandbox.simulate import simulate
from halfrate.sandbox.state import SandboxState
from halfrate.sandbox.streaming import chunk_events, wants_usage
from halfrate.sandbox.wire import ApiError

TRANSPORT_FIELDS = frozenset({"stream", "stream_options"})


def sync_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    async def answer(request: Request, url: str) -> Response:
        body = await json_body(request)
        streamed = body.get("stream") is True
        if streamed and url != CHAT:
            raise ApiError(
                400,
                f"streaming is simulated for {CHAT} only",
                param="stream",
                code="unsupported_value",
            )
        created = int(state.clock())
        # Streaming is transport: the same question gets the same answer either way.
        asked = {k: v for k, v in body.items() if k not in TRANSPORT_FIELDS}
        # Token counting and long embedding lists take a while; keep them off the event loop.
        outcome = await run_in_threadpool(simulate, url, asked, created)
        if not streamed or not outcome.ok:
            return json_response(outcome.body, outcome.status)  # errors come back as JSON
        events = chunk_events(outcome.body, wants_usage(body))
        return StreamingResponse(events, media_type="text/event-stream")

    @router.post(CHAT)
    async def chat_completions(request: Request) -> Response:
        return await answer(request, CHAT)

    @router.post(EMBEDDINGS)
    async def embeddings(request: Request) -> Response:
        return await answer(request, EMBEDDINGS)

    @router.post(RESPONSES)
    async def responses(request: Request) -> Response:
        return await answer(request, RESPONSES)

    return router
