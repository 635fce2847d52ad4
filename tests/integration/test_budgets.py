"""Monthly budgets per feature and team, kept in the store: a job whose estimate would cross the
cap is refused with what is spent, reserved and needed, and nothing is stored; reservations
count until the job ends and then settle to what it really cost; two submissions at once never
both slip under; a cap changed while a job is submitted counts as it is then; `halfrate budget`
sets, lists and removes caps, each change in the audit log; a config file's old [budgets] table
is refused with the commands that move it."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

import halfrate
from halfrate.errors import BudgetExceeded
from halfrate.records import Budget
from halfrate.sandbox import SandboxServer
from halfrate.store.budgets import standing
from tests.helpers import chat_line, write_jsonl
from tests.integration.test_cli import assert_one_line_error, run

LINES = 100


def job_file(tmp_path: Path, name: str) -> Path:
    lines = [chat_line(f"{name}{i}", f"Classify ticket {i}", max_tokens=100) for i in range(LINES)]
    return write_jsonl(tmp_path / f"{name}.jsonl", lines)


def configure(database_url: str, cap: float) -> Budget:
    with halfrate.connect(database_url) as hr:
        _, budget = hr.set_budget("feature", "triage", cap)
        hr.set_budget("team", "ops", 1000)
        return budget


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
    configure(database_url, need / 2)
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
    budget = configure(database_url, need * 1.95)  # one job, not two at once
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
    configure(database_url, need * 1.5)  # room for one job, not two
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


def test_a_config_budgets_table_is_refused_with_the_commands_that_move_it(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[budgets.feature]\n"ticket-triage" = 50\n\n[budgets.team]\nops = 1000\n')
    env = {"HALFRATE_HOME": str(tmp_path / "home"), "HALFRATE_CONFIG": str(config)}
    assert_one_line_error(
        run("submit", str(job_file(tmp_path, "a")), env=env),
        "budgets are kept in the store now",
        "halfrate budget set feature ticket-triage 50",
        "halfrate budget set team ops 1000",
    )


def test_budget_commands_set_list_and_remove_with_an_audit_trail(
    tmp_path: Path, isolated_env: Path
) -> None:
    assert run("budget", "set", "team", "support", "200").returncode == 0
    changed = run("budget", "set", "team", "support", "$250.50")
    assert changed.returncode == 0
    assert "$200.00 to $250.50" in changed.stdout
    assert run("budget", "set", "feature", "triage", "50").returncode == 0
    listed = run("budget", "list")
    assert listed.returncode == 0
    assert "team     support" in listed.stdout
    assert "$250.50" in listed.stdout
    as_json = run("budget", "list", "--json")
    caps = {(c["kind"], c["name"]): c for c in json.loads(as_json.stdout)}
    assert caps[("team", "support")]["cap_usd"] == "250.500000000"
    assert caps[("feature", "triage")]["left_usd"] == "50.000000000"
    assert run("budget", "remove", "feature", "triage").returncode == 0
    assert_one_line_error(run("budget", "remove", "feature", "triage"), "no budget on feature")
    with halfrate.connect() as hr:
        actions = [(e.action, e.target) for e in hr.audit_log()]
    assert actions == [
        ("budget.remove", "feature 'triage'"),
        ("budget.set", "feature 'triage'"),
        ("budget.set", "team 'support'"),
        ("budget.set", "team 'support'"),
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("project", "x", "5"), "kind: 'project' is not one of feature, team"),
        (("feature", "triage", "-5"), "cap: -5 is not a positive amount"),
        (("feature", "triage", "0"), "cap: 0 is not a positive amount"),
        (("feature", "triage", "lots"), "cap: 'lots' is not an amount of dollars"),
        (("feature", "triage", "nan"), "cap: nan is not a positive amount"),
        (("feature", "triage", "1e12"), "cap: 1e12 is not a positive amount up to"),
        (("feature", " ", "5"), "name: a feature name is 1 to 200 characters"),
        (("feature", "x" * 201, "5"), "name: a feature name is 1 to 200 characters"),
    ],
)
def test_bad_caps_are_refused_in_one_line(
    isolated_env: Path, args: tuple[str, ...], needle: str
) -> None:
    # "--": an amount that starts with "-" is not taken for an option
    assert_one_line_error(run("budget", "set", "--", *args), needle)
    with halfrate.connect() as hr:
        assert hr.budgets() == []
        assert hr.audit_log() == []
