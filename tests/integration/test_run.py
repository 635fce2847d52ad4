"""`halfrate run FILE --prompt TEXT`: every row of a CSV, XLSX or JSONL table asked one prompt
at the batch price, the answers written back beside the rows, a receipt printed; running it
again pays nothing twice; every bad file, prompt and flag is one clear line and stores nothing."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from halfrate.sandbox import SandboxServer
from tests.integration.test_cli import assert_one_line_error, request_count, run

TICKETS = [
    ("1", "My order never arrived"),
    ("2", "Refund please, it broke"),
    ("3", '=HYPERLINK("http://x")'),  # a row that looks like a formula stays text
    ("4", "My order never arrived"),  # the same prompt as row 2: one request answers both
]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.2) as server:
        yield server


def env_for(server: SandboxServer) -> dict[str, str]:
    return {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "sandbox-run",
        "HALFRATE_POLL_INITIAL_SECONDS": "0.05",
        "HALFRATE_POLL_MAX_SECONDS": "0.2",
        "HALFRATE_WORKER_IDLE_SECONDS": "0.05",
    }


def tickets_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "ticket text"])
        writer.writerows(TICKETS)
        writer.writerow(["", ""])  # an empty row is not asked about, but kept in the output
    return path


def charged(server: SandboxServer) -> int:
    return sum(1 for e in server.app.state.sandbox.ledger.entries() if e["charged"])


def test_a_csv_is_answered_row_by_row_and_written_back(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path
) -> None:
    path = tickets_csv(tmp_path)
    proc = run(
        "run", str(path), "--prompt", "Classify: {ticket text}", "--yes", env=env_for(sandbox)
    )
    assert proc.returncode == 0, proc.stderr
    assert "estimate: 4 requests" in proc.stdout
    assert "batch $" in proc.stdout
    assert "1 take an identical request's answer, at $0" in proc.stdout
    assert "answers    4 rows written to" in proc.stdout
    assert "(4 succeeded)" in proc.stdout
    receipt = next(line for line in proc.stdout.splitlines() if line.startswith("receipt"))
    assert "paid $" in receipt
    assert "saved $" in receipt
    assert charged(sandbox) == 3

    (out,) = tmp_path.glob("tickets.answers-*.csv")  # named after what was asked
    with out.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", ""]
    assert rows[4] == {"id": "", "ticket text": "", "answer": "", "status": "", "error": ""}
    rows = rows[:4]
    assert list(rows[0]) == ["id", "ticket text", "answer", "status", "error"]
    # The customer's formula comes back as text a spreadsheet will not run (a leading ').
    assert rows[2]["ticket text"] == "'" + TICKETS[2][1]
    for row, (_, text) in zip(rows, TICKETS, strict=True):
        assert row["status"] == "succeeded"
        assert row["error"] == ""
        assert f"Classify: {text}" in row["answer"].lstrip("'")  # the sandbox echoes it
    assert rows[0]["answer"] == rows[3]["answer"]

    # The same command again: the job is there, nothing is sent or paid again.
    again = run(
        "run", str(path), "--prompt", "Classify: {ticket text}", "--yes", env=env_for(sandbox)
    )
    assert again.returncode == 0, again.stderr
    assert "0 requests stored (4 were submitted before)" in again.stdout
    assert charged(sandbox) == 3
    assert request_count(isolated_env) == 4


def test_an_xlsx_and_a_jsonl_come_back_in_their_own_format(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "amount", "answer"])  # a column named like ours: ours moves aside
    sheet.append(["Acme", 1200, "x"])
    sheet.append([None, 3.5, None])
    text = sheet.cell(row=3, column=1, value="=1+1")
    text.data_type = "s"  # text that looks like a formula (as a spreadsheet keeps '=1+1)
    book.save(tmp_path / "invoices.xlsx")
    out = tmp_path / "checked.xlsx"
    proc = run(
        "run",
        str(tmp_path / "invoices.xlsx"),
        "--prompt",
        "Is {amount} a fair price for {name}?",
        "-o",
        str(out),
        "--yes",
        env=env_for(sandbox),
    )
    assert proc.returncode == 0, proc.stderr
    sheet_out = load_workbook(out, read_only=False).worksheets[0]
    rows = [[str(cell.value) for cell in row] for row in sheet_out.iter_rows()]
    assert rows[0] == ["name", "amount", "answer", "answer (halfrate)", "status", "error"]
    assert rows[1][:3] == ["Acme", "1200", "x"]
    assert "Is 1200 a fair price for Acme?" in rows[1][3]
    assert rows[2][0] == "=1+1"
    assert sheet_out.cell(row=3, column=1).data_type == "s"  # text, never a formula
    assert "Is 3.5 a fair price for =1+1?" in rows[2][3]
    assert [r[4] for r in rows[1:]] == ["succeeded", "succeeded"]

    lines = [{"q": "Name a river"}, {"q": "Name a mountain"}]
    jsonl = tmp_path / "questions.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    proc = run("run", str(jsonl), "--prompt", "{q}, please", "--yes", env=env_for(sandbox))
    assert proc.returncode == 0, proc.stderr
    (answers,) = tmp_path.glob("questions.answers-*.jsonl")
    records = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [r["q"] for r in records] == ["Name a river", "Name a mountain"]
    assert all(r["status"] == "succeeded" and "please" in r["answer"] for r in records)


def test_a_claude_model_runs_through_anthropic(tmp_path: Path, sandbox: SandboxServer) -> None:
    env = {
        **env_for(sandbox),
        "ANTHROPIC_BASE_URL": sandbox.root_url,
        "ANTHROPIC_API_KEY": "sandbox-run",
    }
    path = tickets_csv(tmp_path)
    proc = run(
        "run",
        str(path),
        "--prompt",
        "{ticket text}",
        "--model",
        "claude-haiku-4-5",
        "--yes",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "claude-haiku-4-5" in proc.stdout
    assert "(4 succeeded)" in proc.stdout


def test_without_yes_and_no_terminal_nothing_runs(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path
) -> None:
    proc = run("run", str(tickets_csv(tmp_path)), "--prompt", "{id}", env=env_for(sandbox))
    assert_one_line_error(proc, "nothing was run: add --yes")
    assert "estimate: 4 requests" in proc.stdout  # the price was shown first
    assert charged(sandbox) == 0
    assert request_count(isolated_env) == 0


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "args", "needles"),
    [
        ("t.csv", "a,b\n1,2\n", ["--prompt", "{c}"], ["character 1: {c} is not a column", "a, b"]),
        ("t.csv", "a,b\n1,2\n", ["--prompt", "hello"], ["names no column"]),
        ("t.csv", "a,b\n1,2\n", ["--prompt", "{a"], ["a '{' without its '}'"]),
        ("t.csv", "a,b\n1,2\n", ["--prompt", "a} {a}"], ["a '}' without its '{'"]),
        ("t.csv", "a,b\n1,2\n", ["--prompt", "  "], ["--prompt is empty"]),
        ("t.csv", "a,b\n1,2\n", ["--prompt", "{a.__class__}"], ["is not a column"]),
        ("t.csv", "", ["--prompt", "{a}"], ["t.csv", "empty"]),
        ("t.csv", "a,b\n", ["--prompt", "{a}"], ["no rows with values"]),
        ("t.csv", "a,a\n1,2\n", ["--prompt", "{a}"], ["row 1: columns 1 and 2 are both named 'a'"]),
        ("t.csv", "a,,b\n1,2,3\n", ["--prompt", "{a}"], ["row 1: column 2 has no name"]),
        ("t.csv", "a,b\n1,2\n3,4,5\n", ["--prompt", "{a}"], ["t.csv, row 3: 3 values"]),
        (
            "t.csv",
            b"a,b\n1,\x81\x8d\n",
            ["--prompt", "{a}"],
            ["t.csv, line 2: not UTF-8, UTF-16 or Windows-1252 text"],
        ),
        ("t.csv", 'a,b\n1,"unclosed\n', ["--prompt", "{a}"], ["t.csv", "row"]),
        ("t.txt", "a\n1\n", ["--prompt", "{a}"], ["not a table halfrate reads"]),
        ("t.xlsx", b"not a zip", ["--prompt", "{a}"], ["not a readable .xlsx workbook"]),
        ("t.jsonl", '{"a": 1}\n[1]\n', ["--prompt", "{a}"], ["t.jsonl, line 2: each line must"]),
        ("t.jsonl", '{"a": 1}\n{"b": 1}\n', ["--prompt", "{a}"], ["line 2: key 'b' is not"]),
        ("t.jsonl", '{"a": 1}\n{oops\n', ["--prompt", "{a}"], ["line 2: not valid JSON"]),
        (
            "t.csv",
            "a\n1\n",
            ["--prompt", "{a}", "--model", "llama-3"],
            ["'llama-3' is not a model"],
        ),
        ("t.csv", "a\n1\n", ["--prompt", "{a}", "-o", "out.pdf"], ["-o out.pdf: write .csv"]),
        ("t.csv", "a\n1\n", ["--prompt", "{a}", "-o", "{dir}/t.csv"], ["that is the input file"]),
    ],
)
def test_bad_tables_prompts_and_flags_are_one_clear_line(
    tmp_path: Path,
    isolated_env: Path,
    name: str,
    content: str | bytes,
    args: list[str],
    needles: list[str],
) -> None:
    path = _write(tmp_path / name, content)
    args = [a.replace("{dir}", str(tmp_path)) for a in args]
    env = {"OPENAI_API_KEY": "sandbox-run", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    proc = run("run", str(path), *args, "--yes", env=env)
    assert_one_line_error(proc, *needles)
    assert request_count(isolated_env) == 0


def test_a_row_too_large_for_a_request_is_named(tmp_path: Path, isolated_env: Path) -> None:
    path = tmp_path / "big.csv"
    cell = "x" * (9 * 1024 * 1024)
    path.write_text(f"a\nsmall\n{cell}\n", encoding="utf-8")
    env = {"OPENAI_API_KEY": "sandbox-run", "HALFRATE_OPENAI_MAX_BATCH_BYTES": str(4 * 1024 * 1024)}
    proc = run("run", str(path), "--prompt", "{a}", "--yes", env=env)
    assert_one_line_error(proc, "big.csv, row 3: the prompt with this row's values is larger")
    assert request_count(isolated_env) == 0


def test_answers_are_not_written_beside_rows_that_changed(tmp_path: Path) -> None:
    from halfrate.errors import InputError
    from halfrate.table_job import answers_of
    from tests.helpers import fast_halfrate

    path = tickets_csv(tmp_path)
    hr = fast_halfrate(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        plan = hr.plan_table(path, "{ticket text}", None)
        outcome = hr.submit_table(plan)
        assert len(list(answers_of(plan, hr.results(outcome.job_id)))) == 4  # unanswered, in step
        path.write_text("id,ticket text\n1,Something else entirely\n", encoding="utf-8")
        with pytest.raises(InputError, match="the file changed while its job ran"):
            list(answers_of(plan, hr.results(outcome.job_id)))
    finally:
        hr.close()
