"""The command line: parse, call, print. Every failure becomes one line on stderr."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from halfrate import logs
from halfrate.config import describe_settings
from halfrate.errors import HalfrateError, InputError

app = typer.Typer(
    name="halfrate",
    help="Run LLM work nobody is waiting on through the providers' batch APIs, at half price.",
    epilog="Settings (flag > environment > config file > default):\n\n"
    + describe_settings().replace("\n", "\n\n")
    + "\n\nHALFRATE_POLICY  the routing policy file (default: built in; see `halfrate policy`)"
    + "\n\nHALFRATE_WEBHOOK_SECRET  signs webhook sink deliveries (default: unsigned)"
    + '\n\nThe config file also holds [prices."MODEL"] (your own prices) and [budgets.feature]'
    + " / [budgets.team] (monthly caps in dollars); see the README."
    + "\n\nProviders use their SDKs' own variables: OPENAI_API_KEY, OPENAI_BASE_URL, "
    + "ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Piped output (scripts, files) gets a wide page so tables keep whole ids on one line.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(highlight=False, soft_wrap=True, stderr=True)


def _add_subcommands() -> None:
    from halfrate.cli_estimate import estimate
    from halfrate.cli_policy import policy_app
    from halfrate.cli_report import report
    from halfrate.cli_run import run

    app.add_typer(policy_app, name="policy")
    app.command()(run)
    app.command()(report)
    app.command()(estimate)


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log what the worker does")]


@app.command()
def submit(
    file: Annotated[
        Path, typer.Argument(help="a batch JSONL file, in OpenAI's or Anthropic's line format")
    ],
    feature: Annotated[str | None, typer.Option(help="feature tag for every request")] = None,
    team: Annotated[str | None, typer.Option(help="team tag for every request")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="another tag, KEY=VALUE (repeatable)")
    ] = None,
    deadline: Annotated[
        str | None, typer.Option(help="when the answers are needed: 6h, 2d, 06:00 or ISO 8601")
    ] = None,
    waiting: Annotated[
        bool, typer.Option("--waiting", help="a person is waiting for these answers")
    ] = False,
    job: Annotated[str | None, typer.Option(help="job name (default: file name + hash)")] = None,
    sink: Annotated[
        list[str] | None,
        typer.Option(
            help="also write each result to: FILE.jsonl, FILE.csv, https://webhook, "
            "sql:env:VAR#table (repeatable; submitting again adds a sink to the job)"
        ),
    ] = None,
) -> None:
    """Validate FILE whole, route each request by the policy, store it as one job, print the
    job id (last line)."""
    from halfrate.api import connect
    from halfrate.cli_policy import parse_tags

    tags = parse_tags(tag or [])
    with connect() as hr:
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
        lanes = hr.store.reads.job_lanes(outcome.job_id) if outcome.created else {}
    note = f", {outcome.existing} already submitted" if outcome.existing else ""
    routed = "; ".join(f"{n} {lane}" for lane, n in sorted(lanes.items()))
    out.print(
        f"job {outcome.job_name}: {outcome.created} requests stored{note}"
        + (f" ({routed})" if routed else "")
    )
    print(outcome.job_id)


@app.command()
def worker(
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="exit when nothing is queued or in flight")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Pack queued requests into batches, submit, poll and store results."""
    from halfrate.api import connect
    from halfrate.dispatch import RunMode

    if once and until_idle:
        raise InputError("--once and --until-idle exclude each other")
    logs.configure(verbose)
    mode = RunMode.ONCE if once else RunMode.UNTIL_IDLE if until_idle else RunMode.FOREVER
    started = time.time()
    with connect() as hr:
        summary = hr.run_worker(mode)
        hr_undelivered = hr.store.deliveries.undelivered()
        if mode is RunMode.UNTIL_IDLE:
            from halfrate.ledger.receipt import receipt

            bill = receipt(hr.store, started, time.time())
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
        f"{summary.batches_submitted} batches submitted, {summary.batches_ingested} ingested; "
        f"{succeeded} succeeded, {lines.failed + calls.failed} failed, "
        f"{lines.retried + calls.retried} to retry ({calls.succeeded + calls.failed} by call"
        f"{shared})"
        + moved
        + _delivery_note(summary.delivered, summary.delivery_failures, hr_undelivered)
    )
    if mode is RunMode.UNTIL_IDLE:
        out.print(bill)


def _delivery_note(delivered: int, failures: int, undelivered: int) -> str:
    if not (delivered or failures or undelivered):
        return ""
    note = f"; {delivered} results delivered to sinks"
    if undelivered:
        note += f", {undelivered} not yet (see `halfrate status JOB`)"
    return note


