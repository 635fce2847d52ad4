"""The Batch API routes (docs/openai-batch.md#batch-endpoints): create, retrieve, list, cancel.

Reading a batch may run it (the lifecycle is lazy), so the routes that read batches are plain
functions, which FastAPI runs in its thread pool rather than on the event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from halfrate.sandbox.common.responses import json_response
from halfrate.sandbox.openai.httpio import json_body, query_int, query_str
from halfrate.sandbox.openai.wire import BATCH_ENDPOINTS, ApiError, missing

if TYPE_CHECKING:
    from halfrate.sandbox.state import SandboxState

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MIN_EXPIRY, MAX_EXPIRY = 3600, 30 * 24 * 3600


def _invalid(param: str, message: str) -> ApiError:
    return ApiError(400, message, param=param, code="invalid_value")


def check_metadata(metadata: Any) -> dict[str, str] | None:
    """At most 16 string pairs; keys up to 64 characters, values up to 512."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        raise _invalid("metadata", "Invalid 'metadata': expected an object of string pairs.")
    if len(metadata) > MAX_METADATA_PAIRS:
        raise _invalid(
            "metadata",
            f"Invalid 'metadata': too many keys ({len(metadata)}); at most "
            f"{MAX_METADATA_PAIRS} key/value pairs are allowed.",
        )
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            raise _invalid(
                "metadata",
                f"Invalid 'metadata': key {key[:20]!r}… is {len(key)} characters long; "
                f"keys may have at most {MAX_METADATA_KEY}.",
            )
        if not isinstance(value, str):
            raise _invalid(
                "metadata", f"Invalid 'metadata': the value of {key!r} must be a string."
            )
        if len(value) > MAX_METADATA_VALUE:
            raise _invalid(
                "metadata",
                f"Invalid 'metadata': the value of {key!r} is {len(value)} characters long; "
                f"values may have at most {MAX_METADATA_VALUE}.",
            )
    return metadata


def check_output_expiry(value: Any) -> int | None:
    """``output_expires_after: {anchor: "created_at", seconds: 3600..2592000}``."""
    if value is None:
        return None
    param = "output_expires_after"
    if not isinstance(value, dict) or value.get("anchor") != "created_at":
        raise _invalid(param, "Invalid 'output_expires_after': anchor must be 'created_at'.")
    seconds = value.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise _invalid(param, "Invalid 'output_expires_after.seconds': expected an integer.")
    if not MIN_EXPIRY <= seconds <= MAX_EXPIRY:
        raise _invalid(
            param,
            f"Invalid 'output_expires_after.seconds': {seconds} is out of range; expected "
            f"{MIN_EXPIRY} to {MAX_EXPIRY}.",
        )
    return seconds


def batches_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/batches")
    async def create_batch(request: Request) -> Response:
        body = await json_body(request)
        input_file_id = body.get("input_file_id")
        if input_file_id is None:
            raise missing("input_file_id")
        if not isinstance(input_file_id, str):
            raise _invalid("input_file_id", "Invalid 'input_file_id': expected a string.")
        endpoint = body.get("endpoint")
        if endpoint is None:
            raise missing("endpoint")
        if endpoint not in BATCH_ENDPOINTS:
            supported = ", ".join(f"'{e}'" for e in BATCH_ENDPOINTS)
            raise _invalid(
                "endpoint",
                f"Invalid value for 'endpoint': {endpoint!r}. Supported values are: {supported}.",
            )
        window = body.get("completion_window")
        if window is None:
            raise missing("completion_window")
        if window != "24h":
            raise _invalid(
                "completion_window",
                f"Invalid value for 'completion_window': {window!r}. The only supported value "
                "is '24h'.",
            )
        metadata = check_metadata(body.get("metadata"))
        expiry = check_output_expiry(body.get("output_expires_after"))
        batch = await run_in_threadpool(
            lambda: state.create_batch(
                input_file_id=input_file_id,
                endpoint=endpoint,
                metadata=metadata,
                output_expires_after=expiry,
            )
        )
        return json_response(batch)

    @router.get("/v1/batches")
    def list_batches(request: Request) -> Response:
        listing = state.list_batches(
            after=query_str(request, "after"), limit=query_int(request, "limit", 20, 1, 100)
        )
        return json_response(listing)

    @router.get("/v1/batches/{batch_id}")
    def retrieve_batch(batch_id: str) -> Response:
        return json_response(state.retrieve_batch(batch_id))

    @router.post("/v1/batches/{batch_id}/cancel")
    def cancel_batch(batch_id: str) -> Response:
        return json_response(state.cancel_batch(batch_id))

    return router
