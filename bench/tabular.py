"""Spreadsheets: `halfrate run data.csv --prompt "Classify: {message}" --max-tokens 20 --yes`
over an N-row CSV (default 100,000: an id, a customer, a short message with commas, quotes,
newlines and emoji now and then, a product; some rows repeated), against a sandbox process with
zero latency, with a fresh SQLite store. The run is a real `halfrate` process: its wall time
(interpreter start-up included), CPU time and own peak RSS (os.wait4 on it alone, not on the
sandbox) are measured, with the CPU the sandbox spent answering meanwhile (on the same cores);
the answers file must have every row, each `succeeded`.

The baseline, in the same run: a child process that reads the same CSV with csv.reader and
writes it with csv.writer with three columns added (answer, status, error), the least any
spreadsheet round trip costs. Goals: the halfrate run under 60 s and under 300 MB.

The phases (start-up and estimate, submit, worker and write, receipt) are split by when the
command prints its lines. `--profile FILE` runs the command under cProfile, to FILE (its main
thread only: ingestion runs in a thread of its own).

    python bench/tabular.py [--rows 100000] [--profile /tmp/tabular.prof]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roundtrip import free_port, process_cpu

GOAL_SECONDS = 60.0
GOAL_RSS_MB = 300.0
PROMPT = "Classify: {message}"
PRODUCTS = [
    "Acme Kettle 1.7L",
    'Nimbus 13" Laptop Sleeve',
    "Orbit Wireless Earbuds",
    "Terra Hiking Boots, size 42",
    "Lumen Desk Lamp",
    "Halcyon Yoga Mat",
]
OPENINGS = [
    "Hi, my order {order} arrived damaged",
    "The {product} from order {order} stopped working after {days} days",
    'Order {order} said "next-day delivery" but took {days} days',
    "Can I return order {order}? It doesn't fit",
    "Love it! Order {order} was my best purchase this year",
    "Charged twice for order {order}, please refund",
    "Où est ma commande {order} ?",
]
CLOSINGS = [
    "",
    " Thanks.",
    ", please help, soon.",
    " 😡",
    " 👍🎉",
    '\nSecond line: tracking says "delivered", it was not.',
    "\n\nSent from my phone",
]
STOCK = ["Thanks!", "ok", "👍"]  # short replies many customers send word for word


def write_table(path: Path, rows: int, seed: int = 7) -> None:
    """An N-row CSV as people export them: about 3% of rows repeat an earlier row exactly, 1%
    are stock replies, the rest ask about their own order."""
    dice = random.Random(seed)
    made: list[list[str]] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "message", "product"])
        for i in range(rows):
            roll = dice.random()
            if made and roll < 0.03:
                writer.writerow(dice.choice(made))
                continue
            product = dice.choice(PRODUCTS)
            if roll < 0.04:
                message = dice.choice(STOCK)
            else:
                opening = dice.choice(OPENINGS).format(
                    order=f"#{dice.randrange(10**7, 10**8)}", product=product, days=i % 30 + 1
                )
                message = opening + dice.choice(CLOSINGS)
            row = [f"T-{i:07d}", f"Customer {dice.randrange(50_000):05d}", message, product]
            if len(made) < 10_000:
                made.append(row)
            writer.writerow(row)


def csv_child(source: Path, target: Path) -> None:
    """The baseline: csv.reader to csv.writer, three columns added, nothing else."""
    with (
        source.open(encoding="utf-8", newline="") as inp,
        target.open("w", encoding="utf-8", newline="") as out,
    ):
        reader = csv.reader(inp)
        writer = csv.writer(out)
        writer.writerow([*next(reader), "answer", "status", "error"])
        for row in reader:
            writer.writerow([*row, "other", "succeeded", ""])


@dataclass
class Run:
    """One child process: wall seconds, CPU seconds, its own peak RSS in MB, and each line it
    printed with the seconds since its start when the line came."""

    wall: float
    cpu: float
    rss_mb: float
    lines: list[tuple[float, str]]


def measured(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``argv`` to its end; a failure stops the benchmark with what it said."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdout is not None
    lines: list[tuple[float, str]] = []
    errors: list[str] = []
    drain = threading.Thread(target=lambda: errors.extend(proc.stderr or []), daemon=True)
    drain.start()
    for line in proc.stdout:
        lines.append((time.perf_counter() - started, line.rstrip("\n")))
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage, not the sandbox's
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    drain.join(timeout=5)
    if proc.returncode != 0:
        said = "".join(errors)[-2000:] + "\n".join(text for _, text in lines[-20:])
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}):\n{said}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, lines)  # Linux reports KiB


def check_answers(path: Path, rows: int) -> Counter[str]:
    """The answers file: a header and one row per input row; the statuses counted."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        status = header.index("status")
        counts = Counter(row[status] for row in reader)
    assert sum(counts.values()) == rows, (sum(counts.values()), rows)
    assert counts == Counter({"succeeded": rows}), counts
    return counts


