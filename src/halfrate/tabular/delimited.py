"""CSV and TSV files as people's spreadsheet programs write them, read and written back alike.

What a file is made of is found once, before any row is read (:func:`dialect_of`): its encoding
(UTF-8 with or without a byte-order mark, UTF-16 with one, else Windows-1252, the encoding
Excel uses for "CSV" on Windows in the West), its delimiter (comma, semicolon or tab, from the
first line), and its line ending. The answers file is written with the same, so a program that
reads the input reads the output too.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from halfrate.errors import InputError
from halfrate.tabular.cells import inert

MAX_CELL_BYTES = 10 * 1024 * 1024  # a cell larger than this cannot fit one request anyway
SNIFF_BYTES = 64 * 1024
CHUNK_BYTES = 1 << 20
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with a byte-order mark",
    "utf-16": "UTF-16",
    "cp1252": "Windows-1252",
}


@dataclass(frozen=True)
class Dialect:
    encoding: str  # a Python codec: utf-8, utf-8-sig, utf-16 or cp1252
    delimiter: str
    newline: str  # \r\n or \n, as the first line ends

    @property
    def described(self) -> str:
        return ENCODING_NAMES[self.encoding]


def dialect_of(file: Path, default_delimiter: str) -> Dialect:
    """How ``file`` is written. The whole file is decoded once here, so a byte its encoding
    cannot read is reported now, with its line, before anything is stored."""
    try:
        with file.open("rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"{file}: cannot read it: {exc.strerror or exc}") from None
    utf8 = None
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        utf8 = _scan(file, "utf-8")
        encoding = "utf-8" if utf8.bad_line is None else "cp1252"
    found = utf8 if utf8 is not None and encoding == "utf-8" else _scan(file, encoding)
    if found.bad_line is not None:
        raise InputError(
            f"{file}, line {found.bad_line}: not UTF-8, UTF-16 or Windows-1252 text (save the "
            "file as CSV UTF-8)"
        )
    if found.nul_line is not None:
        raise InputError(
            f"{file}, line {found.nul_line}: a NUL character, which text never holds (is it a "
            "UTF-16 file without its byte-order mark, or not a table at all? save it as CSV "
            "UTF-8)"
        )
    first = head.decode(encoding, errors="replace").split("\n", 1)
    newline = "\r\n" if first[0].endswith("\r") else "\n"
    return Dialect(encoding, _delimiter(first[0], default_delimiter), newline)


def read_rows(file: Path, dialect: Dialect) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for every row of the file, the header (row 1) included; a row that
    spans lines (a quoted newline) counts once."""
    csv.field_size_limit(MAX_CELL_BYTES)
    with file.open("r", encoding=dialect.encoding, newline="") as handle:
        reader = csv.reader(handle, delimiter=dialect.delimiter, strict=True)
        number = 0
        try:
            for number, cells in enumerate(reader, start=1):
                yield number, cells
        except csv.Error as exc:
            raise InputError(
                f"{file}, row {number + 1}: not readable CSV ({exc}; the file is "
                f"{dialect.described})"
            ) from None


def write_rows(path: Path, dialect: Dialect, rows: Iterable[list[Any]]) -> None:
    """Write ``rows`` in ``dialect``; every cell made inert (see :func:`cells.inert`)."""
    with path.open("w", encoding=dialect.encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=dialect.delimiter, lineterminator=dialect.newline)
        for row in rows:
            writer.writerow([inert(cell if isinstance(cell, str) else str(cell)) for cell in row])


@dataclass(frozen=True)
class _Scan:
    bad_line: int | None  # the first line the encoding cannot read
    nul_line: int | None  # the first line with a NUL character


def _scan(file: Path, encoding: str) -> _Scan:
    """Decode the whole file as ``encoding``, in chunks: where it stops, and the first NUL."""
    decoder = codecs.getincrementaldecoder(encoding)()
    line, nul_line = 1, None
    with file.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                return _Scan(line + chunk[: exc.start].count(b"\n"), nul_line)
            if nul_line is None and "\0" in text:
                nul_line = line + text[: text.index("\0")].count("\n")
            line += text.count("\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return _Scan(line, nul_line)
    return _Scan(None, nul_line)


def _delimiter(first_line: str, default: str) -> str:
    """Comma, semicolon (spreadsheets in many locales) or tab: the one the header uses most."""
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else default
