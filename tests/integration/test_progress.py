"""Progress people can read, from a real worker on a real store and sandbox: plain lines for
logs at a bounded rate, with rows done and the provider's counts of a running batch; a line
saying what the worker waits for while retries back off; `worker --until-idle` showing it; and
the live display of a terminal fitting 80 columns."""

from __future__ import annotations

import io
import itertools
import re
import time
from pathlib import Path

from rich.cells import cell_len
from rich.console import Console
from rich.spinner import Spinner

from halfrate.api import Halfrate, RunMode, WorkerSummary
from halfrate.cli.views.progress import PLAIN_STATE_SECONDS, JobProgress
from halfrate.cli.views.progress_live import live_view
from halfrate.cli.views.progress_text import BatchLine, Frame
from halfrate.sandbox import SandboxServer
from tests.helpers import chat_line, lanes, write_jsonl
from tests.integration.test_cli import run

ROWS = 40
# Escape sequences a live display writes: colours, cursor moves, erasing, the cursor shown.
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Timed(io.StringIO):
    """A console's file that notes when each line was written."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[float, str]] = []

    def write(self, text: str) -> int:
        now = time.monotonic()
        self.lines += [(now, line) for line in text.splitlines() if line]
        return super().write(text)


def submit(hr: Halfrate, tmp_path: Path, rows: int = ROWS) -> str:
    lines = [chat_line(f"row-{i}", f"question {i}") for i in range(rows)]
    return hr.submit_file(write_jsonl(tmp_path / "in.jsonl", lines), job="p").job_id


def work(hr: Halfrate, progress: JobProgress) -> WorkerSummary:
    with progress:
        return hr.run_worker(RunMode.UNTIL_IDLE, on_tick=progress)


def screen_lines(text: str) -> list[str]:
    """What a terminal shows line by line: escapes dropped, each redraw (after \\r) apart."""
    return [part for line in CONTROL.sub("", text).split("\n") for part in line.split("\r")]


def test_plain_lines_come_at_a_bounded_rate_with_rows_and_the_providers_counts(
    database_url: str, tmp_path: Path
) -> None:
    # A batch in thirds: validating, in progress (counts move), finalizing; polled often.
    with SandboxServer(latency=3.6) as server, lanes(database_url, server) as hr:
        job = submit(hr, tmp_path)
        out = Timed()
        summary = work(hr, JobProgress(Console(file=out, width=80), hr, (job,)))
    lines = [line for _, line in out.lines]
    heads = [at for at, line in out.lines if line.startswith("progress   ")]
    assert lines[0] == "progress   0/40 rows done, 0:00:00, expected: unknown"
    assert re.fullmatch(r"progress   40/40 rows done in 0:00:0\d: 40 succeeded", lines[-1])
    # Never a line per pass: a few lines over a run of many passes, a second apart at least.
    assert summary.ticks > 5 * len(heads), (summary.ticks, lines)
    # (The last line, the end, comes when the end does.)
    gaps = [later - earlier for earlier, later in itertools.pairwise(heads[:-1])]
    assert all(gap >= PLAIN_STATE_SECONDS - 0.05 for gap in gaps), (gaps, lines)
    running = [line for line in lines if "batch 1 in_progress: " in line]
    assert running, lines
    done, of = re.findall(r"in_progress: (\d+)/(\d+) at openai", running[0])[0]
    assert int(of) == ROWS
    assert 0 <= int(done) < ROWS
    assert any("batch 1 finalizing: 40/40 at openai" in line for line in lines), lines
    assert all(cell_len(line) <= 80 for line in lines), lines


def test_a_waiting_line_says_when_requests_retry_and_why(sqlite_url: str, tmp_path: Path) -> None:
    # Every line is rate limited: 20 requests wait 2 s for their second and last try.
    with (
        SandboxServer(latency=0.6, faults="line_429=1") as server,
        lanes(sqlite_url, server, retry_backoff_seconds=2.0, max_attempts=2) as hr,
    ):
        job = submit(hr, tmp_path, rows=20)
        out = Timed()
        work(hr, JobProgress(Console(file=out, width=80), hr, (job,), indent="  "))
    lines = [line for _, line in out.lines]
    waiting = [line for line in lines if "waiting: " in line]
    assert waiting, lines
    assert re.fullmatch(
        r" {13}waiting: 20 requests retry at \d\d:\d\d:\d\d \(rate limited\)", waiting[0]
    ), waiting
    # The rate so far would end it sooner than the retry: it says no sooner than that.
    head = lines[lines.index(waiting[0]) - 1]
    assert "expected after" in head or "expected: unknown" in head, lines
    assert lines[-1].startswith("  progress   20/20 rows done in ")
    assert lines[-1].endswith(": 0 succeeded, 20 failed")


def test_worker_until_idle_shows_progress_on_stderr(isolated_env: Path, tmp_path: Path) -> None:
    with SandboxServer(latency=1.0) as server:
        env = {
            "OPENAI_BASE_URL": server.base_url,
            "OPENAI_API_KEY": "sandbox-progress",
            "HALFRATE_POLL_INITIAL_SECONDS": "0.1",
            "HALFRATE_POLL_MAX_SECONDS": "0.2",
            "HALFRATE_WORKER_IDLE_SECONDS": "0.05",
        }
        path = write_jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}", f"hi {i}") for i in range(7)])
        assert run("submit", str(path), "--job", "seven", env=env).returncode == 0
        worked = run("worker", "--until-idle", env=env)
    assert worked.returncode == 0, worked.stderr
    said = worked.stderr.splitlines()
    assert said[0].startswith("progress   0/7 requests done, 0:00:00"), said
    assert any("batch 1 " in line and "/7 at openai" in line for line in said), said
    assert re.fullmatch(r"progress   7/7 requests done in 0:00:0\d: 7 succeeded", said[-1]), said
    assert all(cell_len(line) <= 80 for line in said), said
    # stdout keeps the summary a script reads, and nothing else.
    assert worked.stdout.startswith("worker stopped (idle)")
    assert "requests done" not in worked.stdout


def test_the_live_display_of_a_terminal_fits_80_columns(sqlite_url: str, tmp_path: Path) -> None:
    # Each of the batch's three phases lasts a second: a live display reads the store at most
    # every 0.25 s and then waits twenty times as long as a read took, so a half-second phase
    # could pass unseen on a loaded machine.
    with SandboxServer(latency=3.0) as server, lanes(sqlite_url, server) as hr:
        job = submit(hr, tmp_path)
        screen = io.StringIO()
        console = Console(file=screen, force_terminal=True, width=80)
        work(hr, JobProgress(console, hr, (job,), live=True))
    shown = screen_lines(screen.getvalue())
    assert all(cell_len(line) <= 80 for line in shown), max(shown, key=cell_len)
    assert any("0/40 rows done" in line for line in shown)
    assert any(re.search(r"batch 1 +in_progress .* \d+/40 at openai", line) for line in shown)
    finished = [line for line in shown if line.startswith("✓ 40/40 rows done")]
    assert finished, shown[-5:]
    assert finished[-1].endswith("40 succeeded"), finished


def test_a_crowded_frame_still_fits_80_columns() -> None:
    now = time.time()
    batches = tuple(
        BatchLine(n, "anthropic", state, 100_000, 12_345 * n, 1_234, now + 40)
        for n, state in enumerate(("in_progress", "finalizing", "validating", "pending", "x"), 1)
    )
    frame = Frame(
        read_at=now,
        started_at=now - 90_000,
        total=1_234_567,
        done=1_000_000,
        counts={"succeeded": 999_000, "failed": 1_000, "queued": 234_567},
        batches=batches,
        retrying=1,
        retry_at=now + 30,
        retry_reason="overloaded_error: Overloaded " + "x" * 200,
        rate=3.5,
    )
    screen = io.StringIO()
    Console(file=screen, force_terminal=True, width=80).print(
        live_view(frame, now, Spinner("dots"), indent="  ")
    )
    shown = screen_lines(screen.getvalue())
    assert all(cell_len(line) <= 80 for line in shown), shown
    text = "\n".join(shown)
    assert "1,000,000/1,234,567 rows done" in text
    assert "1d 1:00:00" in text
    assert "and 2 more batches in flight" in text
    assert "waiting: 1 request retries at " in text
    assert "(provider overloaded)" in text
