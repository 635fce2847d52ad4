"""Round trip: N chat requests through submit -> worker -> results, against the sandbox with zero
latency, versus a minimal script doing the same with the bare openai SDK (write files, upload,
create, poll, download, parse) that stores nothing.

Both run as child processes against one sandbox process, so each gets its own wall time and peak
RSS; the ratio is taken within the same run because this machine is noisy.

    python bench/roundtrip.py [--requests 100000]
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

OPENAI_LIMIT = 50_000
GOAL_RATIO = 1.5
MODEL = "gpt-4o-mini"


@contextlib.contextmanager
def checkout_of(revision: str) -> Iterator[Path]:
    """A worktree of this repository at ``revision``, its modules compiled (as a wheel install
    has them), for as long as the block runs; the folder holding its ``halfrate`` package, to
    put first on ``PYTHONPATH`` for a baseline run of that revision."""
    repository = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="halfrate-bench-checkout-") as tmp:
        where = Path(tmp) / revision
        subprocess.run(
            ["git", "-C", str(repository), "worktree", "add", "--detach", str(where), revision],
            check=True,
            capture_output=True,
        )
        try:
            compileall.compile_dir(where / "src", quiet=1)
            yield where / "src"
        finally:
            subprocess.run(
                ["git", "-C", str(repository), "worktree", "remove", "--force", str(where)],
                check=False,
                capture_output=True,
            )


def compile_sources() -> None:
    """Compile halfrate's modules to bytecode, as installing a wheel does. A checkout installed
    in editable mode has none, and where PYTHONDONTWRITEBYTECODE is set every process would
    compile them again: a start-up cost no installed copy pays."""
    import compileall

    compileall.compile_dir(Path(__file__).resolve().parent.parent / "src", quiet=1)


def write_requests(path: Path, n: int, prompt_bytes: int = 0) -> None:
    """``n`` chat requests as a batch JSONL file; with ``prompt_bytes``, each prompt is padded
    with words to about that many bytes (real prompts are often a few KB)."""
    padding = ("please look into it " * (prompt_bytes // 20 + 1))[:prompt_bytes]
    with path.open("w", encoding="utf-8") as handle:
        for i in range(n):
            line = {
                "custom_id": f"req-{i:07d}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": MODEL,
                    "max_tokens": 16,
                    "messages": [
                        {"role": "user", "content": f"Classify ticket {i}: refund {padding}"}
                    ],
                },
            }
            handle.write(json.dumps(line) + "\n")


def bare_sdk(
    requests_file: Path, base_url: str, work: Path, poll_seconds: float = 0.05
) -> dict[str, float]:
    """The minimum anyone must write by hand: split, upload, create, poll, download, parse."""
    import openai

    client = openai.OpenAI(api_key="bench", base_url=base_url)
    lines = requests_file.read_bytes().splitlines(keepends=True)
    batch_ids = []
    for part, start in enumerate(range(0, len(lines), OPENAI_LIMIT)):
        chunk = work / f"bare-{part}.jsonl"
        chunk.write_bytes(b"".join(lines[start : start + OPENAI_LIMIT]))
        with chunk.open("rb") as handle:
            uploaded = client.files.create(file=(chunk.name, handle), purpose="batch")
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        batch_ids.append(batch.id)
    parsed = 0
    for batch_id in batch_ids:
        while True:
            batch = client.batches.retrieve(batch_id)
            if batch.status in ("completed", "failed", "expired", "cancelled"):
                break
            time.sleep(poll_seconds)
        assert batch.output_file_id is not None
        with client.files.with_streaming_response.content(batch.output_file_id) as response:
            for line in response.iter_lines():
                if line:
                    orjson.loads(line)
                    parsed += 1
    assert parsed == len(lines), (parsed, len(lines))
    return {"parsed": parsed}


class RowWrites:
    """The CPU seconds halfrate's threads spend inside the database's INSERT and UPDATE
    statements: the rows its promises make it write (each request stored, claimed into a batch,
    its attempt priced, its result stored once, its state moved), measured by SQLAlchemy's
    cursor events around each statement (a bulk statement counts once, so the events cost
    little)."""

    def __init__(self) -> None:
        import threading

        import sqlalchemy as sa

        self.seconds = 0.0
        self._lock = threading.Lock()
        self._started = threading.local()
        sa.event.listen(sa.Engine, "before_cursor_execute", self._before)
        sa.event.listen(sa.Engine, "after_cursor_execute", self._after)

    def _before(self, *_args: object) -> None:
        self._started.at = time.thread_time()

    def _after(self, _conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE"):
            spent = time.thread_time() - self._started.at
            with self._lock:
                self.seconds += spent


def halfrate_run(requests_file: Path, base_url: str, work: Path) -> dict[str, float]:
    import openai

    import halfrate

    writes = RowWrites()

    client = openai.OpenAI(api_key="bench", base_url=base_url)
    hr = halfrate.connect(
        f"sqlite:///{work / 'bench.db'}",
        home=str(work / "home"),
        poll_initial_seconds=0.05,
        poll_max_seconds=0.05,
        worker_idle_seconds=1.0,
    )
    phases: dict[str, float] = {}
    t0 = time.perf_counter()
    job = hr.submit_file(requests_file, job="bench")
    phases["submit_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    summary = hr.run_worker(halfrate.RunMode.UNTIL_IDLE, openai_client=client)
    phases["worker_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    with (work / "results.jsonl").open("w", encoding="utf-8") as handle:
        count = hr.export_results(job.job_id, handle, "jsonl")
    phases["results_s"] = time.perf_counter() - t2
    phases["row_writes_cpu_s"] = writes.seconds
    assert summary.lines.succeeded == count == job.created, (summary.lines, count, job.created)
    hr.close()
    return phases


def child(kind: str, requests_file: Path, base_url: str, work: Path) -> None:
    if kind != "bare":
        # As halfrate's own processes run (the command line and the web page's worker).
        from halfrate.collector import tune_for_bulk_work

        tune_for_bulk_work()
    run = bare_sdk if kind == "bare" else halfrate_run
    figures = run(requests_file, base_url, work)
    print(json.dumps(figures))


def run_child(kind: str, requests_file: Path, base_url: str, work: Path) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, str(requests_file), base_url, str(work)],
        stdout=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    output = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"{kind} run failed (status {status})")
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    figures["wall_s"] = wall
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return figures


def wait_listening(port: int) -> None:
    """Until something listens on ``port`` on the loopback (the sandbox starting), 30 s at most."""
    for _ in range(300):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)


def process_cpu(pid: int) -> float:
    """CPU seconds a running process (the sandbox) has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--child", nargs=4, metavar=("KIND", "FILE", "URL", "WORK"))
    args = parser.parse_args()
    if args.child:
        kind, file, url, work = args.child
        child(kind, Path(file), url, Path(work))
        return
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "halfrate", "sandbox", "--port", str(port), "--latency", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_listening(port)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            requests_file = work / "requests.jsonl"
            write_requests(requests_file, args.requests)
            size_mb = requests_file.stat().st_size / 1e6
            print(f"{args.requests:,} chat requests ({size_mb:.1f} MB), sandbox latency 0")
            bare = run_child("bare", requests_file, base_url, work)
            ours = run_child("halfrate", requests_file, base_url, work)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    ratio = ours["wall_s"] / bare["wall_s"]
    print(f"bare SDK (baseline): {bare['wall_s']:7.2f} s   peak RSS {bare['peak_rss_mb']:6.0f} MB")
    print(
        f"halfrate:            {ours['wall_s']:7.2f} s   peak RSS {ours['peak_rss_mb']:6.0f} MB"
        f"   (submit {ours['submit_s']:.2f} s, worker {ours['worker_s']:.2f} s,"
        f" results {ours['results_s']:.2f} s)"
    )
    print(
        f"ratio halfrate / bare SDK: {ratio:.2f}  (goal <= {GOAL_RATIO}; peak RSS goal <= 300 MB)"
    )
    allowed = (GOAL_RATIO - 1) * bare["wall_s"]
    print(
        f"SQLite's own INSERTs and UPDATEs of halfrate's rows: {ours['row_writes_cpu_s']:.2f} s "
        f"CPU; the goal leaves halfrate {allowed:.2f} s over the bare script for all it does"
    )


if __name__ == "__main__":
    main()
