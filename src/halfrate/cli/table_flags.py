"""The flags that say what is asked of a table, shared by `halfrate run` and `halfrate estimate`
(the same flags price a table and run it), and their checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from halfrate import api
from halfrate.errors import InputError
from halfrate.models import Lane
from halfrate.money import money

MAX_TEXT_FILE_BYTES = 1024 * 1024

Prompt = Annotated[
    str | None,
    typer.Option(metavar="TEXT", help="the question, with {column} where each row's value goes"),
]
PromptFile = Annotated[
    Path | None, typer.Option(metavar="FILE", help="read the prompt from a text file")
]
System = Annotated[
    str | None,
    typer.Option(metavar="TEXT", help="instructions that come before every row's prompt"),
]
SystemFile = Annotated[
    Path | None, typer.Option(metavar="FILE", help="read the instructions from a text file")
]
Model = Annotated[str, typer.Option(metavar="MODEL", help="the model that answers")]
MaxTokens = Annotated[
    int, typer.Option(metavar="N", help="the longest answer, in tokens, for every row")
]
Temperature = Annotated[
    float | None,
    typer.Option(metavar="T", help="0 to 2 (OpenAI models): lower answers more alike"),
]
Sheet = Annotated[
    str | None,
    typer.Option(metavar="NAME", help="the sheet of a workbook to answer (default: the first)"),
]
Columns = Annotated[
    str | None,
    typer.Option(
        metavar="SPEC",
        help="answer in columns: 'sentiment: positive|neutral|negative, product, score: number'",
    ),
]
Schema = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="answer in columns: a JSON Schema object, one per field"),
]
OutputTokens = Annotated[
    int | None,
    typer.Option(metavar="N", help="a typical answer's length, for an 'about' price"),
]


def asked_of_table(
    prompt: str | None,
    prompt_file: Path | None,
    system: str | None,
    system_file: Path | None,
    columns: str | None,
    schema: Path | None,
    *,
    model: str = api.DEFAULT_MODEL,
    max_tokens: int = api.DEFAULT_MAX_TOKENS,
    temperature: float | None = None,
    sheet: str | None = None,
) -> tuple[str, api.TableOptions]:
    """The prompt and the options the flags give, each refused by its flag's name."""
    asked = one_text("--prompt", prompt, "--prompt-file", prompt_file, required=True)
    instructions = one_text("--system", system, "--system-file", system_file, required=False)
    if columns is not None and schema is not None:
        raise InputError("--columns and --schema exclude each other: give one")
    shape = None
    if columns is not None:
        shape = api.AnswerShape.from_spec(columns)
    elif schema is not None:
        text = one_text("--schema", None, "--schema", schema, required=True) or ""
        shape = api.AnswerShape.from_schema_text(text, f"--schema {schema}")
    options = api.TableOptions(model, instructions, max_tokens, temperature, sheet, shape)
    return asked or "", options


def price_phrase(made: api.Estimate) -> str:
    """The batch price as honestly as it is known: a ceiling, an assumption, or a floor; with
    what the providers' prompt caches are expected to take off it, where requests share a
    long prefix."""
    phrase = _batch_phrase(made)
    if made.cache_read_tokens:
        phrase += f", about {money(made.total_cached(Lane.BATCH))} with the prompt cache"
    return phrase


def _batch_phrase(made: api.Estimate) -> str:
    amount = money(made.total(Lane.BATCH))
    assumed = {m.output_tokens // max(m.output_assumed, 1) for m in made.models if m.output_assumed}
    if made.is_floor:
        return f"at least {amount} (the answers' length is not known)"
    if assumed:
        each = ", ".join(f"{n:,}" for n in sorted(assumed))
        return f"about {amount} (answers of {each} tokens assumed)"
    return f"at most {amount}"


def one_text(
    name: str, text: str | None, file_flag: str, path: Path | None, *, required: bool
) -> str | None:
    """A text given inline or as a file, never both; a file is read as UTF-8 text."""
    if text is not None and path is not None:
        raise InputError(f"{name} and {file_flag} exclude each other: give one")
    if path is None:
        if text is None and required:
            raise InputError(f"{name} TEXT or {file_flag} FILE is needed: what to ask of each row")
        return text
    try:
        if path.stat().st_size > MAX_TEXT_FILE_BYTES:
            raise InputError(f"{file_flag} {path}: larger than {MAX_TEXT_FILE_BYTES:,} bytes")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{file_flag} {path}: not UTF-8 text") from None
    except OSError as exc:
        raise InputError(f"{file_flag} {path}: cannot read it: {exc.strerror or exc}") from None
