"""`halfrate sandbox` and `halfrate demo`: the providers' APIs served locally, and the main job
run on them with no key."""

from __future__ import annotations

from typing import Annotated

import typer

from halfrate import logs
from halfrate.cli.console import stdout_console
from halfrate.config import load_settings
from halfrate.sandbox.faults import describe as describe_faults
from halfrate.sandbox.faults import parse_faults

out = stdout_console()

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log what the worker does")]


def faults_help() -> str:
    return "Faults (--faults NAME=VALUE,...):\n\n" + describe_faults().replace("\n", "\n\n")


def sandbox(
    host: Annotated[str, typer.Option(metavar="HOST", help="address to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(metavar="PORT", help="port to listen on", min=1, max=65535)
    ] = 8787,
    latency: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="seconds a batch takes from create to completed", min=0
        ),
    ] = 0.0,
    realtime_latency: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="seconds a synchronous call waits before answering", min=0
        ),
    ] = 0.0,
    token_interval: Annotated[
        float,
        typer.Option(
            metavar="SECONDS", help="seconds between the pieces of a streamed answer", min=0
        ),
    ] = 0.0,
    cancel_latency: Annotated[
        float | None,
        typer.Option(
            metavar="SECONDS",
            help="seconds a cancelled batch takes to end (default: latency / 3)",
            min=0,
        ),
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            metavar="SPEC",
            help="faults to inject, e.g. sync_429=0.1,retry_after=0.5,seed=7 (names below)",
        ),
    ] = None,
) -> None:
    """Serve the providers' HTTP APIs locally (simulated answers, no key needed)."""
    chosen = parse_faults(faults) if faults else None  # a bad spec fails before listening
    root = f"http://{host}:{port}"
    out.print(
        f"halfrate sandbox on {root} (batch latency {latency:g}s, realtime latency "
        f"{realtime_latency:g}s{', faults ' + faults if faults else ''}). Point the SDKs at it:\n"
        f"  export OPENAI_BASE_URL={root}/v1 OPENAI_API_KEY=sandbox\n"
        f"  export ANTHROPIC_BASE_URL={root} ANTHROPIC_API_KEY=sandbox"
    )
    # Imported here: serving brings the web framework (a third of a second of start-up).
    from halfrate.sandbox import serve

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


def demo(verbose: Verbose = False) -> None:
    """The main job on the sandbox, no keys: a bundled sample job through the batch lane."""
    logs.configure(verbose)
    # Imported here: the demo brings both providers' SDKs (over a second of imports), which
    # `halfrate --help` and the other commands need not pay for.
    from halfrate.cli.demo import run_demo

    run_demo(out, load_settings())
