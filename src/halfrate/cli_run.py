"""`halfrate run FILE --prompt TEXT`: one prompt over every row of a spreadsheet, at the batch
price, with the answers written back beside the rows."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

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
    from halfrate.api import connect
    from halfrate.cli_estimate import notes, table
    from halfrate.dispatch import RunMode
    from halfrate.ledger.receipt import receipt
    from halfrate.progress import JobProgress
    from halfrate.table_job import answers_of, estimate_table, plan_table, submit_table
    from halfrate.tabular.write import output_kind, write_answers

    out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    target = output if output is not None else _default_output(file)
    with connect() as hr:
        plan = plan_table(file, prompt, model)
        if target.resolve() == plan.table.path.resolve():
            raise InputError(f"-o {target}: that is the input file; name another file")
        output_kind(target)
        made = estimate_table(hr, plan, output_tokens)  # every row read and checked; none stored
        out.print(table(made))
        for line in notes(made):
            out.print(line)
        batch = made.total(Lane.BATCH)
        # Progress on stderr: stdout keeps what a script reads.
        progress = JobProgress(Console(highlight=False, soft_wrap=True, stderr=True), hr, ())
        with hr.worker(on_tick=progress) as worker:
            if plan.provider.value not in worker.dispatcher.providers:
                name = plan.provider.value.upper()
                raise InputError(f"no {plan.provider.value} client: set {name}_API_KEY")
            # Unreachable, a refused key, work in the store this worker cannot do: said now,
            # before anything is stored.
            worker.dispatcher.preflight()
            if not yes:
                if not sys.stdin.isatty():
                    raise InputError("nothing was run: add --yes to run without being asked")
                if not typer.confirm(f"Run {made.requests:,} requests for about {money(batch)}?"):
                    out.print("nothing was run")
                    raise typer.Exit(1)
            started = time.time()
            outcome = submit_table(hr, plan)
            out.print(_stored(outcome))
            progress.job_ids = (outcome.job_id,)
            worker.run(RunMode.UNTIL_IDLE)
        status = hr.status(outcome.job_id)
        written = write_answers(plan.table, answers_of(hr, plan, outcome.job_id), target)
        counts = ", ".join(f"{n:,} {state}" for state, n in sorted(status.counts.items()))
        out.print(f"answers    {written:,} rows written to {target} ({counts})")
        out.print(receipt(hr.store, started, time.time()))


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
