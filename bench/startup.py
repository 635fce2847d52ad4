"""How fast the command line answers: `halfrate --help`, `halfrate status` and `halfrate policy
explain …`, each run as a real process ten times (median and peak RSS), against a store that
exists and is current. Baselines in the same run: a bare interpreter (`python -c pass`) and one
that only imports SQLAlchemy, the floor of any command that reads the store. Goal: each command
within 0.3 s.

    python bench/startup.py [--runs 10]
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
from roundtrip import compile_sources

GOAL_SECONDS = 0.3
HALFRATE = [sys.executable, "-m", "halfrate"]


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall seconds and the largest peak RSS (MB) of ``runs`` runs."""
    times, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        child = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _, status, usage = os.wait4(child.pid, 0)
        times.append(time.perf_counter() - started)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({child.returncode})")
        peaks.append(usage.ru_maxrss / 1024)  # this child's own peak, in MB
    return statistics.median(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    compile_sources()
    home = Path(tempfile.mkdtemp(prefix="halfrate-bench-startup-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALFRATE_")}
    env["HALFRATE_HOME"] = str(home)
    # A store that exists and is current, as on a machine in use.
    subprocess.run([*HALFRATE, "status"], env=env, stdout=subprocess.DEVNULL, check=True)
    cases = [
        ("baseline: python -c pass", [sys.executable, "-c", "pass"]),
        ("baseline: python -c 'import sqlalchemy'", [sys.executable, "-c", "import sqlalchemy"]),
        ("halfrate --help", [*HALFRATE, "--help"]),
        ("halfrate status", [*HALFRATE, "status"]),
        (
            "halfrate policy explain --model gpt-4o",
            [*HALFRATE, "policy", "explain", "--model", "gpt-4o"],
        ),
    ]
    base = None
    print(f"{'command':42} {'median':>8} {'ratio':>6} {'peak RSS':>9}")
    for name, argv in cases:
        median, peak = timed(argv, env, args.runs)
        base = base or median
        goal = (
            ""
            if name.startswith("baseline")
            else ("  ok" if median <= GOAL_SECONDS else "  over 0.3 s")
        )
        print(f"{name:42} {median:7.3f}s {median / base:6.1f} {peak:7.0f} MB{goal}")


if __name__ == "__main__":
    main()
