"""The synchronous endpoints: chat completions, embeddings and responses, simulated."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from halfrate.sandbox.checks import CHAT, EMBEDDINGS, RESPONSES
from halfrate.sandbox.httpio import json_body, json_response
from halfrate.sandbox.simulate import simulate
from halfrate.sandbox.state import SandboxState
from halfrate.sandbox.wire import ApiError


def sync_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    async def answer(request: Request, url: str) -> Response:
        body = await json_body(request)
        if body.get("stream") is True:
            raise ApiError(
                400, "streaming is not simulated yet", param="stream", code="unsupported_value"
            )
        created = int(state.clock())
        # Token counting and long embedding lists take a while; keep them off the event loop.
        outcome = await run_in_threadpool(simulate, url, body, created)
        return json_response(outcome.body, outcome.status)

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
