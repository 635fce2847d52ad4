"""End to end through the command line: N chat requests (default 20,000) through `halfrate
submit`, `halfrate worker --until-idle` and `halfrate results -o`, each as the real process,
against a bare SDK script in the same run (write the JSONL, upload, create, poll, download,
parse; it stores nothing). Both poll every 0.2 s (`HALFRATE_POLL_INITIAL_SECONDS=0.2
HALFRATE_POLL_MAX_SECONDS=0.2` for halfrate), against one sandbox process at zero latency.
Rounds alternate (bare, halfrate, bare, ...) because this machine is noisy; medians are printed
with each process's wall time, CPU seconds and peak RSS. Goals: wall ratio <= 1.5, halfrate's
CPU seconds <= 2x the bare script's.

    python bench/cli_job.py [--requests 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from roundtrip import bare_sdk, compile_sources, free_port, wait_listening, write_requests

POLL_SECONDS = 0.2
GOAL_WALL, GOAL_CPU = 1.5, 2.0


def measured(
    argv: list[str], env: dict[str, str], log: Path | None = None
) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MB) of one process; its output
    goes to ``log`` (appended), else nowhere."""
    started = time.perf_counter()
    with open(log or os.devnull, "ab") as sink:
        child = subprocess.Popen(argv, env=env, stdout=sink, stderr=sink)
        _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed" + (f": see {log}" if log else ""))
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bare_round(requests_file: Path, env: dict[str, str], work: Path) -> tuple[float, float, float]:
    url = env["OPENAI_BASE_URL"]
    return measured([sys.executable, __file__, "--bare", str(requests_file), url, str(work)], env)


def halfrate_round(
    requests_file: Path, env: dict[str, str], work: Path
) -> dict[str, tuple[float, float, float]]:
    halfrate = [sys.executable, "-m", "halfrate"]
    ours = {
        **env,
        "HALFRATE_HOME": str(work / "home"),
        "HALFRATE_POLL_INITIAL_SECONDS": str(POLL_SECONDS),
        "HALFRATE_POLL_MAX_SECONDS": str(POLL_SECONDS),
    }
    return {
        "submit": measured([*halfrate, "submit", str(requests_file), "--job", "bench"], ours),
        "worker": measured([*halfrate, "worker", "--until-idle"], ours),
        "results": measured(
            [*halfrate, "results", "bench", "-o", str(work / "results.jsonl")], ours
        ),
    }


def floor_round(env: dict[str, str]) -> tuple[float, float]:
    """What halfrate's three processes pay before they handle a request, at the least: each
    opens the store, so each imports SQLAlchemy, and the worker also imports the openai SDK
    (the bare script imports it too). Wall and CPU seconds of four such bare processes."""
    runs = [measured([sys.executable, "-c", "import sqlalchemy"], env) for _ in range(3)]
    runs.append(measured([sys.executable, "-c", "import openai"], env))
    return sum(r[0] for r in runs), sum(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare", nargs=3, metavar=("FILE", "URL", "WORK"))
    args = parser.parse_args()
    if args.bare:
        file, url, work = args.bare
        bare_sdk(Path(file), url, Path(work), poll_seconds=POLL_SECONDS)
        return
    compile_sources()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALFRATE_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1", OPENAI_API_KEY="bench")
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "halfrate", "sandbox", "--port", str(port), "--latency", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    bare: list[tuple[float, float, float]] = []
    ours: list[dict[str, tuple[float, float, float]]] = []
    floors: list[tuple[float, float]] = []
    try:
        wait_listening(port)
        with tempfile.TemporaryDirectory() as tmp:
            requests_file = Path(tmp) / "requests.jsonl"
            write_requests(requests_file, args.requests)
            for number in range(args.rounds):
                work = Path(tmp) / f"round-{number}"
                work.mkdir()
                bare.append(bare_round(requests_file, env, work))
                ours.append(halfrate_round(requests_file, env, work))
                floors.append(floor_round(env))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)

    def median(values: list[float]) -> float:
        return statistics.median(values)

    bare_wall, bare_cpu = median([b[0] for b in bare]), median([b[1] for b in bare])
    print(f"{args.requests:,} chat requests, sandbox latency 0, polls every {POLL_SECONDS} s")
    print(f"{'':28} {'wall':>8} {'CPU':>8} {'peak RSS':>9}   (median of {args.rounds})")
    print(
        f"{'bare SDK script (baseline)':28} {bare_wall:7.2f}s {bare_cpu:7.2f}s "
        f"{median([b[2] for b in bare]):7.0f} MB"
    )
    for step in ("submit", "worker", "results"):
        wall, cpu, rss = (median([o[step][i] for o in ours]) for i in range(3))
        print(f"{'halfrate ' + step:28} {wall:7.2f}s {cpu:7.2f}s {rss:7.0f} MB")
    total_wall = median([sum(o[s][0] for s in o) for o in ours])
    total_cpu = median([sum(o[s][1] for s in o) for o in ours])
    print(f"{'halfrate, the three':28} {total_wall:7.2f}s {total_cpu:7.2f}s")
    print(
        f"ratio halfrate / bare: wall {total_wall / bare_wall:.2f} (goal <= {GOAL_WALL}), "
        f"CPU {total_cpu / bare_cpu:.2f} (goal <= {GOAL_CPU})"
    )
    floor_wall, floor_cpu = median([f[0] for f in floors]), median([f[1] for f in floors])
    print(
        f"start-up floor (3 x import sqlalchemy, 1 x import openai): {floor_wall:.2f} s wall, "
        f"{floor_cpu:.2f} s CPU, before a request is handled; the goals allow "
        f"{GOAL_WALL * bare_wall:.2f} s wall, {GOAL_CPU * bare_cpu:.2f} s CPU in all"
    )


if __name__ == "__main__":
    main()
