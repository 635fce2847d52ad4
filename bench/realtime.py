"""Realtime lane: N streamed chat calls through halfrate's worker (durable store, per-call
attempts with TTFT and TIBT) versus the bare openai SDK making the same streamed calls in a
thread pool of the same size, against one sandbox process that answers after a fixed latency.

Two baselines: the SDK as most people write it (typed chunks), and the SDK's low-level streamed
post that halfrate itself uses (events as plain JSON). On this 2-core machine both are bound by
CPU (client and sandbox share the cores), so the second is the fair measure of what halfrate
adds.

Each side runs in its own child process and times only its own work (not interpreter start-up),
so the ratio compares like with like; both runs happen in the same invocation because this
machine is noisy.

    python bench/realtime.py [--calls 2000] [--concurrency 32] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

MODEL = "gpt-4o-mini"


def body(i: int) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 48,
        "messages": [{"role": "user", "content": f"Summarise support ticket {i}: refund please"}],
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


def pooled(n: int, concurrency: int, pieces: Callable[[int], Iterator[bool]]) -> dict[str, Any]:
    """Run call ``i`` for every i in a thread pool; ``pieces(i)`` yields, per streamed event,
    whether it carried part of the answer. Returns the wall time and TTFT/TIBT percentiles."""

    def one(i: int) -> tuple[float, float | None]:
        started = time.perf_counter()
        first: float | None = None
        last = started
        count = 0
        for carried in pieces(i):
            if carried:
                last = time.perf_counter()
                first = first or last
                count += 1
        ttft = (first or last) - started
        tibt = (last - first) / (count - 1) if first is not None and count > 1 else None
        return ttft, tibt

    started = time.perf_counter()
    with futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        timings = list(pool.map(one, range(n)))
    return {
        "work_s": time.perf_counter() - started,
        "ttft": percentiles([t for t, _ in timings]),
        "tibt": percentiles([b for _, b in timings if b is not None]),
    }


def bare_sdk(n: int, concurrency: int, base_url: str, _work: Path) -> dict[str, Any]:
    """What anyone writes by hand: a thread pool of streamed calls, nothing stored."""
    import openai

    client = openai.OpenAI(api_key="bench", base_url=base_url, max_retries=0)

    def pieces(i: int) -> Iterator[bool]:
        stream = client.chat.completions.create(
            **body(i), stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            yield bool(chunk.choices and chunk.choices[0].delta.content)

    figures = pooled(n, concurrency, pieces)
    client.close()
    return figures


def bare_raw(n: int, concurrency: int, base_url: str, _work: Path) -> dict[str, Any]:
    """The leanest SDK path: the same low-level streamed post halfrate makes, events as plain
    JSON (no typed chunks). The gap to this one is halfrate's own work: storing, leasing,
    recording every try."""
    import openai

    client = openai.OpenAI(api_key="bench", base_url=base_url, max_retries=0)

    def pieces(i: int) -> Iterator[bool]:
        events = client.post(
            "/chat/completions",
            body={**body(i), "stream": True, "stream_options": {"include_usage": True}},
            cast_to=object,
            stream=True,
            stream_cls=openai.Stream[object],
        )
        for event in events:
            choices = event.get("choices") if isinstance(event, dict) else None
            yield bool(choices and choices[0]["delta"].get("content"))

    figures = pooled(n, concurrency, pieces)
    client.close()
    return figures


def halfrate_run(n: int, concurrency: int, base_url: str, work: Path) -> dict[str, Any]:
    import openai
    import sqlalchemy as sa

    import halfrate
    from halfrate.store.tables import attempts

    client = openai.OpenAI(api_key="bench", base_url=base_url, max_retries=0)
    hr = halfrate.connect(
        f"sqlite:///{work / 'realtime.db'}",
        openai_client=client,
        home=str(work / "home"),
        realtime_concurrency=concurrency,
        worker_idle_seconds=0.5,
    )
    specs = [
        halfrate.RequestSpec(key=f"call-{i}", endpoint="/v1/chat/completions", body=body(i))
        for i in range(n)
    ]
    started = time.perf_counter()
    hr.submit(specs, job="realtime-bench", waiting=True)  # a person is waiting: realtime lane
    submitted = time.perf_counter()
    summary = hr.run_worker(halfrate.RunMode.UNTIL_IDLE)
    elapsed = time.perf_counter() - started
    assert summary.calls.succeeded == n, summary.calls
    with hr.store.read() as conn:
        rows = conn.execute(
            sa.select(attempts.c.outcome, attempts.c.ttft, attempts.c.tibt).where(
                attempts.c.lane == "realtime"
            )
        ).all()
    answered = [r for r in rows if r.outcome == "succeeded"]
    hr.close()
    client.close()
    return {
        "tries": len(rows),  # more than the calls when a try failed and was made again
        "work_s": elapsed,
        "submit_s": submitted - started,
        "ttft": percentiles([r.ttft for r in answered]),
        "tibt": percentiles([r.tibt for r in answered if r.tibt is not None]),
    }


def run_child(kind: str, args: argparse.Namespace, base_url: str, work: Path) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, base_url, str(work)]
    command += ["--calls", str(args.calls), "--concurrency", str(args.concurrency)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    output = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"{kind} run failed (status {status})")
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    figures["cpu_s"] = usage.ru_utime + usage.ru_stime
    return figures


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def show(name: str, figures: dict[str, Any]) -> str:
    def ms(part: dict[str, float]) -> str:
        return " / ".join(f"{part[k] * 1000:.1f}" for k in ("p50", "p95", "p99")) if part else "-"

    return (
        f"{name:<21}{figures['work_s']:7.2f} s   CPU {figures['cpu_s']:5.1f} s   "
        f"peak RSS {figures['peak_rss_mb']:5.0f} MB   "
        f"TTFT p50/p95/p99 {ms(figures['ttft'])} ms   TIBT {ms(figures['tibt'])} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--token-interval", type=float, default=0.0)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "URL", "WORK"))
    args = parser.parse_args()
    if args.child:
        kind, url, work = args.child
        run = {"bare": bare_sdk, "raw": bare_raw, "halfrate": halfrate_run}[kind]
        print(json.dumps(run(args.calls, args.concurrency, url, Path(work))))
        return
    port = free_port()
    sandbox = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "halfrate",
            "sandbox",
            "--port",
            str(port),
            "--realtime-latency",
            str(args.latency),
            "--token-interval",
            str(args.token_interval),
        ],
        stdout=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(300):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            print(
                f"{args.calls:,} streamed chat calls at concurrency {args.concurrency}, sandbox "
                f"latency {args.latency * 1000:.0f} ms (token interval "
                f"{args.token_interval * 1000:.0f} ms)"
            )
            bare = run_child("bare", args, base_url, work)
            raw = run_child("raw", args, base_url, work)
            ours = run_child("halfrate", args, base_url, work)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    print(show("bare SDK, typed", bare))
    print(show("bare SDK, raw events", raw))
    print(show("halfrate", ours) + f"   (submit {ours['submit_s']:.2f} s, {ours['tries']:,} tries)")
    print(
        f"ratio halfrate / bare SDK typed: {ours['work_s'] / bare['work_s']:.2f}; "
        f"halfrate / bare SDK raw events: {ours['work_s'] / raw['work_s']:.2f}  (goal <= 1.2)"
    )


if __name__ == "__main__":
    main()
