"""Reading report periods as people write them: a date (``2026-11-01``, a UTC midnight), an
ISO 8601 time, ``today``, ``yesterday``, or a duration meaning "that long ago" (``7d``, ``12h``).
Pure functions: the current time is passed in."""

from __future__ import annotations

from datetime import UTC, date, datetime

from halfrate.errors import InputError
from halfrate.store.ledger_reads import Scope
from halfrate.urgency import checked_tag, parse_duration

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


def period_scope(
    *,
    since: str | float | None,
    until: str | float | None,
    feature: str | None,
    team: str | None,
    now: datetime,
    flag: str = "",
) -> Scope:
    """The ledger rows a report covers, from what a person wrote: ``since`` and ``until`` as
    :func:`parse_moment` reads them (or Unix seconds), one feature, one team. ``flag``
    prefixes the names in messages (``--`` on the command line)."""
    start = _moment(since, now, f"{flag}since")
    end = _moment(until, now, f"{flag}until", end=True)
    if start is not None and end is not None and start >= end:
        raise InputError(f"{flag}since {since} is not before {flag}until {until}")
    return Scope(
        since=start,
        until=end,
        feature=checked_tag(feature, f"{flag}feature"),
        team=checked_tag(team, f"{flag}team"),
    )


def split_moment(at: str | float, scope: Scope, now: datetime, flag: str = "") -> float:
    """Where a before/after comparison splits ``scope``: inside the period, and not later
    than now."""
    moment = _moment(at, now, f"{flag}compare-at")
    assert moment is not None
    inside = (scope.since is None or scope.since < moment) and (
        scope.until is None or moment < scope.until
    )
    if not inside or moment > now.timestamp():
        raise InputError(f"{flag}compare-at {at} must fall inside the period, and not later")
    return moment


def _moment(
    value: str | float | None, now: datetime, what: str, *, end: bool = False
) -> float | None:
    if value is None or isinstance(value, int | float):
        return value
    return parse_moment(value, now, what, end=end)
