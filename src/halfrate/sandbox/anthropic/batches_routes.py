"""The Message Batches routes: create, retrieve, list, cancel, delete, results.

See docs/anthropic-batches.md#endpoints.

Create checks only the envelope, as Anthropic does (docs/anthropic-batches.md#the-create-body):
the requests list, its size, each ``custom_id`` and that each ``params`` is an object. The params
themselves are checked when each request runs, and a bad one becomes an ``errored`` result.
Reading a batch may run it (the lifecycle is lazy), so the reading routes are plain functions,
run in the thread pool.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from halfrate.sandbox.anthropic.messages_routes import parse_json, version_of
from halfrate.sandbox.anthropic.wire import AnthropicError, invalid, parse_limit
from halfrate.sandbox.common.jsondata import JSON
from halfrate.sandbox.common.responses import bytes_response, json_response

if TYPE_CHECKING:
    from halfrate.sandbox.state import SandboxState

BATCHES = "/v1/messages/batches"
MAX_REQUESTS = 100_000
# Over it: 413 request_too_large (docs/anthropic-batches.md#limits-and-retention).
MAX_BATCH_BYTES = 256 * 1024 * 1024
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
CUSTOM_ID_PATTERN = "^[a-zA-Z0-9_-]{1,64}$"
RESULTS_MEDIA_TYPE = "application/binary"  # what the SDK asks for in its Accept header


def too_large() -> AnthropicError:
    return AnthropicError(
        413,
        f"Request exceeds the maximum size of a Message Batch ({MAX_BATCH_BYTES:,} bytes).",
        "request_too_large",
    )


def check_envelope(body: JSON) -> list[tuple[str, JSON]]:
    """The ``(custom_id, params)`` pairs of a create body; a 400 naming the first bad index."""
    if "requests" not in body:
        raise invalid("requests: Field required")
    requests: Any = body["requests"]
    if not isinstance(requests, list):
        raise invalid("requests: Input should be a valid list")
    if not requests:
        raise invalid("requests: List should have at least 1 item after validation, not 0")
    if len(requests) > MAX_REQUESTS:
        raise invalid(
            f"requests: List should have at most {MAX_REQUESTS} items after validation, "
            f"not {len(requests)}"
        )
    pairs: list[tuple[str, JSON]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(requests):
        where = f"requests.{i}"
        if not isinstance(item, dict):
            raise invalid(f"{where}: Input should be a valid dictionary")
        custom_id = item.get("custom_id")
        if custom_id is None:
            raise invalid(f"{where}.custom_id: Field required")
        if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
            raise invalid(f"{where}.custom_id: String should match pattern '{CUSTOM_ID_PATTERN}'")
        if custom_id in seen:
            raise invalid(
                f"{where}.custom_id: duplicate custom_id {custom_id!r} (also used by "
                f"requests.{seen[custom_id]}); each custom_id must be unique within a batch"
            )
        seen[custom_id] = i
        params = item.get("params")
        if params is None:
            raise invalid(f"{where}.params: Field required")
        if not isinstance(params, dict):
            raise invalid(f"{where}.params: Input should be a valid dictionary")
        pairs.append((custom_id, params))
    return pairs


def root_url(request: Request) -> str:
    """The sandbox's own address as this client reached it, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def message_batches_router(state: SandboxState) -> APIRouter:
    router = APIRouter()
    store = state.message_batches

    @router.post(BATCHES)
    async def create(request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
            raise too_large()  # refused before reading a body that large
        raw = await request.body()
        if len(raw) > MAX_BATCH_BYTES:
            raise too_large()
        version, base = version_of(request), root_url(request)

        def create_batch() -> JSON:
            return store.create(check_envelope(parse_json(raw)), version, base)

        return json_response(await run_in_threadpool(create_batch))

    @router.get(BATCHES)
    def list_batches(request: Request) -> Response:
        params = request.query_params
        listing = store.list_batches(
            after_id=params.get("after_id") or None,
            before_id=params.get("before_id") or None,
            limit=parse_limit(request.query_params.get("limit")),
            base_url=root_url(request),
        )
        return json_response(listing)

    @router.get(BATCHES + "/{batch_id}")
    def retrieve(batch_id: str, request: Request) -> Response:
        return json_response(store.get(batch_id, root_url(request)))

    @router.post(BATCHES + "/{batch_id}/cancel")
    def cancel(batch_id: str, request: Request) -> Response:
        return json_response(store.cancel(batch_id, root_url(request)))

    @router.delete(BATCHES + "/{batch_id}")
    def delete(batch_id: str) -> Response:
        return json_response(store.delete(batch_id))

    @router.get(BATCHES + "/{batch_id}/results")
    def results(batch_id: str) -> Response:
        return bytes_response(store.results(batch_id), RESULTS_MEDIA_TYPE)

    return router
