"""The worker the web server runs in a child process: it answers jobs with the parent's
settings, stops when asked, is started again when it dies, and does not outlive its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import halfrate
from halfrate.api import Halfrate, WorkerProcess
from halfrate.sandbox import SandboxServer
from tests.integration.test_cli import free_port
from tests.integration.test_run import env_for, tickets_csv

WAIT = 60.0


@pytest.fixture
def hr(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Halfrate]:
    with SandboxServer(latency=0.05) as sandbox:
        for name, value in env_for(sandbox).items():
            monkeypatch.setenv(name, value)
        with halfrate.connect() as connection:
            yield connection


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {WAIT:.0f} s"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A child that ended but was not yet reaped is a zombie: gone for this purpose.
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def run_table(hr: Halfrate, tmp_path: Path, prompt: str) -> str:
    plan = hr.plan_table(tickets_csv(tmp_path), prompt)
    return hr.submit_table(plan).job_id


def test_it_answers_a_job_and_stops_when_asked(hr: Halfrate, tmp_path: Path) -> None:
    job = run_table(hr, tmp_path, "Which team? {ticket text}")
    worker = WorkerProcess(hr)
    worker.start()
    try:
        pid = worker.pid
        assert pid is not None
        assert pid != os.getpid()
        eventually(lambda: hr.status(job).done, "the job's end")
        assert set(hr.status(job).counts) == {"succeeded"}
    finally:
        worker.stop()
    assert not alive(pid)


def test_a_worker_that_dies_is_started_again(hr: Halfrate, tmp_path: Path) -> None:
    worker = WorkerProcess(hr)
    worker.start()
    try:
        first = worker.pid
        assert first is not None
        eventually(lambda: alive(first), "the first worker's start")
        os.kill(first, signal.SIGKILL)
        eventually(lambda: worker.pid not in (None, first), "a new worker")
        job = run_table(hr, tmp_path, "Summarise: {ticket text}")
        eventually(lambda: hr.status(job).done, "the job's end under the new worker")
    finally:
        worker.stop()


def test_the_worker_does_not_outlive_a_killed_parent(hr: Halfrate, tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import time, halfrate
                from halfrate.api import WorkerProcess
                hr = halfrate.connect()
                worker = WorkerProcess(hr)
                worker.start()
                print(worker.pid, flush=True)
                time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        eventually(lambda: alive(child), "the worker's start")
        parent.kill()  # no clean-up of any kind runs in the parent
        parent.wait(10)
        eventually(lambda: not alive(child), "the orphaned worker's end")
    finally:
        parent.kill()


def test_a_worker_that_cannot_start_says_why_in_one_line_and_tries_again(
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-show-0123456789abcdef")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nobody there
    with halfrate.connect(realtime_max_retries=0) as hr:
        run_table(hr, tmp_path, "Which team? {ticket text}")  # work for that provider
        worker = WorkerProcess(hr)
        worker.start()
        first = worker.pid
        try:
            eventually(lambda: worker.pid != first, "a second try")
        finally:
            started = time.monotonic()
            worker.stop()
            assert time.monotonic() - started < 10  # a child that died never holds up stop()
    assert "the worker process ended (exit code 2)" in caplog.text
    said = capfd.readouterr().err
    assert "the worker stopped: OpenAI check of" in said
    assert "cannot reach the API" in said
    assert "Traceback" not in said
    assert "0123456789abcdef" not in said + caplog.text
