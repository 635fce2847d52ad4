"""What a request says of its urgency and who it is for, checked once for every way in (the
command line, the Python API, the policy, reports): a feature or team tag, other tags, and a
deadline or duration as people write them (``6h``, ``2d``, ``1d12h``, ``06:00``, ISO 8601).
Pure functions: the current time is always passed in."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time, timedelta

from halfrate.errors import InputError

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
MAX_DURATION = timedelta(days=3650)
HINT = "use a duration like 6h, 2d or 1d12h, a time of day like 06:00, or ISO 8601"
MAX_TAGS = 20
MAX_TAG_CHARS = 200  # also the width of the store's feature and team columns


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


def checked_tag(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be a text")
    cleaned = value.strip()
    if not cleaned:
        raise InputError(f"{what} is empty")
    if len(cleaned) > MAX_TAG_CHARS:
        raise InputError(f"{what} is longer than {MAX_TAG_CHARS} characters")
    return cleaned


def check_tags(tags: Mapping[str, str] | None, what: str = "tags") -> dict[str, str]:
    if not tags:
        return {}
    if not isinstance(tags, Mapping):
        raise InputError(f"{what} must be a mapping of texts")
    if len(tags) > MAX_TAGS:
        raise InputError(f"{what}: at most {MAX_TAGS} tags, got {len(tags)}")
    cleaned: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip() or not isinstance(value, str):
            raise InputError(f"{what}: {key!r} = {value!r} must be a name and a text")
        if len(key) > MAX_TAG_CHARS or len(value) > MAX_TAG_CHARS:
            raise InputError(f"{what}: {key[:40]!r} is longer than {MAX_TAG_CHARS} characters")
        cleaned[key.strip()] = value
    return cleaned


def deadline_of(
    value: str | datetime | None, now: datetime, what: str = "deadline"
) -> datetime | None:
    """A deadline as typed (``6h``, ``06:00``, ISO 8601) or given as a datetime; never past."""
    if value is None:
        return None
    if isinstance(value, datetime):
        at = value if value.tzinfo is not None else value.replace(tzinfo=now.tzinfo)
        if at <= now:
            raise InputError(f"{what}: {value.isoformat()} is in the past")
        return at
    if not isinstance(value, str):
        raise InputError(f"{what} must be a text like 6h or 06:00, or a datetime")
    try:
        return parse_deadline(value, now)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
