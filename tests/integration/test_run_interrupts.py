"""`halfrate run` interrupted in a real process, again and again: it exits 130 (Ctrl-C) or 143
(SIGTERM) saying the job goes on, never touches an answers file it has not finished, and the
same command continues until every row is answered once and paid once. Killed outright
(SIGKILL) at any moment, writing the answers included, it leaves the earlier answers or the
finished ones, never a part of a file, and the same command finishes."""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import halfrate
from halfrate.sandbox import SandboxServer

ROWS = 120
PROMPT = "Sort: {text}"
EARLIER = "answers of an earlier run, kept until a run has finished\n"


def write_table(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows([str(n), f"ticket number {n}"] for n in range(1, ROWS + 1))


def run_env(sandbox: SandboxServer) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONFAULTHANDLER": "1",  # a hang's stacks, on SIGABRT (see finish)
        "OPENAI_BASE_URL": sandbox.base_url,
        "OPENAI_API_KEY": "sandbox-run",
        "HALFRATE_OPENAI_MAX_BATCH_LINES": "30",
        "HALFRATE_POLL_INITIAL_SECONDS": "0.1",
        "HALFRATE_POLL_MAX_SECONDS": "0.3",
        "HALFRATE_WORKER_IDLE_SECONDS": "0.1",
        # A killed run's leases run out in seconds, not the minute they last by default, so
        # the next run takes its steps over without waiting out the default.
        "HALFRATE_LEASE_SECONDS": "3",
    }


def assert_answered_once(answers: Path, sandbox: SandboxServer, seed: int) -> None:
    with answers.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == [str(n) for n in range(1, ROWS + 1)]
    assert {r["status"] for r in rows} == {"succeeded"}
    assert all(f"ticket number {r['id']}" in r["answer"] for r in rows)
    # Every row paid once at the sandbox, however often the run was interrupted.
    charged = [e for e in sandbox.app.state.sandbox.ledger.entries() if e["charged"]]
    assert len(charged) == ROWS, (seed, len(charged))
    assert len({e["custom_id"] for e in charged}) == ROWS, seed


def finish(proc: subprocess.Popen[str], seconds: float, seed: int) -> tuple[str, str]:
    """The process's output once it ends; if it hangs, its threads' stacks (faulthandler
    prints them on SIGABRT) in the failure, so a hang says where it is."""
    try:
        return proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"halfrate run hung (seed {seed}); its stacks:\n{err[-8000:]}\n{out[-2000:]}")


def start_run(path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "halfrate", "run", str(path), "--prompt", PROMPT, "--yes"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finished(answers: Path) -> bool:
    with answers.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return len(rows) == ROWS and {r["status"] for r in rows} == {"succeeded"}


def wait_until_stored(proc: subprocess.Popen[str], seconds: float) -> None:
    """Read its output until the job is stored (it then waits for its batches)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "requests stored" in line or (not line and proc.poll() is not None):
            return
    pytest.fail("halfrate run stored no job in time")


@pytest.mark.timeout(300)
def test_interrupts_never_clobber_answers_and_the_same_command_finishes_paying_once(
    tmp_path: Path, isolated_env: Path
) -> None:
    path = tmp_path / "tickets.csv"
    write_table(path)
    with halfrate.connect() as hr:
        answers = hr.plan_table(path, PROMPT).default_output()
    answers.write_text(EARLIER, encoding="utf-8")  # what an earlier, finished run wrote
    # Not a HALFRATE_ variable: the isolated environment removes those before the test runs.
    seed = int(os.environ.get("TEST_INTERRUPT_SEED", random.randrange(1_000_000)))
    dice = random.Random(seed)
    codes = []
    # Batches take long enough that every signal finds the run waiting for them.
    with SandboxServer(latency=10.0) as sandbox:
        env = run_env(sandbox)
        for attempt in range(4):
            proc = start_run(path, env)
            if attempt % 2 == 0:
                time.sleep(dice.uniform(0.2, 4.5))  # Ctrl-C at any moment, start-up included
                chosen = signal.SIGINT
            else:
                wait_until_stored(proc, 60)  # SIGTERM while it waits for its batches
                time.sleep(dice.uniform(0.0, 1.5))
                chosen = signal.SIGTERM
            proc.send_signal(chosen)
            _out, err = finish(proc, 120, seed)
            codes.append(proc.returncode)
            if proc.returncode in (0, -chosen) and attempt >= 2 and finished(answers):
                # The batches of the first runs ended before this signal came: the run was
                # done, or exiting once done (its handler given back), when it came.
                break
            assert proc.returncode == 128 + chosen, (seed, proc.returncode, err)
            assert "Traceback" not in err, (seed, err)
            if "goes on" in err:
                assert "the same command continues it" in err
            # An interrupted run leaves the earlier answers as they were, or (a signal that came
            # once every row had ended) replaced whole by the finished ones.
            assert answers.read_text(encoding="utf-8") == EARLIER or finished(answers), seed
            assert not list(tmp_path.glob(".*.partial"))
        # The first two signals always find it waiting (a batch takes 10 s).
        assert codes[:2] == [130, 143], (seed, codes)
        final = start_run(path, env)
        _out, err = finish(final, 180, seed)
        assert final.returncode == 0, (seed, err)
        assert_answered_once(answers, sandbox, seed)
    print(f"\ninterrupts (seed {seed}): exit codes {codes}, then 0")


@pytest.mark.timeout(300)
def test_sigkill_at_any_moment_leaves_a_whole_answers_file_and_the_same_command_finishes(
    tmp_path: Path, isolated_env: Path
) -> None:
    path = tmp_path / "tickets.csv"
    write_table(path)
    with halfrate.connect() as hr:
        answers = hr.plan_table(path, PROMPT).default_output()
    answers.write_text(EARLIER, encoding="utf-8")
    seed = int(os.environ.get("TEST_INTERRUPT_SEED", random.randrange(1_000_000)))
    dice = random.Random(seed)
    moments = []
    # A whole run takes a few seconds here: the kills fall in start-up, submit, the waits for
    # batches, and (once the batches are done) the writing of the answers.
    with SandboxServer(latency=1.0) as sandbox:
        env = run_env(sandbox)
        for _ in range(3):
            proc = start_run(path, env)
            moment = dice.uniform(0.3, 4.5)
            try:
                proc.wait(timeout=moment)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
            finish(proc, 60, seed)
            moments.append((round(moment, 1), proc.returncode))
            # The earlier answers as they were, or the finished ones whole: never a part.
            assert answers.read_text(encoding="utf-8") == EARLIER or finished(answers), seed
        final = start_run(path, env)
        _out, err = finish(final, 180, seed)
        assert final.returncode == 0, (seed, err)
        assert_answered_once(answers, sandbox, seed)
        assert not list(tmp_path.glob(".*.partial"))  # what the kills left, cleaned up
    print(f"\nSIGKILLs (seed {seed}): (moment, exit code) {moments}, then 0")
