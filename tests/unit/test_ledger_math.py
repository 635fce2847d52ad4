"""The pure parts of reports: timing buckets, percentiles, periods, and where a period's whole
days end and its edges begin."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from halfrate.errors import InputError
from halfrate.ledger.percentiles import Percentiles
from halfrate.ledger.period import parse_moment
from halfrate.store.ledger_reads import Scope
from halfrate.store.rollup import DAY, bucket_ms

NOW = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [
        (0.0, 0),
        (0.0429, 42),
        (0.0999, 99),
        (0.1, 100),
        (0.1234, 120),
        (0.999, 990),
        (1.0, 1000),
        (2.0, 2000),
        (12.34, 12000),
        (86400.0, 86_000_000),
        (-1.0, 0),
    ],
)
def test_buckets_keep_two_significant_digits(seconds: float, bucket: int) -> None:
    assert bucket_ms(seconds) == bucket


def test_a_bucket_is_never_more_than_ten_percent_low() -> None:
    for i in range(1, 200_000, 7):
        seconds = i / 1000.0
        ms = seconds * 1000.0
        assert ms - 1 <= bucket_ms(seconds) + ms * 0.1
        assert bucket_ms(seconds) <= ms + 1e-6


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    p = Percentiles.of(values)
    assert (p.count, p.p50, p.p95) == (100, 50.0, 95.0)
    assert Percentiles.of([]) == Percentiles(0, None, None)
    assert Percentiles.of_histogram([(0.1, 9), (5.0, 1)]) == Percentiles(10, 0.1, 5.0)


def test_periods_as_people_write_them() -> None:
    midnight = datetime(2026, 12, 2, tzinfo=UTC).timestamp()
    assert parse_moment("today", NOW, "--since") == midnight
    assert parse_moment("yesterday", NOW, "--since") == midnight - DAY
    assert parse_moment("2026-12-02", NOW, "--until", end=True) == midnight + DAY
    assert parse_moment("7d", NOW, "--since") == NOW.timestamp() - 7 * DAY
    assert parse_moment("2026-12-01T10:00:00Z", NOW, "--since") == midnight - 14 * 3600
    assert parse_moment("2026-12-01T10:00", NOW, "--since") == midnight - 14 * 3600


@pytest.mark.parametrize("text", ["", "  ", "soon", "2026-02-30", "7 parsecs", "x" * 100])
def test_unreadable_periods_are_refused_by_name(text: str) -> None:
    with pytest.raises(InputError, match="--since"):
        parse_moment(text, NOW, "--since")


def test_whole_days_and_edges_of_a_period() -> None:
    day = 20_000
    scope = Scope(since=day * DAY + 3600, until=(day + 3) * DAY + 60)
    assert scope.days() == (day + 1, day + 3)
    assert scope.edges() == [(day * DAY + 3600, (day + 1) * DAY), ((day + 3) * DAY, scope.until)]
    inside = Scope(since=day * DAY + 10, until=day * DAY + 20)
    assert inside.edges() == [(day * DAY + 10, day * DAY + 20)]
    aligned = Scope(since=day * DAY, until=(day + 2) * DAY)
    assert aligned.edges() == []
    assert Scope().edges() == []
    assert Scope().days() == (None, None)
