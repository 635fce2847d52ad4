"""A worker's start: it asks only the providers with work waiting, and a transient failure
(a 500, a dropped connection) is retried like any call instead of ending the worker; a refused
key or a provider that stays down still ends it with one line."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from halfrate.errors import ProviderUnreachable
from halfrate.sandbox import SandboxServer
from tests.helpers import chat_line, fast_halfrate, write_jsonl
from tests.integration.test_cli import free_port

LINES = [chat_line(f"k{i}", f"start-up question {i}") for i in range(5)]


class _OnFirstWait(logging.Handler):
    """Starts ``thread`` the first time the worker logs that it is checking again."""

    def __init__(self, thread: threading.Thread) -> None:
        super().__init__(logging.WARNING)
        self.thread = thread
        self.started = False

    def emit(self, record: logging.LogRecord) -> None:
        if not self.started and "checking again" in record.getMessage():
            self.started = True
            self.thread.start()


def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_a_provider_down_at_start_is_waited_for_and_the_work_done(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sandbox-start")
    sandbox = SandboxServer(latency=0.05, port=port)
    # The provider comes back once the worker has found it down and said it waits (a restart,
    # a network blip): started on that log line, not on a timer, so a slow start-up of the
    # worker cannot miss the outage.
    comeback = threading.Thread(target=sandbox.start)
    hr = fast_halfrate(sqlite_url, realtime_backoff_seconds=0.5, realtime_max_retries=6)
    handler = _OnFirstWait(comeback)
    logging.getLogger("halfrate").addHandler(handler)
    try:
        job = hr.submit_file(write_jsonl(tmp_path / "in.jsonl", LINES))
        with caplog.at_level(logging.WARNING, logger="halfrate"):
            hr.run_worker()
        assert set(hr.status(job.job_id).counts) == {"succeeded"}
    finally:
        logging.getLogger("halfrate").removeHandler(handler)
        if comeback.is_alive() or handler.started:
            comeback.join()
        hr.close()
        sandbox.stop()
    waits = [r.getMessage() for r in caplog.records if "checking again" in r.getMessage()]
    assert waits, "the worker did not wait for the provider"
    assert all("cannot reach the API" in line for line in waits)


def test_a_provider_without_work_is_not_asked(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(latency=0.05) as sandbox:
        monkeypatch.setenv("OPENAI_BASE_URL", sandbox.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sandbox-start")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", nowhere())  # down, but nothing waits for it
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sandbox-start")
        hr = fast_halfrate(sqlite_url, realtime_max_retries=0)
        try:
            job = hr.submit_file(write_jsonl(tmp_path / "in.jsonl", LINES))
            hr.run_worker()
            assert set(hr.status(job.job_id).counts) == {"succeeded"}
        finally:
            hr.close()


def test_a_provider_that_stays_down_ends_the_worker_after_the_retries(
    sqlite_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", nowhere() + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sandbox-start")
    hr = fast_halfrate(sqlite_url, realtime_backoff_seconds=0.01, realtime_max_retries=2)
    try:
        hr.submit_file(write_jsonl(tmp_path / "in.jsonl", LINES))
        with (
            caplog.at_level(logging.WARNING, logger="halfrate"),
            pytest.raises(ProviderUnreachable, match="cannot reach the API"),
        ):
            hr.run_worker()
    finally:
        hr.close()
    assert sum("checking again" in r.getMessage() for r in caplog.records) == 2
