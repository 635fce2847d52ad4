"""Runs halfrate commands on bad input in one process and reports each answer with the
process's peak memory so far (``python -m tests.integration.bad_input_runner``; used by
test_bad_input_corpus.py, which needs a process of its own to measure the peak).

Reads ``{"env": {...}, "cases": [[name, [arg, ...]], ...]}`` as JSON on stdin and prints one
JSON list of ``{name, code, stderr, peak_mb}`` on stdout.
"""

from __future__ import annotations

import json
import resource
import sys

from tests.integration.test_cli import run


def main() -> None:
    job = json.load(sys.stdin)
    answers = []
    for name, args in job["cases"]:
        proc = run(*args, env=job["env"])
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        answers.append(
            {"name": name, "code": proc.returncode, "stderr": proc.stderr, "peak_mb": peak_mb}
        )
    sys.stdout.write(json.dumps(answers))


if __name__ == "__main__":
    main()
