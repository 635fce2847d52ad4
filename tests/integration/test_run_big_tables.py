"""`halfrate run` over big and awkward tables, end to end (the real CLI, sandbox, SDK and files):
a 5,000-row CSV full of quotes, commas, embedded CRLF and LF newlines, emoji, a byte-order mark,
formulas and duplicate rows comes back with exactly its own rows, in order, with its own values
(only the formula cells neutralised, every one of them), an answer for each row, the BOM kept
(and none added to a file without one), each distinct prompt paid for once and duplicate rows
answered alike, in well under 30 seconds; and a three-sheet workbook run on one sheet comes back
with every sheet's values and types and its formula-looking text still text, while a sheet that
does not exist is one clear line naming the ones that do, and a real formula in another sheet
stays a formula."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import random
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from halfrate.providers.base import request_id_from
from halfrate.sandbox import SandboxServer
from tests.integration.test_cli import assert_one_line_error, request_count, run
from tests.integration.test_run import charged, env_for

ROWS = 5_000
DUPLICATES = 400  # rows that repeat an earlier row exactly
COLUMNS = ["id", "text", "note", "amount"]
PROMPT = "Ticket {id}: {text} | note: {note} | amount: {amount}"
ADDED = ["answer", "status", "error"]
BUDGET_SECONDS = 30.0

# What a spreadsheet would run: a cell starting with one of these that is not a plain number.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")

FORMULAS = [
    '=HYPERLINK("http://x")',
    "+SUM(A1:A9)",
    "-2+3",
    "@cmd",
    "\tstarts with a tab",
    "\rstarts with a carriage return",
    '=1+1, "quoted" and, commas',
    "-\nminus then a newline",
]
TEXTS = [
    'He said "hi", then left',
    "a, b, and c",
    "line one\r\nline two (CRLF)",
    "line one\nline two (LF)",
    "three\nlines\r\nmixed",
    "emoji 🎉🔥 and ünïcödé",
    "中文 日本語 한국어",
    "עברית ومرحبا",
    "👩‍💻 zero-width joiner",
    "'tis text that starts with an apostrophe",
    '"""',
    "trailing space ",
    "",
]
AMOUNTS = ["-12.5", "-3", "-0.001", "+42", "19.99", "0", "1e3", "-7E-2", ""]


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer(latency=0.05) as server:
        yield server


def looks_like_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(cell)


def big_rows(seed: int = 20261103) -> list[list[str]]:
    """ROWS rows under the header: distinct ones (each with its own id), and DUPLICATES exact
    copies of earlier ones scattered among them (every awkward value among those copied)."""
    rng = random.Random(seed)
    distinct: list[list[str]] = []
    for n in range(1, ROWS - DUPLICATES + 1):
        text = rng.choice(TEXTS + FORMULAS) + (f" #{n}" if rng.random() < 0.5 else "")
        note = rng.choice(TEXTS + FORMULAS + AMOUNTS)
        distinct.append([str(n), text, note, rng.choice(AMOUNTS)])
    # Every formula and awkward value is in the file, whatever the seed chose.
    for row, value in zip(distinct, FORMULAS + TEXTS, strict=False):
        row[1] = row[2] = value
    copied = distinct[: len(FORMULAS + TEXTS)]
    copied += rng.sample(distinct, DUPLICATES - len(copied))
    rows = list(distinct)
    for original in copied:
        at = rng.randrange(rows.index(original) + 1, len(rows) + 1)  # after its original
        rows.insert(at, list(original))
    return rows


def write_csv(path: Path, rows: list[list[str]], encoding: str) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows([COLUMNS, *rows])
    return path


def read_csv(path: Path) -> tuple[bytes, list[list[str]]]:
    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    return raw, list(csv.reader(io.StringIO(text, newline="")))


def prompt_of(row: list[str]) -> str:
    return PROMPT.format(**dict(zip(COLUMNS, row, strict=True)))


def charged_prompts(server: SandboxServer, home: Path) -> list[str]:
    """The user prompt of every charged line the sandbox answered, through the stored bodies."""
    ids = []
    for entry in server.app.state.sandbox.ledger.entries():
        if entry["charged"]:
            request_id = request_id_from(entry["custom_id"] or "")
            assert request_id is not None, entry
            ids.append(request_id)
    engine = sa.create_engine(f"sqlite:///{home / 'halfrate.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT request_id, body FROM request_bodies")).all()
    finally:
        engine.dispose()
    bodies = {request_id: body for request_id, body in rows}
    return [json.loads(bodies[i])["messages"][-1]["content"] for i in ids]


