"""The deadline guard: when the sandbox's batches take longer than a short deadline allows,
requests finish in realtime before their deadline, each once, and the sandbox's billing ledger
shows every request paid for once."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from halfrate import RequestSpec
from halfrate.api import Halfrate
from halfrate.routing.policy_file import parse_policy
from halfrate.sandbox import SandboxServer
from halfrate.store.tables import attempts, batches, requests, results, routes
from tests.helpers import CHAT, MESSAGES_ENDPOINT, claude_params, lanes

# Batch when the deadline is at least 1 s + 2 s away; the guard acts 2 s before the deadline.
POLICY = parse_policy(
    '[settings]\nbatch_window = "1s"\nsafety_margin = "2s"\n\n'
    '[[rule]]\nname = "Nightly work in batch"\nwhen = { deadline = "at least window" }\n'
    'lane = "batch"\n\n[[rule]]\nname = "Otherwise now"\nlane = "realtime"\n',
    "guard.toml",
)
DEADLINE_SECONDS = 5


def openai_specs(n: int, prefix: str = "o") -> list[RequestSpec]:
    return [
        RequestSpec(
            f"{prefix}{i}",
            CHAT,
            # The prefix in the prompt too: identical requests would share one answer.
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{prefix} q {i}"}]},
        )
        for i in range(n)
    ]


def claude_specs(n: int) -> list[RequestSpec]:
    return [
        RequestSpec(f"a{i}", MESSAGES_ENDPOINT, claude_params(f"q {i}"), provider="anthropic")
        for i in range(n)
    ]


def outcome(hr: Halfrate) -> list[dict[str, Any]]:
    """Per request: its deadline, when its result landed, and its attempts in order."""
    with hr.store.read() as conn:
        rows = conn.execute(
            sa.select(
                requests.c.id,
                requests.c.key,
                requests.c.deadline,
                requests.c.lane,
                requests.c.moved_by,
                routes.c.rule_name,
                results.c.status,
                results.c.created_at.label("landed"),
            )
            .join(routes, routes.c.id == requests.c.route_id)
            .outerjoin(results, results.c.request_id == requests.c.id)
        ).all()
        tries = conn.execute(
            sa.select(attempts.c.request_id, attempts.c.lane, attempts.c.outcome).order_by(
                attempts.c.id
            )
        ).all()
    made: dict[int, list[tuple[str, str]]] = {}
    for request_id, lane, result in tries:
        made.setdefault(request_id, []).append((lane, result))
    return [{**row._mapping, "tries": made.get(row.id, [])} for row in rows]


def charged_per_request(server: SandboxServer) -> dict[str, int]:
    """Charges per request: sync calls by the prompt's text, batch lines by custom id."""
    counts: dict[str, int] = {}
    for entry in server.app.state.sandbox.ledger.entries():
        if entry["charged"]:
            key = f"{entry['kind']}:{entry['custom_id']}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def assert_met(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        assert row["status"] == "succeeded", row
        assert row["landed"] < row["deadline"], row  # before its deadline
        succeeded = [t for t in row["tries"] if t[1] == "succeeded"]
        assert len(succeeded) == 1, row  # once
        assert row["rule_name"] == "Nightly work in batch"  # the rule that chose batch


def test_openai_batch_too_slow_is_cancelled_and_finished_in_realtime(database_url: str) -> None:
    # The batch validates for 20 s: nothing can finish in it before the deadline.
    with (
        SandboxServer(latency=60, cancel_latency=0.3) as server,
        lanes(database_url, server, policy=POLICY, max_attempts=1) as hr,
    ):
        hr.submit(openai_specs(20), job="guarded", deadline=f"{DEADLINE_SECONDS}s")
        started = time.time()
        summary = hr.run_worker()
        assert time.time() - started < DEADLINE_SECONDS + 2
        rows = outcome(hr)
        assert_met(rows)
        # Cancelled lines spent no attempt (max_attempts=1 would otherwise have failed them).
        assert all(r["tries"][-1] == ("realtime", "succeeded") for r in rows)
        assert {r["moved_by"] for r in rows} == {"deadline_guard"}
        assert summary.batches_cancelled_by_guard == 1
        with hr.store.read() as conn:
            assert conn.execute(sa.select(batches.c.provider_status)).scalars().all() == [
                "cancelled"
            ]
        charges = charged_per_request(server)
        assert sum(charges.values()) == 20  # twenty realtime calls, no batch line
        assert all(k.startswith("sync:") for k in charges)
        # The extra cost is recorded against the rule that chose batch: realtime price minus
        # what the same tokens cost in batch (half price for gpt-4o-mini).
        (moved,) = hr.status("guarded").moved
        assert (moved.why, moved.rule, moved.requests) == (
            "deadline_guard",
            "Nightly work in batch",
            20,
        )
        with hr.store.read() as conn:
            paid, planned = conn.execute(
                sa.select(
                    sa.func.sum(attempts.c.cost_nano), sa.func.sum(attempts.c.route_cost_nano)
                )
            ).one()
        assert moved.extra_nano == paid - planned
        assert abs(paid - 2 * planned) <= 20  # rounding to the nano-dollar, per attempt


