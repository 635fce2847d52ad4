"""`halfrate demo`: bundled sample jobs through both providers' batch lanes and a few calls
through the realtime lane, on a local sandbox, with no keys."""

from __future__ import annotations

import shutil
import time
from importlib import resources
from pathlib import Path
from typing import Any

import anthropic
import openai
from rich.console import Console
from rich.markup import escape

from halfrate import api
from halfrate.cli.console import stderr_console
from halfrate.cli.views.progress import JobProgress
from halfrate.cli.views.receipt import receipt
from halfrate.cli.words import plural
from halfrate.config import Settings
from halfrate.money import money
from halfrate.sandbox import SandboxServer

SAMPLE = "demo_requests.jsonl"
CLAUDE_SAMPLE = "demo_claude_requests.jsonl"
DEMO_LATENCY_SECONDS = 2.0
DEMO_REALTIME_LATENCY = 0.2
REALTIME_ASK = "A customer is waiting in the chat: how do I reset my password?"
# Small batches so the demo shows splitting; a real run uses the provider's limits.
DEMO_BATCH_LINES = 100


def demo_settings(home: Path) -> dict[str, Any]:
    """The demo's own store under ``home``, and quick polls for a sandbox that answers fast."""
    return {
        "home": home,
        "database_url": f"sqlite:///{home / 'halfrate.db'}",
        "openai_max_batch_lines": DEMO_BATCH_LINES,
        "poll_initial_seconds": 0.3,
        "poll_max_seconds": 1.0,
        "worker_idle_seconds": 0.3,
        "retry_backoff_seconds": 1.0,
    }


def run_demo(console: Console, settings: Settings) -> None:
    """Run the demo in a folder of its own under the user's halfrate home."""
    home = settings.resolved_home / "demo"
    overrides = demo_settings(home)
    if home.exists():
        shutil.rmtree(home)  # the demo starts from nothing every time
    home.mkdir(parents=True)
    samples = {}
    for name in (SAMPLE, CLAUDE_SAMPLE):
        samples[name] = home / name
        samples[name].write_bytes(resources.files("halfrate").joinpath("data", name).read_bytes())

    console.print(
        "[bold]halfrate demo[/]: work routed by urgency on the local sandbox (simulated "
        "answers, no API key): two nightly jobs through the providers' batch lanes, and calls "
        "a person is waiting for through the realtime lane\n"
    )
    started = time.monotonic()
    started_at = time.time()
    with SandboxServer(
        latency=DEMO_LATENCY_SECONDS, realtime_latency=DEMO_REALTIME_LATENCY
    ) as server:
        console.print(
            f"  sandbox    {server.root_url}  (each batch takes ~{DEMO_LATENCY_SECONDS:g}s)"
        )
        openai_sdk = openai.OpenAI(api_key="sandbox-demo", base_url=server.base_url)
        anthropic_sdk = anthropic.Anthropic(api_key="sandbox-demo", base_url=server.root_url)
        hr = api.connect(**overrides, openai_client=openai_sdk, anthropic_client=anthropic_sdk)
        try:
            console.print(f"  store      {overrides['database_url']}")
            outcome = hr.submit_file(
                samples[SAMPLE], job="demo", feature="ticket-triage", team="support"
            )
            claude = hr.submit_file(
                samples[CLAUDE_SAMPLE], job="demo-claude", feature="weekly-report", deadline="2d"
            )
            for job, name in ((outcome, SAMPLE), (claude, CLAUDE_SAMPLE)):
                lanes = hr.lanes(job.job_id)
                routed = ", ".join(f"{n} {lane}" for lane, n in sorted(lanes.items()))
                console.print(
                    f"  submitted  {job.created} requests ({name}) as job '{job.job_name}': "
                    f"{routed}"
                )
            _calls_now(console, hr)
            # Progress on stderr, live on a terminal; closed before the summary is printed.
            jobs = (outcome.job_id, claude.job_id)
            watching = JobProgress(stderr_console(), hr, jobs, indent="  ", unit="requests")
            with watching as progress:
                summary = hr.run_worker(api.RunMode.UNTIL_IDLE, on_tick=progress)
            statuses = [hr.status(outcome.job_id), hr.status(claude.job_id)]
            bill = receipt(hr.report("lane", since=started_at))
            costs = [hr.job_costs(s.id) for s in statuses]
            usage = hr.job_usage(outcome.job_id)
            results_path = home / "results.jsonl"
            with results_path.open("w", encoding="utf-8") as handle:
                hr.export_results(outcome.job_id, handle, "jsonl")
        finally:
            hr.close()
            openai_sdk.close()
            anthropic_sdk.close()

    elapsed = time.monotonic() - started
    console.print(f"\n  finished   in {elapsed:.1f}s ({summary.ticks} worker passes)")
    for status, (paid, realtime) in zip(statuses, costs, strict=True):
        counts = status.counts
        batches = plural(len(status.batches), "provider batch", "provider batches")
        console.print(
            f"  {status.name + ':':<13}{batches}, "
            f"{counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
            f"{counts.get('cancelled', 0)} cancelled; paid {money(paid)}, at realtime "
            f"prices {money(realtime)}, saved {money(realtime - paid)}"
        )
    console.print(
        f"  tokens     {usage['input_tokens']:,} in, {usage['output_tokens']:,} out for "
        "'demo' (counted by the sandbox with tiktoken)"
    )
    console.print(f"  results    {results_path}")
    console.print(f"  {bill}")
    console.print(
        f"\n  look closer: HALFRATE_HOME={home} halfrate status demo\n"
        f"               HALFRATE_HOME={home} halfrate results demo --format csv\n"
        f"               HALFRATE_HOME={home} halfrate report --by model"
    )


def _calls_now(console: Console, hr: api.Halfrate) -> None:
    """Questions a person is waiting for: answered at once, through the realtime lane."""
    questions = (
        ({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": REALTIME_ASK}]}),
        (
            {
                "model": "claude-haiku-4-5",
                "max_tokens": 100,
                "messages": [{"role": "user", "content": REALTIME_ASK}],
            }
        ),
    )
    for body in questions:
        answer = hr.call(body, job="demo-calls", feature="support-chat")
        ttft = f"{answer.ttft * 1000:.0f} ms" if answer.ttft is not None else "-"
        console.print(
            f"  call       {body['model']}: answered in the {answer.lane} lane, first token "
            f"after {ttft}: {escape(' '.join(answer.text.split())[:70])}…"
        )
