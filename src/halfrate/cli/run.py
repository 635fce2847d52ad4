"""`halfrate run FILE --prompt TEXT`: one prompt over every row of a spreadsheet, at the batch
price, with the answers written back beside the rows."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from halfrate.api import RunMode, connect
from halfrate.cli.console import stderr_console, stdout_console
from halfrate.cli.views.estimate import notes, table
from halfrate.cli.views.progress import JobProgress
from halfrate.cli.views.receipt import receipt
from halfrate.errors import InputError
from halfrate.models import Lane, SubmitOutcome
from halfrate.money import money


def run(
    file: Annotated[
        Path, typer.Argument(help="a .csv, .xlsx or .jsonl table; row 1 names columns")
    ],
    prompt: Annotated[
        str,
        typer.Option(help="the instruction, with {column} where each row's value goes"),
    ],
    model: Annotated[str | None, typer.Option(help="the model (default gpt-4o-mini)")] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="where the answers go (default FILE.answers.EXT)"),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="run without asking first")] = False,
    output_tokens: Annotated[
        int | None, typer.Option(help="output tokens to assume per answer, for the estimate")
    ] = None,
) -> None:
    """Ask one prompt of every row, at the batch price: shows the price now vs batch, asks,
    runs, and writes the table back with an answer, status and error column."""
    out = stdout_console()
    target = output if output is not None else _default_output(file)
    with connect() as hr:
        plan = hr.plan_table(file, prompt, model)
        hr.check_table_output(plan, target)
        made = hr.estimate_table(plan, output_tokens)  # every row read and checked; none stored
        out.print(table(made))
        for line in notes(made):
            out.print(line)
        batch = made.total(Lane.BATCH)
        # Progress on stderr: stdout keeps what a script reads.
        progress = JobProgress(stderr_console(), hr, ())
        with hr.worker(on_tick=progress) as worker:
            # No client for the model's provider, unreachable, a refused key, work in the store
            # this worker cannot do: said now, before anything is stored.
            worker.preflight(plan.provider.value)
            if not yes:
                if not sys.stdin.isatty():
                    raise InputError("nothing was run: add --yes to run without being asked")
                if not typer.confirm(f"Run {made.requests:,} requests for about {money(batch)}?"):
                    out.print("nothing was run")
                    raise typer.Exit(1)
            started = time.time()
            outcome = hr.submit_table(plan)
            out.print(_stored(outcome))
            progress.job_ids = (outcome.job_id,)
            worker.run(RunMode.UNTIL_IDLE)
        status = hr.status(outcome.job_id)
        written = hr.write_table_answers(plan, outcome.job_id, target)
        counts = ", ".join(f"{n:,} {state}" for state, n in sorted(status.counts.items()))
        out.print(f"answers    {written:,} rows written to {target} ({counts})")
        out.print(receipt(hr.report("lane", since=started)))


def _stored(outcome: SubmitOutcome) -> str:
    said = []
    if outcome.existing:
        said.append(f"{outcome.existing:,} were submitted before")
    if outcome.shared:
        said.append(f"{outcome.shared:,} take an identical request's answer, at $0")
    notes = f" ({'; '.join(said)})" if said else ""
    return f"job {outcome.job_name}: {outcome.created:,} requests stored{notes}"


def _default_output(file: Path) -> Path:
    return file.with_name(f"{file.stem}.answers{file.suffix.lower()}")
