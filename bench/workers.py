"""Workers: N chat requests through `halfrate worker` processes on one PostgreSQL store, against
one sandbox process: 1 worker (the baseline) versus several, in the same run. Then one worker
in-process on SQLite and on PostgreSQL: requests stored per worker-CPU-second, and the CPU
seconds of each stage of ingestion (parse, match, attempts, rollups, results, moves, commit),
so the next bottleneck is visible; beside each, the same measure of halfrate at the git revision
``--before`` (before its speed work), run in a child process from a worktree of that revision.

Each configuration gets a fresh PostgreSQL database, the same submitted job (submission is not
timed), then its workers are started together and timed until the last one exits idle. Every
request must end succeeded, with one result each.

    python bench/workers.py [--requests 200000] [--workers 4] [--batch-lines 10000]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432] [--split-requests 100000]
        [--before 481b59d] [--no-before] [--prompt-bytes 2000] [--split-only]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roundtrip import checkout_of, free_port, process_cpu, wait_listening, write_requests

SPLIT_CHILD = "--split-child"  # argv[1] of the child that measures a baseline revision


def fresh_database(server: str, name: str) -> str:
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def drop_database(server: str, name: str) -> None:
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def submit(database_url: str, requests_file: Path, home: Path) -> int:
    import halfrate

    with halfrate.connect(database_url, home=str(home)) as hr:
        return hr.submit_file(requests_file, job="bench").created


def count_succeeded(database_url: str) -> tuple[int, int]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            done = conn.execute(
                sa.text("SELECT count(*) FROM requests WHERE state = 'succeeded'")
            ).scalar_one()
            landed = conn.execute(sa.text("SELECT count(DISTINCT request_id) FROM results"))
            return int(done), int(landed.scalar_one())
    finally:
        engine.dispose()


def run_workers(n: int, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds until the last worker exits, and the CPU seconds the workers used."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "halfrate", "worker", "--until-idle"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for proc in procs:
        _, errors = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed ({proc.returncode}): {errors.strip()[-500:]}")
    return time.perf_counter() - started, _children_cpu() - cpu_before


def stage_split(
    database_url: str, requests_file: Path, home: Path, base_url: str
) -> tuple[float, str]:
    """One worker in this process: requests per worker-CPU-second, and a line with the CPU
    seconds of each ingest stage (a revision that did not count them has none)."""
    import openai

    import halfrate

    client = openai.OpenAI(api_key="bench", base_url=base_url)
    with halfrate.connect(
        database_url, home=str(home), poll_initial_seconds=0.05, poll_max_seconds=0.2
    ) as hr:
        created = hr.submit_file(requests_file, job="bench").created
        started = time.process_time()
        summary = hr.run_worker(halfrate.RunMode.UNTIL_IDLE, openai_client=client)
        cpu = time.process_time() - started
    assert summary.lines.succeeded == created
    seconds = getattr(summary.lines, "seconds", {})
    stages = ", ".join(
        f"{stage} {spent:.2f}" for stage, spent in sorted(seconds.items(), key=lambda kv: -kv[1])
    )
    rate = created / cpu
    return rate, f"{rate:8,.0f} requests per worker-CPU-second ({cpu:.1f} s); {stages}"


def split_before(
    source: Path, database_url: str, requests_file: Path, home: Path, base_url: str
) -> float:
    """stage_split of the halfrate whose package is under ``source``, in a child process (as its
    own worker process ran: that revision did not tune the collector)."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    argv = [__file__, SPLIT_CHILD, database_url, str(requests_file), str(home), base_url]
    done = subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the baseline's worker failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def split_database(database: str, server: str, work: Path, name: str) -> Iterator[str]:
    """A fresh store of ``database`` for one in-process split run, dropped after."""
    if database == "SQLite":
        yield f"sqlite:///{work / f'split-{name}.db'}"
        return
    database_name = f"halfrate_bench_workers_split_{name}".replace("-", "_")
    url = fresh_database(server, database_name)
    try:
        yield url
    finally:
        drop_database(server, database_name)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-lines", type=int, default=10_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--split-requests", type=int, default=100_000)
    parser.add_argument("--before", default="481b59d", help="the baseline's git revision")
    parser.add_argument("--no-before", action="store_true", help="measure this checkout only")
    parser.add_argument(
        "--prompt-bytes", type=int, default=0, help="pad the in-process run's prompts to this size"
    )
    parser.add_argument(
        "--split-only", action="store_true", help="only the in-process run (no worker processes)"
    )
    args = parser.parse_args()
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "halfrate", "sandbox", "--port", str(port), "--latency", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # it says "terminated" when stopped at the end
    )
    figures: dict[int, float] = {}
    try:
        wait_listening(port)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            requests_file = work / "requests.jsonl"
            processes = () if args.split_only else (1, args.workers)
            if processes:
                write_requests(requests_file, args.requests)
                print(
                    f"{args.requests:,} chat requests, batches of {args.batch_lines:,} lines, "
                    "PostgreSQL store, sandbox latency 0"
                )
            for n in processes:
                name = f"halfrate_bench_workers_{n}"
                url = fresh_database(args.postgres, name)
                try:
                    created = submit(url, requests_file, work / f"home-{n}")
                    env = {
                        **os.environ,
                        "HALFRATE_DATABASE_URL": url,
                        "HALFRATE_HOME": str(work / f"home-{n}"),
                        "HALFRATE_OPENAI_MAX_BATCH_LINES": str(args.batch_lines),
                        "HALFRATE_POLL_INITIAL_SECONDS": "0.05",
                        "HALFRATE_POLL_MAX_SECONDS": "0.2",
                        "HALFRATE_WORKER_IDLE_SECONDS": "0.2",
                        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                        "OPENAI_API_KEY": "bench",
                    }
                    sandbox_before = process_cpu(sandbox.pid)
                    seconds, cpu = run_workers(n, env)
                    sandbox_cpu = process_cpu(sandbox.pid) - sandbox_before
                    succeeded, landed = count_succeeded(url)
                    assert succeeded == landed == created, (succeeded, landed, created)
                finally:
                    drop_database(args.postgres, name)
                figures[n] = seconds
                rate = args.requests / seconds
                print(
                    f"{n} worker(s): {seconds:7.2f} s   {rate:9,.0f} requests/s   "
                    f"(CPU: workers {cpu:.1f} s, sandbox {sandbox_cpu:.1f} s; "
                    f"{os.cpu_count()} cores)"
                )
            split_file = work / "split.jsonl"
            write_requests(split_file, args.split_requests, args.prompt_bytes)
            base_url = f"http://127.0.0.1:{port}/v1"
            size = split_file.stat().st_size // args.split_requests
            print(
                f"one worker in-process, {args.split_requests:,} requests of about {size:,} "
                "bytes each; CPU seconds by stage:"
            )
            # The collector as in a worker process of halfrate's (halfrate.collector).
            from halfrate.collector import tune_for_bulk_work

            tune_for_bulk_work()
            with contextlib.ExitStack() as stack:
                before = None if args.no_before else stack.enter_context(checkout_of(args.before))
                for database in ("SQLite", "PostgreSQL"):
                    home = work / f"split-{database}"
                    with split_database(database, args.postgres, work, "now") as url:
                        rate_now, line = stage_split(url, split_file, home, base_url)
                    print(f"  {database:10} {line}", flush=True)
                    if before is None:
                        continue
                    with split_database(database, args.postgres, work, args.before) as url:
                        rate = split_before(before, url, split_file, home / "before", base_url)
                    print(
                        f"  {database:10} {rate:8,.0f} requests per worker-CPU-second at "
                        f"{args.before}: now {rate_now / rate:.2f}x as many (goal 2x)",
                        flush=True,
                    )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    if figures:
        one, many = figures[1], figures[args.workers]
        print(f"throughput ratio {args.workers} workers / 1 worker: {one / many:.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == [SPLIT_CHILD]:
        url, file, home, base = sys.argv[2:6]
        print(stage_split(url, Path(file), Path(home), base)[0])
    else:
        main()
