"""A job's results as tables: JSONL lines and CSV rows (streamed), and the text of an answer."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, TextIO

import orjson

from halfrate.errors import InputError
from halfrate.models import Result
from halfrate.records import ResultRow
from halfrate.tabular.cells import inert

FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("custom_id", "status", "output_text", "error_code", "error_message", "response")


def result_record(result: Result) -> dict[str, Any]:
    """One JSONL line: the caller's custom_id, the status, the response body or the error."""
    return {
        "custom_id": result.key,
        "status": result.status,
        "status_code": result.status_code,
        "response": result.response,
        "error": result.error,
    }


def output_text(response: dict[str, Any] | None) -> str:
    """The answer's text, for spreadsheets: chat, responses, completions and Anthropic message
    bodies."""
    if not response:
        return ""
    if response.get("type") == "message" and isinstance(response.get("content"), list):
        return "".join(
            block.get("text", "")
            for block in response["content"]
            if isinstance(block, dict) and block.get("type") == "text"
        )
    choices = response.get("choices")
    if isinstance(choices, list) and choices:
        first = choices[0]
        message = first.get("message") if isinstance(first, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            return str(message["content"])
        if isinstance(first, dict) and isinstance(first.get("text"), str):
            return str(first["text"])
    output = response.get("output")
    if isinstance(output, list):
        texts = [
            part.get("text", "")
            for item in output
            if isinstance(item, dict)
            for part in item.get("content") or []
            if isinstance(part, dict) and part.get("type") == "output_text"
        ]
        return "".join(texts)
    return ""


def write_jsonl_rows(rows: Iterable[ResultRow], out: TextIO) -> int:
    """JSONL straight from the stored JSON text: the same lines as :func:`result_record` gives,
    without parsing and re-serialising every response (a third of the export time)."""
    count = 0
    for row in rows:
        if row.error_json:
            error = row.error_json
        else:
            pending = row.pending_error
            error = orjson.dumps(pending).decode() if pending else "null"
        code = "null" if row.status_code is None else str(row.status_code)
        out.write(
            f'{{"custom_id":{orjson.dumps(row.key).decode()},"status":"{row.state}",'
            f'"status_code":{code},"response":{row.response_json or "null"},"error":{error}}}\n'
        )
        count += 1
    return count


def csv_row(result: Result) -> list[str]:
    """A result's CSV cells, in CSV_COLUMNS order, each safe to open in a spreadsheet (a key,
    an answer or an error message is text, never a formula)."""
    error = result.error or {}
    cells = [
        result.key,
        result.status,
        output_text(result.response),
        str(error.get("code") or ""),
        str(error.get("message") or ""),
        orjson.dumps(result.response).decode() if result.response is not None else "",
    ]
    return [inert(cell) for cell in cells]


def write_csv(results: Iterable[Result], out: TextIO) -> int:
    """One row per result, with the answer's text pulled out for spreadsheets."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for result in results:
        writer.writerow(csv_row(result))
        count += 1
    return count


def format_for(path: str | None, explicit: str | None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise InputError(f"--format {explicit!r} is not one of: jsonl, csv")
        return explicit
    if path and path.lower().endswith(".csv"):
        return "csv"
    return "jsonl"
