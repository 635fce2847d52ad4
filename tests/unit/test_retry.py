"""The retry decisions for batch lines: what spends an attempt, and when a request gives up."""

from __future__ import annotations

import pytest

from halfrate.models import Verdict
from halfrate.records import LineOutcome
from halfrate.retry import UNRUN_CODES, RetryPolicy, settle_line

POLICY = RetryPolicy(max_attempts=3, backoff_seconds=1.0, max_unrun=4)


def line(code: str, *, free: bool = False) -> LineOutcome:
    return LineOutcome(1, Verdict.RETRY, 500, None, code, f"{code} happened", free=free)


def test_a_line_that_ran_and_failed_gives_up_at_the_attempt_cap() -> None:
    assert settle_line(line("server_error"), 1, POLICY).verdict is Verdict.RETRY
    settled = settle_line(line("server_error"), 2, POLICY)
    assert settled.verdict is Verdict.FAILED
    assert settled.error_message == "gave up after 3 attempts; last: server_error happened"


@pytest.mark.parametrize("code", sorted(UNRUN_CODES))
def test_a_line_that_never_ran_spends_no_attempt(code: str) -> None:
    # However many attempts were spent before, a line that never ran goes again...
    settled = settle_line(line(code, free=True), 50, POLICY, unrun_so_far=2)
    assert settled.verdict is Verdict.RETRY
    assert settled.free
    # ...until it came back unrun as often as the unrun cap allows.
    capped = settle_line(line(code, free=True), 0, POLICY, unrun_so_far=3)
    assert capped.verdict is Verdict.FAILED
    assert not capped.free
    assert capped.error_message == f"never ran in 4 batches; last: {code} happened"


def test_final_answers_pass_unchanged() -> None:
    ok = LineOutcome(1, Verdict.SUCCEEDED, 200, "{}", None, None)
    assert settle_line(ok, 99, POLICY, unrun_so_far=99) is ok
