"""Tables read and written back faithfully: CSV dialects and encodings, every sheet of a
workbook with its types, JSONL values, and workbooks that would expand past what is safe."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from openpyxl import Workbook, load_workbook

from halfrate.errors import InputError
from halfrate.models import Result
from halfrate.tabular import workbook
from halfrate.tabular.results import csv_row, write_csv
from halfrate.tabular.rows import TableFile, open_table
from halfrate.tabular.write import added_columns, write_answers


def answered(table: TableFile, out: Path) -> int:
    """Write ``table`` back with a made-up answer per asked row."""
    answers = ((row.number, [f"answer {row.number}", "succeeded", ""]) for row in table.rows())
    return write_answers(table, added_columns(table.columns), answers, out)


ROWS = [
    ["id", "text", "note"],
    ["1", 'a "quoted", comma', "line one\nline two"],
    ["2", "emoji 🎉 and ünïcödé", ""],
    ["", "", ""],
    ["3", "=1+1", "-5"],
]


@pytest.mark.parametrize(
    ("encoding", "delimiter", "newline", "suffix"),
    [
        ("utf-8", ",", "\n", ".csv"),
        ("utf-8-sig", ";", "\r\n", ".csv"),
        ("utf-16", ",", "\r\n", ".csv"),
        ("utf-8", "\t", "\n", ".tsv"),
    ],
)
def test_a_csv_comes_back_in_its_own_dialect_with_answers_beside_it(
    tmp_path: Path, encoding: str, delimiter: str, newline: str, suffix: str
) -> None:
    path = tmp_path / f"in{suffix}"
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator=newline).writerows(ROWS)
    table = open_table(path)
    assert table.columns == ("id", "text", "note")
    assert [r.texts["text"] for r in table.rows()] == [ROWS[1][1], ROWS[2][1], ROWS[4][1]]
    out = tmp_path / f"out{suffix}"
    assert answered(table, out) == 3
    raw = out.read_bytes()
    # The same encoding, byte-order mark or not, and line ending.
    assert raw.startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")
    if encoding == "utf-16":
        assert raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    text = raw.decode(encoding)
    assert text.split("\n", 1)[0].endswith("\r") == (newline == "\r\n")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    assert rows[0] == ["id", "text", "note", "answer", "status", "error"]
    assert [r[:3] for r in rows[1:3]] == [ROWS[1], ROWS[2]]  # quotes, commas, newlines, emoji
    assert rows[3] == ["", "", "", "", "", ""]  # the empty row stays, unasked
    # Cells a spreadsheet would run are text now; a plain negative number stays a number.
    assert rows[4][:3] == ["3", "'=1+1", "-5"]
    assert rows[4][3:] == ["answer 5", "succeeded", ""]


def test_a_windows_1252_csv_is_read_and_written_back_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("name;city\r\nRenée;Zürich\r\n".encode("cp1252"))
    table = open_table(path)
    assert [r.texts for r in table.rows()] == [{"name": "Renée", "city": "Zürich"}]
    answered(table, tmp_path / "out.csv")
    assert (
        (tmp_path / "out.csv")
        .read_bytes()
        .decode("cp1252")
        .splitlines()[1]
        .startswith("Renée;Zürich;answer 2")
    )


def test_text_no_encoding_reads_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,b\n1,2\n3,\x81\x8d\n")
    with pytest.raises(InputError, match=r"bad.csv, line 3: not UTF-8, UTF-16 or Windows-1252"):
        open_table(path)


def book_with_three_sheets(path: Path) -> None:
    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "Notes"
    first.append(["just", "notes"])
    orders = book.create_sheet("Orders")
    orders.append(["order", "amount", "placed", "paid"])
    orders.append([1001, 19.5, dt.datetime(2026, 11, 3, 9, 30), True])
    orders.append([1002, 7, dt.datetime(2026, 11, 4, 0, 0), False])
    orders.append(["=SUM(B2:B3)", None, None, None])
    orders.cell(row=4, column=1).data_type = "s"  # a text that looks like a formula
    summary = book.create_sheet("Summary")
    summary.append(["total", 26.5])
    book.save(path)


def test_a_chosen_sheet_is_answered_and_every_sheet_comes_back_with_its_types(
    tmp_path: Path,
) -> None:
    path = tmp_path / "book.xlsx"
    book_with_three_sheets(path)
    table = open_table(path, sheet="Orders")
    assert table.columns == ("order", "amount", "placed", "paid")
    rows = list(table.rows())
    assert rows[0].texts == {
        "order": "1001",
        "amount": "19.5",
        "placed": "2026-11-03T09:30:00",
        "paid": "TRUE",
    }
    out = tmp_path / "out.xlsx"
    assert answered(table, out) == 3
    back = load_workbook(out)
    assert back.sheetnames == ["Notes", "Orders", "Summary"]
    assert [c.value for c in back["Notes"][1]] == ["just", "notes"]
    assert [c.value for c in back["Summary"][1]] == ["total", 26.5]
    orders = back["Orders"]
    assert [c.value for c in orders[1]] == [
        "order", "amount", "placed", "paid", "answer", "status", "error"
    ]  # fmt: skip
    second = [c.value for c in orders[2]]
    assert second[:4] == [1001, 19.5, dt.datetime(2026, 11, 3, 9, 30), True]
    assert second[4:6] == ["answer 2", "succeeded"]
    formula = orders.cell(row=4, column=1)
    assert formula.value == "=SUM(B2:B3)"
    assert formula.data_type == "s"  # text, not a formula Excel would run


def test_a_sheet_that_does_not_exist_is_named_with_the_ones_that_do(tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book_with_three_sheets(path)
    with pytest.raises(InputError) as info:
        open_table(path, sheet="Ordres")
    assert "no sheet named 'Ordres' (its sheets: 'Notes', 'Orders', 'Summary')" in str(info.value)
    plain = tmp_path / "x.csv"
    plain.write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"--sheet 'Orders': .*x.csv is not a workbook"):
        open_table(plain, sheet="Orders")


def test_every_row_is_read_whatever_the_sheet_says_its_dimension_is(tmp_path: Path) -> None:
    made = tmp_path / "made.xlsx"
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["n"])
    for n in range(1, 11):
        sheet.append([n])
    book.save(made)
    stale = tmp_path / "stale.xlsx"
    with zipfile.ZipFile(made) as source, zipfile.ZipFile(stale, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(
                    rb'<dimension ref="[A-Z0-9:]+"\s*/>', b'<dimension ref="A1:A3"/>', data
                )
                assert b'ref="A1:A3"' in data
            target.writestr(item, data)
    assert [r.texts["n"] for r in open_table(stale).rows()] == [str(n) for n in range(1, 11)]


def test_a_workbook_that_expands_too_far_is_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.xlsx"
    book_with_three_sheets(path)
    monkeypatch.setattr(workbook, "MAX_EXPANDED_BYTES", 1_000)
    started = time.monotonic()
    with pytest.raises(InputError, match=r"bomb.xlsx: the workbook expands to .* more than"):
        open_table(path)
    assert time.monotonic() - started < 5


def test_jsonl_values_keep_their_types(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    records: list[dict[str, Any]] = [
        {"id": 1, "score": 0.5, "ok": True, "tags": ["a"], "text": "hi"},
        {"id": 2, "score": None, "ok": False, "tags": [], "text": "there"},
    ]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    out = tmp_path / "out.jsonl"
    answered(open_table(path), out)
    back = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [{k: r[k] for k in records[0]} for r in back] == records
    assert back[0]["answer"] == "answer 1"


def test_results_tables_are_safe_to_open_whoever_wrote_their_cells() -> None:
    answer = {"choices": [{"message": {"role": "assistant", "content": '=HYPERLINK("http://x")'}}]}
    made = Result(
        key="+row-1",
        status="failed",
        status_code=400,
        response=answer,
        error={"code": "@bad", "message": "-2+3 is not allowed"},
    )
    out = io.StringIO()
    assert write_csv([made], out) == 1
    row = list(csv.reader(io.StringIO(out.getvalue())))[1]
    assert row[:5] == [
        "'+row-1",
        "failed",
        '\'=HYPERLINK("http://x")',
        "'@bad",
        "'-2+3 is not allowed",
    ]
    assert csv_row(made) == row  # the file sink writes the same cells
