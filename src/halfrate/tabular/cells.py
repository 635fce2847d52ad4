"""Cells as text, and cells made safe to open.

A prompt gets a cell as a spreadsheet shows it (:func:`cell_text`). Every table halfrate writes
may be opened in Excel or Sheets, and what a customer or a model wrote is attacker-controlled:
a CSV cell a spreadsheet would run as a formula is written with a leading apostrophe
(:func:`inert`), and an XLSX cell is always written as text, never as a formula.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import orjson

# What a spreadsheet program reads as the start of a formula (or of a command, in old ones).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?")
# Characters the XLSX format cannot hold (XML 1.0 allows tab, newline and carriage return).
_XLSX_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def cell_text(value: Any) -> str:
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


def inert(text: str) -> str:
    """``text`` as a CSV cell no spreadsheet program runs as a formula: one that starts like a
    formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return) and is not a plain number
    gets a leading apostrophe, which spreadsheets show as text and do not display."""
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def xlsx_text(text: str) -> str:
    """``text`` as an XLSX text cell may hold it (characters the format forbids dropped)."""
    return _XLSX_ILLEGAL.sub("", text)
