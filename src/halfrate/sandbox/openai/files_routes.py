"""The Files API routes: upload, retrieve, list, content, delete.

See docs/openai-batch.md#the-files-api.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from halfrate.sandbox.body_limits import BodyTooLarge
from halfrate.sandbox.common.responses import bytes_response, json_response
from halfrate.sandbox.openai.httpio import query_int, query_str
from halfrate.sandbox.openai.wire import ApiError

if TYPE_CHECKING:
    from halfrate.sandbox.state import SandboxState

MB = 1024 * 1024
MAX_FILE_BYTES = 512 * MB
MAX_BATCH_FILE_BYTES = 200 * MB
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
MIN_EXPIRY, MAX_EXPIRY = 3600, 30 * 24 * 3600


def _expires_after(anchor: object, seconds: object) -> int | None:
    """The ``expires_after[anchor]`` / ``expires_after[seconds]`` form fields, checked."""
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise ApiError(
            400,
            "Invalid 'expires_after[anchor]': the only supported anchor is 'created_at'.",
            param="expires_after[anchor]",
            code="invalid_value",
        )
    try:
        value = int(str(seconds))
    except ValueError:
        raise ApiError(
            400,
            "Invalid 'expires_after[seconds]': expected an integer.",
            param="expires_after[seconds]",
            code="invalid_type",
        ) from None
    if not MIN_EXPIRY <= value <= MAX_EXPIRY:
        raise ApiError(
            400,
            f"Invalid 'expires_after[seconds]': {value} is out of range; expected "
            f"{MIN_EXPIRY} to {MAX_EXPIRY} (1 hour to 30 days).",
            param="expires_after[seconds]",
            code="invalid_value",
        )
    return value


def _check_size(size: int, purpose: str) -> None:
    if purpose == "batch" and size > MAX_BATCH_FILE_BYTES:
        raise ApiError(
            400,
            f"File is too large for the Batch API: {size:,} bytes; the limit is 200 MB. "
            "Split it into several batches.",
        )
    if size > MAX_FILE_BYTES:
        raise ApiError(400, f"File is too large: {size:,} bytes; the limit is 512 MB.")


def files_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/files")
    async def upload(request: Request) -> Response:
        try:
            form = await request.form()
        except BodyTooLarge:
            raise  # answered 413 by the middleware
        except Exception as exc:  # a body that is not valid multipart (or url-encoded) form data
            raise ApiError(400, f"Could not parse the multipart form: {exc}") from None
        try:
            purpose = form.get("purpose")
            if purpose is None:
                raise ApiError(
                    400,
                    "Missing required parameter: 'purpose'.",
                    param="purpose",
                    code="missing_required_parameter",
                )
            if purpose not in UPLOAD_PURPOSES:
                supported = ", ".join(f"'{p}'" for p in UPLOAD_PURPOSES)
                raise ApiError(
                    400,
                    f"Invalid value for 'purpose': {purpose!r}. Supported values are: {supported}.",
                    param="purpose",
                    code="invalid_value",
                )
            assert isinstance(purpose, str)
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiError(
                    400,
                    "Missing required parameter: 'file'.",
                    param="file",
                    code="missing_required_parameter",
                )
            filename = upload.filename or "upload"
            if purpose == "batch" and not filename.lower().endswith(".jsonl"):
                raise ApiError(400, "Invalid file format for Batch API. Must be .jsonl")
            expires = _expires_after(
                form.get("expires_after[anchor]"), form.get("expires_after[seconds]")
            )
            if upload.size is not None:
                _check_size(upload.size, purpose)  # refuse before reading a huge file in
            data = await upload.read()
            _check_size(len(data), purpose)
        finally:
            await form.close()
        stored = state.upload_file(data, filename, purpose, expires)
        return json_response(stored.to_wire())

    @router.get("/v1/files")
    def list_files(request: Request) -> Response:
        order = query_str(request, "order") or "desc"
        if order not in ("asc", "desc"):
            raise ApiError(
                400,
                f"Invalid 'order': {order!r}; expected 'asc' or 'desc'.",
                param="order",
                code="invalid_value",
            )
        listing = state.list_files(
            purpose=query_str(request, "purpose"),
            after=query_str(request, "after"),
            limit=query_int(request, "limit", 10_000, 1, 10_000),
            descending=order == "desc",
        )
        return json_response(listing)

    @router.get("/v1/files/{file_id}")
    def retrieve_file(file_id: str) -> Response:
        return json_response(state.use_file(file_id).to_wire())

    @router.get("/v1/files/{file_id}/content")
    def file_content(file_id: str) -> Response:
        return bytes_response(state.use_file(file_id).data)

    @router.delete("/v1/files/{file_id}")
    def delete_file(file_id: str) -> Response:
        return json_response(state.delete_file(file_id))

    return router
