"""XLSX workbooks: read safely, one chosen sheet at a time, and written back whole.

A workbook is a zip of XML; a small file can expand to gigabytes (by accident or on purpose), so
its expanded size is checked from the zip's directory before any XML is parsed, and the cells
read are counted. No part may declare a DTD (Excel never writes one): entities are how an XML
file expands itself a billion times or reads a local file, so the prolog of every part is
checked before any is parsed. XML that breaks off or is malformed is one clear message, with
the sheet and the row reached. The ``<dimension>`` a sheet states is not trusted: openpyxl's
streaming reader stops at it, so it is reset and every row present is read.

Writing keeps every sheet, in order, with numbers, dates and booleans as their types; text is
always written as text (a cell that starts with ``=`` stays words, never becomes a formula).
The sheets not answered keep their own formulas as formulas (they were formulas in the file the
user gave; only text is never turned into one). The answered sheet holds the values its rows
were asked with: a formula's last computed value. Values are copied, not formatting: the
answers file is data, the original stays as it was.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from halfrate.errors import InputError
from halfrate.tabular.cells import xlsx_text

MAX_EXPANDED_BYTES = 512 * 1024 * 1024  # the XML inside the zip, all parts together
MAX_CELLS = 20_000_000  # cells read from the chosen sheet (a value or not)
MAX_SHEET_NAMES_SHOWN = 10
# How much of an XML part may come before its first element (declaration, comments).
MAX_PROLOG_BYTES = 64 * 1024
FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")


def check_archive(file: Path) -> None:
    """Refuse a workbook whose parts expand past :data:`MAX_EXPANDED_BYTES` (from the zip's
    directory alone), or one whose XML declares a DTD, before any XML is parsed."""
    try:
        with zipfile.ZipFile(file) as archive:
            infos = archive.infolist()
            expanded = sum(info.file_size for info in infos)
            if expanded > MAX_EXPANDED_BYTES:
                raise InputError(
                    f"{file}: the workbook expands to {expanded / 2**20:,.0f} MB of XML, more "
                    f"than the {MAX_EXPANDED_BYTES / 2**20:,.0f} MB halfrate reads; save the "
                    "sheet you need as CSV, or split the workbook"
                )
            for info in infos:
                if info.filename.endswith((".xml", ".rels")):
                    _check_prolog(file, archive, info)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise InputError(f"{file}: not a readable .xlsx workbook ({exc})") from None


def _check_prolog(file: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    with archive.open(info) as part:
        head = part.read(MAX_PROLOG_BYTES)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        head = head.decode("utf-16", errors="replace").encode()
    first = FIRST_ELEMENT.search(head)
    prolog = head if first is None else head[: first.start()]
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise InputError(
            f"{file}: {info.filename} declares a DTD, which no spreadsheet program writes "
            "(it can make the file expand or read other files); open and save it again in Excel"
        )
    if first is None and len(head) >= MAX_PROLOG_BYTES:
        raise InputError(
            f"{file}: {info.filename} has more than {MAX_PROLOG_BYTES // 1024} KB before its "
            "first element; not a workbook a spreadsheet program wrote"
        )


def open_book(file: Path, *, formulas: bool = False) -> Any:
    """The workbook opened for streaming reads: values (a formula's last computed value), or
    with ``formulas`` the formulas themselves."""
    check_archive(file)
    try:
        return _openpyxl().load_workbook(file, read_only=True, data_only=not formulas)
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
        rows = _readable(file, sheet, worksheet.iter_rows(values_only=True))
        for number, values in enumerate(rows, start=1):
            cells += len(values)
            if cells > MAX_CELLS:
                raise InputError(
                    f"{file}, sheet {sheet!r}: more than {MAX_CELLS:,} cells; save the part "
                    "you need as its own file"
                )
            yield number, list(values)
    finally:
        book.close()


def _readable(file: Path, sheet: str, rows: Iterator[Any]) -> Iterator[Any]:
    """``rows``, with XML that breaks off or is malformed reported as one clear message."""
    number = 0
    try:
        for row in rows:
            number += 1
            yield row
    # The XML parser, zipfile (a part that breaks off) and openpyxl's own value errors all
    # mean the same to the person who sent the file.
    except Exception as exc:
        raise InputError(
            f"{file}, sheet {sheet!r}, after row {number}: the sheet cannot be read ({exc}); "
            "open and save it again in Excel"
        ) from None


def write_book(
    path: Path,
    source: Path | None,
    chosen: str,
    rows: Iterable[list[Any]],
) -> None:
    """Write a workbook: every sheet of ``source`` (when the table came from one) copied as it
    is, except ``chosen``, whose rows are ``rows``. Streamed: memory stays flat."""
    book = _openpyxl().Workbook(write_only=True)
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
        for row in _readable(file, sheet, worksheet.iter_rows()):
            cells += len(row)
            if cells > MAX_CELLS:
                raise InputError(f"{file}, sheet {sheet!r}: more than {MAX_CELLS:,} cells")
            yield row
    finally:
        book.close()


def _kept(sheet: Any, cell: Any) -> Any:
    if getattr(cell, "data_type", None) == "f":
        kept = _openpyxl().cell.WriteOnlyCell(sheet, value=cell.value)
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
        cell = _openpyxl().cell.WriteOnlyCell(sheet, value=xlsx_text(value))
        cell.data_type = "s"  # text, always: openpyxl would store "=..." as a formula
        return cell
    return value


def _openpyxl() -> Any:
    """openpyxl, loaded when a workbook is first read or written: a sixth of a second that every
    command's start-up (and every CSV-only job) would otherwise pay."""
    import openpyxl
    import openpyxl.cell

    return openpyxl
