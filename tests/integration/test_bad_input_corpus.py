"""Every file in the bad-input corpus (tests/data/bad/, plus huge files made here) is refused
whole: one line naming the file (or the flag it came through), the line or row, and the
field; never a traceback; the process's peak memory under 300 MB; nothing stored.

The commands run in one process of their own (tests/integration/bad_input_runner.py), which
reports its peak memory after each: the peak only grows, so the last figure bounds them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers import chat_line

CORPUS = Path(__file__).parent.parent / "data" / "bad"
REPO = CORPUS.parent.parent.parent
PEAK_LIMIT_MB = 300
ASK = ("--prompt", "Summarise {text}", "--yes", "--no-wait")
HUGE_LINE_BYTES = 33_000_000  # over the 32 MB a request may be
HUGE_CELL_BYTES = 11 * 1024 * 1024  # over the 10 MB a cell may be
LATE_LINE = 20_001

# file -> (how it is given to halfrate, what the one line must name)
SUBMIT: dict[str, tuple[str, ...]] = {
    "array_line.jsonl": ("line 2", "must be a JSON object"),
    "binary.jsonl": ("line 1", "not valid JSON"),
    "blank_lines.jsonl": ("no requests",),
    "body_not_object.jsonl": ("line 2", "'body'"),
    "claude_bad_role.jsonl": ("line 1", "params.messages[0].role"),
    "claude_no_max_tokens.jsonl": ("line 2", "params.max_tokens"),
    "custom_id_number.jsonl": ("line 2", "'custom_id'"),
    "custom_id_too_long.jsonl": ("line 2", "'custom_id'", "512"),
    "duplicate_custom_id.jsonl": ("line 3", "custom_id 'r1'", "line 1"),
    "embeddings_bad_input.jsonl": ("line 1", "body.input"),
    "empty.jsonl": ("empty",),
    "empty_messages.jsonl": ("line 2", "body.messages"),
    "max_tokens_text.jsonl": ("line 2", "body.max_tokens"),
    "messages_not_list.jsonl": ("line 2", "body.messages"),
    "missing_custom_id.jsonl": ("line 2", "'custom_id'"),
    "mixed_providers.jsonl": ("line 2", "Anthropic request line"),
    "model_missing.jsonl": ("line 2", "body.model"),
    "nested_bomb.jsonl": ("line 1", "not valid JSON", "depth"),
    "not_utf8.jsonl": ("line 3", "UTF-8"),
    "null_line.jsonl": ("line 2", "must be a JSON object"),
    "temperature_out_of_range.jsonl": ("line 1", "body.temperature"),
    "truncated_json.jsonl": ("line 2", "not valid JSON"),
    "unknown_url.jsonl": ("line 2", "'url'", "/v1/audio/speech"),
    "utf16.jsonl": ("line 1", "UTF-8"),
    "wrong_method.jsonl": ("line 1", "'method'"),
    # made by the fixture below
    "huge_line.jsonl": ("line 2", "longer than the limit", "HALFRATE_MAX_REQUEST_BYTES"),
    "late_bad_line.jsonl": (f"line {LATE_LINE}", "body.max_tokens"),
}
TABLES: dict[str, tuple[str, ...]] = {
    "billion_laughs.xlsx": ("xl/worksheets/sheet1.xml", "DTD"),
    "empty.csv": ("empty",),
    "external_entity.xlsx": ("xl/worksheets/sheet1.xml", "DTD"),
    "header_only.csv": ("no rows",),
    "jsonl_table_not_objects.jsonl": ("line 2", "JSON object"),
    "missing_column.csv": ("--prompt", "character 11", "{text}", "id, body"),
    "missing_column.tsv": ("--prompt", "character 11", "{text}", "id, body"),
    "not_a_workbook.xlsx": ("not a readable .xlsx workbook",),
    "nul_bytes.csv": ("line 3", "NUL"),
    "text_named.xlsx": ("not a readable .xlsx workbook",),
    "truncated_sheet.xlsx": ("sheet 'Sheet1'", "cannot be read"),
    "undecodable.csv": ("line 3", "Windows-1252"),
    "unterminated_quote.csv": ("row 3", "not readable CSV"),
    "utf16_no_bom.csv": ("line 1", "NUL", "byte-order mark"),
    "utf16_odd.csv": ("line 3", "UTF-16"),
    "zip_bomb.xlsx": ("expands to", "512 MB"),
    "zip_without_workbook.xlsx": ("not a readable .xlsx workbook",),
    # made by the fixture below
    "huge_cell.csv": ("row 2", "not readable CSV", "field larger than field limit"),
}
GOOD_TABLE = CORPUS / "good.csv"
OTHER: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "prompt_binary.txt": (
        ("run", str(GOOD_TABLE), "--prompt-file", "{file}", "--yes", "--no-wait"),
        ("--prompt-file", "not UTF-8"),
    ),
    "schema_not_json.json": (
        ("run", str(GOOD_TABLE), "--prompt", "Sort {text}", "--schema", "{file}", "--yes"),
        ("--schema", "not JSON", "line 1"),
    ),
    "schema_wrong_shape.json": (
        ("run", str(GOOD_TABLE), "--prompt", "Sort {text}", "--schema", "{file}", "--yes"),
        ("--schema", '"type": "object"'),
    ),
    "policy_errors.toml": (
        ("policy", "explain", "--feature", "x", "--policy", "{file}"),
        ("line 3", "lane 'teleport'"),
    ),
    "good.xlsx": (("run", "{file}", "--sheet", "Nope", *ASK), ("no sheet named 'Nope'",)),
}
NAMED_BY_FLAG = {"missing_column.csv", "missing_column.tsv"}  # the error is in --prompt


def _make_huge(folder: Path) -> None:
    with (folder / "huge_line.jsonl").open("w") as out:
        out.write(json.dumps(chat_line("small", "hello")) + "\n")
        out.write(json.dumps(chat_line("huge", "word " * (HUGE_LINE_BYTES // 5))) + "\n")
    with (folder / "huge_cell.csv").open("w") as out:
        out.write("id,text\n1,")
        out.write("y" * HUGE_CELL_BYTES)
        out.write("\n2,short\n")
    with (folder / "late_bad_line.jsonl").open("w") as out:
        for i in range(1, LATE_LINE):
            out.write(json.dumps(chat_line(f"r{i}", f"question {i}")) + "\n")
        bad = chat_line("late", "the last one")
        bad["body"]["max_tokens"] = "ten"
        out.write(json.dumps(bad) + "\n")


def _commands(made: Path) -> list[tuple[str, list[str]]]:
    def where(name: str) -> str:
        return str(made / name if (made / name).exists() else CORPUS / name)

    commands = [(name, ["submit", where(name)]) for name in SUBMIT]
    commands += [(name, ["run", where(name), *ASK]) for name in TABLES]
    for name, (args, _) in OTHER.items():
        commands.append((name, [arg.replace("{file}", where(name)) for arg in args]))
    return commands


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    made = tmp_path_factory.mktemp("huge")
    _make_huge(made)
    home = tmp_path_factory.mktemp("home")
    # Keys and addresses that reach nothing: bad input must be refused before any call.
    env = {
        "HALFRATE_HOME": str(home),
        "OPENAI_API_KEY": "sk-corpus-test",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "ANTHROPIC_API_KEY": "sk-ant-corpus-test",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
    }
    job = json.dumps({"env": env, "cases": _commands(made)})
    proc = subprocess.run(
        [sys.executable, "-m", "tests.integration.bad_input_runner"],
        input=job,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("HALFRATE_")},
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    by_name = {answer["name"]: answer for answer in json.loads(proc.stdout)}
    return {"by_name": by_name, "home": home}


def test_the_corpus_holds_at_least_forty_files() -> None:
    files = [p.name for p in CORPUS.iterdir() if p.name != "good.csv"]
    assert len(files) >= 40
    assert set(files) <= set(SUBMIT) | set(TABLES) | set(OTHER)  # every file is tried


@pytest.mark.parametrize(
    ("name", "needles"),
    [*SUBMIT.items(), *TABLES.items(), *((n, needles) for n, (_, needles) in OTHER.items())],
)
def test_each_bad_file_is_refused_in_one_line(
    answers: dict[str, Any], name: str, needles: tuple[str, ...]
) -> None:
    answer = answers["by_name"][name]
    lines = answer["stderr"].strip().splitlines()
    assert answer["code"] != 0, answer
    assert "Traceback" not in answer["stderr"]
    assert len(lines) == 1, answer["stderr"]
    line = lines[0]
    assert line.startswith("halfrate: error: ")
    assert "HALFRATE_DEBUG" not in line  # the words of an error halfrate did not foresee
    if name not in NAMED_BY_FLAG and name not in OTHER:
        assert name in line
    for needle in needles:
        assert needle in line, line
    assert answer["peak_mb"] < PEAK_LIMIT_MB, answer


def test_nothing_was_stored(answers: dict[str, Any]) -> None:
    home: Path = answers["home"]
    assert len(answers["by_name"]) == len(SUBMIT) + len(TABLES) + len(OTHER)
    peak = max(answer["peak_mb"] for answer in answers["by_name"].values())
    print(f"bad-input corpus: {len(answers['by_name'])} files refused, peak RSS {peak:.0f} MB")
    database = home / "halfrate.db"
    if database.exists():
        engine = sa.create_engine(f"sqlite:///{database}")
        try:
            with engine.connect() as conn:
                for table in ("jobs", "requests", "results", "sinks"):
                    count = conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                    assert count == 0, table
        finally:
            engine.dispose()
    uploads = [p for p in home.rglob("*") if p.is_file() and p.name != "halfrate.db"]
    assert not [p for p in uploads if p.suffix in (".csv", ".xlsx", ".jsonl", ".tsv")]
