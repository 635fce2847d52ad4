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

from halfrate import api
from halfrate.cli.console import stderr_console, stdout_console
from halfrate.cli.table_flags import (
    Columns,
    MaxTokens,
    Model,
    OutputTokens,
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
from halfrate.cli.views.estimate import notes, table
from halfrate.cli.views.progress import JobProgress
from halfrate.cli.views.receipt import receipt
from halfrate.cli.words import plural
from halfrate.errors import InputError
from halfrate.models import FINAL_REQUEST_STATES, SubmitOutcome


def run(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="a .csv, .tsv, .xlsx or .jsonl table; row 1 names the columns"
        ),
    ],
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
    no_wait: Annotated[
        bool,
        typer.Option(
            "--no-wait",
            help="store the job, print its id and leave; `halfrate results JOB -o FILE` "
            "writes the table later",
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option("--retry-failed", help="ask again only the rows whose answer failed"),
    ] = False,
    output_tokens: OutputTokens = None,
) -> None:
    """Ask one prompt of every row, at the batch price: shows the price now vs batch, asks,
    runs, and writes the table back with answer, status and error columns."""
    if deadline is not None and now:
        raise InputError("--deadline and --now exclude each other")
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
    out = stdout_console()
    with api.connect() as hr:
        hr.check_table_tags(job=job, feature=feature, team=team, deadline=deadline, waiting=now)
        plan = hr.plan_table(file, asked, options)
        target = output if output is not None else plan.default_output()
        hr.check_table_output(plan, target)
        # Every row read and checked, nothing stored; with --retry-failed only the failed rows
        # are priced (None: an interrupted rerun goes on, nothing new to price).
        rows = hr.rows_to_retry(plan, job=job) if retry_failed else frozenset[int]()
        made = None
        if rows is not None:
            made = hr.estimate_table(plan, output_tokens, only=rows or None)
            out.print(table(made))
            for line in notes(made):
                out.print(line)
        # Progress on stderr: stdout keeps what a script reads.
        progress = JobProgress(stderr_console(), hr, ())
        with hr.worker(on_tick=progress) as worker:
            # No client for the model's provider, unreachable, a refused key, work in the store
            # this worker cannot do: said now, before anything is stored.
            worker.preflight(plan.provider.value)
            if made is not None and not yes:
                if not sys.stdin.isatty():
                    raise InputError("nothing was run: add --yes to run without being asked")
                question = f"Run {plural(made.requests, 'request')} for {price_phrase(made)}?"
                if not typer.confirm(question):
                    out.print("nothing was run")
                    raise typer.Exit(1)
            started = time.time()
            outcome = hr.submit_table(
                plan,
                job=job,
                feature=feature,
                team=team,
                deadline=deadline,
                waiting=now,
                retry_failed=retry_failed,
            )
            out.print(_stored(outcome))
            if no_wait:
                out.print(
                    f"not waiting: `halfrate worker` answers it; `halfrate results "
                    f"{outcome.job_name} -o {target}` writes the table"
                )
                print(outcome.job_id)
                return
            progress.job_ids = (outcome.job_id,)
            summary = worker.run(api.RunMode.UNTIL_IDLE)
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
        counts = ", ".join(f"{n:,} {state}" for state, n in sorted(written.items()))
        answered = plural(sum(written.values()), "row")
        out.print(f"answers    {answered} written to {target} ({counts})")
        out.print(receipt(hr.report("lane", since=started)))


def _stored(outcome: SubmitOutcome) -> str:
    if not outcome.created and not outcome.existing and not outcome.shared:
        return f"job {outcome.job_name}: going on where it stopped"
    said = []
    if outcome.existing:
        said.append(f"{outcome.existing:,} were submitted before")
    if outcome.shared:
        said.append(f"{outcome.shared:,} take an identical request's answer, at $0")
    notes = f" ({'; '.join(said)})" if said else ""
    return f"job {outcome.job_name}: {plural(outcome.created, 'request')} stored{notes}"
