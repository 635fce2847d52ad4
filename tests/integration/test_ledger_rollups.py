"""The ledger's daily rollups, kept as attempts are stored, equal the ones rebuilt from the
attempts: batch lines of both providers, realtime calls with their timings (per team, and per
team, model and feature), retries after a fault, answers shared by identical requests, on
SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from halfrate.sandbox import SandboxServer
from halfrate.store import Store
from halfrate.store.tables import ledger_days
from halfrate.store.team_timings import ledger_call_timings, ledger_team_timings, ledger_timings
from tests.helpers import chat_line, claude_line, lanes, write_jsonl


def snapshot(store: Store) -> list[list[Any]]:
    """Every rollup table's rows, in key order."""
    tables = (ledger_days, ledger_timings, ledger_team_timings, ledger_call_timings)
    with store.read() as conn:
        return [
            [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key))] for t in tables
        ]


def test_rollups_kept_on_the_way_equal_a_rebuild(database_url: str, tmp_path: Path) -> None:
    faults = "line_500=0.2,sync_500=0.2,seed=3"
    with (
        SandboxServer(latency=0.2, faults=faults) as server,
        lanes(database_url, server, max_attempts=10) as hr,
    ):
        batch = [chat_line(f"b{i}", f"nightly {i}") for i in range(30)]
        hr.submit_file(write_jsonl(tmp_path / "b.jsonl", batch), feature="nightly")
        # The same requests again: they take the first ones' answers (lane cache).
        again = hr.submit_file(tmp_path / "b.jsonl", job="again", team="finance")
        assert again.shared == 30
        claude = [claude_line(f"c{i}", f"summary {i}") for i in range(10)]
        hr.submit_file(write_jsonl(tmp_path / "c.jsonl", claude), team="finance")
        waiting = [chat_line(f"w{i}", f"help {i}") for i in range(8)]
        hr.submit_file(write_jsonl(tmp_path / "w.jsonl", waiting), feature="chat", waiting=True)
        summary = hr.run_worker()
        assert summary.lines.succeeded + summary.calls.succeeded == 48
        assert summary.shared == 30
        kept = snapshot(hr.store)
        hr.store.ledger.rebuild_rollups()
        rebuilt = snapshot(hr.store)
    assert kept == rebuilt
    hours, timings, team_timings, call_timings = kept
    column = {name: i for i, name in enumerate(ledger_days.c.keys())}
    assert sum(row[column["attempts"]] for row in hours) > 78  # attempts, retries included
    assert {row[column["cache_kind"]] for row in hours} == {"", "dedup"}
    assert {row[2] for row in timings} == {"ttft", "tibt", "queue"}
    assert {row[1] for row in team_timings} == {"finance"}
    # The calls' histograms: the realtime chat calls alone (no batch line, no cached answer).
    column = {name: i for i, name in enumerate(ledger_call_timings.c.keys())}
    assert {row[column["lane"]] for row in call_timings} == {"realtime"}
    assert {row[column["feature"]] for row in call_timings} == {"chat"}
    assert {row[column["team"]] for row in call_timings} == {""}
    assert {row[column["model"]] for row in call_timings} == {"gpt-4o-mini"}
    # ... and they count every realtime and flex timing the lane histograms count.
    calls: dict[tuple[str, str], int] = {}
    for row in call_timings:
        key = (row[column["lane"]], row[column["metric"]])
        calls[key] = calls.get(key, 0) + row[column["count"]]
    lanes_counted: dict[tuple[str, str], int] = {}
    for _, lane, metric, _, count in timings:
        if lane in ("realtime", "flex"):
            lanes_counted[lane, metric] = lanes_counted.get((lane, metric), 0) + count
    assert calls == lanes_counted
    assert calls["realtime", "ttft"] >= 8
