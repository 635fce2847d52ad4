"""Scalar values inside a JSON Schema's bounds, for :mod:`.schema_answer`.

Pure functions of a schema and a roll (a 64-bit number from the answer's digest): the same roll
gives the same value. Numbers fall between ``minimum`` and ``maximum`` (and their exclusive
forms), 0 to 100 when unbounded, on a ``multipleOf`` when one is given; numbers that are not
integers get two decimals. Formatted strings are well-formed examples in documentation ranges
(``example.com``, ``192.0.2.x``, ``2001:db8::x``).
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from typing import Any, TypeGuard

from halfrate.sandbox.common.jsondata import JSON

FORMATS = frozenset(
    ("date-time", "date", "time", "email", "uuid", "uri", "hostname", "ipv4", "ipv6", "duration")
)


def is_integer(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _bound(schema: JSON, inclusive: str, exclusive: str, tighter: Any) -> tuple[Any, bool]:
    """A bound of ``schema`` and whether it is exclusive: the numeric ``exclusiveMinimum`` of
    newer drafts, or draft 4's boolean one that makes ``minimum`` exclusive."""
    value = schema.get(inclusive)
    value = value if is_number(value) else None
    strict = schema.get(exclusive)
    if strict is True:
        return value, value is not None
    if is_number(strict) and (value is None or tighter(strict, value) == strict):
        return strict, True
    return value, False


def _span(low: Any, high: Any) -> tuple[Any, Any]:
    """The range to draw from: the bounds given, 100 wide from the one given, else 0 to 100."""
    if low is None and high is None:
        return 0, 100
    if low is None:
        return high - 100, high
    if high is None:
        return low, low + 100
    return low, high


def integer_in(schema: JSON, roll: int) -> int:
    """An integer within the bounds of ``schema`` (its lowest, when they leave none)."""
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum", max)
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum", min)
    if low is not None:
        low = math.floor(low) + 1 if low_open else math.ceil(low)
    if high is not None:
        high = math.ceil(high) - 1 if high_open else math.floor(high)
    low, high = _span(low, high)
    step = schema.get("multipleOf")
    if is_integer(step) and step > 0:
        first = -(-low // step) * step  # the first multiple at or above low
        count = (high - first) // step + 1
        return int(first + step * (roll % count)) if count > 0 else int(first)
    return int(low + roll % (high - low + 1)) if high >= low else int(low)


def number_in(schema: JSON, roll: int) -> float:
    """A number within the bounds of ``schema``: two decimals, or a multiple of ``multipleOf``."""
    low, low_open = _bound(schema, "minimum", "exclusiveMinimum", max)
    high, high_open = _bound(schema, "maximum", "exclusiveMaximum", min)
    start, end = _span(low, high)
    step = schema.get("multipleOf")
    if is_number(step) and step > 0 and math.isfinite(start / step) and math.isfinite(end / step):
        first, last = math.ceil(start / step), math.floor(end / step)
        if low_open and first * step <= start:
            first += 1
        if high_open and last * step >= end:
            last -= 1
        if last >= first:
            return float(round((first + roll % (last - first + 1)) * step, 12))
    # 5% to 95% of the way: away from the bounds, so rounding cannot cross an exclusive one
    # (halves first: the width of a range near the float limits would overflow to infinity)
    value = float(round(start + (end / 2 - start / 2) * (50 + roll % 901) / 500, 2))
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or (value < high if high_open else value <= high)
    return value if above and below and math.isfinite(value) else float(start / 2 + end / 2)


def formatted(fmt: str, roll: int, word: str) -> str:
    """A well-formed example of string format ``fmt`` (one of :data:`FORMATS`)."""
    month, day = 1 + roll % 12, 1 + (roll >> 8) % 28
    hour, minute = (roll >> 16) % 24, (roll >> 24) % 60
    if fmt == "date-time":
        return f"2026-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00Z"
    if fmt == "date":
        return f"2026-{month:02d}-{day:02d}"
    if fmt == "time":
        return f"{hour:02d}:{minute:02d}:00Z"
    if fmt == "email":
        return f"person{roll % 1000}@example.com"
    if fmt == "uuid":
        raw = hashlib.blake2b(roll.to_bytes(8, "big"), digest_size=16).digest()
        return str(uuid.UUID(bytes=raw, version=4))
    if fmt == "uri":
        return f"https://example.com/{word.lower()}"
    if fmt == "hostname":
        return f"host{roll % 100}.example.com"
    if fmt == "ipv4":
        return f"192.0.2.{1 + roll % 254}"  # the documentation range (RFC 5737)
    if fmt == "ipv6":
        return f"2001:db8::{1 + roll % 0xFFFE:x}"  # the documentation range (RFC 3849)
    return f"P{1 + roll % 30}D"  # duration


def fit_length(text: str, schema: JSON, more: Callable[[int], str]) -> str:
    """``text`` lengthened with ``more(1)``, ``more(2)``… to ``minLength``, cut to ``maxLength``."""
    shortest, longest = schema.get("minLength"), schema.get("maxLength")
    if is_integer(shortest):
        extra = 0
        while len(text) < shortest:
            extra += 1
            text += " " + more(extra)
    if is_integer(longest) and len(text) > longest:
        text = text[: max(longest, 0)]
        trimmed = text.rstrip()  # a cut that ends in a space looks like a mistake
        if not is_integer(shortest) or len(trimmed) >= shortest:
            text = trimmed
    return text