def test_finished_lines_of_the_cancelled_batch_are_kept(database_url: str) -> None:
    # 2 s validating, then 2 s running: at the guard (3 s) about half the lines are done.
    with (
        SandboxServer(latency=6, cancel_latency=0.2) as server,
        lanes(database_url, server, policy=POLICY) as hr,
    ):
        hr.submit(openai_specs(40), job="half", deadline=f"{DEADLINE_SECONDS}s")
        hr.run_worker()
        rows = outcome(hr)
        assert_met(rows)
        kept = [r for r in rows if ("batch", "succeeded") in r["tries"]]
        rerun = [r for r in rows if ("realtime", "succeeded") in r["tries"]]
        assert kept, "lines finished before the cancel are kept"
        assert rerun, "lines not finished run in realtime"
        assert len(kept) + len(rerun) == 40
        batch_lines = sum(n for k, n in charged_per_request(server).items() if "batch" in k)
        assert batch_lines == len(kept)  # only the kept lines were billed in the batch
        assert sum(charged_per_request(server).values()) == 40  # each request paid once


def test_anthropic_batch_too_slow_is_cancelled_and_finished_in_realtime(
    database_url: str,
) -> None:
    with (
        SandboxServer(latency=30, cancel_latency=0.2) as server,
        lanes(database_url, server, policy=POLICY) as hr,
    ):
        hr.submit(claude_specs(15), job="claude", deadline=f"{DEADLINE_SECONDS}s")
        hr.run_worker()
        rows = outcome(hr)
        assert_met(rows)
        kept = sum(1 for r in rows if ("batch", "succeeded") in r["tries"])
        assert sum(charged_per_request(server).values()) == 15
        assert sum(1 for r in rows if ("realtime", "succeeded") in r["tries"]) == 15 - kept


def test_a_cancel_that_takes_too_long_is_not_waited_for(database_url: str) -> None:
    # The cancel takes 3 s; halfway from the guard time to the deadline (4 s) the guard stops
    # waiting and runs the requests in realtime. The batch ran nothing, so nothing is paid twice.
    with (
        SandboxServer(latency=60, cancel_latency=3) as server,
        lanes(database_url, server, policy=POLICY) as hr,
    ):
        hr.submit(openai_specs(10), job="slow-cancel", deadline=f"{DEADLINE_SECONDS}s")
        hr.run_worker()
        rows = outcome(hr)
        assert_met(rows)
        assert all(r["tries"] == [("realtime", "succeeded")] for r in rows)  # taken out
        assert sum(charged_per_request(server).values()) == 10


def test_requests_that_can_wait_go_to_a_later_batch(database_url: str) -> None:
    """A batch holding urgent and patient requests is cancelled all the same (so nothing is
    paid twice): the urgent run in realtime, the patient ones go into a new batch."""
    with (
        SandboxServer(latency=6, cancel_latency=0.2) as server,
        lanes(database_url, server, policy=POLICY, openai_max_batch_lines=100) as hr,
    ):
        hr.submit(openai_specs(10, "u"), job="urgent", deadline=f"{DEADLINE_SECONDS}s")
        hr.submit(openai_specs(10, "p"), job="patient", deadline="1h")
        hr.run_worker()
        urgent = [r for r in outcome(hr) if r["key"].startswith("u")]
        patient = [r for r in outcome(hr) if r["key"].startswith("p")]
        assert_met(urgent)
        for row in patient:
            assert row["status"] == "succeeded"
            assert row["moved_by"] is None
            assert next(t for t in row["tries"] if t[1] == "succeeded")[0] == "batch"
        assert sum(charged_per_request(server).values()) == 20  # each request paid once
        assert len(hr.status("patient").batches) == 2  # the cancelled one, then a new one
