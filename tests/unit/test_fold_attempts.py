"""Stored batches add their attempts to the rollups a group at a time (fold_attempts): the sums
and histograms are exactly those of adding a fact per attempt (Rollup.extend), whatever mix of
kinds, lanes, days, outcomes, unbilled, unpriced and timed rows comes in."""

from __future__ import annotations

import random

from halfrate.models import Lane
from halfrate.store.attempts import ATTEMPT_COLUMNS, PricedAs, fold_attempts
from halfrate.store.rollup import DAY, Rollup

KINDS = [
    PricedAs("openai", "gpt-4o-mini", Lane.BATCH, "nightly", "finance", 1_000.0, False, False),
    PricedAs("openai", "gpt-4o-mini", Lane.BATCH, None, None, 1_000.0, False, False, 90_000.0),
    PricedAs("anthropic", "claude-haiku-4-5", Lane.REALTIME, "chat", None, 5.0, True, True, 50.0),
]


def attempt_row(rng: random.Random) -> tuple[object, ...]:
    values: dict[str, object] = dict.fromkeys(ATTEMPT_COLUMNS)
    billed = rng.random() < 0.8
    values.update(
        lane=rng.choice(["batch", "batch", "realtime", "flex"]),
        outcome=rng.choice(["succeeded", "succeeded", "failed", "retry"]),
        created_at=rng.choice([0.0, 3.0, DAY + 7.0]) + rng.random(),
        cost_nano=None if billed and rng.random() < 0.2 else rng.randrange(10**6),
        realtime_cost_nano=rng.choice([None, rng.randrange(10**6)]),
        queue_seconds=rng.choice([None, rng.random() * 5_000]),
        ttft=rng.choice([None, rng.random() * 3]),
        tibt=rng.choice([None, rng.random() / 10]),
    )
    if billed:
        for name in ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens"):
            values[name] = rng.randrange(5_000)
        for name in ("cache_write_tokens", "cache_write_1h_tokens"):
            values[name] = rng.choice([None, 0, rng.randrange(3_000)])
    return tuple(values[name] for name in ATTEMPT_COLUMNS)


def test_folding_groups_equals_adding_each_fact() -> None:
    rng = random.Random(18)
    for _ in range(20):
        rows = [attempt_row(rng) for _ in range(rng.randrange(1, 400))]
        priced = [rng.choice(KINDS) for _ in rows]
        folded = Rollup()
        fold_attempts(folded, rows, priced)
        one_by_one = Rollup().extend(item.fact(row) for item, row in zip(priced, rows, strict=True))
        assert folded.days == one_by_one.days
        assert folded.timings == one_by_one.timings
        assert folded.team_timings == one_by_one.team_timings
        assert folded.call_timings == one_by_one.call_timings


def test_folding_adds_to_what_the_rollup_holds() -> None:
    rng = random.Random(7)
    rows = [attempt_row(rng) for _ in range(50)]
    priced = [KINDS[0]] * 50
    twice = Rollup()
    fold_attempts(twice, rows[:20], priced[:20])
    fold_attempts(twice, rows[20:], priced[20:])
    once = Rollup()
    fold_attempts(once, rows, priced)
    assert twice.days == once.days
    assert twice.timings == once.timings
