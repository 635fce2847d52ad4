"""`halfrate run FILE --prompt TEXT`: one prompt over every row of a spreadsheet, at the batch
price, with the answers written back beside the rows.

The answers file is written only when every row's request has ended, whole, and renamed into
place: an interrupted run (Ctrl-C, SIGTERM) leaves the job going and any earlier answers file as
it was, and the same command continues it.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from halfrate.api import DEFAULT_MAX_TOKENS, DEFAULT_MODEL, Estimate, RunMode, TableOptions, connect
from halfrate.cli.console import stderr_console, stdout_console
from halfrate.cli.views.estimate import notes, table
from halfrate.cli.views.progress import JobProgress
from halfrate.cli.views.receipt import receipt
from halfrate.errors import InputError
from halfrate.models import FINAL_REQUEST_STATES, Lane, SubmitOutcome
from halfrate.money import money

MAX_TEXT_FILE_BYTES = 1024 * 1024


def run(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="a .csv, .tsv, .xlsx or .jsonl table; row 1 names the columns"
        ),
    ],
    prompt: Annotated[
        str | None,
        typer.Option(
            metavar="TEXT", help="the question, with {column} where each row's value goes"
        ),
    ] = None,
    prompt_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="read the prompt from a text file")
    ] = None,
    system: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help="instructions that come before every row's prompt"),
    ] = None,
    system_file: Annotated[
        Path | None, typer.Option(metavar="FILE", help="read the instructions from a text file")
    ] = None,
    model: Annotated[
        str, typer.Option(metavar="MODEL", help="the model that answers")
    ] = DEFAULT_MODEL,
    max_tokens: Annotated[
        int, typer.Option(metavar="N", help="the longest answer, in tokens, for every row")
    ] = DEFAULT_MAX_TOKENS,
    temperature: Annotated[
        float | None,
        typer.Option(metavar="T", help="0 to 2 (OpenAI models): lower answers more alike"),
    ] = None,
    sheet: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="the sheet of a workbook to answer (default: the first)"),
    ] = None,
    feature: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="feature tag in reports (default: spreadsheet)"),
    ] = None,
    team: Annotated[str | None, typer.Option(metavar="NAME", help="team tag in reports")] = None,
    deadline: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="when the answers are needed: 6h, 2d, 06:00, ISO 8601"),
    ] = None,
    now: Annotated[
        bool, typer.Option("--now", help="a person is waiting: answer in realtime, full price")
    ] = False,
    job: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="job name (default: from the file and what is asked)"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", metavar="FILE", help="where the answers go (default: see the README)"
        ),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="run without asking first")] = False,
    output_tokens: Annotated[
        int | None,
        typer.Option(metavar="N", help="a typical answer's length, for an 'about' price"),
    ] = None,
) -> None:
    """Ask one prompt of every row, at the batch price: shows the price now vs batch, asks,
    runs, and writes the table back with answer, status and error columns."""
    if deadline is not None and now:
        raise InputError("--deadline and --now exclude each other")
    asked = _one_text("--prompt", prompt, "--prompt-file", prompt_file, required=True)
    instructions = _one_text("--system", system, "--system-file", system_file, required=False)
    options = TableOptions(model, instructions, max_tokens, temperature, sheet)
    out = stdout_console()
    with connect() as hr:
        hr.check_table_tags(job=job, feature=feature, team=team, deadline=deadline, waiting=now)
        plan = hr.plan_table(file, asked or "", options)
        target = output if output is not None else plan.default_output()
        hr.check_table_output(plan, target)
        made = hr.estimate_table(plan, output_tokens)  # every row read and checked; none stored
        out.print(table(made))
        for line in notes(made):
            out.print(line)
        # Progress on stderr: stdout keeps what a script reads.
        progress = JobProgress(stderr_console(), hr, ())
        with hr.worker(on_tick=progress) as worker:
            # No client for the model's provider, unreachable, a refused key, work in the store
            # this worker cannot do: said now, before anything is stored.
            worker.preflight(plan.provider.value)
            if not yes:
                if not sys.stdin.isatty():
                    raise InputError("nothing was run: add --yes to run without being asked")
                if not typer.confirm(f"Run {made.requests:,} requests for {_price(made)}?"):
                    out.print("nothing was run")
                    raise typer.Exit(1)
            started = time.time()
            outcome = hr.submit_table(
                plan, job=job, feature=feature, team=team, deadline=deadline, waiting=now
            )
            out.print(_stored(outcome))
            progress.job_ids = (outcome.job_id,)
            summary = worker.run(RunMode.UNTIL_IDLE)
        status = hr.status(outcome.job_id)
        if summary.signal is not None or not status.done:
            done = sum(status.counts.get(state, 0) for state in FINAL_REQUEST_STATES)
            stderr_console().print(
                f"interrupted: job {outcome.job_name} goes on ({done:,} of {status.total:,} "
                f"rows answered so far); the same command continues it and writes {target}"
            )
            code = summary.signal if summary.signal is not None else signal.SIGINT
            raise typer.Exit(128 + int(code))
        written = hr.write_table_answers(plan, outcome.job_id, target)
        counts = ", ".join(f"{n:,} {state}" for state, n in sorted(status.counts.items()))
        out.print(f"answers    {written:,} rows written to {target} ({counts})")
        out.print(receipt(hr.report("lane", since=started)))


def _price(made: Estimate) -> str:
    """The batch price as honestly as it is known: a ceiling, an assumption, or a floor."""
    amount = money(made.total(Lane.BATCH))
    assumed = {m.output_tokens // max(m.output_assumed, 1) for m in made.models if m.output_assumed}
    if made.is_floor:
        return f"at least {amount} (the answers' length is not known)"
    if assumed:
        each = ", ".join(f"{n:,}" for n in sorted(assumed))
        return f"about {amount} (answers of {each} tokens assumed)"
    return f"at most {amount}"


def _one_text(
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


def _stored(outcome: SubmitOutcome) -> str:
    said = []
    if outcome.existing:
        said.append(f"{outcome.existing:,} were submitted before")
    if outcome.shared:
        said.append(f"{outcome.shared:,} take an identical request's answer, at $0")
    notes = f" ({'; '.join(said)})" if said else ""
    plural = "request" if outcome.created == 1 else "requests"
    return f"job {outcome.job_name}: {outcome.created:,} {plural} stored{notes}"
