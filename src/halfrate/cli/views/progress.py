"""A progress line for jobs being worked on, printed whenever it changes (`halfrate demo`,
`halfrate run`): requests done of all, and the provider batches by state."""

from __future__ import annotations

from rich.console import Console

from halfrate.api import Halfrate, TickReport
from halfrate.models import FINAL_REQUEST_STATES


class JobProgress:
    """Called after each worker pass (``on_tick``); prints only when something changed."""

    def __init__(
        self, console: Console, hr: Halfrate, job_ids: tuple[str, ...], *, indent: str = ""
    ) -> None:
        self.console = console
        self.hr = hr
        self.job_ids = job_ids
        self.indent = indent
        self.last: tuple[int, tuple[str, ...]] | None = None

    def __call__(self, report: TickReport | None = None) -> None:
        statuses = [self.hr.status(job_id) for job_id in self.job_ids]
        states = [b.provider_status or b.state for s in statuses for b in s.batches]
        done = sum(s.counts.get(state, 0) for s in statuses for state in FINAL_REQUEST_STATES)
        total = sum(s.total for s in statuses)
        key = (done, tuple(sorted(states)))
        if key == self.last:
            return
        self.last = key
        by_status: dict[str, int] = {}
        for state in states:
            by_status[state] = by_status.get(state, 0) + 1
        batches = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items())) or "none yet"
        self.console.print(f"{self.indent}progress   {done}/{total} done; batches: {batches}")
