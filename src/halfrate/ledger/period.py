"""Reading report periods as people write them: a date (``2026-11-01``, a UTC midnight), an
ISO 8601 time, ``today``, ``yesterday``, or a duration meaning "that long ago" (``7d``, ``12h``).
Pure functions: the current time is passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime

from halfrate.errors import InputError
from halfrate.urgency import parse_duration

HINT = "use a date like 2026-11-01, an ISO 8601 time, today, yesterday, or a span ago like 7d"


def parse_moment(text: str, now: datetime, what: str, *, end: bool = False) -> float:
    """The Unix time ``text`` names; ``what`` names the flag in messages (``--since``).

    ``end``: the moment ends a period, so a bare day (a date, ``today``, ``yesterday``) means
    the end of that day: ``--until 2026-11-30`` includes the 30th.
    """
    day = 86400.0 if end else 0.0
    cleaned = text.strip()
    if not cleaned:
        raise InputError(f"{what} is empty: {HINT}")
    if len(cleaned) > 64:
        raise InputError(f"{what} {cleaned[:64]!r}… is too long to be a date: {HINT}")
    lowered = cleaned.lower()
    if lowered in ("today", "yesterday"):
        start = _midnight(now.astimezone(UTC).date())
        return start - (86400 if lowered == "yesterday" else 0) + day
    if cleaned[0].isdigit() and lowered[-1] in "wdhms" and ":" not in cleaned:
        try:
            return (now - parse_duration(cleaned)).timestamp()
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None
    try:
        if len(cleaned) == 10:
            return _midnight(date.fromisoformat(cleaned)) + day
        parsed = datetime.fromisoformat(cleaned.replace("z", "Z"))
    except ValueError:
        raise InputError(f"cannot read {what} {cleaned!r}: {HINT}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _midnight(day: date) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
