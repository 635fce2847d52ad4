"""Rerunning only what failed, and runs that do not wait: `halfrate run --retry-failed` asks
again only the rows whose answer failed and pays only for them, writing one merged answers file;
`--no-wait` stores the job and `halfrate results JOB -o FILE` writes the table later;
`halfrate estimate TABLE --prompt` prices a table as `run` would run it; `hr.run_table` does it
all from Python. Each refusal is one clear line and stores nothing."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

import halfrate
from halfrate.errors import InputError
from halfrate.sandbox import SandboxServer
from tests.integration.test_cli import assert_one_line_error, request_count, run
from tests.integration.test_run import env_for

ROWS = 24
PROMPT = "Which team should answer this ticket? {ticket}"


@pytest.fixture
def flaky() -> Iterator[SandboxServer]:
    """A third of all batch lines fail as invalid: a final answer, not retried by itself."""
    with SandboxServer(latency=0.1, faults="line_invalid=0.35,seed=11") as server:
        yield server


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.1) as server:
        yield server


def write_tickets(path: Path, rows: int = ROWS) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ticket"])
        writer.writerows(
            (str(n), f"Ticket number {n}: the app shows error {n * 7}") for n in range(rows)
        )
    return path


def statuses(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["status"] for row in csv.DictReader(handle)]


def charged_keys(server: SandboxServer) -> list[str]:
    return [
        str(entry["custom_id"])
        for entry in server.app.state.sandbox.ledger.entries()
        if entry["charged"]
    ]


def test_retry_failed_asks_again_only_the_failed_rows_and_pays_only_for_them(
    tmp_path: Path, flaky: SandboxServer, isolated_env: Path
) -> None:
    path = write_tickets(tmp_path / "tickets.csv")
    command = ("run", str(path), "--prompt", PROMPT, "--max-tokens", "30", "--yes")
    first = run(*command, env=env_for(flaky))
    assert first.returncode == 0, first.stderr
    (out,) = tmp_path.glob("tickets.answers-*.csv")
    before = statuses(out)
    failed = before.count("failed")
    assert 0 < failed < ROWS, before
    paid_before = charged_keys(flaky)
    assert len(paid_before) == ROWS - failed

    again = run(*command, "--retry-failed", env=env_for(flaky))
    assert again.returncode == 0, again.stderr
    assert f"{failed} requests stored" in again.stdout.replace(",", "")
    assert f"Run {failed} requests" not in again.stdout  # --yes: no question, but the estimate
    paid_after = charged_keys(flaky)
    new_payments = paid_after[len(paid_before) :]
    # Only rows that had failed were sent, and none that had succeeded was paid twice.
    assert len(set(paid_after)) == len(paid_after)
    assert len(new_payments) <= failed
    after = statuses(out)
    assert list(tmp_path.glob("tickets.answers-*.csv")) == [out]  # one merged answers file
    for was, now in zip(before, after, strict=True):
        if was == "succeeded":
            assert now == "succeeded"
    assert after.count("succeeded") == ROWS - failed + len(new_payments)
    assert request_count(isolated_env) == ROWS + failed


def test_retry_failed_refuses_what_it_cannot_retry_in_one_line(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path
) -> None:
    path = write_tickets(tmp_path / "tickets.csv", rows=3)
    command = ("run", str(path), "--prompt", PROMPT, "--yes")
    never = run(*command, "--retry-failed", env=env_for(sandbox))
    assert_one_line_error(never, "--retry-failed: this question was never asked of")
    assert run(*command, env=env_for(sandbox)).returncode == 0
    stored = request_count(isolated_env)
    assert_one_line_error(
        run(*command, "--retry-failed", env=env_for(sandbox)), "no row of job", "nothing to retry"
    )
    write_tickets(path, rows=4)  # the file changed since its run
    assert_one_line_error(
        run(*command, "--retry-failed", env=env_for(sandbox)), "tickets.csv changed since job"
    )
    assert request_count(isolated_env) == stored


def test_no_wait_stores_the_job_and_results_writes_the_table_later(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = write_tickets(tmp_path / "tickets.csv", rows=5)
    env = env_for(sandbox)
    stored = run("run", str(path), "--prompt", PROMPT, "--no-wait", "--yes", env=env)
    assert stored.returncode == 0, stored.stderr
    job_id = stored.stdout.strip().splitlines()[-1]
    assert job_id.startswith("job_")
    assert not list(tmp_path.glob("tickets.answers-*"))  # nothing answered, nothing written
    pending = tmp_path / "now.csv"
    assert run("results", job_id, "-o", str(pending), env=env).returncode == 0
    assert statuses(pending) == ["pending"] * 5

    assert run("worker", "--until-idle", env=env).returncode == 0
    book = tmp_path / "answers.xlsx"
    written = run("results", job_id, "-o", str(book), env=env)
    assert written.returncode == 0, written.stderr
    assert "5 rows written" in written.stderr
    sheet = load_workbook(book).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    assert header == ["id", "ticket", "answer", "status", "error"]
    assert [row[3].value for row in sheet.iter_rows(min_row=2)] == ["succeeded"] * 5
    raw = run("results", job_id, "--format", "csv", "-o", str(tmp_path / "raw.csv"), env=env)
    assert raw.returncode == 0  # --format: the raw results, one line per request
    assert (tmp_path / "raw.csv").read_text(encoding="utf-8").startswith("custom_id,")


def test_estimate_prices_a_table_as_run_would_and_stores_nothing(
    tmp_path: Path, isolated_env: Path
) -> None:
    path = write_tickets(tmp_path / "tickets.csv", rows=10)
    priced = run(
        "estimate", str(path), "--prompt", PROMPT, "--max-tokens", "40",
        "--columns", "team: billing|tech|other",
    )  # fmt: skip
    assert priced.returncode == 0, priced.stderr
    assert "gpt-4o-mini" in priced.stdout
    assert "as a batch at most $" in priced.stdout
    assert "400" in priced.stdout
    assert "(ceiling)" in priced.stdout
    assert_one_line_error(run("estimate", str(path)), "is a table: say what to ask")
    assert_one_line_error(run("estimate", str(path), "--prompt", "{nope}"), "{nope}")
    assert not (isolated_env / "halfrate.db").exists() or request_count(isolated_env) == 0


def test_run_table_from_python_takes_rows_and_files_and_finds_its_job_again(
    tmp_path: Path, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env_for(sandbox).items():
        monkeypatch.setenv(name, value)
    rows = [{"ticket": "The invoice is wrong", "n": 1}, {"ticket": "Login fails", "n": 2.5}]
    with halfrate.connect() as hr:
        waiting = hr.run_table(rows, prompt="{ticket}", wait=False)
        assert [row["status"] for row in waiting] == ["pending", "pending"]
        answered = hr.run_table(rows, prompt="{ticket}")
        assert [row["status"] for row in answered] == ["succeeded", "succeeded"]
        assert [row["n"] for row in answered] == [1, 2.5]  # values keep their types
        assert all(row["answer"] for row in answered)
        assert len(hr.jobs()) == 1  # the same rows and question: the same job
        path = write_tickets(tmp_path / "t.csv", rows=2)
        from_file = hr.run_table(path, prompt=PROMPT, columns="team: billing|tech|other")
        assert list(from_file[0]) == ["id", "ticket", "team", "status", "error"]
        with pytest.raises(InputError, match="columns"):
            hr.run_table(rows, prompt="{ticket}", columns="a: b||c")
        with pytest.raises(InputError, match="table: no rows"):
            hr.run_table([], prompt="{ticket}")


def test_run_table_gives_a_dataframe_back_for_a_dataframe(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pandas = pytest.importorskip("pandas")
    for name, value in env_for(sandbox).items():
        monkeypatch.setenv(name, value)
    frame = pandas.DataFrame(
        {"ticket": ["Card declined", "App crashes", "Card declined"], "stars": [1, 5, 1]}
    )
    with halfrate.connect() as hr:
        answered = hr.run_table(frame, prompt="Stars {stars}: {ticket}", max_tokens=30)
    assert isinstance(answered, pandas.DataFrame)
    assert list(answered.columns) == ["ticket", "stars", "answer", "status", "error"]
    assert list(answered["status"]) == ["succeeded"] * 3
    assert answered["answer"][0] == answered["answer"][2]  # the same row, asked once
    assert list(frame.columns) == ["ticket", "stars"]  # the caller's frame is left as it was
