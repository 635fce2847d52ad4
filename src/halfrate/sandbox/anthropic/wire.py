"""Wire details of Anthropic's API: its error shape, ids, times and versions.

See docs/anthropic-batches.md#anthropic-message-batches.

Pure and cheap, like :mod:`halfrate.sandbox.openai.wire` on the OpenAI side.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime

from halfrate.errors import HalfrateError
from halfrate.sandbox.common.jsondata import JSON

# The paths Anthropic's SDK calls; everything under them is answered the Anthropic way.
MESSAGES_PATH = "/v1/messages"
# Both providers list their models here; the request's headers tell whose SDK is asking.
MODELS_PATH = "/v1/models"
# Headers only Anthropic's clients send (its SDK sends anthropic-version on every request).
ANTHROPIC_HEADERS = (b"x-api-key", b"anthropic-version")
VERSIONS = ("2023-06-01", "2026-10-21")
# Removes temperature, top_p and top_k (docs/anthropic-batches.md#base-url-and-headers).
VERSION_2026 = "2026-10-21"

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


def is_anthropic_path(path: str) -> bool:
    return _under(path, MESSAGES_PATH)


def is_anthropic_request(path: str, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request is Anthropic's: a path under ``/v1/messages``, or one under
    ``/v1/models`` (a path both providers serve) that carries ``x-api-key`` or
    ``anthropic-version``. OpenAI's SDK sends neither header."""
    if is_anthropic_path(path):
        return True
    return _under(path, MODELS_PATH) and any(
        name.lower() in ANTHROPIC_HEADERS for name, _ in headers
    )


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


# The list endpoints' ``limit`` (message batches, models): 1 to 1000, 20 when absent.
LIST_LIMIT = (1, 1000)
DEFAULT_LIMIT = 20


def parse_limit(raw: str | None) -> int:
    """The ``limit`` query parameter: 1 to 1000, 20 when absent."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    low, high = LIST_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"limit: Input should be a valid integer, got {raw!r}") from None
    if not low <= value <= high:
        raise invalid(f"limit: Input should be between {low} and {high}, got {value}")
    return value
