"""When the page says a job should be finished: before it starts (each price's time) and while it
runs (its own pace, the provider's counts, retry waits, the batch window as a ceiling)."""

from __future__ import annotations

from halfrate.api import Progress, RetryWait
from halfrate.models import BatchView
from halfrate.web import expected

HOUR = 3600.0
START = 1_800_000_000.0


def batch(requests: int, completed: int | None, failed: int | None = 0) -> BatchView:
    return BatchView(
        id="b1",
        provider="openai",
        endpoint="/v1/chat/completions",
        model="gpt-4o-mini",
        state="submitted",
        provider_batch_id="batch_1",
        provider_status="in_progress",
        request_count=requests,
        created_at=START,
        last_error=None,
        completed_count=completed,
        failed_count=failed,
    )


def progress(
    counts: dict[str, int], batches: list[BatchView] | None = None, retry: RetryWait | None = None
) -> Progress:
    return Progress(counts=counts, batches=batches or [], retry=retry)


def test_before_start_now_is_a_forecast_and_the_batch_window_a_promise() -> None:
    now_end, batch_end = expected.before_start(1_000, 16, START)
    assert now_end.at == START + 63 * expected.TYPICAL_CALL_SECONDS  # 1,000 / 16 → 63 rounds
    assert not now_end.at_the_latest
    assert batch_end.at == START + 24 * HOUR
    assert batch_end.at_the_latest
    assert batch_end.iso == "2027-01-16T08:00:00Z"
    assert batch_end.utc == "Sat 16 Jan 08:00 UTC"


def test_a_batch_with_nothing_to_show_yet_is_expected_by_the_window_end() -> None:
    got = expected.while_running(
        progress({"in_batch": 100}, [batch(100, None)]), START, START + 60, batch=True
    )
    assert got == expected.Expected(START + 24 * HOUR, at_the_latest=True)


def test_a_realtime_job_with_nothing_answered_has_no_forecast() -> None:
    assert expected.while_running(progress({"calling": 5}), START, START + 60, batch=False) is None


def test_the_providers_counts_move_the_forecast_before_any_result_is_stored() -> None:
    # 40 of 100 finished at the provider after 40 s: 60 more at one a second.
    moving = progress({"in_batch": 100}, [batch(100, 38, 2)])
    assert moving.answered == 40
    got = expected.while_running(moving, START, START + 40, batch=True)
    assert got == expected.Expected(START + 100, at_the_latest=False)


def test_stored_results_and_provider_counts_add_up_without_exceeding_the_rows() -> None:
    moving = progress({"succeeded": 50, "in_batch": 50}, [batch(50, 80)])
    assert moving.answered == 100
    assert expected.while_running(moving, START, START + 10, batch=True) is None


def test_a_pace_past_the_window_is_capped_at_the_window_for_a_batch_only() -> None:
    slow = progress({"succeeded": 1, "in_batch": 999})
    capped = expected.while_running(slow, START, START + HOUR, batch=True)
    assert capped == expected.Expected(START + 24 * HOUR, at_the_latest=True)
    realtime = expected.while_running(slow, START, START + HOUR, batch=False)
    assert realtime is not None
    assert realtime.at == START + HOUR + 999 * HOUR


def test_rows_waiting_for_a_retry_cannot_end_before_it() -> None:
    waiting = RetryWait(requests=3, until=START + 600, reason="rate_limit_exceeded")
    moving = progress({"succeeded": 97, "queued": 3}, retry=waiting)
    got = expected.while_running(moving, START, START + 97, batch=False)
    assert got == expected.Expected(START + 600, at_the_latest=False)


def test_too_short_a_run_gives_no_pace() -> None:
    moving = progress({"succeeded": 2, "calling": 98})
    assert expected.while_running(moving, START, START + 1, batch=False) is None


def test_lengths_of_time_read_as_people_say_them() -> None:
    assert expected.about(20) == "under a minute"
    assert expected.about(60) == "about 1 minute"
    assert expected.about(12 * 60) == "about 12 minutes"
    assert expected.about(3 * HOUR) == "about 3 hours"
