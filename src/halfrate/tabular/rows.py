"""A table's rows, read from a CSV, TSV, XLSX or JSONL file, streamed.

The first row (CSV, TSV, XLSX) names the columns; a JSONL file holds one object per line, whose
keys are the columns. Rows are numbered as a spreadsheet shows them (the header is row 1), JSONL
rows by line. A row keeps its values as the file has them (numbers and dates in a workbook,
JSON values in JSONL) for writing back, and gives the prompt their text. Rows whose cells are
all empty are not asked about. Every problem is one InputError naming the file (and sheet), the
row and the column.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from halfrate.errors import InputError
from halfrate.tabular import delimited, workbook
from halfrate.tabular.cells import cell_text
from halfrate.tabular.delimited import MAX_CELL_BYTES, Dialect

KINDS = {".csv": "csv", ".tsv": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl"}
MAX_COLUMNS = 1_000
MAX_COLUMN_NAME = 200


@dataclass(frozen=True)
class Row:
    """One row: its number, and its values in the order of the table's columns."""

    number: int
    values: tuple[Any, ...]
    texts: dict[str, str] = field(compare=False)  # column -> the value as text

    @property
    def empty(self) -> bool:
        return not any(text.strip() for text in self.texts.values())


@dataclass(frozen=True)
class TableFile:
    """A table file whose header has been read; :meth:`rows` reads it (again) from the top."""

    path: Path
    kind: str  # csv | xlsx | jsonl
    columns: tuple[str, ...]
    dialect: Dialect | None = None  # CSV and TSV: how the file is written
    sheet: str | None = None  # XLSX: the sheet read

    @property
    def delimiter(self) -> str:
        return self.dialect.delimiter if self.dialect is not None else ","

    def rows(self) -> Iterator[Row]:
        """Every row under the header with a value in it, in file order."""
        return (row for row in self.all_rows() if not row.empty)

    def all_rows(self) -> Iterator[Row]:
        """Every row under the header, empty ones included (to write the table back whole)."""
        if self.kind == "jsonl":
            yield from self._jsonl_rows()
            return
        for number, cells in self._grid():
            if number == 1:
                continue
            width = len(self.columns)
            extra = [c for c in cells[width:] if cell_text(c).strip()]
            if extra:
                raise InputError(
                    f"{self.where(number)}: {len(cells)} values, but the first row names "
                    f"{width} columns"
                )
            values = tuple(cells[:width]) + (None,) * (width - len(cells[:width]))
            texts = {}
            for column, value in zip(self.columns, values, strict=True):
                text = cell_text(value)
                if len(text.encode()) > MAX_CELL_BYTES:
                    raise InputError(f"{self.where(number)}, column {column!r}: too large")
                texts[column] = text
            yield Row(number, values, texts)

    def where(self, row: int | None = None) -> str:
        place = str(self.path) if self.sheet is None else f"{self.path}, sheet {self.sheet!r}"
        if row is None:
            return place
        return f"{place}, {'line' if self.kind == 'jsonl' else 'row'} {row}"

    def _grid(self) -> Iterator[tuple[int, list[Any]]]:
        if self.kind == "xlsx":
            assert self.sheet is not None
            return workbook.sheet_rows(self.path, self.sheet)
        assert self.dialect is not None
        return delimited.read_rows(self.path, self.dialect)

    def _jsonl_rows(self) -> Iterator[Row]:
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                # Keys as the columns were named: without the spaces around them.
                record = {k.strip(): v for k, v in json_object(raw, self.where(number)).items()}
                unknown = [k for k in record if k not in self.columns]
                if unknown:
                    raise InputError(
                        f"{self.where(number)}: key {unknown[0]!r} is not in the first line's "
                        "keys (every line must have the same keys)"
                    )
                values = tuple(record.get(name) for name in self.columns)
                texts = {name: cell_text(v) for name, v in zip(self.columns, values, strict=True)}
                yield Row(number, values, texts)


def open_table(path: str | Path, sheet: str | None = None) -> TableFile:
    """The file at ``path`` with its columns read; refused if it is not a table we can read.
    ``sheet``: which sheet of a workbook (default: the first)."""
    file = Path(path)
    kind = KINDS.get(file.suffix.lower())
    if kind is None:
        raise InputError(f"{file}: not a table halfrate reads (use .csv, .tsv, .xlsx or .jsonl)")
    if not file.is_file():
        raise InputError(f"{file}: no such file")
    if sheet is not None and kind != "xlsx":
        raise InputError(f"--sheet {sheet!r}: {file} is not a workbook (.xlsx); it has no sheets")
    if kind == "csv":
        dialect = delimited.dialect_of(file, "\t" if file.suffix.lower() == ".tsv" else ",")
        header = next((cells for _, cells in delimited.read_rows(file, dialect)), [])
        return TableFile(file, kind, _columns(header, str(file)), dialect=dialect)
    if kind == "xlsx":
        book = workbook.open_book(file)
        try:
            chosen = workbook.chosen_sheet(file, book, sheet)
        finally:
            book.close()
        first = next((values for _, values in workbook.sheet_rows(file, chosen)), [])
        where = f"{file}, sheet {chosen!r}"
        return TableFile(file, kind, _columns([cell_text(v) for v in first], where), sheet=chosen)
    with file.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                record = json_object(raw, f"{file}, line {number}")
                return TableFile(file, kind, _columns(list(record), str(file)))
    raise InputError(f"{file}: the file is empty")


def json_object(raw: bytes, where: str) -> dict[str, Any]:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise InputError(f"{where}: each line must be a JSON object of column values")
    return record


def _columns(header: list[str], where: str) -> tuple[str, ...]:
    names = [h.strip() for h in header]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InputError(f"{where}: the file is empty, or its first row names no columns")
    if len(names) > MAX_COLUMNS:
        raise InputError(f"{where}, row 1: more than {MAX_COLUMNS:,} columns")
    seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if not name:
            raise InputError(f"{where}, row 1: column {index} has no name")
        if len(name) > MAX_COLUMN_NAME:
            raise InputError(
                f"{where}, row 1: the name of column {index} is over {MAX_COLUMN_NAME} characters"
            )
        if name in seen:
            raise InputError(
                f"{where}, row 1: columns {seen[name]} and {index} are both named {name!r}"
            )
        seen[name] = index
    return tuple(names)
