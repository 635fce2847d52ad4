"""Trying a provider key before it is saved: the web app's Keys page has a "test key" button.

The test is the cheapest call each provider offers with a key, listing its models (one model
where the list is paged), made through the official SDK exactly as workers will make their
calls, to the base URL the SDK reads from its own variable (``OPENAI_BASE_URL``,
``ANTHROPIC_BASE_URL``), so the sandbox answers it when it stands in for the provider. The
answer is a sentence for a person, and that sentence never holds the key or any part of it: a
provider's own message may (OpenAI repeats part of a refused key), so a refusal is worded here
and never copied, and a last guard replaces any message that still holds the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from halfrate.errors import InputError

if TYPE_CHECKING:
    import httpx2

NAMES = {"openai": "OpenAI", "anthropic": "Anthropic"}
DEFAULT_TIMEOUT = 15.0
TAIL = 8  # the guard also looks for the key's last characters, the part a UI would show
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")
REASON_CHARS = 120


@dataclass(frozen=True)
class KeyCheck:
    """What the provider said of a key. ``message`` is in words for a person and never
    contains the key or any part of it."""

    ok: bool
    message: str


def check_key(provider: str, key: str, *, timeout: float = DEFAULT_TIMEOUT) -> KeyCheck:
    """List models with ``key`` at ``provider`` ("openai" or "anthropic"); say how it went.

    Never raises for what the provider answers or for a network failure: those are the
    outcomes a person needs to read. An unknown ``provider`` is an :class:`InputError`.
    """
    name = NAMES.get(provider)
    if name is None:
        raise InputError(f"unknown provider {provider!r}: expected one of {', '.join(NAMES)}")
    problem = _malformed(key)
    if problem is not None:
        return KeyCheck(False, problem)
    result = _ask_openai(key, timeout) if provider == "openai" else _ask_anthropic(key, timeout)
    return guarded(result, key, name)


def guarded(result: KeyCheck, key: str, name: str) -> KeyCheck:
    """``result``, unless its message holds the key or its last characters: then a message
    with the same verdict and no details."""
    tail = key[-TAIL:]
    if key not in result.message and tail not in result.message:
        return result
    if result.ok:
        return KeyCheck(True, f"{name} accepted the key.")
    return KeyCheck(False, f"Checking the key with {name} failed (the details are not shown).")


def _malformed(key: str) -> str | None:
    # No key holds a space, a line break or non-ASCII; and the HTTP client's own refusal of
    # such a header would show the key (as providers/clients.py check_keys explains).
    if not key:
        return "No key was given."
    if any(not (" " < char < "\x7f") for char in key):
        return (
            "The key holds a space, a line break or a character outside ASCII, which no key "
            "has: copy it again."
        )
    return None


def _ask_openai(key: str, timeout: float) -> KeyCheck:
    # Imported here: the SDK takes most of a second to import (providers/clients.py does too).
    import openai

    # The SDK reads OPENAI_BASE_URL itself (docs/openai-batch.md#base-url-auth-and-errors).
    client = openai.OpenAI(api_key=key, max_retries=0, timeout=timeout)
    try:
        client.models.list()  # not paged: the whole (short) list
    except openai.APIError as exc:
        return _verdict(openai, exc, "OpenAI", client.base_url, timeout)
    finally:
        client.close()
    return KeyCheck(True, "OpenAI accepted the key.")


def _ask_anthropic(key: str, timeout: float) -> KeyCheck:
    import anthropic

    # The SDK reads ANTHROPIC_BASE_URL itself (docs/anthropic-batches.md#base-url-and-headers).
    client = anthropic.Anthropic(api_key=key, max_retries=0, timeout=timeout)
    try:
        client.models.list(limit=1)
    except anthropic.APIError as exc:
        return _verdict(anthropic, exc, "Anthropic", client.base_url, timeout)
    finally:
        client.close()
    return KeyCheck(True, "Anthropic accepted the key.")


def _verdict(sdk: Any, exc: Exception, name: str, base_url: httpx2.URL, timeout: float) -> KeyCheck:
    """A refusal in our words. Both SDKs raise the same family of errors
    (providers/sdk_errors.py); the provider's own message is never used."""
    if isinstance(exc, (sdk.AuthenticationError, sdk.PermissionDeniedError)):
        return KeyCheck(False, f"{name} refused the key ({exc.status_code} {_kind(exc)}).")
    if isinstance(exc, sdk.APITimeoutError):
        where = _where(base_url)
        return KeyCheck(False, f"Could not reach {name} at {where}: no answer in {timeout:g} s.")
    if isinstance(exc, sdk.APIConnectionError):
        return KeyCheck(False, f"Could not reach {name} at {_where(base_url)}: {_reason(exc)}.")
    if isinstance(exc, sdk.APIStatusError):
        kind = getattr(exc, "type", None)
        detail = f" ({kind})" if isinstance(kind, str) and kind else ""
        message = f"{name} answered {exc.status_code}{detail}: the key could not be confirmed."
        return KeyCheck(False, message)
    return KeyCheck(False, f"{name} gave an answer halfrate could not read.")


def _kind(exc: Any) -> str:
    if exc.status_code == 401:
        return "authentication error"
    return "permission error"


def _where(base_url: httpx2.URL) -> str:
    """The host (and port, if the URL names one) the SDK called; never a path or user info."""
    host = f"[{base_url.host}]" if ":" in base_url.host else base_url.host
    return f"{host}:{base_url.port}" if base_url.port is not None else host


def _reason(exc: BaseException) -> str:
    """A short reason from the causes the SDK chains under its "Connection error.": the
    operating system's words when there are some ("connection refused")."""
    seen: BaseException | None = exc.__cause__ or exc.__context__
    deepest = ""
    for _ in range(10):  # a cycle in the chain is possible; ten links is plenty
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return _lower_first(seen.strerror)
        deepest = _ERRNO.sub("", str(seen)) or deepest
        seen = seen.__cause__ or seen.__context__
    reason = deepest or "connection error"
    return _lower_first(reason[:REASON_CHARS].rstrip("."))


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
