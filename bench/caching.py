"""Provider prompt caching stacked with batch (docs/prompt-caching.md), priced four ways.

The workload: N requests (default 20,000) per provider, 30% of them copies of earlier ones, all
sharing one of two system prompts of about 3,000 tokens, run through `halfrate` against the
sandbox (zero latency, SQLite). For each provider it prints

- realised: what the ledger says was paid;
- all realtime: every request (copies included) at realtime prices, nothing cached;
- batch only: every request (copies included) at batch prices, nothing cached;
- lowest possible: every unique request once at batch prices, each group's shared prefix
  written once (at the cheapest write rate) and read by every later request of its group, as
  far as the provider can cache it (OpenAI caches in 128-token steps);

and the ratio realised ÷ lowest (goal ≤ 1.02). Then the submit-time cost of prefix detection:
a 100,000-request file submitted, and the same lines' prefix detection timed alone, as a share
of the submit (goal ≤ 10%).

    python bench/caching.py [--requests 20000] [--detect 100000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import sqlalchemy as sa

import halfrate
from halfrate.dispatch import RunMode
from halfrate.intake.jsonl import checked_jsonl
from halfrate.models import Lane, Provider, Usage
from halfrate.prefixes import PrefixFinder
from halfrate.pricing.prices import PriceBook
from halfrate.sandbox import SandboxServer
from halfrate.store.tables import requests

SENTENCE = (
    "The lighthouse keeper logs the weather, the tides and every passing ship, hour by hour. "
)
SYSTEMS = (SENTENCE * 167, SENTENCE.replace("lighthouse", "harbour") * 167)
MODELS = {"openai": "gpt-5-mini", "anthropic": "claude-haiku-4-5"}
COPIES = 0.30
GOAL_RATIO = 1.02
GOAL_DETECT_SHARE = 0.10


def question(i: int) -> str:
    return f"Ticket {i}: the lamp at pier {i % 97} flickers after {i % 13} hours. Which team?"


def workload(provider: str, count: int, path: Path) -> Path:
    """``count`` requests: the first 70% unique, over the two system prompts; the rest copies."""
    unique = round(count * (1 - COPIES))
    model = MODELS[provider]
    with path.open("wb") as handle:
        for i in range(count):
            n = i if i < unique else (i - unique) % unique
            system = SYSTEMS[n % 2]
            if provider == "openai":
                line: dict[str, Any] = {
                    "custom_id": f"r{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": {
                        "model": model,
                        "max_completion_tokens": 20,
                        "messages": [
                            {"role": "system", "content": system},
                            {"role": "user", "content": question(n)},
                        ],
                    },
                }
            else:
                line = {
                    "custom_id": f"r{i}",
                    "params": {
                        "model": model,
                        "max_tokens": 20,
                        "system": system,
                        "messages": [{"role": "user", "content": question(n)}],
                    },
                }
            handle.write(orjson.dumps(line) + b"\n")
    return path


def price(book: PriceBook, provider: str, usage: Usage, lane: Lane) -> Decimal:
    cost = book.cost(provider, MODELS[provider], usage, lane)
    assert cost is not None
    return cost.usd


def run_provider(provider: str, count: int, folder: Path) -> float:
    path = workload(provider, count, folder / f"{provider}.jsonl")
    book = PriceBook()
    with SandboxServer(latency=0.0) as server:
        openai_sdk = openai.OpenAI(api_key="bench", base_url=server.base_url, max_retries=0)
        anthropic_sdk = anthropic.Anthropic(
            api_key="bench", base_url=server.root_url, max_retries=0
        )
        with halfrate.connect(
            database_url=f"sqlite:///{folder}/{provider}.db",
            poll_initial_seconds=0.05,
            poll_max_seconds=0.2,
            openai_client=openai_sdk,
            anthropic_client=anthropic_sdk,
        ) as hr:
            started = time.perf_counter()
            hr.submit_file(path, job=provider)
            hr.run_worker(RunMode.UNTIL_IDLE)
            took = time.perf_counter() - started
            realised = hr.report("lane").total.spend
            with hr.store.read() as conn:
                rows = conn.execute(sa.select(requests.c.id, requests.c.key, requests.c.prefix_key))
                group_of = {f"hr-{i}": g for i, _, g in rows}
        entries = [e for e in server.app.state.sandbox.ledger.entries() if e["kind"] == "batch"]
        openai_sdk.close()
        anthropic_sdk.close()
    charged = [e for e in entries if e["charged"]]
    copies = count / len(charged)  # each unique request stands for this many on average
    realtime = batch_only = lowest = Decimal(0)
    prefix_of: dict[str | None, int] = defaultdict(int)
    for e in charged:
        prefix_of[group_of[e["custom_id"]]] = max(
            prefix_of[group_of[e["custom_id"]]], e["cache_read_tokens"]
        )
    written: set[str | None] = set()
    for e in charged:
        whole = e["input_tokens"] + (
            e["cache_read_tokens"] + e["cache_write_tokens"] if provider == "anthropic" else 0
        )
        plain = Usage(input_tokens=whole, output_tokens=e["output_tokens"])
        realtime += price(book, provider, plain, Lane.REALTIME)
        batch_only += price(book, provider, plain, Lane.BATCH)
        group = group_of[e["custom_id"]]
        shared = prefix_of[group] if group is not None else 0
        if group in written or not shared:
            best = Usage(input_tokens=whole, cached_tokens=shared, output_tokens=e["output_tokens"])
        else:
            written.add(group)
            best = Usage(
                input_tokens=whole, cache_write_tokens=shared, output_tokens=e["output_tokens"]
            )
        lowest += price(book, provider, best, Lane.BATCH)
    # Copies cost what their original costs, without halfrate (every request sent).
    realtime *= Decimal(copies)
    batch_only *= Decimal(copies)
    ratio = float(realised / lowest)
    print(
        f"{provider} ({MODELS[provider]}): {count:,} requests, {len(charged):,} unique, "
        f"ran in {took:.1f} s"
    )
    print(f"  realised         ${realised:.4f}")
    print(f"  all realtime     ${realtime:.4f}")
    print(f"  batch only       ${batch_only:.4f}")
    print(f"  lowest possible  ${lowest:.4f}")
    print(f"  realised / lowest = {ratio:.4f} (goal <= {GOAL_RATIO})")
    return ratio


def detection_share(count: int, folder: Path) -> float:
    path = workload("anthropic", count, folder / "detect.jsonl")
    with halfrate.connect(database_url=f"sqlite:///{folder}/detect.db") as hr:
        started = time.perf_counter()
        hr.submit_file(path, job="detect")
        submit = time.perf_counter() - started
    lines = list(checked_jsonl(path, max_line_bytes=10**7))
    finder = PrefixFinder()
    started = time.perf_counter()
    for line in lines:
        finder.tag(line)
    detect = time.perf_counter() - started
    share = detect / submit
    print(f"prefix detection, {count:,} requests (anthropic, two shared system prompts):")
    print(f"  submit (baseline, detection included)  {submit:.2f} s")
    print(f"  detection alone                        {detect:.2f} s")
    print(f"  share of submit = {share:.1%} (goal <= {GOAL_DETECT_SHARE:.0%})")
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--detect", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="halfrate-bench-caching-"))
    for provider in (Provider.OPENAI.value, Provider.ANTHROPIC.value):
        run_provider(provider, args.requests, folder)
    detection_share(args.detect, folder)


if __name__ == "__main__":
    main()
