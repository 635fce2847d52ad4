"""A run's figures as the job page and the jobs list show them, read cheaply enough to ask every
two seconds while a 100,000-row job is under way.

A *run* is the job a spreadsheet and its prompt made, with the reruns of its failed rows; only
the latest of them can be under way (a rerun waits for the one before it). While it runs, one
aggregate read of the latest job says how far it is (the provider's counts included); once a
run is finished its figures never change, so they are remembered and a finished job costs no
count of its rows again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from halfrate.api import Account, Halfrate, OwnedJob, Progress
from halfrate.errors import HalfrateError
from halfrate.models import RequestState
from halfrate.web import expected

FAILED = RequestState.FAILED.value  # a row's status when its answer failed, as a request's
FINISHED_REMEMBERED = 5_000  # finished runs whose figures are kept (a few hundred bytes each)


@dataclass(frozen=True)
class RunView:
    total: int  # rows of the spreadsheet
    finished: int  # rows that ended (answered or failed), the provider's counts included
    failed: int  # rows whose latest answer failed (so far, while running)
    done: bool
    at_batch_price: bool
    expected: expected.Expected | None  # while running: by when it should be done
    cancelled: int = 0  # rows whose job was cancelled before they were answered
    paid: int = 0  # nano-dollars over the run and its reruns, once done
    realtime: int = 0  # the same tokens at realtime prices, once done

    @property
    def succeeded(self) -> int:
        return self.total - self.failed - self.cancelled

    @property
    def percent(self) -> int:
        """A whole percent that says 100 only when all is done, and 0 only when nothing is."""
        if not self.total or self.finished >= self.total:
            return 100
        if not self.finished:
            return 0
        return max(1, min(99, round(100 * self.finished / self.total)))


class FinishedRuns:
    """Figures of finished runs by their jobs' ids, the least recently used forgotten first;
    safe across the server's threads."""

    def __init__(self, size: int = FINISHED_REMEMBERED) -> None:
        self._size = size
        self._views: OrderedDict[tuple[str, ...], RunView] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, runs: tuple[str, ...]) -> RunView | None:
        with self._lock:
            found = self._views.get(runs)
            if found is not None:
                self._views.move_to_end(runs)
            return found

    def put(self, runs: tuple[str, ...], view: RunView) -> None:
        with self._lock:
            self._views[runs] = view
            while len(self._views) > self._size:
                self._views.popitem(last=False)


def view_run(hr: Halfrate, run: OwnedJob, account: Account, finished: FinishedRuns) -> RunView:
    """How far ``run`` (and its reruns) is, with the receipt once it is done."""
    runs = tuple(hr.run_jobs(run.job_id))
    known = finished.get(runs)
    if known is not None:
        return known
    latest = hr.progress([runs[-1]])
    total = latest.total if len(runs) == 1 else hr.progress([runs[0]]).total
    failed = latest.counts.get(FAILED, 0)
    if latest.done >= latest.total:
        failed = _failed_rows(hr, runs[0], failed)
        costs = [hr.job_costs(each) for each in runs]
        view = RunView(
            total=total,
            finished=total,
            failed=failed,
            done=True,
            at_batch_price=False,
            expected=None,
            cancelled=latest.counts.get(RequestState.CANCELLED.value, 0),
            paid=sum(c[0] for c in costs),
            realtime=sum(c[1] for c in costs),
        )
        finished.put(runs, view)
        return view
    started = run.created_at
    if len(runs) > 1:
        started = hr.owned_job_for(runs[-1], account).created_at
    batch = _at_batch_price(hr, runs[-1], latest)
    pending = latest.total - latest.answered
    return RunView(
        total=total,
        finished=max(0, total - pending),
        failed=failed,
        done=False,
        at_batch_price=batch,
        expected=expected.while_running(latest, started, time.time(), batch=batch),
    )


def _failed_rows(hr: Halfrate, run_id: str, failed_requests: int) -> int:
    """Rows whose latest answer failed. A free-text row fails when its request did; a row
    answered in columns also fails when the answer breaks them (a request that succeeded), so
    those are counted from the answers themselves, once: the figure is remembered."""
    try:
        plan = hr.table_job_plan(run_id)
    except HalfrateError:
        plan = None
    if plan is None or plan.options.columns is None:
        return failed_requests
    width = len(plan.options.answer_columns)
    return sum(1 for _, cells in hr.table_answers(plan, run_id) if cells[width] == FAILED)


def _at_batch_price(hr: Halfrate, job_id: str, progress: Progress) -> bool:
    """Whether the job's open rows wait for a batch (or are called now, at full price)."""
    if progress.batches or progress.counts.get(RequestState.IN_BATCH.value):
        return True
    if progress.counts.get(RequestState.IN_CALL.value):
        return False
    lanes = hr.lanes(job_id)  # only while everything is queued: which lane it waits for
    return lanes.get("batch", 0) >= lanes.get("realtime", 0)
