"""A batch the provider refuses at validation: named lines fail with the provider's message, the
others go back to the queue without spending an attempt; an unnamed failure spends one each."""

from __future__ import annotations

from pathlib import Path

import openai
import sqlalchemy as sa

from halfrate.api import Halfrate
from halfrate.dispatch import steps
from halfrate.providers.base import Limits, LineError, RemoteBatch
from halfrate.providers.openai import OpenAIBatchProvider
from halfrate.records import IngestCounts
from halfrate.store.tables import attempts, requests
from tests.helpers import chat_line, claim, fast_halfrate, write_jsonl


def run_failed_batch(
    database_url: str, tmp_path: Path, errors: list[LineError]
) -> tuple[Halfrate, IngestCounts]:
    hr = fast_halfrate(database_url)
    path = write_jsonl(tmp_path / "r.jsonl", [chat_line(f"k{i}", f"q {i}") for i in range(4)])
    hr.submit_file(path, job="refused")
    batch = claim(hr.store, max_lines=10)
    hr.store.queue.mark_submitted(
        batch.id, provider_batch_id="batch_refused", provider_status="validating", next_poll_at=0
    )
    remote = RemoteBatch(
        id="batch_refused", status="failed", terminal=True, errors=errors, failed_validation=True
    )
    # Nothing is downloaded for a failed batch, so this client is never used.
    client = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9/v1", max_retries=0)
    provider = OpenAIBatchProvider(client, Limits(10, 10**9))
    ctx = steps.StepContext(hr.store, hr.settings, tmp_path / "spool")
    counts = steps.ingest(ctx, provider, hr.store.queue.get(batch.id), remote)
    client.close()
    assert counts is not None
    return hr, counts


def states(hr: Halfrate) -> dict[str, tuple[str, int, str | None]]:
    with hr.store.read() as conn:
        rows = conn.execute(
            sa.select(
                requests.c.key, requests.c.state, requests.c.attempt_count, requests.c.last_error
            )
        ).all()
    return {key: (state, n, error) for key, state, n, error in rows}


def test_named_lines_fail_and_the_rest_are_requeued_for_free(
    database_url: str, tmp_path: Path
) -> None:
    errors = [LineError("invalid_json_line", "This line is not parseable as valid JSON.", 2)]
    hr, counts = run_failed_batch(database_url, tmp_path, errors)
    try:
        assert (counts.failed, counts.retried) == (1, 3)
        by_key = states(hr)
        assert by_key["k1"][:2] == ("failed", 1)
        assert "not parseable" in (by_key["k1"][2] or "")
        for key in ("k0", "k2", "k3"):
            assert by_key[key][:2] == ("queued", 0)  # no attempt spent on the innocent lines
            assert "failed validation" in (by_key[key][2] or "")
        with hr.store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(attempts)).scalar_one() == 1
        result = {r.key: r for r in hr.results("refused")}["k1"]
        assert result.error == {
            "code": "invalid_json_line",
            "message": "This line is not parseable as valid JSON.",
        }
    finally:
        hr.close()


def test_a_failure_naming_no_line_spends_an_attempt_each(database_url: str, tmp_path: Path) -> None:
    hr, counts = run_failed_batch(
        database_url, tmp_path, [LineError("too_many_tasks", "too many", None)]
    )
    try:
        assert counts.retried == 4
        assert {v[:2] for v in states(hr).values()} == {("queued", 1)}
    finally:
        hr.close()
