"""The tables ``hr.run_table(...)`` takes besides files: a list of rows or a pandas DataFrame
(pandas stays optional: a DataFrame is recognised by what it offers, never imported), and the
rows it gives back with their answers.

Rows given in memory are written once as a JSONL table in the temporary directory, named after
their content, so the same rows and question make the same job: calling again finds its answers
(``wait=False`` submits and returns the rows as they stand; a later call returns them answered).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from halfrate.errors import InputError
from halfrate.structured import AnswerShape

Columns = str | Mapping[str, Any] | AnswerShape | None


def shape_of(columns: Columns) -> AnswerShape | None:
    if columns is None or isinstance(columns, AnswerShape):
        return columns
    if isinstance(columns, str):
        return AnswerShape.from_spec(columns)
    if isinstance(columns, Mapping):
        return AnswerShape.from_schema(dict(columns), "columns")
    raise InputError("columns: give a spec such as 'sentiment: positive|negative, score: number'")


def is_frame(table: Any) -> bool:
    return hasattr(table, "to_dict") and hasattr(table, "columns") and hasattr(table, "copy")


def table_path(table: Any) -> tuple[Path, list[dict[str, Any]] | None]:
    """The table's file, and the rows when they were given in memory (written to a file)."""
    if isinstance(table, str | Path):
        return Path(table), None
    if is_frame(table):
        records = [_keyed(record) for record in table.to_dict(orient="records")]
    elif isinstance(table, Iterable) and not isinstance(table, str | bytes | Mapping):
        records = [_keyed(record) for record in table if isinstance(record, Mapping)]
    else:
        raise InputError("table: give a file path, a list of dicts or a pandas DataFrame")
    if not records:
        raise InputError("table: no rows")
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(str(key) for key in record))
    lines = b"".join(_line(record, tuple(names)) for record in records)
    digest = hashlib.sha256(lines).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"halfrate-rows-{digest}.jsonl"
    if not path.exists():
        partial = path.with_name(f".{path.name}.{digest}.partial")
        partial.write_bytes(lines)
        partial.replace(path)
    return path, records


def _line(record: Mapping[str, Any], names: tuple[str, ...]) -> bytes:
    values = {name: record.get(name) for name in names}
    try:
        body = orjson.dumps(
            values, default=_plain, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        )
    except TypeError as exc:
        raise InputError(f"table: a value halfrate cannot write as a cell: {exc}") from None
    return body + b"\n"


def _plain(value: Any) -> Any:
    """Values JSON has no type for, as a spreadsheet would show them."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # a numpy or pandas scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} values")


def with_answers(
    table: Any,
    records: list[dict[str, Any]],
    added: tuple[str, ...],
    cells: Mapping[int, list[Any]],
) -> Any:
    """The rows given in memory with their added cells (row N is the Nth record): a new
    DataFrame for a DataFrame, else a list of dicts."""
    empty = [""] * len(added)
    answered = [cells.get(number, empty) for number in range(1, len(records) + 1)]
    if is_frame(table):
        result = table.copy()
        for index, name in enumerate(added):
            result[name] = [row[index] for row in answered]
        return result
    return [
        {**record, **dict(zip(added, row, strict=True))}
        for record, row in zip(records, answered, strict=True)
    ]


def _keyed(record: Mapping[Any, Any]) -> dict[str, Any]:
    return {str(key): value for key, value in record.items()}
