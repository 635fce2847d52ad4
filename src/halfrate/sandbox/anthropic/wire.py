"""Wire details of Anthropic's API: its error shape, ids, times and versions.

See docs/anthropic-batches.md#anthropic-message-batches.

Pure and cheap, like :mod:`halfrate.sandbox.openai.wire` on the OpenAI side.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from halfrate.errors import HalfrateError
from halfrate.sandbox.common.jsondata import JSON

# The paths Anthropic's SDK calls; everything under them is answered the Anthropic way.
MESSAGES_PATH = "/v1/messages"
VERSIONS = ("2023-06-01", "2026-10-21")
# Removes temperature, top_p and top_k (docs/anthropic-batches.md#base-url-and-headers).
VERSION_2026 = "2026-10-21"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def is_anthropic_path(path: str) -> bool:
    return path == MESSAGES_PATH or path.startswith(MESSAGES_PATH + "/")


class AnthropicError(HalfrateError):
    """An HTTP error the sandbox answers in Anthropic's shape.

    See docs/anthropic-batches.md#base-url-and-headers.

    Routes raise it; the app turns it into the response, with the request's own id.
    """

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = headers or {}

    def body(self, request_id: str) -> JSON:
        return error_body(self.kind, self.message, request_id)


def error_body(kind: str, message: str, request_id: str) -> JSON:
    """``{"type": "error", "error": {type, message}, "request_id"}``."""
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def invalid(message: str) -> AnthropicError:
    return AnthropicError(400, message)


def not_found(message: str) -> AnthropicError:
    return AnthropicError(404, message, "not_found_error")


def base62(data: bytes, length: int) -> str:
    """``length`` base-62 characters drawn from ``data`` (enough bytes for them)."""
    number = int.from_bytes(data, "big")
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def new_request_id() -> str:
    """A random request id in Anthropic's style, ``req_011…``."""
    return "req_011" + base62(secrets.token_bytes(16), 21)


def derived_id(prefix: str, seed: bytes) -> str:
    """A stable id such as ``msg_01…`` (24 characters after the prefix) from a digest."""
    return prefix + "01" + base62(hashlib.blake2b(seed, digest_size=18).digest(), 22)


def new_batch_id() -> str:
    return "msgbatch_01" + base62(secrets.token_bytes(18), 22)


def rfc3339(seconds: float) -> str:
    """``2026-11-22T10:00:00.123456Z``: the RFC 3339 UTC form of Anthropic's timestamps."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