@app.command()
def cancel(
    job: Annotated[str, typer.Argument(help="job id or name")],
) -> None:
    """Cancel JOB: queued requests end cancelled, its provider batches are cancelled, finished
    results are kept."""
    from halfrate.api import connect
    from halfrate.errors import ProviderAuthError

    with connect() as hr:
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


@app.command()
def status(
    job: Annotated[str | None, typer.Argument(help="job id or name (default: recent jobs)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Requests per state and batches, for one job or the recent ones."""
    from halfrate.api import connect
    from halfrate.status_view import job_json, job_tables, jobs_table

    with connect() as hr:
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


@app.command()
def results(
    job: Annotated[str, typer.Argument(help="job id or name")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="write here (default: stdout)")
    ] = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl or csv (default: from -o, else jsonl)")
    ] = None,
) -> None:
    """One line per request: your custom_id, the status, the response body or the error."""
    from halfrate.api import connect
    from halfrate.tabular.results import format_for

    chosen = format_for(str(output) if output else None, fmt)
    with connect() as hr:
        hr.store.reads.find_job(job)  # an unknown job fails before any file is created
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


def _faults_help() -> str:
    from halfrate.sandbox.faults import describe

    return "Faults (--faults NAME=VALUE,...):\n\n" + describe().replace("\n", "\n\n")


@app.command(epilog=_faults_help())
def sandbox(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on", min=1, max=65535)] = 8787,
    latency: Annotated[
        float, typer.Option(help="seconds a batch takes from create to completed", min=0)
    ] = 0.0,
    realtime_latency: Annotated[
        float, typer.Option(help="seconds a synchronous call waits before answering", min=0)
    ] = 0.0,
    token_interval: Annotated[
        float, typer.Option(help="seconds between the pieces of a streamed answer", min=0)
    ] = 0.0,
    cancel_latency: Annotated[
        float | None,
        typer.Option(help="seconds a cancelled batch takes to end (default: latency / 3)", min=0),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            help="faults to inject, e.g. sync_429=0.1,retry_after=0.5,seed=7 (names below)"
        ),
    ] = None,
) -> None:
    """Serve the providers' HTTP APIs locally (simulated answers, no key needed)."""
    from halfrate.sandbox import parse_faults, serve

    chosen = parse_faults(faults) if faults else None  # a bad spec fails before listening
    root = f"http://{host}:{port}"
    out.print(
        f"halfrate sandbox on {root} (batch latency {latency:g}s, realtime latency "
        f"{realtime_latency:g}s{', faults ' + faults if faults else ''}). Point the SDKs at it:\n"
        f"  export OPENAI_BASE_URL={root}/v1 OPENAI_API_KEY=sandbox\n"
        f"  export ANTHROPIC_BASE_URL={root} ANTHROPIC_API_KEY=sandbox"
    )
    try:
        serve(
            host=host,
            port=port,
            latency=latency,
            realtime_latency=realtime_latency,
            token_interval=token_interval,
            cancel_latency=cancel_latency,
            faults=chosen,
        )
    except KeyboardInterrupt:
        out.print("sandbox stopped")  # Ctrl-C is how a sandbox is meant to end


@app.command()
def demo(verbose: Verbose = False) -> None:
    """The main job on the sandbox, no keys: a bundled sample job through the batch lane."""
    from halfrate.config import load_settings
    from halfrate.demo import run_demo

    logs.configure(verbose)
    run_demo(out, load_settings())


_add_subcommands()  # after the commands above, so --help lists them in the order of a day's work


def main() -> None:
    """Entry point: run the app, turning every error into one readable line."""
    debug = os.environ.get("HALFRATE_DEBUG", "").lower() in ("1", "true", "yes")
    args = sys.argv[1:] or ["--help"]  # bare `halfrate` shows the help, as users expect
    try:
        app(args, standalone_mode=False)
    except HalfrateError as exc:
        _fail(logs.redact(str(exc)), debug)
    except typer.Abort:
        _fail("interrupted", debug, code=130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        # Usage errors (unknown command, bad option value): typer's own exception family.
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        format_message = getattr(exc, "format_message", None)
        message = format_message() if callable(format_message) else str(exc)
        _fail(f"{message}{hint}", debug, code=2)
    except KeyboardInterrupt:
        _fail("interrupted", debug, code=130)
    except Exception as exc:
        _fail(
            f"unexpected {type(exc).__name__}: {logs.redact(str(exc))} "
            "(set HALFRATE_DEBUG=1 for the traceback)",
            debug,
        )


def _fail(message: str, debug: bool, code: int = 1) -> None:
    if debug:
        import traceback

        traceback.print_exc()
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"halfrate: error: {first}", file=sys.stderr)
    sys.exit(code)
