"""A run's figures on the page: a percent that never says 100 before the end or 0 after the
start, and finished runs remembered within a bound, least recently used forgotten first."""

from __future__ import annotations

import pytest

from halfrate.web.job_view import FinishedRuns, RunView


def view(finished: int, total: int = 1_000, failed: int = 0) -> RunView:
    done = finished >= total
    return RunView(total, finished, failed, done, at_batch_price=True, expected=None)


@pytest.mark.parametrize(
    ("finished", "percent"),
    [(0, 0), (1, 1), (4, 1), (500, 50), (994, 99), (999, 99), (1_000, 100)],
)
def test_the_percent_says_the_ends_only_at_the_ends(finished: int, percent: int) -> None:
    assert view(finished).percent == percent


def test_an_empty_run_is_whole() -> None:
    assert view(0, total=0).percent == 100


def test_rows_answered_are_the_rows_that_did_not_fail_and_were_not_cancelled() -> None:
    assert view(1_000, failed=7).succeeded == 993
    cancelled = RunView(10, 10, 1, True, at_batch_price=True, expected=None, cancelled=4)
    assert cancelled.succeeded == 5


def test_finished_runs_are_remembered_within_a_bound() -> None:
    remembered = FinishedRuns(size=2)
    remembered.put(("a",), view(1_000))
    remembered.put(("b",), view(1_000))
    assert remembered.get(("a",)) is not None  # "a" is now the most recently used
    remembered.put(("b", "b-retry-1"), view(1_000))
    assert remembered.get(("b",)) is None  # the least recently used went first
    assert remembered.get(("a",)) is not None
    assert remembered.get(("b", "b-retry-1")) is not None
