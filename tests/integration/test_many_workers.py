"""Several `halfrate worker` processes on one store, SQLite file or PostgreSQL: every request is
claimed by one of them, every batch created once, every line paid once and stored once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from halfrate.sandbox import SandboxServer
from tests.helpers import chat_line, fast_halfrate, request_states, write_jsonl

WORKERS = 3
REQUESTS = 1_200


def worker_env(database_url: str, server: SandboxServer, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HALFRATE_DATABASE_URL": database_url,
        "HALFRATE_HOME": str(home),
        "HALFRATE_OPENAI_MAX_BATCH_LINES": "50",
        "HALFRATE_POLL_INITIAL_SECONDS": "0.05",
        "HALFRATE_POLL_MAX_SECONDS": "0.2",
        "HALFRATE_WORKER_IDLE_SECONDS": "0.1",
        "HALFRATE_RETRY_BACKOFF_SECONDS": "0",
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sandbox-test",
    }


def test_several_worker_processes_share_one_store(database_url: str, tmp_path: Path) -> None:
    lines = [chat_line(f"k{i:05d}", f"question {i}") for i in range(REQUESTS)]
    path = write_jsonl(tmp_path / "many.jsonl", lines)
    with SandboxServer(latency=0.3) as server:
        hr = fast_halfrate(database_url)
        try:
            assert hr.submit_file(path, job="many").created == REQUESTS
        finally:
            hr.close()
        env = worker_env(database_url, server, tmp_path / "home")
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "halfrate", "worker", "--until-idle"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(WORKERS)
        ]
        outputs = [proc.communicate(timeout=240) for proc in procs]
        for proc, (_, err) in zip(procs, outputs, strict=True):
            assert proc.returncode == 0, err
        entries = server.app.state.sandbox.ledger.entries()
        batches_at_provider = server.app.state.sandbox.list_batches(after=None, limit=100)

    charged: dict[str, int] = {}
    for entry in entries:
        if entry["charged"]:
            charged[entry["custom_id"]] = charged.get(entry["custom_id"], 0) + 1
    assert len(charged) == REQUESTS
    assert set(charged.values()) == {1}
    assert len(batches_at_provider["data"]) == REQUESTS // 50  # each batch created once

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            states = dict(request_states(conn))
            landed = conn.execute(sa.text("SELECT count(DISTINCT request_id) FROM results"))
            landed_total = conn.execute(sa.text("SELECT count(*) FROM results")).scalar_one()
            packed_by = conn.execute(sa.text("SELECT count(*) FROM batches")).scalar_one()
            assert landed.scalar_one() == landed_total == REQUESTS
    finally:
        engine.dispose()
    assert states == {"succeeded": REQUESTS}
    assert packed_by == REQUESTS // 50
    # The work was shared: more than one process did some of it (submitted or ingested
    # batches; which process takes which step is up to the machine's scheduling).
    did_work = [out for out, _ in outputs if " 0 batches submitted, 0 ingested" not in out]
    assert len(did_work) >= 2, outputs