def test_a_5000_row_csv_with_every_awkward_cell_comes_back_whole(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path
) -> None:
    started = time.monotonic()
    rows = big_rows()
    assert len(rows) == ROWS
    distinct = {tuple(r) for r in rows}
    assert len(distinct) == ROWS - DUPLICATES
    path = write_csv(tmp_path / "tickets.csv", rows, "utf-8-sig")
    assert path.read_bytes().startswith(codecs.BOM_UTF8)

    proc = run("run", str(path), "--prompt", PROMPT, "--yes", env=env_for(sandbox))
    assert proc.returncode == 0, proc.stderr
    ran = time.monotonic() - started

    (out,) = tmp_path.glob("tickets.answers-*.csv")
    raw, table = read_csv(out)
    assert raw.startswith(codecs.BOM_UTF8)  # the input had one: so has the output
    assert not raw.startswith(codecs.BOM_UTF8 * 2)
    assert raw.split(b"\n", 1)[0].endswith(b"\r")  # and its line ending, CRLF
    assert table[0] == COLUMNS + ADDED
    body = table[1:]
    assert len(body) == ROWS

    # Every cell, the header and the answers included, is safe to open in a spreadsheet.
    for number, cells in enumerate(table, start=1):
        for cell in cells:
            assert not looks_like_formula(cell), (number, cell)

    # The input's own rows, in order, with their own values: exactly the formula cells
    # neutralised with an apostrophe, every other cell (plain negative numbers too) as it was.
    neutralised = 0
    for number, (original, written) in enumerate(zip(rows, body, strict=True), start=2):
        assert len(written) == len(COLUMNS) + len(ADDED), number
        for column, before, after in zip(COLUMNS, original, written, strict=False):
            if looks_like_formula(before):
                assert after == "'" + before, (number, column, before, after)
                neutralised += 1
            else:
                assert after == before, (number, column, before, after)
    assert neutralised > 0
    assert {"'" + f for f in FORMULAS} <= {r[1] for r in body}
    assert {"-12.5", "-3", "-0.001", "+42", "-7E-2"} <= {r[3] for r in body}

    # An answer beside every row (the sandbox quotes the prompt's first words), all succeeded.
    answers: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for original, written in zip(rows, body, strict=True):
        answer, status, error = written[len(COLUMNS) :]
        assert (status, error) == ("succeeded", ""), (original, written)
        assert f"Ticket {original[0]}:" in answer, (original, answer)
        answers[tuple(original)].add(answer)
    # Duplicate rows got the same answer.
    assert all(len(found) == 1 for found in answers.values())
    assert sum(1 for n in Counter(tuple(r) for r in rows).values() if n > 1) > 100

    # Every row stored as a request; each distinct prompt sent and paid for exactly once.
    assert request_count(isolated_env) == ROWS
    paid = charged_prompts(sandbox, isolated_env)
    assert Counter(paid) == Counter({prompt_of(list(r)): 1 for r in distinct})
    assert f"{DUPLICATES:,} take an identical request's answer" in proc.stdout

    # A file without a byte-order mark gets an answers file without one.
    plain = write_csv(tmp_path / "plain.csv", rows[:40], "utf-8")
    assert not plain.read_bytes().startswith(codecs.BOM_UTF8)
    again = run("run", str(plain), "--prompt", PROMPT, "--yes", env=env_for(sandbox))
    assert again.returncode == 0, again.stderr
    (plain_out,) = tmp_path.glob("plain.answers-*.csv")
    raw_plain, plain_table = read_csv(plain_out)
    assert not raw_plain.startswith(codecs.BOM_UTF8)
    raw_plain.decode("utf-8")  # still UTF-8
    assert [r[:4] for r in plain_table[1:]] == [r[:4] for r in body[:40]]
    assert [r[5] for r in plain_table[1:]] == ["succeeded"] * 40

    elapsed = time.monotonic() - started
    print(f"5,000-row run: {ran:.1f} s; whole test: {elapsed:.1f} s")
    assert elapsed < BUDGET_SECONDS


NOTES: list[list[object]] = [
    ["Read me first"],
    ["Reviews are on the next sheet", "ünïcödé 🎉"],
    ["=NOT_A_FORMULA()"],  # made a text cell below
]
TOTALS: list[list[object]] = [
    ["item", "amount", "as of"],
    ["shoes", 120, dt.date(2026, 1, 31)],
    ["hats", 19.5, dt.datetime(2026, 2, 1, 8, 15)],
    ["socks", -3, None],
]
REVIEW_HEADER = ["id", "review", "stars", "score", "posted", "day", "verified", "note"]


