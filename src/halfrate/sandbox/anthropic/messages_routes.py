"""``POST /v1/messages``: Claude answers, simulated, whole or streamed
(docs/anthropic-batches.md#anthropic-message-batches); and ``POST /v1/messages/count_tokens``,
which counts a prompt by the same rule (free: no ledger).

The middleware has already checked the key and ``anthropic-version``. A call goes: parse →
injected fault (answered at once) → check the body → prompt cache → simulate → wait
``realtime_latency`` (non-blocking) → answer, whole or as server-sent events paced by
``token_interval``. Every answer, errors included, is one ledger entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import orjson
from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from halfrate.sandbox.anthropic.checks import check_params
from halfrate.sandbox.anthropic.fault_answers import ANTHROPIC_SYNC, anthropic_fault
from halfrate.sandbox.anthropic.prompt_cache import measure
from halfrate.sandbox.anthropic.simulate import Answer, asked, message
from halfrate.sandbox.anthropic.stream import message_events
from halfrate.sandbox.anthropic.wire import MESSAGES_PATH, AnthropicError, invalid
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.ledger import SyncEntry
from halfrate.sandbox.common.responses import json_response
from halfrate.sandbox.common.sse import paced

if TYPE_CHECKING:
    from halfrate.sandbox.state import SandboxState

INLINE_BODY_BYTES = 16 * 1024  # larger prompts are counted in the thread pool


def parse_json(raw: bytes) -> JSON:
    """A request body as a JSON object, or a 400 in Anthropic's words."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid(f"There was an error parsing the request body as JSON: {exc}") from None
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    return body


def version_of(request: Request) -> str:
    """The request's ``anthropic-version`` (the middleware made sure it is a known one)."""
    return request.headers.get("anthropic-version", "")


def messages_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    def record(
        params: JSON, status: int, at: float, answer: Answer | None, fault: str | None = None
    ) -> None:
        model = params.get("model")
        use = answer.use if answer is not None else None
        entry = SyncEntry(
            provider="anthropic",
            endpoint=MESSAGES_PATH,
            model=model if isinstance(model, str) else None,
            service_tier="standard",
            status=status,
            input_tokens=use.input_tokens if use is not None else 0,
            output_tokens=answer.output_tokens if answer is not None else 0,
            cache_read_tokens=use.read if use is not None else 0,
            cache_write_tokens=use.write if use is not None else 0,
            at=at,
            fault=fault,
        )
        state.ledger.record(entry)

    def simulate(params: JSON, version: str, now: float) -> Answer:
        checked = check_params(params, version)
        question = asked(params)
        use = state.prompt_cache.use(measure(checked.model, question), now)
        return message(question, checked, use, "standard")

    @router.post(MESSAGES_PATH)
    async def create_message(request: Request) -> Response:
        raw = await request.body()
        now = state.clock()
        try:
            params = parse_json(raw)
        except AnthropicError as exc:  # not JSON: still an answer, and on the ledger
            record({}, exc.status, now, None)
            raise
        kind = state.fault_for(params, ANTHROPIC_SYNC)
        if kind is not None:
            fault = anthropic_fault(kind, state.faults)
            record(params, fault.status, now, None, kind)
            raise fault
        version = version_of(request)
        delay = state.realtime_latency
        try:
            if len(raw) <= INLINE_BODY_BYTES:
                answer = simulate(params, version, now)
            else:
                answer = await run_in_threadpool(simulate, params, version, now)
        except AnthropicError as exc:
            record(params, exc.status, now, None)
            if delay > 0:
                await anyio.sleep(delay)
            raise
        record(params, 200, now, answer)
        if params.get("stream") is True:
            stream = paced(message_events(answer.body), delay, state.token_interval)
            return StreamingResponse(stream, media_type="text/event-stream")
        if delay > 0:
            await anyio.sleep(delay)
        return json_response(answer.body)

    @router.post(MESSAGES_PATH + "/count_tokens")
    async def count_tokens(request: Request) -> Response:
        params = parse_json(await request.body())
        checked = check_params(asked(params), version_of(request), counting=True)
        prompt = await run_in_threadpool(measure, checked.model, params)
        return json_response({"input_tokens": prompt.total})

    return router
