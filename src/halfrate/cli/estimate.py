"""`halfrate estimate FILE`: tokens and price in each lane, before anything is spent. FILE is a
batch JSONL file, or with ``--prompt`` a table priced as `halfrate run` would run it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from halfrate import api
from halfrate.cli.console import stdout_console
from halfrate.cli.table_flags import (
    Columns,
    MaxTokens,
    Model,
    Prompt,
    PromptFile,
    Schema,
    Sheet,
    System,
    SystemFile,
    Temperature,
    asked_of_table,
    price_phrase,
)
from halfrate.cli.views.estimate import as_json, notes, table
from halfrate.errors import InputError

TABLE_SUFFIXES = (".csv", ".tsv", ".xlsx")


def estimate(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="a batch JSONL file (OpenAI's or Anthropic's), or with --prompt a table "
            "(.csv, .tsv, .xlsx, .jsonl) as `halfrate run` takes it",
        ),
    ],
    output_tokens: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="output tokens to assume (a batch file: for requests that set no max_tokens; "
            "a table: a typical answer's length)",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FORMAT", help="table or json")] = "table",
    prompt: Prompt = None,
    prompt_file: PromptFile = None,
    system: System = None,
    system_file: SystemFile = None,
    model: Model = api.DEFAULT_MODEL,
    max_tokens: MaxTokens = api.DEFAULT_MAX_TOKENS,
    temperature: Temperature = None,
    sheet: Sheet = None,
    columns: Columns = None,
    schema: Schema = None,
) -> None:
    """Tokens per request and the price realtime vs batch vs flex; nothing is sent or stored.
    Each figure says whether it is counted, approximate, a ceiling, assumed, or a floor."""
    if fmt not in ("table", "json"):
        raise InputError(f"--format {fmt!r} is not one of table, json")
    is_table = prompt is not None or prompt_file is not None
    if not is_table and file.suffix.lower() in TABLE_SUFFIXES:
        raise InputError(
            f"{file} is a table: say what to ask of each row with --prompt TEXT "
            "(and the other `halfrate run` options)"
        )
    table_only = {
        "--system": system,
        "--system-file": system_file,
        "--temperature": temperature,
        "--sheet": sheet,
        "--columns": columns,
        "--schema": schema,
    }
    given = [flag for flag, value in table_only.items() if value is not None]
    if model != api.DEFAULT_MODEL or max_tokens != api.DEFAULT_MAX_TOKENS:
        given += ["--model" if model != api.DEFAULT_MODEL else "--max-tokens"]
    if given and not is_table:
        raise InputError(f"{given[0]} prices a table: add --prompt TEXT (a batch file says it)")
    with api.connect() as hr:
        if is_table:
            asked, options = asked_of_table(
                prompt,
                prompt_file,
                system,
                system_file,
                columns,
                schema,
                model=model,
                max_tokens=max_tokens,
                temperature=temperature,
                sheet=sheet,
            )
            made = hr.estimate_table(hr.plan_table(file, asked, options), output_tokens)
        else:
            made = hr.estimate_file(file, output_tokens=output_tokens)
    if fmt == "json":
        print(orjson.dumps(as_json(made), option=orjson.OPT_INDENT_2).decode())
        return
    out = stdout_console()
    out.print(table(made))
    for line in notes(made):
        out.print(line)
    if is_table:
        out.print(f"as a batch {price_phrase(made)}")
