"""The synchronous OpenAI endpoints: chat completions, embeddings and responses, simulated.

Each call goes: parse → flex check → injected fault (answered at once) → simulate (reading and
writing the app's OpenAI prompt cache) → wait
``realtime_latency`` (non-blocking) → answer, whole or as server-sent events paced by
``token_interval``. Every answer, errors included, is one ledger entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.ledger import SyncEntry
from halfrate.sandbox.common.responses import json_response
from halfrate.sandbox.common.sse import Event, paced
from halfrate.sandbox.openai.chat_stream import chunk_events, wants_usage
from halfrate.sandbox.openai.checks import CHAT, EMBEDDINGS, RESPONSES
from halfrate.sandbox.openai.fault_answers import OPENAI_FLEX, OPENAI_SYNC, openai_fault
from halfrate.sandbox.openai.httpio import error_response, json_body
from halfrate.sandbox.openai.responses_stream import response_events
from halfrate.sandbox.openai.simulate import Outcome, service_tier, simulate
from halfrate.sandbox.openai.tiers import flex_refused, offers_flex
from halfrate.sandbox.openai.wire import ApiError

if TYPE_CHECKING:
    from halfrate.sandbox.state import SandboxState

TRANSPORT_FIELDS = frozenset({"stream", "stream_options"})
STREAMED = (CHAT, RESPONSES)
# Bodies up to this size are simulated on the event loop: a short chat takes a fraction of a
# millisecond, less than a hop to the thread pool. Long embedding lists and prompts go there.
INLINE_BODY_BYTES = 16 * 1024


def _events(url: str, answer: JSON, body: JSON) -> Iterator[Event]:
    if url == CHAT:
        return chunk_events(answer, wants_usage(body))
    return response_events(answer)


def sync_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    def record(
        url: str,
        body: JSON,
        status: int,
        at: float,
        outcome: Outcome | None,
        fault: str | None = None,
    ) -> None:
        model = body.get("model")
        entry = SyncEntry(
            provider="openai",
            endpoint=url,
            model=model if isinstance(model, str) else None,
            service_tier=service_tier(body),
            status=status,
            input_tokens=outcome.input_tokens if outcome is not None else 0,
            output_tokens=outcome.output_tokens if outcome is not None else 0,
            cache_read_tokens=outcome.cached_tokens if outcome is not None else 0,
            cache_write_tokens=outcome.cache_write_tokens if outcome is not None else 0,
            at=at,
            fault=fault,
        )
        state.ledger.record(entry)

    def refusal(url: str, body: JSON, streamed: bool) -> tuple[ApiError, str | None] | None:
        """A request refused before any work (a stream the endpoint cannot give, flex on a
        model without it) or an injected fault (then named too); never charged."""
        if streamed and url not in STREAMED:
            error = ApiError(
                400,
                f"streaming is simulated for {' and '.join(STREAMED)} only",
                param="stream",
                code="unsupported_value",
            )
            return error, None
        flex = body.get("service_tier") == "flex" and url != EMBEDDINGS
        model = body.get("model")
        if flex and isinstance(model, str) and not offers_flex(model):
            return flex_refused(model), None
        kind = state.fault_for(body, OPENAI_FLEX if flex else OPENAI_SYNC)
        return (openai_fault(kind, state.faults), kind) if kind is not None else None

    async def answer(request: Request, url: str) -> Response:
        now = state.clock()
        try:
            body = await json_body(request)
        except ApiError as exc:  # not JSON: still an answer, and on the ledger
            record(url, {}, exc.status, now, None)
            raise
        streamed = body.get("stream") is True
        refused = refusal(url, body, streamed)
        if refused is not None:
            error, kind = refused
            record(url, body, error.status, now, None, kind)
            return error_response(error)
        # Streaming is transport: the same question gets the same answer either way.
        asked = {k: v for k, v in body.items() if k not in TRANSPORT_FIELDS}
        cache = state.openai_prompt_cache
        if len(await request.body()) <= INLINE_BODY_BYTES:
            outcome = simulate(url, asked, int(now), cache=cache, at=now)
        else:
            outcome = await run_in_threadpool(simulate, url, asked, int(now), cache=cache, at=now)
        record(url, body, outcome.status, now, outcome if outcome.ok else None)
        delay = state.realtime_latency
        if streamed and outcome.ok:
            stream = paced(_events(url, outcome.body, body), delay, state.token_interval)
            return StreamingResponse(stream, media_type="text/event-stream")
        if delay > 0:
            await anyio.sleep(delay)
        return json_response(outcome.body, outcome.status)  # errors come back as JSON

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
