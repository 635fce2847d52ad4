"""Reports over a large ledger: N attempts (default 1,000,000) of N requests spread over 30
days, 20 features, 6 teams, 5 models and three lanes, on SQLite and on PostgreSQL. Each
`halfrate report` grouping (with its missed savings and KPIs) and a before/after are timed.

The baseline, in the same run on the same store, is the least a report without rollups must
do: one scan summing the cost column of every ledger row. The goal is each report under 2 s.

    python bench/report.py [--rows 1000000] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from halfrate.ledger.report import GROUP_NAMES, ReportMaker
from halfrate.store import Store
from halfrate.store.base import bulk_insert
from halfrate.store.ledger_reads import Scope
from halfrate.store.tables import attempts, jobs, requests, routes
from workers import drop_database, fresh_database

DAY = 86400.0
START = 1_793_000_000.0  # late October 2026
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-6"),
]
BODY = '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + "x" * 360 + '"}]}'
CHUNK = 50_000


def rows(n: int) -> Iterator[tuple[list[tuple[object, ...]], list[tuple[object, ...]]]]:
    """Requests and their attempts, in chunks."""
    dice = random.Random(7)
    for first in range(1, n + 1, CHUNK):
        reqs: list[tuple[object, ...]] = []
        tries: list[tuple[object, ...]] = []
        for i in range(first, min(n, first + CHUNK - 1) + 1):
            provider, model = MODELS[i % len(MODELS)]
            feature, team = f"feature-{i % 20:02d}", f"team-{i % 6}"
            at = START + dice.random() * 30 * DAY
            roll = dice.random()
            lane = "batch" if roll < 0.7 else "realtime" if roll < 0.95 else "flex"
            waiting = lane == "realtime" and roll < 0.85
            route = 1 if waiting else 2
            deadline = None if dice.random() < 0.5 else at + dice.choice((3600.0, 2 * DAY))
            reqs.append(
                (
                    *(i, "job", f"k{i}", provider, "/v1/chat/completions", model),
                    *(len(BODY), feature, team, "succeeded", lane, route, deadline, at - 60, at),
                )
            )
            tokens = dice.randint(50, 4000)
            realtime = tokens * 150
            cost = realtime if lane == "realtime" else realtime // 2
            tries.append(
                (
                    *(i, lane, "succeeded", tokens, tokens // 4, dice.randint(10, 800)),
                    *(cost, realtime, at, provider, model, feature, team),
                    *(dice.random() if lane != "batch" else None, dice.random() * 600),
                )
            )
        yield reqs, tries


REQUEST_COLUMNS = (
    "id",
    "job_id",
    "key",
    "provider",
    "endpoint",
    "model",
    "body_bytes",
    "feature",
    "team",
    "state",
    "lane",
    "route_id",
    "deadline",
    "created_at",
    "updated_at",
)
ATTEMPT_COLUMNS = (
    "request_id",
    "lane",
    "outcome",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "cost_nano",
    "realtime_cost_nano",
    "created_at",
    "provider",
    "model",
    "feature",
    "team",
    "ttft",
    "queue_seconds",
)


def fill(store: Store, n: int) -> float:
    started = time.perf_counter()
    with store.engine.begin() as conn:
        conn.execute(sa.insert(jobs).values(id="job", name="bench", created_at=START))
        for route_id, waiting in ((1, True), (2, False)):
            conn.execute(
                sa.insert(routes).values(
                    id=route_id,
                    lane="realtime",
                    model="gpt-4o-mini",
                    waiting=waiting,
                    policy_source="bench",
                    explanation="bench",
                    created_at=START,
                )
            )
    for reqs, tries in rows(n):
        with store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                copy(conn, "requests", REQUEST_COLUMNS, reqs)
                copy(conn, "attempts", ATTEMPT_COLUMNS, tries)
            else:
                bulk_insert(conn, requests, REQUEST_COLUMNS, reqs)
                bulk_insert(conn, attempts, ATTEMPT_COLUMNS, tries)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def roll_up(store: Store) -> float:
    """The rollups of rows filled by hand, as the migration builds them for an old store
    (halfrate itself keeps them as it stores each attempt)."""
    started = time.perf_counter()
    store.ledger.rebuild_rollups()
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def copy(
    conn: sa.Connection, table: str, columns: tuple[str, ...], data: list[tuple[object, ...]]
) -> None:
    """PostgreSQL's COPY: filling a million rows by INSERT would take minutes."""
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    with raw.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as stream:
        for row in data:
            stream.write_row(row)


def timed(work: object) -> float:
    assert callable(work)
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def show(what: str, seconds: float, base: float) -> None:
    print(f"  {what:<36} {seconds:6.2f} s   ratio to baseline {seconds / base:5.1f}")


def measure(name: str, url: str, n: int) -> None:
    store = Store.open(url)
    try:
        print(f"{name}: filling {n:,} ledger rows ... ", end="", flush=True)
        print(f"{fill(store, n):.0f} s; rolling them up ... ", end="", flush=True)
        print(f"{roll_up(store):.0f} s")
        maker = ReportMaker(store)

        def baseline() -> None:
            with store.read() as conn:
                conn.execute(sa.select(sa.func.sum(attempts.c.cost_nano))).scalar()

        timed(baseline)  # warm the cache for everyone alike
        base = min(timed(baseline) for _ in range(3))
        print(f"  {'baseline: sum of every cost':<36} {base:6.2f} s")
        now = START + 31 * DAY
        worst = 0.0
        for by in GROUP_NAMES:
            seconds = timed(lambda by=by: maker.report(by, Scope(), now))
            worst = max(worst, seconds)
            show(f"report --by {by}", seconds, base)
        week = Scope(since=now - 7 * DAY)
        seconds = timed(lambda: maker.report("day", week, now))
        worst = max(worst, seconds)
        show("report --by day --since 7d", seconds, base)
        one = Scope(feature="feature-03")
        seconds = timed(lambda: maker.report("day", one, now))
        worst = max(worst, seconds)
        show("report --by day --feature F", seconds, base)
        compare = Scope(feature="feature-03")
        seconds = timed(lambda: maker.compare(compare, START + 15 * DAY, now))
        worst = max(worst, seconds)
        show("report --feature F --compare-at D", seconds, base)
        verdict = "met" if worst < 2.0 else "NOT met"
        print(f"  slowest {worst:.2f} s: the 2 s goal is {verdict}")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure("SQLite", f"sqlite:///{tmp}/ledger.db", args.rows)
    name = "halfrate_bench_report"
    try:
        url = fresh_database(args.postgres, name)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL: skipped, unreachable ({exc})")
        return
    try:
        measure("PostgreSQL", url, args.rows)
    finally:
        drop_database(args.postgres, name)


if __name__ == "__main__":
    main()
