"""The price and speed of the realtime work (per model, feature and lane: cost per 1,000
requests beside TTFT, TIBT and queue wait) and the features missed savings came from, over a
seeded ledger with partial days at a period's edges, on SQLite and PostgreSQL, against hand
computations."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from halfrate.ledger.report import ReportMaker
from halfrate.store import Store
from halfrate.store.ledger_reads import Scope
from tests.integration.test_report import D1, D2, D3, DAY, USD, Seed, seed

# Price and speed: realtime and flex calls of several models, features and teams, around a
# period from 18:00 on day one to 06:00 on day three (whole day two, two partial days).
SPEED_SINCE, SPEED_UNTIL = D1 + 6 * 3600, D3 - 6 * 3600
EARLY, LATE = D1 + 8 * 3600, D3 - 8 * 3600  # inside the partial days
MILLI = USD // 1000
SPEED_SEEDS = [
    Seed("p1", "chat", "support", "realtime", D2, 2 * MILLI, 2 * MILLI, waiting=True,
         ttft=0.12, tibt=0.01, queue_seconds=0.05),
    Seed("p2", "chat", "support", "realtime", EARLY, 4 * MILLI, 4 * MILLI, waiting=True,
         ttft=0.34, tibt=0.02, queue_seconds=0.5),
    Seed("p3", "chat", "marketing", "realtime", LATE, 3 * MILLI, 3 * MILLI, waiting=True,
         ttft=0.25, tibt=0.015, queue_seconds=0.07),
    Seed("p4", "chat", "support", "realtime", D1, USD, USD, waiting=True, ttft=9.0),  # before
    Seed("p5", "chat", "support", "realtime", D2 + 3600, 0, 0, waiting=True, input_tokens=None,
         outcome="retry"),  # an attempt, no request's end, not billed
    Seed("p6", "chat", "support", "realtime", D2, 6 * MILLI, 6 * MILLI, model="gpt-4.1-mini",
         waiting=True, ttft=0.45, tibt=0.03, queue_seconds=0.06),
    # summary: nobody waits (missed savings; gpt-4o-mini batch: $0.075 in, $0.30 out per 1M)
    Seed("p7", "summary", "finance", "realtime", D2, 90 * MILLI, 90 * MILLI,
         input_tokens=200_000, output_tokens=100_000, ttft=0.8, tibt=0.04, queue_seconds=1.2),
    Seed("p8", "summary", "finance", "flex", D2, MILLI, 2 * MILLI, ttft=1.5, queue_seconds=2.0),
    Seed("p9", "nightly", "finance", "batch", D2, 5 * USD, 10 * USD, queue_seconds=30.0),
    Seed("p10", None, "marketing", "realtime", LATE, 75 * MILLI, 75 * MILLI,
         input_tokens=100_000, output_tokens=100_000, ttft=0.2),
    Seed("p11", "summary", "marketing", "realtime", EARLY, 60 * MILLI, 60 * MILLI,
         input_tokens=400_000, output_tokens=0, deadline_after=2 * DAY, ttft=0.6),
    Seed("p12", "chat", "support", "realtime", D2, MILLI, MILLI, deadline_after=3600, ttft=0.15),
    Seed("p13", "summary", "finance", "realtime", D3, USD, USD, ttft=0.9),  # after the period
    Seed("p14", "chat", "support", "realtime", D2, None, None, model="ft:gpt-4o-mini:acme",
         waiting=True, ttft=0.05),
]  # fmt: skip


@pytest.fixture
def speedy(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    seed(opened, SPEED_SEEDS)
    opened.ledger.rebuild_rollups()
    try:
        yield opened
    finally:
        opened.close()


def speed_rows(store: Store, scope: Scope) -> list[tuple[object, ...]]:
    return [
        (
            *(s.model, s.feature, s.lane, s.requests, s.attempts, s.spend, s.per_1000_requests),
            *((p.count, p.p50, p.p95) for p in (s.ttft, s.tibt, s.queue_wait)),
        )
        for s in ReportMaker(store).price_performance(scope)
    ]


def test_price_and_speed_of_the_realtime_work(speedy: Store) -> None:
    period = Scope(since=SPEED_SINCE, until=SPEED_UNTIL)
    mini, none = "gpt-4o-mini", (0, None, None)
    # Most spend first; the batch lane (p9, the most spend) and p4, p13 (outside) left out.
    assert speed_rows(speedy, period) == [
        (mini, "summary", "realtime", 2, 2, Decimal("0.15"), Decimal(75),  # p7, p11
         (2, 0.6, 0.8), (1, 0.04, 0.04), (1, 1.2, 1.2)),
        (mini, "(none)", "realtime", 1, 1, Decimal("0.075"), Decimal(75),  # p10
         (1, 0.2, 0.2), none, none),
        (mini, "chat", "realtime", 4, 5, Decimal("0.01"), Decimal("2.5"),  # p1-p3, p5, p12
         (4, 0.15, 0.34), (3, 0.015, 0.02), (3, 0.07, 0.5)),
        ("gpt-4.1-mini", "chat", "realtime", 1, 1, Decimal("0.006"), Decimal(6),  # p6
         (1, 0.45, 0.45), (1, 0.03, 0.03), (1, 0.06, 0.06)),
        (mini, "summary", "flex", 1, 1, Decimal("0.001"), Decimal(1),  # p8
         (1, 1.5, 1.5), none, (1, 2.0, 2.0)),
        ("ft:gpt-4o-mini:acme", "chat", "realtime", 1, 1, Decimal(0), None,  # p14: unpriced
         (1, 0.05, 0.05), none, none),
    ]  # fmt: skip
    # One team: its own calls (p1, p2, p5, p12 and p6, p14), whole days and edges alike.
    support = speed_rows(speedy, Scope(since=SPEED_SINCE, until=SPEED_UNTIL, team="support"))
    assert [row[:7] for row in support] == [
        (mini, "chat", "realtime", 3, 4, Decimal("0.007"), Decimal("7") / 3),
        ("gpt-4.1-mini", "chat", "realtime", 1, 1, Decimal("0.006"), Decimal(6)),
        ("ft:gpt-4o-mini:acme", "chat", "realtime", 1, 1, Decimal(0), None),
    ]
    assert support[0][7:] == ((3, 0.15, 0.34), (2, 0.01, 0.02), (2, 0.05, 0.5))
    # One feature, and the report carries the same rows.
    summary = Scope(since=SPEED_SINCE, until=SPEED_UNTIL, feature="summary")
    assert [row[1:3] for row in speed_rows(speedy, summary)] == [
        ("summary", "realtime"),
        ("summary", "flex"),
    ]
    made = ReportMaker(speedy).report("model", period, now=D3 + DAY)
    assert made.price_performance == ReportMaker(speedy).price_performance(period)
    # Nothing realtime in a period of batch work alone.
    assert ReportMaker(speedy).price_performance(Scope(feature="nightly")) == []


def test_missed_savings_per_feature(speedy: Store) -> None:
    missed = ReportMaker(speedy).missed(Scope(since=SPEED_SINCE, until=SPEED_UNTIL))
    # p7 and p11 (summary; p11's deadline is two days off) and p10 (no feature) could have
    # waited; p12 was due in an hour, the chat calls had a person waiting, p13 is after.
    found = [(f.feature, f.attempts, f.spend, f.batch, f.amount) for f in missed.features]
    assert found == [
        ("summary", 2, Decimal("0.15"), Decimal("0.075"), Decimal("0.075")),
        ("(none)", 1, Decimal("0.075"), Decimal("0.0375"), Decimal("0.0375")),
    ]
    assert (missed.attempts, missed.spend, missed.batch) == (3, Decimal("0.225"), Decimal("0.1125"))
    assert missed.amount == sum((f.amount for f in missed.features), Decimal(0))
    # A team's: marketing's p11 and p10 alone.
    marketing = ReportMaker(speedy).missed(Scope(since=SPEED_SINCE, team="marketing"))
    assert [(f.feature, f.amount) for f in marketing.features] == [
        ("(none)", Decimal("0.0375")),
        ("summary", Decimal("0.03")),
    ]
