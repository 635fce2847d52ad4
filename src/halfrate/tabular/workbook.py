"""XLSX workbooks: read safely, one chosen sheet at a time, and written back whole.

A workbook is a zip of XML; a small file can expand to gigabytes (by accident or on purpose), so
its expanded size is checked from the zip's directory before any XML is parsed, and the cells
read are counted. The ``<dimension>`` a sheet states is not trusted: openpyxl's streaming
reader stops at it, so it is reset and every row present is read.

Writing keeps every sheet, in order, with numbers, dates and booleans as their types; text is
always written as text (a cell that starts with ``=`` stays words, never becomes a formula).
The sheets not answered keep their own formulas as formulas (they were formulas in the file the
user gave; only text is never turned into one). The answered sheet holds the values its rows
were asked with: a formula's last computed value. Values are copied, not formatting: the
answers file is data, the original stays as it was.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

from halfrate.errors import InputError
from halfrate.tabular.cells import xlsx_text

MAX_EXPANDED_BYTES = 512 * 1024 * 1024  # the XML inside the zip, all parts together
MAX_CELLS = 20_000_000  # cells read from the chosen sheet (a value or not)
MAX_SHEET_NAMES_SHOWN = 10


def check_size(file: Path) -> None:
    """Refuse a workbook whose parts expand past :data:`MAX_EXPANDED_BYTES`, from the zip's
    directory alone (a fraction of a second, whatever the file holds)."""
    try:
        with zipfile.ZipFile(file) as archive:
            expanded = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"{file}: not a readable .xlsx workbook ({exc})") from None
    if expanded > MAX_EXPANDED_BYTES:
        raise InputError(
            f"{file}: the workbook expands to {expanded / 2**20:,.0f} MB of XML, more than the "
            f"{MAX_EXPANDED_BYTES / 2**20:,.0f} MB halfrate reads; save the sheet you need as "
            "CSV, or split the workbook"
        )


def open_book(file: Path, *, formulas: bool = False) -> Any:
    """The workbook opened for streaming reads: values (a formula's last computed value), or
    with ``formulas`` the formulas themselves."""
    check_size(file)
    try:
        return load_workbook(file, read_only=True, data_only=not formulas)
    # Broken workbooks surface as zipfile, XML, KeyError or openpyxl's own errors: all mean
    # the same to the person who sent the file.
    except Exception as exc:
        raise InputError(f"{file}: not a readable .xlsx workbook ({exc})") from None


def chosen_sheet(file: Path, book: Any, name: str | None) -> str:
    """The sheet ``name`` (the first one when None), checked to exist."""
    names: list[str] = list(book.sheetnames)
    if not names:
        raise InputError(f"{file}: the workbook has no sheet")
    if name is None:
        return names[0]
    if name not in names:
        shown = ", ".join(repr(n) for n in names[:MAX_SHEET_NAMES_SHOWN])
        more = f" and {len(names) - MAX_SHEET_NAMES_SHOWN:,} more" if len(names) > 10 else ""
        raise InputError(f"{file}: no sheet named {name!r} (its sheets: {shown}{more})")
    return name


def sheet_rows(file: Path, sheet: str) -> Iterator[tuple[int, list[Any]]]:
    """(row number, values) for every row of ``sheet``, the header (row 1) included, whatever
    the sheet's stated dimension says."""
    book = open_book(file)
    try:
        worksheet = book[sheet]
        worksheet.reset_dimensions()  # a stale <dimension> must not hide rows
        cells = 0
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            cells += len(values)
            if cells > MAX_CELLS:
                raise InputError(
                    f"{file}, sheet {sheet!r}: more than {MAX_CELLS:,} cells; save the part "
                    "you need as its own file"
                )
            yield number, list(values)
    finally:
        book.close()


def write_book(
    path: Path,
    source: Path | None,
    chosen: str,
    rows: Iterable[list[Any]],
) -> None:
    """Write a workbook: every sheet of ``source`` (when the table came from one) copied as it
    is, except ``chosen``, whose rows are ``rows``. Streamed: memory stays flat."""
    book = Workbook(write_only=True)
    names = sheet_names(source) if source is not None else [chosen]
    for name in names:
        sheet = book.create_sheet(title=name)
        copied = rows
        if name != chosen:
            assert source is not None
            for cells in _kept_sheet(source, name):
                sheet.append([_kept(sheet, cell) for cell in cells])
            continue
        for values in copied:
            sheet.append([_cell(sheet, value) for value in values])
    book.save(path)


def _kept_sheet(file: Path, sheet: str) -> Iterator[tuple[Any, ...]]:
    """The cells of a sheet copied as it is, formulas as formulas, within the cell limit."""
    book = open_book(file, formulas=True)
    try:
        worksheet = book[sheet]
        worksheet.reset_dimensions()
        cells = 0
        for row in worksheet.iter_rows():
            cells += len(row)
            if cells > MAX_CELLS:
                raise InputError(f"{file}, sheet {sheet!r}: more than {MAX_CELLS:,} cells")
            yield row
    finally:
        book.close()


def _kept(sheet: Any, cell: Any) -> Any:
    if getattr(cell, "data_type", None) == "f":
        kept = WriteOnlyCell(sheet, value=cell.value)
        kept.data_type = "f"
        return kept
    return _cell(sheet, getattr(cell, "value", None))


def sheet_names(source: Path) -> list[str]:
    book = open_book(source)
    try:
        return list(book.sheetnames)
    finally:
        book.close()


def _cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=xlsx_text(value))
        cell.data_type = "s"  # text, always: openpyxl would store "=..." as a formula
        return cell
    return value
