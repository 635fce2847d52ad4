"""Reading a table's rows from a CSV, XLSX or JSONL file, streamed.

The first row (CSV, XLSX) names the columns; a JSONL file holds one object per line, whose keys
are the columns. Rows are numbered as a spreadsheet shows them (the header is row 1), JSONL
rows by line. Rows whose cells are all empty are skipped. Every problem is one InputError that
names the file, the row and the column.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from halfrate.errors import InputError

KINDS = {".csv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl"}
MAX_CELL_BYTES = 10 * 1024 * 1024  # a cell larger than this cannot fit one request anyway
MAX_COLUMNS = 1_000
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class TableFile:
    """A table file whose header has been read; :meth:`rows` reads it (again) from the top."""

    path: Path
    kind: str  # csv | xlsx | jsonl
    columns: tuple[str, ...]
    delimiter: str = ","

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        """(row number, {column: value}) for each row that is not empty."""
        if self.kind == "csv":
            return self._csv_rows()
        if self.kind == "xlsx":
            return self._xlsx_rows()
        return self._jsonl_rows()

    def where(self, row: int | None = None) -> str:
        if row is None:
            return str(self.path)
        return f"{self.path}, {'line' if self.kind == 'jsonl' else 'row'} {row}"

    def _csv_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self.path.open("rb") as handle:
            reader = csv.reader(
                _utf8_lines(handle, self.path), delimiter=self.delimiter, strict=True
            )
            number = 0
            try:
                for number, cells in enumerate(reader, start=1):
                    if number == 1 or not any(c.strip() for c in cells):
                        continue
                    if len(cells) > len(self.columns) and any(cells[len(self.columns) :]):
                        raise InputError(
                            f"{self.where(number)}: {len(cells)} values, but the first row "
                            f"names {len(self.columns)} columns"
                        )
                    yield number, _row(self.columns, cells)
            except csv.Error as exc:
                raise InputError(f"{self.where(number + 1)}: not readable CSV: {exc}") from None

    def _xlsx_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        book = _open_book(self.path)
        try:
            sheet = book.worksheets[0]
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [_cell_text(v) for v in values]
                if number == 1 or not any(c.strip() for c in cells):
                    continue
                extra = cells[len(self.columns) :]
                if any(c.strip() for c in extra):
                    raise InputError(
                        f"{self.where(number)}: a value beyond the {len(self.columns)} columns "
                        "the first row names"
                    )
                for column, cell in zip(self.columns, cells, strict=False):
                    if len(cell.encode()) > MAX_CELL_BYTES:
                        raise InputError(f"{self.where(number)}, column {column}: too large")
                yield number, _row(self.columns, cells)
        finally:
            book.close()

    def _jsonl_rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                # Keys as the columns were named: without the spaces around them.
                record = {k.strip(): v for k, v in _json_object(raw, self.where(number)).items()}
                row = {name: _cell_text(record.get(name)) for name in self.columns}
                unknown = [k for k in record if k not in row]
                if unknown:
                    raise InputError(
                        f"{self.where(number)}: key {unknown[0]!r} is not in the first line's "
                        "keys (every line must have the same keys)"
                    )
                if any(v.strip() for v in row.values()):
                    yield number, row


def open_table(path: str | Path) -> TableFile:
    """The file at ``path`` with its columns read; refused if it is not a table we can read."""
    file = Path(path)
    kind = KINDS.get(file.suffix.lower())
    if kind is None:
        raise InputError(f"{file}: not a table halfrate reads (use .csv, .xlsx or .jsonl)")
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    if kind == "csv":
        delimiter = _sniff(file)
        with file.open("rb") as handle:
            try:
                header = next(
                    csv.reader(_utf8_lines(handle, file), delimiter=delimiter, strict=True), []
                )
            except csv.Error as exc:
                raise InputError(f"{file}, row 1: not readable CSV ({exc})") from None
        return TableFile(file, kind, _columns(header, file), delimiter)
    if kind == "xlsx":
        book = _open_book(file)
        try:
            if not book.worksheets:
                raise InputError(f"{file}: the workbook has no sheet")
            first = next(book.worksheets[0].iter_rows(values_only=True, max_row=1), ())
            header = [_cell_text(v) for v in first]
        finally:
            book.close()
        return TableFile(file, kind, _columns(header, file))
    with file.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                record = _json_object(raw, f"{file}, line {number}")
                return TableFile(file, kind, _columns(list(record), file))
    raise InputError(f"{file}: the file is empty")


def _columns(header: list[str], file: Path) -> tuple[str, ...]:
    names = [h.strip() for h in header]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InputError(f"{file}: the file is empty, or its first row names no columns")
    if len(names) > MAX_COLUMNS:
        raise InputError(f"{file}, row 1: more than {MAX_COLUMNS:,} columns")
    seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if not name:
            raise InputError(f"{file}, row 1: column {index} has no name")
        if len(name) > 200:
            raise InputError(f"{file}, row 1: the name of column {index} is over 200 characters")
        if name in seen:
            raise InputError(
                f"{file}, row 1: columns {seen[name]} and {index} are both named {name!r}"
            )
        seen[name] = index
    return tuple(names)


def _row(columns: tuple[str, ...], cells: list[str]) -> dict[str, str]:
    padded = cells + [""] * (len(columns) - len(cells))
    return dict(zip(columns, padded, strict=False))


def _cell_text(value: Any) -> str:
    """A cell as the text a prompt gets: numbers as a spreadsheet shows them, dates ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value).decode()  # JSONL: a nested list or object, as JSON


def _json_object(raw: bytes, where: str) -> dict[str, Any]:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: each line must be a JSON object of column values")
    return record


def _utf8_lines(handle: BinaryIO, file: Path) -> Iterator[str]:
    """The file's lines as text, decoded one by one, so a byte that is not UTF-8 is reported
    on its own line (a cell may span lines, so this is the line, not the row)."""
    csv.field_size_limit(MAX_CELL_BYTES)
    for number, raw in enumerate(handle, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]  # spreadsheet programs start UTF-8 CSV so
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"{file}, line {number}: not UTF-8 text (save the file as CSV UTF-8)"
            ) from None


def _sniff(file: Path) -> str:
    """Comma, semicolon (spreadsheets in many locales) or tab, from the first line."""
    with file.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    first = head.split(b"\n", 1)[0]
    counts = {d: first.count(d.encode()) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_book(file: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(file, read_only=True, data_only=True)
    # Broken workbooks surface as zipfile, XML, KeyError or openpyxl's own errors: all mean
    # the same to the person who sent the file.
    except Exception as exc:
        reason = "not a zip archive" if isinstance(exc, zipfile.BadZipFile) else exc
        raise InputError(f"{file}: not a readable .xlsx workbook ({reason})") from None
