"""A million requests: `halfrate submit` of a 1,000,000-line file, then `halfrate worker
--until-idle` sending and ingesting all of it, each as the real process, against one sandbox
process at zero latency. Printed per process: wall seconds, CPU seconds and peak RSS.

The baseline, in the same run, is halfrate as it was before its speed work (git revision
``--before``, default 481b59d), run from a temporary worktree of this repository with the same
interpreter, the same file, the same sandbox and a store of its own. Goals: submit and ingest
each at least twice as fast as the baseline, peak RSS <= 300 MB.

Both workers poll every 0.2 s, each run against a sandbox of its own. The worker's wall time
includes the sandbox running the batches (the same work for both, printed as the sandbox's CPU
seconds during the worker); its CPU seconds are halfrate's own.

    python bench/million.py [--requests 1000000] [--before 481b59d] [--no-before]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cli_job import measured
from roundtrip import (
    checkout_of,
    compile_sources,
    free_port,
    process_cpu,
    wait_listening,
    write_requests,
)

REPOSITORY = Path(__file__).resolve().parent.parent
GOAL_SPEED_UP, GOAL_RSS_MB = 2.0, 300
POLL_SECONDS = 0.2
Figures = tuple[float, float, float]  # wall s, CPU s, peak RSS MB


def run_halfrate(
    source: Path, requests_file: Path, env: dict[str, str], work: Path, sandbox_pid: int
) -> tuple[dict[str, Figures], float]:
    """Submit and work off the whole file with the halfrate whose package is under ``source``;
    also the sandbox's CPU seconds while the worker ran (its running of the batches)."""
    ours = {
        **env,
        "PYTHONPATH": str(source),
        "HALFRATE_HOME": str(work / "home"),
        "HALFRATE_POLL_INITIAL_SECONDS": str(POLL_SECONDS),
        "HALFRATE_POLL_MAX_SECONDS": str(POLL_SECONDS),
    }
    halfrate = [sys.executable, "-m", "halfrate"]
    log = work / "output.log"
    submit = measured([*halfrate, "submit", str(requests_file), "--job", "million"], ours, log)
    sandbox_before = process_cpu(sandbox_pid)
    worker = measured([*halfrate, "worker", "--until-idle"], ours, log)
    sandbox = process_cpu(sandbox_pid) - sandbox_before
    return {"submit": submit, "worker": worker}, sandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--before", default="481b59d", help="the baseline's git revision")
    parser.add_argument("--no-before", action="store_true", help="measure this checkout only")
    args = parser.parse_args()
    compile_sources()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALFRATE_", "OPENAI_"))}
    results: dict[str, dict[str, Figures]] = {}
    sandbox_cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="halfrate-bench-million-") as tmp:
        root = Path(tmp)
        requests_file = root / "requests.jsonl"
        write_requests(requests_file, args.requests)
        size_mb = requests_file.stat().st_size / 1e6
        print(f"{args.requests:,} chat requests ({size_mb:.0f} MB), sandbox latency 0, SQLite")
        sources = {"now": REPOSITORY / "src"}
        with contextlib.ExitStack() as stack:
            if not args.no_before:
                sources = {"before": stack.enter_context(checkout_of(args.before)), **sources}
            for name, source in sources.items():
                work = root / f"{name}-run"
                work.mkdir()
                # A sandbox of its own: one that kept the other run's million results would be
                # slower for the second.
                with sandbox_running() as (base_url, sandbox_pid):
                    ours = {**env, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "bench"}
                    results[name], sandbox_cpu[name] = run_halfrate(
                        source, requests_file, ours, work, sandbox_pid
                    )
                submit, worker = results[name]["submit"], results[name]["worker"]
                print(
                    f"  {name:7} submit {submit[0]:6.1f} s wall {submit[1]:6.1f} s CPU "
                    f"{submit[2]:5.0f} MB | worker {worker[0]:6.1f} s wall {worker[1]:6.1f} s CPU "
                    f"{worker[2]:5.0f} MB | sandbox {sandbox_cpu[name]:6.1f} s CPU",
                    flush=True,
                )
    report(results, sandbox_cpu["now"])


@contextlib.contextmanager
def sandbox_running() -> Iterator[tuple[str, int]]:
    """A sandbox process at zero latency, for as long as the block runs; its base URL and
    process id."""
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "halfrate", "sandbox", "--port", str(port), "--latency", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(port)
        yield f"http://127.0.0.1:{port}/v1", sandbox.pid
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=60)


def report(results: dict[str, dict[str, Figures]], sandbox_cpu: float) -> None:
    now = results["now"]
    print(f"{'':22} {'wall':>8} {'CPU':>8} {'peak RSS':>9}")
    for name, figures in results.items():
        for step in ("submit", "worker"):
            wall, cpu, rss = figures[step]
            print(f"{name + ' ' + step:22} {wall:7.1f}s {cpu:7.1f}s {rss:7.0f} MB")
    worst_rss = max(now[step][2] for step in now)
    print(f"peak RSS now: {worst_rss:.0f} MB (goal <= {GOAL_RSS_MB} MB)")
    before = results.get("before")
    if before is None:
        return
    print(
        f"the sandbox ran the batches with {sandbox_cpu:.1f} s of CPU during the worker: twice as "
        f"fast as the before worker's wall time would leave {before['worker'][0] / 2:.1f} s"
    )
    for step in ("submit", "worker"):
        wall = before[step][0] / now[step][0]
        cpu = before[step][1] / now[step][1]
        print(
            f"{step}: {wall:.2f}x as fast by wall time, {cpu:.2f}x by CPU "
            f"(goal >= {GOAL_SPEED_UP}x)"
        )


if __name__ == "__main__":
    main()
