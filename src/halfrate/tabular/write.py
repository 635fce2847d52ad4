"""Writing a table back with each row's answer beside it, in the format it came in.

Three columns are added: the answer's text, the request's status (succeeded, failed, ...) and
the error, if any. A name the table already uses gets " (halfrate)" appended. The file is
written beside its final name and renamed into place, so a crash never leaves half a file.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from halfrate.errors import InputError
from halfrate.tabular.rows import TableFile

ADDED = ("answer", "status", "error")


def added_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    names = []
    for name in ADDED:
        while name in columns or name in names:
            name = f"{name} (halfrate)"
        names.append(name)
    return tuple(names)


def write_answers(
    table: TableFile,
    rows: Iterable[tuple[dict[str, str], tuple[str, str, str]]],
    out: Path,
) -> int:
    """Write ``rows`` (the row, and its answer, status and error) to ``out``; returns how many."""
    header = (*table.columns, *added_columns(table.columns))
    written = 0

    def cells() -> Iterator[list[str]]:
        nonlocal written
        for row, answer in rows:
            written += 1
            yield [*(row[c] for c in table.columns), *answer]

    temporary = out.with_name(f".{out.name}.partial")
    try:
        _WRITERS[output_kind(out)](temporary, header, cells(), table.delimiter)
        os.replace(temporary, out)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written


def output_kind(out: Path) -> str:
    """The format ``out`` will be written in (from its name); refused if none we write."""
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".xlsx", ".jsonl"):
        raise InputError(f"-o {out}: write .csv, .xlsx or .jsonl")
    return suffix[1:]


# Each writer gets the header and the rows' cells (the table's, then the added ones).
Cells = Iterable[list[str]]


def _csv(path: Path, header: tuple[str, ...], rows: Cells, delimiter: str) -> None:
    # utf-8-sig: spreadsheet programs then read the file as UTF-8.
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        added = len(ADDED)
        for cells in rows:
            writer.writerow([*cells[:-added], *map(_inert, cells[-added:])])


def _inert(text: str) -> str:
    """An answer a spreadsheet program will not run as a formula when it opens the CSV (a
    leading = + @, or - before a non-space; a "- " list item stays as it is)."""
    risky = text[:1] in ("=", "+", "@") or (text[:1] == "-" and text[1:2] not in (" ", ""))
    return "'" + text if risky else text


def _jsonl(path: Path, header: tuple[str, ...], rows: Cells, delimiter: str) -> None:
    with path.open("wb") as handle:
        for cells in rows:
            handle.write(orjson.dumps(dict(zip(header, cells, strict=True))) + b"\n")


def _xlsx(path: Path, header: tuple[str, ...], rows: Cells, delimiter: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import Cell

    book = Workbook(write_only=True)  # streamed: memory stays flat however many rows
    sheet = book.create_sheet("answers")

    def text_cell(text: str) -> Cell:
        # Always text: openpyxl would store "=..." as a formula for Excel to run. Control
        # characters other than tab and newlines are not allowed in the file format.
        cell = WriteOnlyCell(sheet, value=_CONTROL.sub("", text))
        cell.data_type = "s"
        return cell

    sheet.append(list(map(text_cell, header)))
    for cells in rows:
        sheet.append(list(map(text_cell, cells)))
    book.save(path)


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


_WRITERS = {"csv": _csv, "jsonl": _jsonl, "xlsx": _xlsx}
