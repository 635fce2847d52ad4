"""`halfrate demo`: a bundled sample job through the batch lane of a local sandbox, no keys."""

from __future__ import annotations

import shutil
import time
from importlib import resources

import openai
from rich.console import Console

from halfrate.api import Halfrate
from halfrate.config import Settings
from halfrate.dispatch import RunMode, TickReport
from halfrate.store import Store

SAMPLE = "demo_requests.jsonl"
DEMO_LATENCY_SECONDS = 2.0
# Small batches so the demo shows splitting; a real run uses the provider's limits.
DEMO_BATCH_LINES = 100


def demo_settings(settings: Settings) -> Settings:
    home = settings.resolved_home / "demo"
    return settings.model_copy(
        update={
            "home": home,
            "database_url": f"sqlite:///{home / 'halfrate.db'}",
            "openai_max_batch_lines": DEMO_BATCH_LINES,
            "poll_initial_seconds": 0.3,
            "poll_max_seconds": 1.0,
            "worker_idle_seconds": 0.3,
            "retry_backoff_seconds": 1.0,
        }
    )


def run_demo(console: Console, settings: Settings) -> None:
    from halfrate.sandbox import SandboxServer

    cfg = demo_settings(settings)
    home = cfg.resolved_home
    if home.exists():
        shutil.rmtree(home)  # the demo starts from nothing every time
    home.mkdir(parents=True)
    sample = home / SAMPLE
    sample.write_bytes(resources.files("halfrate").joinpath("data", SAMPLE).read_bytes())

    console.print(
        "[bold]halfrate demo[/]: a sample job through the batch lane of the local sandbox "
        "(simulated answers, no API key)\n"
    )
    started = time.monotonic()
    with SandboxServer(latency=DEMO_LATENCY_SECONDS) as server:
        console.print(
            f"  sandbox    {server.base_url}  (each batch takes ~{DEMO_LATENCY_SECONDS:g}s)"
        )
        hr = Halfrate(cfg, Store.open(cfg.resolved_database_url))
        client = openai.OpenAI(api_key="sandbox-demo", base_url=server.base_url)
        try:
            outcome = hr.submit_file(sample, job="demo", feature="demo", team="halfrate")
            console.print(f"  store      {cfg.resolved_database_url}")
            console.print(
                f"  submitted  {outcome.created} requests ({SAMPLE}) as job "
                f"'{outcome.job_name}' ({outcome.job_id})"
            )
            progress = _Progress(console, hr, outcome.job_id)
            summary = hr.run_worker(RunMode.UNTIL_IDLE, openai_client=client, on_tick=progress)
            status = hr.status(outcome.job_id)
            usage = hr.store.reads.job_usage(outcome.job_id)
            results_path = home / "results.jsonl"
            with results_path.open("w", encoding="utf-8") as handle:
                hr.export_results(outcome.job_id, handle, "jsonl")
        finally:
            client.close()
            hr.close()

    elapsed = time.monotonic() - started
    counts = status.counts
    console.print(
        f"\n  finished   in {elapsed:.1f}s: {len(status.batches)} provider batches, "
        f"{counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
        f"{counts.get('cancelled', 0)} cancelled ({summary.ticks} worker passes)"
    )
    console.print(
        f"  tokens     {usage['input_tokens']:,} in, {usage['output_tokens']:,} out "
        "(counted by the sandbox with tiktoken)"
    )
    console.print(f"  results    {results_path}")
    console.print(
        f"\n  look closer: HALFRATE_HOME={home.parent / home.name} halfrate status demo\n"
        f"               HALFRATE_HOME={home} halfrate results demo --format csv"
    )


class _Progress:
    """Prints a line whenever the job's progress changes."""

    def __init__(self, console: Console, hr: Halfrate, job_id: str) -> None:
        self.console = console
        self.hr = hr
        self.job_id = job_id
        self.last: tuple[int, tuple[str, ...]] | None = None

    def __call__(self, report: TickReport) -> None:
        status = self.hr.status(self.job_id)
        states = [b.provider_status or b.state for b in status.batches]
        done = sum(status.counts.get(s, 0) for s in ("succeeded", "failed", "cancelled"))
        key = (done, tuple(sorted(states)))
        if key == self.last:
            return
        self.last = key
        by_status: dict[str, int] = {}
        for state in states:
            by_status[state] = by_status.get(state, 0) + 1
        batches = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
        self.console.print(f"  progress   {done}/{status.total} done; batches: {batches}")
