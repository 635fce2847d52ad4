"""`halfrate cache stats` and `halfrate cache clear` over a store whose work ran against the
sandbox: an answered request is a response-cache entry that answers an identical request at
$0; a clear (of a feature, or of answers older than a span) stops that, keeping the answers in
their results; answers past the policy's response_cache time are no entries; bad spans are one
line."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import halfrate
from halfrate.api import Halfrate, RunMode
from halfrate.sandbox.server import SandboxServer
from halfrate.store.tables import requests
from tests.integration.test_cli import assert_one_line_error, run
from tests.integration.test_crash_and_api import spec


@pytest.fixture
def hr(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Halfrate]:
    with SandboxServer(latency=0.0) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sandbox-cache")
        monkeypatch.setenv("HALFRATE_POLL_INITIAL_SECONDS", "0.02")
        monkeypatch.setenv("HALFRATE_WORKER_IDLE_SECONDS", "0.02")
        with halfrate.connect() as connection:
            yield connection


def lanes(hr: Halfrate, job: str) -> dict[str, str]:
    with hr.store.read() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT r.key, r.lane FROM requests r JOIN jobs j ON j.id = r.job_id "
                "WHERE j.name = :job"
            ),
            {"job": job},
        ).all()
    return dict(rows)


def ask(hr: Halfrate, job: str, feature: str, *keys: str) -> dict[str, str]:
    hr.submit([spec(key, f"question {key}") for key in keys], job=job, feature=feature)
    hr.run_worker(RunMode.UNTIL_IDLE)
    assert {r.status for r in hr.results(job)} == {"succeeded"}
    return lanes(hr, job)


def stats_rows(*args: str) -> dict[str, list[str]]:
    shown = run("cache", "stats", *args)
    assert shown.returncode == 0, shown.stderr
    return {line.split()[0]: line.split()[1:] for line in shown.stdout.splitlines()[2:]}


def test_answers_are_entries_that_answer_again_until_cleared(hr: Halfrate) -> None:
    assert ask(hr, "first", "triage", "a", "b") == {"a": "batch", "b": "batch"}
    ask(hr, "other", "digest", "c")
    rows = stats_rows()
    assert rows["triage"][:3] == ["2", "0", "$0.0000"]
    assert rows["digest"][:2] == ["1", "0"]
    # An identical request is answered from the cache, at $0: a hit that saved its price.
    assert ask(hr, "again", "triage", "a") == {"a": "cache"}
    hits = stats_rows("--feature", "triage")
    assert list(hits) == ["triage"]
    assert hits["triage"][1] == "1"
    (stat,) = hr.cache_stats("triage")
    assert stat.saved > 0  # the realtime price of the request answered (a fraction of a cent)
    # Answers younger than an hour are not "older than 1h": nothing cleared, still answering.
    kept = run("cache", "clear", "--feature", "triage", "--older-than", "1h")
    assert "cleared 0 cached answers of feature 'triage' older than 1h" in kept.stdout
    assert ask(hr, "still", "triage", "b") == {"b": "cache"}
    cleared = run("cache", "clear", "--feature", "triage")
    assert "cleared 2 cached answers of feature 'triage'" in cleared.stdout
    assert ask(hr, "after", "triage", "a") == {"a": "batch"}  # asked again
    assert ask(hr, "digest-again", "digest", "c") == {"c": "cache"}  # another feature's stays
    assert {r.key for r in hr.results("first")} == {"a", "b"}  # the answers stay results
    assert [e.action for e in hr.audit_log()] == ["cache.clear", "cache.clear"]


def test_answers_past_the_policys_time_are_no_entries(hr: Halfrate) -> None:
    ask(hr, "first", "triage", "a")
    with hr.store.write() as conn:  # answered eight days ago: past the 7 days of the policy
        conn.execute(sa.update(requests).values(updated_at=time.time() - 8 * 86400))
    assert "nothing cached yet" in run("cache", "stats").stdout
    assert ask(hr, "again", "triage", "a") == {"a": "batch"}
    old = run("cache", "clear", "--older-than", "7d")
    assert "cleared 0 cached answers of every feature older than 7d" in old.stdout


@pytest.mark.parametrize("span", ["3x", "", "-1d", "99999w"])
def test_a_bad_span_is_one_line(isolated_env: Path, span: str) -> None:
    assert_one_line_error(run("cache", "clear", "--older-than", span), "duration")
