"""Monthly budgets per feature and team: a job whose estimate would cross the cap is refused with
what is spent, reserved and needed, and nothing is stored; reservations count until the job
ends and then settle to what it really cost; two submissions at once never both slip under."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

import halfrate
from halfrate.errors import BudgetExceeded
from halfrate.pricing.budgets import read_budgets
from halfrate.sandbox import SandboxServer
from halfrate.store.budgets import standing
from tests.helpers import chat_line, write_jsonl
from tests.integration.test_cli import assert_one_line_error, run

LINES = 100


def job_file(tmp_path: Path, name: str) -> Path:
    lines = [chat_line(f"{name}{i}", f"Classify ticket {i}", max_tokens=100) for i in range(LINES)]
    return write_jsonl(tmp_path / f"{name}.jsonl", lines)


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cap: float) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f"[budgets.feature]\ntriage = {cap}\n\n[budgets.team]\nops = 1000\n")
    monkeypatch.setenv("HALFRATE_CONFIG", str(config))
    return config


def needed(database_url: str, path: Path) -> float:
    with halfrate.connect(database_url) as hr:
        return float(hr.estimate_file(path).total(halfrate.models.Lane.BATCH))


def count(database_url: str, table: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


def test_a_job_over_the_cap_is_refused_and_nothing_is_stored(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = job_file(tmp_path, "a")
    need = needed(database_url, path)
    configure(tmp_path, monkeypatch, need / 2)
    with halfrate.connect(database_url) as hr, pytest.raises(BudgetExceeded) as refused:
        hr.submit_file(path, job="a", feature="triage")
    message = str(refused.value)
    assert "budget feature 'triage'" in message
    assert "spent $0.0000 this month, $0.0000 reserved" in message
    assert "this job needs about $" in message
    assert "nothing was stored" in message
    assert count(database_url, "requests") == 0
    assert count(database_url, "jobs") == 0
    assert count(database_url, "reservations") == 0


def test_reservations_count_until_the_job_ends_then_settle(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = job_file(tmp_path, "a"), job_file(tmp_path, "b")
    need = needed(database_url, first)
    config = configure(tmp_path, monkeypatch, need * 1.95)  # one job, not two at once
    budget = read_budgets(config).applying("triage", None)[0]
    with SandboxServer(latency=0.2) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sandbox-budget")
        with halfrate.connect(database_url, poll_initial_seconds=0.05) as hr:
            hr.submit_file(first, job="a", feature="triage")
            with hr.store.read() as conn:
                spent, reserved = standing(conn, budget, hr_now())
            assert spent == 0
            assert reserved == pytest.approx(need * 1e9, rel=1e-6)
            with pytest.raises(BudgetExceeded, match=r"reserved by jobs still running"):
                hr.submit_file(second, job="b", feature="triage")
            hr.run_worker()
            with hr.store.read() as conn:
                spent, reserved = standing(conn, budget, hr_now())
            actual = hr.store.reads.job_costs(hr.status("a").id)[0]
            assert (spent, reserved) == (actual, 0)  # settled to what it really cost
            assert actual < need * 0.95e9  # answers used fewer tokens than max_tokens allows
            hr.submit_file(second, job="b", feature="triage")  # fits now


def hr_now() -> float:
    import time

    return time.time()


def test_two_submissions_at_once_do_not_both_slip_under(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [job_file(tmp_path, name) for name in ("a", "b", "c", "d")]
    need = needed(database_url, files[0])
    configure(tmp_path, monkeypatch, need * 1.5)  # room for one job, not two
    start = threading.Barrier(len(files))
    outcomes: list[str] = []

    def submit(path: Path) -> None:
        with halfrate.connect(database_url) as hr:
            start.wait()
            try:
                hr.submit_file(path, job=path.stem, feature="triage")
                outcomes.append("stored")
            except BudgetExceeded:
                outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(path,)) for path in files]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) == ["refused", "refused", "refused", "stored"]
    assert count(database_url, "requests") == LINES
    assert count(database_url, "reservations") == 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[budgets.project]\nx = 5\n", "[budgets.project] is not a kind of budget"),
        ("[budgets.feature]\ntriage = -5\n", "is outside 0 to"),
        ('[budgets.feature]\ntriage = "lots"\n', "must be a number of dollars a month"),
        ("budgets = 5\n", "[budgets] must be a table"),
    ],
)
def test_bad_budget_tables_are_refused_at_start(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text, encoding="utf-8")
    env = {"HALFRATE_HOME": str(tmp_path / "home"), "HALFRATE_CONFIG": str(config)}
    path = job_file(tmp_path, "a")
    assert_one_line_error(run("submit", str(path), "--feature", "triage", env=env), needle)