def phases(lines: list[tuple[float, str]], wall: float) -> dict[str, float]:
    """Seconds per phase from when the command printed its lines: the price table (rows read
    and estimated), `job ...: N requests stored`, `answers ... rows written`."""
    estimated = lines[0][0] if lines else 0.0
    stored = next((t for t, text in lines if text.startswith("job ")), estimated)
    written = next((t for t, text in lines if text.startswith("answers ")), wall)
    return {
        "start+estimate": estimated,
        "submit": stored - estimated,
        "worker+write": written - stored,
        "receipt+exit": wall - written,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", type=Path, help="run halfrate under cProfile, to this file")
    parser.add_argument("--child", nargs=2, metavar=("SOURCE", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        csv_child(Path(args.child[0]), Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "data.csv"
        write_table(data, args.rows)
        size_mb = data.stat().st_size / 1e6
        print(f"{args.rows:,} rows ({size_mb:.1f} MB CSV), sandbox latency 0, SQLite store")
        base = measured([sys.executable, __file__, "--child", str(data), str(work / "b.csv")])
        check_answers(work / "b.csv", args.rows)
        ours, sandbox_cpu = halfrate_run(work, data, args.profile)
        check_answers(work / "answers.csv", args.rows)
    report(args.rows, base, ours, sandbox_cpu, profiled=args.profile is not None)


def halfrate_run(work: Path, data: Path, profile: Path | None) -> tuple[Run, float]:
    """`halfrate run` against a sandbox of its own, with a fresh store in ``work``; and the
    CPU seconds the sandbox used meanwhile."""
    port = free_port()
    log = work / "sandbox.log"
    with log.open("wb") as said:
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "halfrate", "sandbox", "--port", str(port), "--latency", "0"],
            stdout=subprocess.DEVNULL,
            stderr=said,
        )
    try:
        _wait_for(sandbox, port, log)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("HALFRATE_")},
            "HALFRATE_DATABASE_URL": f"sqlite:///{work / 'halfrate.db'}",
            "HALFRATE_HOME": str(work / "home"),
            # Polls as bench/workers.py: the batches' wait is the provider's, not measured.
            "HALFRATE_POLL_INITIAL_SECONDS": "0.05",
            "HALFRATE_POLL_MAX_SECONDS": "0.2",
            "HALFRATE_WORKER_IDLE_SECONDS": "0.2",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
            "OPENAI_API_KEY": "sandbox",
            "PYTHONUNBUFFERED": "1",  # its lines come when printed: the phases' ends
        }
        command = ["run", str(data), "--prompt", PROMPT, "--max-tokens", "20", "--yes"]
        command += ["-o", str(work / "answers.csv")]
        profiled = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
        before = process_cpu(sandbox.pid)
        ours = measured([sys.executable, *profiled, "-m", "halfrate", *command], env)
        return ours, process_cpu(sandbox.pid) - before
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)


def report(rows: int, base: Run, ours: Run, sandbox_cpu: float, *, profiled: bool) -> None:
    for name, run in (("csv module (baseline)", base), ("halfrate run", ours)):
        print(
            f"{name:22s} {run.wall:7.2f} s  {rows / run.wall:9,.0f} rows/s  "
            f"CPU {run.cpu:6.2f} s  peak RSS {run.rss_mb:5.0f} MB"
        )
    split = phases(ours.lines, ours.wall)
    print("halfrate phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in split.items()))
    print(f"the sandbox used {sandbox_cpu:.2f} s of CPU meanwhile (answering, on the same cores)")
    print(
        f"ratio halfrate / csv: time {ours.wall / base.wall:.1f}x, "
        f"peak RSS {ours.rss_mb / base.rss_mb:.1f}x"
    )
    met = ours.wall < GOAL_SECONDS and ours.rss_mb < GOAL_RSS_MB
    print(
        f"goals (< {GOAL_SECONDS:.0f} s, < {GOAL_RSS_MB:.0f} MB): {'met' if met else 'NOT met'}"
        + (" (under cProfile: times inflated)" if profiled else "")
    )


def _wait_for(sandbox: subprocess.Popen[bytes], port: int, log: Path) -> None:
    """Until the sandbox listens; refused at once, with what it said, if it ended."""
    for _ in range(300):
        if sandbox.poll() is not None:
            said = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the sandbox ended ({sandbox.returncode}) before listening:\n{said}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"the sandbox did not listen on port {port}")


if __name__ == "__main__":
    main()
