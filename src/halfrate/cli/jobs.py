"""The day-to-day commands: submit a file, run a worker, see a job's status, get its results,
cancel it."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer

from halfrate import api, logs
from halfrate.cli.console import stderr_console, stdout_console
from halfrate.cli.policy import parse_tags
from halfrate.cli.views.progress import JobProgress
from halfrate.cli.views.receipt import receipt
from halfrate.cli.views.status import job_json, job_tables, jobs_table
from halfrate.cli.words import plural
from halfrate.errors import InputError, ProviderAuthError

out = stdout_console()
err = stderr_console()

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log what halfrate does")]


def submit(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="a batch JSONL file, in OpenAI's or Anthropic's line format"
        ),
    ],
    feature: Annotated[
        str | None, typer.Option(metavar="NAME", help="feature tag for every request")
    ] = None,
    team: Annotated[
        str | None, typer.Option(metavar="NAME", help="team tag for every request")
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="another tag, KEY=VALUE (repeatable)"),
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="when the answers are needed: 6h, 2d, 06:00 or ISO 8601"),
    ] = None,
    waiting: Annotated[
        bool, typer.Option("--waiting", help="a person is waiting for these answers")
    ] = False,
    job: Annotated[
        str | None, typer.Option(metavar="NAME", help="job name (default: file name + hash)")
    ] = None,
    sink: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SINK",
            help="also write each result to: FILE.jsonl, FILE.csv, https://webhook, "
            "sql:env:VAR#table (repeatable; submitting again adds a sink to the job)",
        ),
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Validate FILE whole, route each request by the policy, store it as one job, print the
    job id (last line)."""
    logs.configure(verbose)
    tags = parse_tags(tag or [])
    with api.connect() as hr:
        outcome = hr.submit_file(
            file,
            job=job,
            feature=feature,
            team=team,
            tags=tags,
            deadline=deadline,
            waiting=waiting,
            sinks=sink or [],
        )
        lanes = hr.lanes(outcome.job_id) if outcome.created else {}
    note = f", {outcome.existing} already submitted" if outcome.existing else ""
    routed = "; ".join(f"{n} {lane}" for lane, n in sorted(lanes.items()))
    out.print(
        f"job {outcome.job_name}: {outcome.created} requests stored{note}"
        + (f" ({routed})" if routed else "")
    )
    print(outcome.job_id)


def worker(
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="exit when nothing is queued or in flight")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Pack queued requests into batches, submit, poll and store results."""

    if once and until_idle:
        raise InputError("--once and --until-idle exclude each other")
    logs.configure(verbose)
    mode = (
        api.RunMode.ONCE if once else api.RunMode.UNTIL_IDLE if until_idle else api.RunMode.FOREVER
    )
    started = time.time()
    # Progress goes to stderr (stdout keeps the summary a script reads). A worker that runs
    # forever shows it on a terminal only: in a log it would never end.
    shown = mode is api.RunMode.UNTIL_IDLE or (mode is api.RunMode.FOREVER and err.is_terminal)
    with api.connect() as hr:
        progress = JobProgress(err, hr, None, unit="requests") if shown else None
        with progress if progress is not None else contextlib.nullcontext():
            summary = hr.run_worker(mode, on_tick=progress)
        hr_undelivered = hr.undelivered()
        if mode is api.RunMode.UNTIL_IDLE:
            bill = receipt(hr.report("lane", since=started))
    lines, calls = summary.lines, summary.calls
    moved = (
        f"; deadline guard moved {summary.moved_by_guard} to realtime"
        if summary.moved_by_guard
        else ""
    )
    shared = f", {summary.shared} by identical requests' answers" if summary.shared else ""
    succeeded = lines.succeeded + calls.succeeded + summary.shared
    out.print(
        f"worker stopped ({summary.exit_reason.value}) after {summary.seconds:.1f}s: "
        f"{plural(summary.batches_submitted, 'batch')} submitted, {summary.batches_ingested} "
        "ingested; "
        f"{succeeded} succeeded, {lines.failed + calls.failed} failed, "
        f"{lines.retried + calls.retried} to retry ({calls.succeeded + calls.failed} by call"
        f"{shared})"
        + moved
        + _delivery_note(summary.delivered, summary.delivery_failures, hr_undelivered)
    )
    if mode is api.RunMode.UNTIL_IDLE:
        out.print(bill)


def _delivery_note(delivered: int, failures: int, undelivered: int) -> str:
    if not (delivered or failures or undelivered):
        return ""
    note = f"; {delivered} results delivered to sinks"
    if undelivered:
        note += f", {undelivered} not yet (see `halfrate status JOB`)"
    return note


def cancel(
    job: Annotated[str, typer.Argument(metavar="JOB", help="job id or name")],
) -> None:
    """Cancel JOB: queued requests end cancelled, its provider batches are cancelled, finished
    results are kept."""

    with api.connect() as hr:
        outcome = hr.cancel(job)
        try:
            asked = hr.cancel_batches_now() if outcome.batches else 0
            where = "cancelled at the provider" if asked else "to cancel"
        except ProviderAuthError:
            where = "to be cancelled by the next worker pass (no provider key here)"
    out.print(
        f"job {job}: {outcome.cancelled} queued requests cancelled; {outcome.batches} batches "
        f"{where}; {outcome.in_flight} requests in flight end as they finish; "
        f"{outcome.finished} finished results kept"
    )


def status(
    job: Annotated[
        str | None, typer.Argument(metavar="JOB", help="job id or name (default: recent jobs)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Requests per state and batches, for one job or the recent ones."""

    with api.connect() as hr:
        if job is None:
            jobs = hr.jobs()
            if as_json:
                print(orjson.dumps([job_json(j) for j in jobs]).decode())
            elif not jobs:
                out.print("no jobs yet: `halfrate submit FILE.jsonl` creates one")
            else:
                out.print(jobs_table(jobs, now=time.time()))
            return
        found = hr.status(job)
        if as_json:
            print(orjson.dumps(job_json(found), option=orjson.OPT_INDENT_2).decode())
            return
        for table in job_tables(found, now=time.time()):
            out.print(table)


def results(
    job: Annotated[str, typer.Argument(metavar="JOB", help="job id or name")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="FILE", help="write here (default: stdout)"),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", metavar="FORMAT", help="jsonl or csv (default: from -o, else jsonl)"
        ),
    ] = None,
) -> None:
    """One line per request: your custom_id, the status, the response body or the error. A
    `halfrate run` job's -o FILE (.csv, .tsv, .xlsx, .jsonl) gets its table with the answers,
    as `run` writes it (unless --format is given)."""

    chosen = api.format_for(str(output) if output else None, fmt)
    with api.connect() as hr:
        hr.status(job)  # an unknown job fails before any file is created
        plan = hr.table_job_plan(job) if output is not None and fmt is None else None
        if plan is not None and output is not None:
            hr.check_table_output(plan, output)
            written = hr.write_table_answers(plan, job, output)
            counts = ", ".join(f"{n:,} {state}" for state, n in sorted(written.items()))
            rows = sum(written.values())
            err.print(f"{rows:,} rows written to {output} ({counts})")
            return
        if output is None:
            hr.export_results(job, sys.stdout, chosen)
            return
        partial = output.with_name(output.name + ".partial")
        try:
            with partial.open("w", encoding="utf-8", newline="") as handle:
                count = hr.export_results(job, handle, chosen)
            partial.replace(output)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise InputError(f"cannot write {output}: {exc.strerror or exc}") from exc
    err.print(f"{count} results written to {output}")
