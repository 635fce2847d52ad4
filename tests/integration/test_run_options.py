"""`halfrate run` options: instructions, answer length, temperature, sheets, tags, urgency, job
names, and answers files that never replace another question's answers."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

import halfrate
from halfrate.sandbox import SandboxServer
from halfrate.table_job import TableOptions
from tests.integration.test_cli import assert_one_line_error, request_count, run
from tests.integration.test_run import charged, env_for, tickets_csv


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.1) as server:
        yield server


def stored_bodies(home: Path) -> list[dict[str, object]]:
    engine = sa.create_engine(f"sqlite:///{home / 'halfrate.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT body FROM request_bodies ORDER BY request_id")
            ).scalars()
            return [json.loads(body) for body in rows]
    finally:
        engine.dispose()


def test_instructions_length_and_temperature_go_with_every_request(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path
) -> None:
    path = tickets_csv(tmp_path)
    system = tmp_path / "system.txt"
    system.write_text("You sort support tickets. Answer with one word.", encoding="utf-8")
    proc = run(
        "run", str(path), "--prompt", "{ticket text}", "--system-file", str(system),
        "--max-tokens", "20", "--temperature", "0.2", "--yes", env=env_for(sandbox),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    bodies = stored_bodies(isolated_env)
    assert len(bodies) == 4
    for body in bodies:
        assert body["max_completion_tokens"] == 20
        assert body["temperature"] == 0.2
        messages = body["messages"]
        assert isinstance(messages, list)
        assert messages[0] == {"role": "system", "content": system.read_text(encoding="utf-8")}
        assert messages[1]["role"] == "user"


def test_a_claude_run_sends_its_instructions_and_limit_the_claude_way(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path
) -> None:
    path = tickets_csv(tmp_path)
    env = {**env_for(sandbox), "ANTHROPIC_BASE_URL": sandbox.root_url, "ANTHROPIC_API_KEY": "x"}
    proc = run(
        "run", str(path), "--prompt", "{ticket text}", "--model", "claude-haiku-4-5",
        "--system", "Be brief.", "--max-tokens", "50", "--yes", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for body in stored_bodies(isolated_env):
        assert body["system"] == "Be brief."
        assert body["max_tokens"] == 50
        assert "temperature" not in body


def test_another_question_gets_its_own_answers_file_and_the_same_one_finds_its_own(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = tickets_csv(tmp_path)
    env = env_for(sandbox)
    assert (
        run("run", str(path), "--prompt", "Classify: {ticket text}", "--yes", env=env).returncode
        == 0
    )
    (first,) = tmp_path.glob("tickets.answers-*.csv")
    before = first.read_bytes()
    other = run("run", str(path), "--prompt", "Translate: {ticket text}", "--yes", env=env)
    assert other.returncode == 0, other.stderr
    files = sorted(tmp_path.glob("tickets.answers-*.csv"))
    assert len(files) == 2
    assert first.read_bytes() == before  # the first question's answers untouched
    (second,) = [f for f in files if f != first]
    assert "Translate:" in second.read_text(encoding="utf-8")
    paid = charged(sandbox)
    again = run("run", str(path), "--prompt", "Classify: {ticket text}", "--yes", env=env)
    assert again.returncode == 0, again.stderr
    assert f"rows written to {first}" in again.stdout
    assert charged(sandbox) == paid  # found its own job: nothing sent again
    assert sorted(tmp_path.glob("tickets.answers-*.csv")) == files


def test_a_chosen_sheet_is_answered_and_the_others_come_back(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = tmp_path / "book.xlsx"
    book = Workbook()
    intro = book.active
    assert intro is not None
    intro.title = "Read me"
    intro.append(["This workbook lists cities"])
    cities = book.create_sheet("Cities")
    cities.append(["city", "population"])
    cities.append(["Lyon", 522_250])
    cities.append(["Porto", 231_800])
    book.save(path)
    out = tmp_path / "out.xlsx"
    proc = run(
        "run", str(path), "--sheet", "Cities", "--prompt", "Where is {city}?", "-o", str(out),
        "--yes", env=env_for(sandbox),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    back = load_workbook(out)
    assert back.sheetnames == ["Read me", "Cities"]
    assert back["Read me"]["A1"].value == "This workbook lists cities"
    assert [c.value for c in back["Cities"][2]][:2] == ["Lyon", 522_250]  # a number still
    assert back["Cities"]["D2"].value == "succeeded"
    missing = run("run", str(path), "--sheet", "Town", "--prompt", "{city}", "--yes")
    assert_one_line_error(missing, "book.xlsx: no sheet named 'Town' (its sheets: 'Read me'")


def test_tags_and_urgency_reach_the_report_and_the_lane(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = tickets_csv(tmp_path)
    env = env_for(sandbox)
    proc = run(
        "run", str(path), "--prompt", "{ticket text}", "--feature", "ticket-triage",
        "--team", "support", "--now", "--yes", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(run("report", "--by", "feature", "--format", "json", env=env).stdout)
    assert [row["key"] for row in report["rows"]] == ["ticket-triage"]
    lanes = json.loads(run("report", "--by", "lane", "--format", "json", env=env).stdout)
    assert {row["key"] for row in lanes["rows"]} <= {"realtime", "cache"}  # a person waited
    untagged = run("run", str(path), "--prompt", "Again: {ticket text}", "--yes", env=env)
    assert untagged.returncode == 0, untagged.stderr
    report = json.loads(run("report", "--by", "feature", "--format", "json", env=env).stdout)
    assert "spreadsheet" in {row["key"] for row in report["rows"]}


def test_a_cancelled_run_runs_again_as_a_new_job(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path
) -> None:
    path = tickets_csv(tmp_path)
    with halfrate.connect() as hr:
        plan = hr.plan_table(path, "{ticket text}", TableOptions())
        first = hr.submit_table(plan)
        hr.cancel(first.job_id)
    proc = run("run", str(path), "--prompt", "{ticket text}", "--yes", env=env_for(sandbox))
    assert proc.returncode == 0, proc.stderr
    assert f"job {first.job_name}-2: 4 requests stored" in proc.stdout
    (out,) = tmp_path.glob("tickets.answers-*.csv")
    with out.open(encoding="utf-8", newline="") as handle:
        statuses = [row["status"] for row in csv.DictReader(handle)]
    assert statuses == ["succeeded"] * 4 + [""]
    assert request_count(isolated_env) == 8  # the cancelled job's rows, and the new job's


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--prompt", "{a}", "--prompt-file", "p.txt"], "--prompt and --prompt-file exclude"),
        ([], "--prompt TEXT or --prompt-file FILE is needed"),
        (["--prompt-file", "missing.txt"], "--prompt-file missing.txt: cannot read it"),
        (["--prompt", "{a}", "--system", "  "], "--system is empty"),
        (["--prompt", "{a}", "--max-tokens", "0"], "--max-tokens must be a whole number"),
        (["--prompt", "{a}", "--max-tokens", "999999999"], "--max-tokens must be a whole number"),
        (["--prompt", "{a}", "--temperature", "3"], "--temperature must be from 0 to 2"),
        (
            ["--prompt", "{a}", "--model", "claude-haiku-4-5", "--temperature", "0.5"],
            "Claude's current API takes no temperature",
        ),
        (["--prompt", "{a}", "--sheet", "S1"], "is not a workbook (.xlsx); it has no sheets"),
        (["--prompt", "{a}", "--deadline", "6h", "--now"], "--deadline and --now exclude"),
        (["--prompt", "{a}", "--deadline", "yesterday"], "--deadline"),
        (["--prompt", "{a}", "--feature", "x" * 300], "--feature is longer than 200"),
        (["--prompt", "{a}", "--job", " "], "the job name is empty"),
        (["--prompt", "{a}", "-o", "out.txt"], "-o out.txt: write .csv, .tsv, .xlsx or .jsonl"),
        (["--prompt", "{a}", "--columns", "kind: x||y"], "--columns 'kind': an empty choice"),
        (["--prompt", "{a}", "--columns", ""], "--columns is empty"),
        (["--prompt", "{a}", "--columns", "a", "--schema", "p.txt"], "exclude each other"),
        (["--prompt", "{a}", "--schema", "missing.json"], "--schema missing.json: cannot read"),
        (["--prompt", "{a}", "--schema", "p.txt"], "--schema p.txt: not JSON"),
        (["--prompt", "{a}", "--schema", "s.json"], "must be an object schema"),
        (["--prompt", "{a}", "--columns", "x" * 5000], "is not a column name"),
    ],
)
def test_bad_options_are_one_clear_line_and_store_nothing(
    tmp_path: Path,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    needle: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a\n1\n", encoding="utf-8")
    (tmp_path / "p.txt").write_text("{a}", encoding="utf-8")
    (tmp_path / "s.json").write_text('{"type": "array"}', encoding="utf-8")
    env = {"OPENAI_API_KEY": "x", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    assert_one_line_error(run("run", "t.csv", *args, "--yes", env=env), needle)
    assert not (isolated_env / "halfrate.db").exists() or request_count(isolated_env) == 0
