"""Writing a table back with each row's answer beside it, in the format it came in.

The table's own columns come first, as they were (every row, empty ones too; every sheet of a
workbook; the CSV's encoding, delimiter and line ending), then the answer column(s), ``status``
and ``error``. A name the table already uses gets " (halfrate)" appended. The file is written
beside its final name and renamed into place, so a crash never leaves half a file, and an
answers file is only ever replaced whole.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from halfrate.errors import InputError
from halfrate.tabular import delimited, workbook
from halfrate.tabular.cells import cell_text
from halfrate.tabular.delimited import Dialect
from halfrate.tabular.rows import TableFile

STATUS_COLUMNS = ("status", "error")
OUTPUT_KINDS = {".csv": "csv", ".tsv": "tsv", ".xlsx": "xlsx", ".jsonl": "jsonl"}
# Answers the table's rows are written with: (row number, the added cells), in row order.
Answers = Iterable[tuple[int, list[Any]]]


def added_columns(
    columns: tuple[str, ...], answers: tuple[str, ...] = ("answer",)
) -> tuple[str, ...]:
    """The names of the columns halfrate adds, stepping aside from the table's own."""
    names: list[str] = []
    for name in (*answers, *STATUS_COLUMNS):
        while name in columns or name in names:
            name = f"{name} (halfrate)"
        names.append(name)
    return tuple(names)


def output_kind(out: Path) -> str:
    """The format ``out`` will be written in (from its name); refused if none we write."""
    kind = OUTPUT_KINDS.get(out.suffix.lower())
    if kind is None:
        raise InputError(f"-o {out}: write .csv, .tsv, .xlsx or .jsonl")
    return kind


def write_answers(table: TableFile, added: tuple[str, ...], answers: Answers, out: Path) -> int:
    """Write the table with ``added`` columns filled from ``answers`` to ``out``; returns the
    rows answered. The rows are read again from the table file, so none is held in memory."""
    written = 0
    empty: list[Any] = [""] * len(added)

    def merged() -> Iterator[tuple[list[Any], list[Any]]]:
        nonlocal written
        pending = iter(answers)
        upcoming = next(pending, None)
        for row in table.all_rows():
            if upcoming is not None and upcoming[0] == row.number:
                written += 1
                yield list(row.values), upcoming[1]
                upcoming = next(pending, None)
            else:
                yield list(row.values), empty
        if upcoming is not None:
            raise InputError(f"{table.where(upcoming[0])}: the file lost rows while its job ran")

    remove_stale_partials(out)
    # Named by this process: two runs writing the same answers file never share a temporary.
    temporary = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        _write(output_kind(out), table, added, merged(), temporary)
        os.replace(temporary, out)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InputError(f"cannot write {out}: {exc.strerror or exc}") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return written


def remove_stale_partials(out: Path) -> list[Path]:
    """Remove what a killed writer of ``out`` left (``.NAME.PID.partial`` of a process that is
    gone, or the older ``.NAME.partial``); a live writer's temporary is left alone."""
    removed = []
    for found in out.parent.glob(f".{glob_escape(out.name)}.*partial"):
        middle = found.name[len(out.name) + 2 : -len(".partial")]
        if middle and not (middle.isdigit() and not _alive(int(middle))):
            continue
        found.unlink(missing_ok=True)
        removed.append(found)
    return removed


def glob_escape(name: str) -> str:
    """``name`` matched literally by glob (brackets, stars and question marks included)."""
    return "".join(f"[{c}]" if c in "[]*?" else c for c in name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _write(
    kind: str,
    table: TableFile,
    added: tuple[str, ...],
    rows: Iterator[tuple[list[Any], list[Any]]],
    path: Path,
) -> None:
    header = [*table.columns, *added]
    if kind == "jsonl":
        with path.open("wb") as handle:
            for values, extra in rows:
                record = dict(zip(header, [*values, *extra], strict=True))
                handle.write(orjson.dumps(record) + b"\n")
        return
    lines = itertools.chain([header], ([*values, *extra] for values, extra in rows))
    if kind == "xlsx":
        chosen = table.sheet or "answers"
        workbook.write_book(path, table.path if table.kind == "xlsx" else None, chosen, lines)
        return
    delimited.write_rows(path, _dialect(table, kind), ([cell_text(c) for c in r] for r in lines))


def _dialect(table: TableFile, kind: str) -> Dialect:
    """The input's own dialect for a CSV written back as CSV; otherwise UTF-8 with a byte-order
    mark (spreadsheet programs then read it as UTF-8), comma or tab as the name says."""
    tabs = kind == "tsv"
    if table.dialect is not None and (table.delimiter == "\t") == tabs:
        return table.dialect
    return Dialect("utf-8-sig", "\t" if tabs else ",", "\r\n")
