"""The ledger's hourly rollups, kept as attempts are stored, equal the ones rebuilt from the
attempts: batch lines of both providers, realtime calls with their timings, retries after a
fault, answers shared by identical requests, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from halfrate.sandbox import SandboxServer
from halfrate.store import Store
from halfrate.store.tables import ledger_days, ledger_timings
from tests.helpers import chat_line, claude_line, lanes, write_jsonl


def snapshot(store: Store) -> tuple[list[Any], list[Any]]:
    with store.read() as conn:
        hours = conn.execute(sa.select(ledger_days).order_by(*ledger_days.primary_key)).all()
        timings = conn.execute(
            sa.select(ledger_timings).order_by(*ledger_timings.primary_key)
        ).all()
    return [tuple(r) for r in hours], [tuple(r) for r in timings]


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
    hours, timings = kept
    column = {name: i for i, name in enumerate(ledger_days.c.keys())}
    assert sum(row[column["attempts"]] for row in hours) > 78  # attempts, retries included
    assert {row[column["cache_kind"]] for row in hours} == {"", "dedup"}
    assert {row[2] for row in timings} == {"ttft", "tibt", "queue"}
