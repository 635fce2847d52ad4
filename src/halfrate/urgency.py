"""Reading deadlines and durations as people write them: ``6h``, ``2d``, ``1d12h``, ``06:00``,
or an ISO 8601 time. Pure functions: the current time is always passed in."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from halfrate.errors import InputError

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
MAX_DURATION = timedelta(days=3650)
HINT = "use a duration like 6h, 2d or 1d12h, a time of day like 06:00, or ISO 8601"


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``6h``, ``2d``, ``1w``, or combinations such as ``1d12h``."""
    cleaned = text.strip().lower().replace(" ", "")
    match = _DURATION.fullmatch(cleaned)
    if not cleaned or match is None or not any(match.groups()):
        raise InputError(f"cannot read the duration {text!r}: {HINT.split(', a time')[0]}")
    seconds = sum(int(n) * _UNITS[u] for n, u in zip(match.groups(), "wdhms", strict=True) if n)
    if seconds > MAX_DURATION.total_seconds():
        raise InputError(f"the duration {text!r} is longer than ten years")
    return timedelta(seconds=seconds)


def parse_deadline(text: str, now: datetime) -> datetime:
    """An absolute, timezone-aware deadline from what a person typed; never in the past.

    ``now`` must be timezone-aware; times without a zone are read in ``now``'s zone.
    """
    cleaned = text.strip()
    if not cleaned:
        raise InputError(f"the deadline is empty: {HINT}")
    clock = _CLOCK.fullmatch(cleaned)
    if clock:
        at = datetime.combine(now.date(), time(int(clock[1]), int(clock[2])), now.tzinfo)
        return at if at > now else at + timedelta(days=1)  # the next 06:00 to come
    if cleaned[0].isdigit() and cleaned[-1].lower() in _UNITS and ":" not in cleaned:
        return now + parse_duration(cleaned)
    try:
        parsed = datetime.fromisoformat(cleaned.replace("z", "Z"))
    except ValueError:
        raise InputError(f"cannot read the deadline {text!r}: {HINT}") from None
    if isinstance(parsed, datetime) and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=now.tzinfo)
    if parsed <= now:
        raise InputError(f"the deadline {text!r} is in the past")
    return parsed


def describe_delta(delta: timedelta) -> str:
    """``1d 21h``, ``5h 30m``, ``45m``: how far away, for people."""
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "already past"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes and not days:
        parts.append(f"{minutes}m")
    return " ".join(parts) or "under a minute"
