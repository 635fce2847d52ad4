"""The partial days of a report's period, summed in SQL a group at a time (store.edge_sums),
equal adding a fact per attempt (rollup.read_facts): the day sums and all four timing
histograms, over random mixes of lanes, outcomes, tags, deadlines, moves, waiting, unbilled
and unpriced attempts, shared and single timings, across day boundaries, on both databases."""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from halfrate.store import Store
from halfrate.store.edge_sums import add_attempts_between
from halfrate.store.rollup import DAY, Rollup, read_facts
from halfrate.store.tables import attempts, jobs, requests, routes

START = 20_000 * DAY + 5_000.0  # a few days, from the middle of one


def _seed(store: Store, rng: random.Random, count: int) -> None:
    def maybe(value: object, chance: float = 0.7) -> object:
        return value if rng.random() < chance else None

    shared_timings = [0.0, 0.05, 0.999, 1.0, 12.5, 3600.0]
    with store.write() as conn:
        conn.execute(sa.insert(jobs).values(id="job_edges", name="edges", created_at=START))
        route_ids = []
        for waiting in (True, False):
            inserted = conn.execute(
                sa.insert(routes).values(
                    lane="realtime",
                    model="gpt-4o-mini",
                    waiting=waiting,
                    policy_source="test",
                    explanation="test",
                    created_at=START,
                )
            )
            route_ids.append(inserted.inserted_primary_key[0])  # type: ignore[index]
        for i in range(count):
            created = START + rng.uniform(0, 2.5 * DAY)
            if rng.random() < 0.05:  # on a day's first instant
                created = float((int(created // DAY) + rng.choice([0, 1])) * DAY)
            submitted = created - rng.uniform(0, 3 * DAY)
            request_id = conn.execute(
                sa.insert(requests).values(
                    job_id="job_edges",
                    key=f"k{i}",
                    provider="openai",
                    endpoint="/v1/chat/completions",
                    model="gpt-4o-mini",
                    body_bytes=2,
                    state="succeeded",
                    lane="batch",
                    route_id=maybe(rng.choice(route_ids)),
                    moved_by=maybe(rng.choice(["guard", "fallback"]), 0.3),
                    deadline=maybe(submitted + rng.uniform(-3600, 40 * 3600), 0.5),
                    created_at=submitted,
                    updated_at=created,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            billed = rng.random() < 0.8

            timing = rng.choice([None, "shared", "own"])

            def tokens(billed: bool = billed) -> object:
                return maybe(rng.randint(0, 5000)) if billed else maybe(rng.randint(0, 9), 0.2)

            def seconds(timing: str | None = timing) -> object:
                if timing == "shared":
                    return maybe(rng.choice(shared_timings))
                return maybe(rng.uniform(0, 90_000)) if timing == "own" else None

            conn.execute(
                sa.insert(attempts).values(
                    request_id=request_id,
                    lane=rng.choice(["realtime", "flex", "batch", "cache"]),
                    outcome=rng.choice(["succeeded", "failed", "retry", "cancelled"]),
                    input_tokens=rng.randint(1, 9000) if billed else None,
                    cached_tokens=tokens(),
                    output_tokens=tokens(),
                    reasoning_tokens=tokens(),
                    cache_write_tokens=tokens(),
                    cache_write_1h_tokens=tokens(),
                    ttft=seconds(),
                    tibt=seconds(),
                    queue_seconds=seconds(),
                    cost_nano=maybe(rng.randint(0, 10**9)),
                    realtime_cost_nano=maybe(rng.randint(0, 2 * 10**9)),
                    created_at=created,
                    provider=maybe(rng.choice(["openai", "anthropic"]), 0.9),
                    model=maybe(rng.choice(["gpt-4o-mini", "claude-x"]), 0.9),
                    feature=maybe(rng.choice(["nightly", "chat", ""])),
                    team=maybe(rng.choice(["finance", "support", ""])),
                    cache_kind=maybe(rng.choice(["dedup", "response"]), 0.3),
                )
            )


def _seed_a_stored_batch(store: Store, size: int) -> None:
    """Attempts alike in every key and timing, as a stored batch's are (one send, one queue
    wait): one group of ``size`` in SQL, ``size`` facts one by one."""
    created = START + 0.5 * DAY
    with store.write() as conn:
        first = conn.execute(sa.select(sa.func.max(requests.c.id))).scalar() or 0
        for i in range(size):
            conn.execute(
                sa.insert(requests).values(
                    job_id="job_edges",
                    key=f"batch{i}",
                    provider="openai",
                    endpoint="/v1/chat/completions",
                    model="gpt-4o-mini",
                    body_bytes=2,
                    state="succeeded",
                    lane="batch",
                    created_at=created - 7200.0,
                    updated_at=created,
                )
            )
        conn.execute(
            sa.insert(attempts).from_select(
                [
                    "request_id",
                    "lane",
                    "outcome",
                    "input_tokens",
                    "output_tokens",
                    "cost_nano",
                    "realtime_cost_nano",
                    "created_at",
                    "provider",
                    "model",
                    "team",
                    "queue_seconds",
                ],
                sa.select(
                    requests.c.id,
                    sa.literal("batch"),
                    sa.literal("succeeded"),
                    sa.literal(120),
                    sa.literal(16),
                    sa.literal(900),
                    sa.literal(1800),
                    sa.literal(created),
                    sa.literal("openai"),
                    sa.literal("gpt-4o-mini"),
                    sa.literal("finance"),
                    sa.literal(7200.0),
                ).where(requests.c.id > first),
            )
        )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sums_in_sql_equal_a_fact_per_attempt(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    _seed(store, rng, 400)
    _seed_a_stored_batch(store, 25)
    windows = [
        (START, START + 3 * DAY),  # everything
        (START + 0.3 * DAY, START + 1.7 * DAY),  # across a day boundary
        (START + 100.0, START + 200.0),  # a sliver (perhaps nothing)
        ((START // DAY + 1) * DAY, (START // DAY + 2) * DAY),  # a whole day, edge to edge
    ]
    with store.read() as conn:
        for start, stop in windows:
            for terms in ([], [attempts.c.team == "finance"], [attempts.c.feature == "chat"]):
                in_sql = Rollup()
                add_attempts_between(conn, in_sql, start, stop, terms)
                where = sa.and_(
                    attempts.c.created_at >= start, attempts.c.created_at < stop, *terms
                )
                one_by_one = Rollup().extend(read_facts(conn, where))
                assert in_sql.days == one_by_one.days
                assert in_sql.timings == one_by_one.timings
                assert in_sql.team_timings == one_by_one.team_timings
                assert in_sql.call_timings == one_by_one.call_timings
                if (start, stop) == windows[0] and not terms:  # the mix is really mixed
                    assert len(one_by_one.days) > 50
                    assert one_by_one.team_timings
                    assert one_by_one.call_timings
