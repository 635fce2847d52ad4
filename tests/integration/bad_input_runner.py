"""Runs halfrate commands on bad input in one process and reports each answer with the
process's peak memory so far (``python -m tests.integration.bad_input_runner``; used by
test_bad_input_corpus.py, which needs a process of its own to measure the peak).

Reads ``{"env": {...}, "cases": [[name, [arg, ...]], ...]}`` as JSON on stdin and prints one
JSON list of ``{name, code, stderr, peak_mb}`` on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.integration.test_cli import run


def peak_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (getrusage's
    ru_maxrss keeps the peak of the process that forked it, here a pytest worker)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    job = json.load(sys.stdin)
    answers = []
    for name, args in job["cases"]:
        proc = run(*args, env=job["env"])
        answers.append(
            {"name": name, "code": proc.returncode, "stderr": proc.stderr, "peak_mb": peak_mb()}
        )
    sys.stdout.write(json.dumps(answers))


if __name__ == "__main__":
    main()