def review_rows() -> list[list[object]]:
    rows: list[list[object]] = []
    for n in range(1, 31):
        rows.append(
            [
                n,
                f"Review number {n}: {'great' if n % 3 else 'poor'}, would buy again",
                n % 5 + 1,
                n + 0.25,  # never a whole number: a workbook keeps 1.0 as 1
                dt.datetime(2026, 3, n % 28 + 1, n % 24, 30),
                dt.date(2025, 12, n),
                n % 2 == 0,
                "-12.5" if n == 7 else f"note {n}",
            ]
        )
    rows[4][1] = '=HYPERLINK("http://x")'  # text that looks like a formula: row 6
    return rows


def three_sheet_book(path: Path) -> None:
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Notes"
    for values in NOTES:
        notes.append(values)
    notes["A3"].data_type = "s"
    reviews = book.create_sheet("Reviews")
    reviews.append(REVIEW_HEADER)
    for values in review_rows():
        reviews.append(values)
    reviews["B6"].data_type = "s"
    totals = book.create_sheet("Totals")
    for values in TOTALS:
        totals.append(values)
    totals.append(["total", "=SUM(B2:B4)"])  # a real formula
    book.save(path)


def as_read(value: object) -> object:
    """A value as a workbook gives it back: a date is a datetime at midnight."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    return value


def test_a_chosen_sheet_of_three_is_answered_and_every_sheet_keeps_its_types(
    tmp_path: Path, sandbox: SandboxServer, isolated_env: Path
) -> None:
    started = time.monotonic()
    path = tmp_path / "shop.xlsx"
    three_sheet_book(path)
    env = env_for(sandbox)

    missing = run("run", str(path), "--sheet", "Nope", "--prompt", "{review}", "--yes", env=env)
    assert_one_line_error(
        missing, "shop.xlsx: no sheet named 'Nope' (its sheets: 'Notes', 'Reviews', 'Totals')"
    )
    assert not (isolated_env / "halfrate.db").exists() or request_count(isolated_env) == 0
    assert charged(sandbox) == 0
    assert list(tmp_path.glob("shop.answers-*")) == []

    out = tmp_path / "answered.xlsx"
    proc = run(
        "run", str(path), "--sheet", "Reviews", "--prompt", "Review {id} ({stars} stars): {review}",
        "-o", str(out), "--yes", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert request_count(isolated_env) == 30

    back = load_workbook(out)
    assert back.sheetnames == ["Notes", "Reviews", "Totals"]

    notes = back["Notes"]
    assert [[c.value for c in row if c.value is not None] for row in notes.iter_rows()] == NOTES
    assert notes["A3"].data_type == "s"

    reviews = back["Reviews"]
    grid = [[c.value for c in row] for row in reviews.iter_rows()]
    assert grid[0] == REVIEW_HEADER + ADDED
    assert len(grid) == 31
    for n, (values, cells) in enumerate(zip(review_rows(), grid[1:], strict=True), start=1):
        assert cells[: len(REVIEW_HEADER)] == [as_read(v) for v in values], n
        assert [type(c) for c in cells[: len(REVIEW_HEADER)]] == [
            int, str, int, float, dt.datetime, dt.datetime, bool, str
        ], n  # fmt: skip
        answer, status, error = cells[len(REVIEW_HEADER) :]
        assert status == "succeeded", n
        assert error in (None, ""), n
        assert isinstance(answer, str), n
        assert f"Review {n} (" in answer, n
    assert reviews["E2"].is_date
    assert reviews["F2"].is_date
    formula_text = reviews["B6"]
    assert formula_text.value == '=HYPERLINK("http://x")'
    assert formula_text.data_type == "s"  # text, never a formula a spreadsheet runs
    assert reviews["H8"].value == "-12.5"
    assert reviews["H8"].data_type == "s"  # a text, though a number

    totals = back["Totals"]
    grid = [[c.value for c in row] for row in totals.iter_rows()]
    assert grid[: len(TOTALS)] == [[as_read(v) for v in values] for values in TOTALS]
    assert totals["C2"].is_date
    assert totals["C3"].is_date
    assert isinstance(totals["B2"].value, int)
    assert isinstance(totals["B3"].value, float)
    assert totals["A5"].value == "total"  # its formula: see the test below

    print(f"three-sheet workbook: {time.monotonic() - started:.1f} s")


def test_a_real_formula_in_another_sheet_stays_a_formula(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    path = tmp_path / "shop.xlsx"
    three_sheet_book(path)
    out = tmp_path / "answered.xlsx"
    proc = run(
        "run", str(path), "--sheet", "Reviews", "--prompt", "{review}", "-o", str(out), "--yes",
        env=env_for(sandbox),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    total = load_workbook(out)["Totals"]["B5"]
    assert (total.value, total.data_type) == ("=SUM(B2:B4)", "f")
