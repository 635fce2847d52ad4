"""`halfrate estimate FILE`: tokens and price in each lane, before anything is spent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from halfrate.api import connect
from halfrate.cli.console import stdout_console
from halfrate.cli.views.estimate import as_json, notes, table
from halfrate.errors import InputError


def estimate(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="a batch JSONL file (OpenAI's or Anthropic's)")
    ],
    output_tokens: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="output tokens to assume for requests that set no max_tokens"
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="table or json")] = "table",
) -> None:
    """Tokens per request and the price realtime vs batch vs flex; nothing is sent or stored.
    Each figure says whether it is counted, approximate, a ceiling, assumed, or a floor."""
    if fmt not in ("table", "json"):
        raise InputError(f"--format {fmt!r} is not one of table, json")
    with connect() as hr:
        made = hr.estimate_file(file, output_tokens=output_tokens)
    if fmt == "json":
        print(orjson.dumps(as_json(made), option=orjson.OPT_INDENT_2).decode())
        return
    out = stdout_console()
    out.print(table(made))
    for line in notes(made):
        out.print(line)
