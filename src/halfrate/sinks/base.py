"""The sink contract: what halfrate hands a sink, what the sink reports back.

A sink never raises for a delivery that did not work: it reports each item as delivered or failed
(with a one-line reason), and halfrate retries the failed ones later with backoff. Only opening a
sink may raise, with :class:`SinkUnavailable`, when it cannot work in this process right now.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from halfrate.errors import PayloadError
from halfrate.models import Result
from halfrate.sinks.spec import SinkSpec

REASON_LIMIT = 300  # a reason is stored per item and shown in status: one short line


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One stored result to deliver."""

    key: str  # the caller's request key (their custom_id)
    job_id: str
    idempotency_key: str  # stable per (sink, request); the same on every redelivery
    status: str  # "succeeded" | "failed" | "cancelled"
    status_code: int | None
    response_json: str | None  # the provider's response body, JSON text
    error_json: str | None  # {"code": ..., "message": ...} JSON text


@dataclass
class DeliveryReport:
    """What one ``deliver()`` call achieved. Every item given is in exactly one of the two."""

    delivered: list[str] = field(default_factory=list)  # idempotency keys
    failed: dict[str, str] = field(default_factory=dict)  # idempotency key -> one-line reason
    cursor: str | None = None  # opaque state to store and pass back on the next call

    @classmethod
    def all_failed(
        cls, items: Iterable[Outgoing], reason: str, cursor: str | None
    ) -> DeliveryReport:
        line = one_line(reason)
        return cls(delivered=[], failed={i.idempotency_key: line for i in items}, cursor=cursor)


class Sink(Protocol):
    spec: SinkSpec

    def deliver(self, items: Sequence[Outgoing], cursor: str | None) -> DeliveryReport: ...

    def close(self) -> None: ...


_SPACE = re.compile(r"\s+")


def one_line(text: str, limit: int = REASON_LIMIT) -> str:
    """Reasons end up in one table cell and one terminal line: no newlines, bounded length."""
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def unique_items(items: Sequence[Outgoing]) -> list[Outgoing]:
    """The items without repeats of one idempotency key (the last one wins), so a caller that
    passes an item twice still gets one line, one row, one POST."""
    latest: dict[str, Outgoing] = {}
    for item in items:
        latest.pop(item.idempotency_key, None)  # re-inserting keeps the latest position
        latest[item.idempotency_key] = item
    return list(latest.values())


def _load_object(text: str | None, what: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(f"the stored {what} is not valid JSON: {exc}") from exc
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadError(f"the stored {what} is a JSON {type(value).__name__}, not an object")
    return value


def to_result(item: Outgoing) -> Result:
    """The public :class:`~halfrate.models.Result` for one outgoing item (JSON parsed)."""
    return Result(
        key=item.key,
        status=item.status,
        status_code=item.status_code,
        response=_load_object(item.response_json, "response"),
        error=_load_object(item.error_json, "error"),
    )
