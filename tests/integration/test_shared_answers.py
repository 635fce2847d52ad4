"""Identical requests share one answer: those in flight together are sent once (dedup), and one
answered recently answers a new one (the response cache). Each gets its own result, delivered
to its sinks; the ledger records a $0 attempt whose realtime cost is the saving, and the report
tells the two apart. A failed or cancelled request passes nothing on: the ones waiting on it
run by themselves. The policy can turn either off, or keep a rule's requests out."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from halfrate.api import Halfrate
from halfrate.dispatch import RunMode
from halfrate.ledger.report import ReportMaker
from halfrate.models import RequestSpec
from halfrate.routing.policy_file import parse_policy
from halfrate.sandbox import SandboxServer
from halfrate.store.ledger_reads import Scope
from halfrate.store.tables import attempts, ledger_days, requests, results
from tests.helpers import CHAT, chat_line, claim, lanes, write_jsonl

DISTINCT, COPIES = 10, 3


def copies_file(tmp_path: Path, name: str, **body: Any) -> Path:
    """DISTINCT prompts, each COPIES times under its own key (prompt i: keys i-0, i-1, ...)."""
    lines = [
        chat_line(f"{name}{i}-{c}", f"Summarise ticket {i}", max_tokens=50, **body)
        for i in range(DISTINCT)
        for c in range(COPIES)
    ]
    return write_jsonl(tmp_path / f"{name}.jsonl", lines)


def sent(server: SandboxServer, hr: Halfrate) -> Counter[str]:
    """The caller's key → how many times the sandbox charged for it (batch lines carry
    halfrate's id, ``hr-<request id>``; a realtime call counts as ``call``)."""
    entries = [e for e in server.app.state.sandbox.ledger.entries() if e["charged"]]
    with hr.store.read() as conn:
        keys = dict(conn.execute(sa.select(requests.c.id, requests.c.key)).all())
    return Counter(
        keys[int(e["custom_id"].removeprefix("hr-"))] if e["kind"] == "batch" else "call"
        for e in entries
    )


def answers(conn: sa.Connection) -> dict[str, tuple[str, str | None]]:
    rows = conn.execute(
        sa.select(requests.c.key, results.c.status, results.c.response).join(
            results, results.c.request_id == requests.c.id
        )
    )
    return {key: (status, response) for key, status, response in rows}


def ledger_rows(conn: sa.Connection) -> list[Any]:
    return list(
        conn.execute(
            sa.select(
                requests.c.key,
                attempts.c.lane,
                attempts.c.cache_kind,
                attempts.c.input_tokens,
                attempts.c.cost_nano,
                attempts.c.realtime_cost_nano,
            ).join(requests, requests.c.id == attempts.c.request_id)
        ).all()
    )


def test_identical_requests_in_flight_are_sent_once_and_each_gets_the_answer(
    database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    with SandboxServer(latency=0.2) as server, lanes(database_url, server) as hr:
        outcome = hr.submit_file(copies_file(tmp_path, "t"), job="t", sinks=[str(out)])
        assert (outcome.created, outcome.shared) == (30, 20)
        assert hr.store.reads.job_lanes(outcome.job_id) == {"batch": 10, "cache": 20}
        summary = hr.run_worker(RunMode.UNTIL_IDLE)
        assert summary.exit_reason.value == "idle"
        assert summary.shared == 20
        assert hr.status("t").counts == {"succeeded": 30}
        # Only the first of each prompt reached the provider, once.
        assert sent(server, hr) == Counter({f"t{i}-0": 1 for i in range(DISTINCT)})
        with hr.store.read() as conn:
            got = answers(conn)
            rows = ledger_rows(conn)
            rollup_before = conn.execute(sa.select(ledger_days)).all()
        for i in range(DISTINCT):
            first = got[f"t{i}-0"]
            assert first[0] == "succeeded"
            assert all(got[f"t{i}-{c}"] == first for c in range(COPIES))
        # Each result landed in the sink once.
        delivered = Counter(json.loads(line)["custom_id"] for line in out.read_text().splitlines())
        assert delivered == Counter({f"t{i}-{c}": 1 for i in range(DISTINCT) for c in range(3)})

        billed = {key: row for key, *row in rows if row[0] == "batch"}
        shared = [(key, row) for key, *row in rows if row[0] == "cache"]
        assert len(billed) == DISTINCT
        assert len(shared) == 20
        for key, (_, kind, tokens, cost, realtime) in shared:
            original = billed[key.rsplit("-", 1)[0] + "-0"]
            assert (kind, tokens, cost) == ("dedup", None, 0)
            assert realtime == original[4]  # the saving: what it would have cost in realtime
            assert realtime > 0

        report = ReportMaker(hr.store).report("lane", Scope(), 0.0)
        saved = sum(row[4] for _, row in shared)
        assert report.kpis.dedup_answers == 20
        assert report.kpis.saved_by_dedup * 10**9 == saved
        assert report.kpis.response_cache_answers == 0
        assert report.total.requests == 30
        # The rollups kept as answers were shared equal the ones rebuilt from the attempts.
        hr.store.ledger.rebuild_rollups()
        with hr.store.read() as conn:
            assert sorted(conn.execute(sa.select(ledger_days)).all()) == sorted(rollup_before)


def test_a_request_answered_before_comes_from_the_response_cache_for_free(
    database_url: str, tmp_path: Path
) -> None:
    with SandboxServer(latency=0.1) as server, lanes(database_url, server) as hr:
        hr.submit_file(copies_file(tmp_path, "a"), job="a")
        hr.run_worker(RunMode.UNTIL_IDLE)
        charged_before = sum(sent(server, hr).values())

        outcome = hr.submit_file(copies_file(tmp_path, "b"), job="b")
        assert outcome.shared == 30  # every one was answered before
        hr.run_worker(RunMode.UNTIL_IDLE)
        assert hr.status("b").counts == {"succeeded": 30}
        assert sum(sent(server, hr).values()) == charged_before  # nothing sent again

        # A person waiting gets the stored answer at once, without a call.
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Summarise ticket 3"}],
            "max_tokens": 50,
        }
        answer = hr.call(body, key="now")
        assert (answer.lane, answer.cached) == ("cache", True)
        assert sum(sent(server, hr).values()) == charged_before
        with hr.store.read() as conn:
            got = answers(conn)
            kinds = Counter(
                conn.execute(
                    sa.select(attempts.c.cache_kind).where(attempts.c.lane == "cache")
                ).scalars()
            )
        assert json.loads(got["b3-1"][1] or "") == answer.response
        assert json.loads(got["a3-0"][1] or "") == answer.response
        assert kinds == Counter({"dedup": 20, "response": 31})

        kpis = ReportMaker(hr.store).report("feature", Scope(), 0.0).kpis
        assert (kpis.dedup_answers, kpis.response_cache_answers) == (20, 31)
        assert kpis.saved_by_response_cache > 0


def policy_with(settings: str = "", rule: str = "") -> Any:
    text = f"""
[settings]
{settings}

[[rule]]
name = "everything batched"
lane = "batch"
{rule}
"""
    return parse_policy(text, "test policy")


def test_the_policy_can_keep_requests_from_sharing_answers(
    database_url: str, tmp_path: Path
) -> None:
    def submitted(policy: Any, name: str) -> int:
        """Submit the same ten prompts (three copies each) as job ``name``; run it; return how
        many of its requests shared an answer."""
        with lanes(database_url, server, policy=policy) as hr:
            shared = hr.submit_file(copies_file(tmp_path, name), job=name).shared
            hr.run_worker(RunMode.UNTIL_IDLE)
            assert hr.status(name).counts == {"succeeded": 30}
            return shared

    with SandboxServer(latency=0.0) as server:
        # A rule with cache = false: every copy is sent, and none serves later requests.
        assert submitted(policy_with(rule="cache = false"), "off") == 0
        with lanes(database_url, server) as hr:
            assert sum(n for key, n in sent(server, hr).items() if key.startswith("off")) == 30
        # No dedup: copies in flight together are each sent; their answers then serve.
        assert submitted(policy_with(settings="dedup = false"), "nodedup") == 0
        assert submitted(policy_with(settings="dedup = false"), "cached") == 30
        # No response cache: only copies in flight together share.
        assert submitted(policy_with(settings='response_cache = "off"'), "nocache") == 20
        # An answer older than the cache's window is not used.
        with lanes(database_url, server) as hr, hr.store.write() as conn:
            conn.execute(sa.update(requests).values(updated_at=requests.c.updated_at - 5))
        assert submitted(policy_with(settings='response_cache = "1s"'), "stale") == 20
        assert submitted(policy_with(), "fresh") == 30


def test_a_failed_or_cancelled_request_passes_nothing_on(database_url: str, tmp_path: Path) -> None:
    def specs(prefix: str, content: str, **extra: Any) -> list[RequestSpec]:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
        return [RequestSpec(f"{prefix}{i}", CHAT, {**body, **extra}) for i in range(2)]

    with SandboxServer(latency=0.1) as server, lanes(database_url, server) as hr:
        # The first job is cancelled before it runs: the second, identical, runs by itself.
        hr.submit(specs("doomed", "Translate the menu")[:1], job="doomed")
        outcome = hr.submit(specs("kept", "Translate the menu")[:1], job="kept")
        assert outcome.shared == 1
        hr.cancel("doomed")
        # A request the provider refuses: its identical twin is sent too, and refused itself.
        bad = hr.submit(specs("bad", "Say nothing", n=1000), job="bad")
        assert bad.shared == 1
        # A request whose own job is cancelled while it waits ends cancelled; its twin runs.
        hr.submit(specs("lead", "Name three rivers")[:1], job="lead")
        hr.submit(specs("gone", "Name three rivers")[:1], job="gone")
        hr.cancel("gone")

        summary = hr.run_worker(RunMode.UNTIL_IDLE)
        assert summary.exit_reason.value == "idle"
        assert hr.status("doomed").counts == {"cancelled": 1}
        assert hr.status("kept").counts == {"succeeded": 1}
        assert hr.status("bad").counts == {"failed": 2}
        assert hr.status("lead").counts == {"succeeded": 1}
        assert hr.status("gone").counts == {"cancelled": 1}
        charged = sent(server, hr)
        assert (charged["kept0"], charged["lead0"], charged["gone0"], charged["doomed0"]) == (
            1,
            1,
            0,
            0,
        )
        with hr.store.read() as conn:
            errors = conn.execute(
                sa.select(requests.c.key, results.c.error)
                .join(results, results.c.request_id == requests.c.id)
                .where(requests.c.job_id == bad.job_id)
            ).all()
            tried = Counter(
                conn.execute(
                    sa.select(requests.c.key)
                    .join(attempts, attempts.c.request_id == requests.c.id)
                    .where(requests.c.job_id == bad.job_id, attempts.c.lane == "batch")
                ).scalars()
            )
        assert tried == Counter({"bad0": 1, "bad1": 1})  # each was sent, once
        assert all("'n'" in json.loads(error)["message"] for _, error in errors)


def test_a_person_waiting_does_not_wait_for_a_batch(database_url: str, tmp_path: Path) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Draft a reply"}]}
    with SandboxServer(latency=0.0) as server, lanes(database_url, server) as hr:
        hr.submit([RequestSpec("later", CHAT, body)], job="nightly")
        outcome = hr.submit([RequestSpec("now", CHAT, body)], job="desk", waiting=True)
        assert outcome.shared == 0
        assert hr.store.reads.job_lanes(outcome.job_id) == {"realtime": 1}
        # The other way round, a batched request may wait for the realtime one.
        late = hr.submit([RequestSpec("after", CHAT, body)], job="nightly-2")
        assert late.shared == 1
        hr.run_worker(RunMode.UNTIL_IDLE)
        for job in ("nightly", "desk", "nightly-2"):
            assert hr.status(job).counts == {"succeeded": 1}
        assert sent(server, hr) == Counter({"later": 1, "call": 1})


def test_a_request_that_can_no_longer_wait_goes_its_own_way(database_url: str) -> None:
    """Its guard time came, or the identical request's job was cancelled while in a batch: it
    goes back to its own lane (the deadline guard takes it from there). A call for its key
    calls the provider itself, in realtime, at the realtime price."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Sum up Q3"}]}
    with SandboxServer(latency=0.0) as server, lanes(database_url, server) as hr:
        hr.submit([RequestSpec("lead", CHAT, body)], job="lead", deadline="2d")
        late = hr.submit([RequestSpec("late", CHAT, body)], job="late", deadline="3d")
        hr.submit([RequestSpec("gone", CHAT, body)], job="gone")
        hr.submit([RequestSpec("ask", CHAT, body)], job="ask")
        assert late.shared == 1
        with hr.store.write() as conn:
            conn.execute(sa.update(requests).where(requests.c.key == "late").values(guard_at=0.0))
        assert hr.store.answers.settle(time.time()).released == 1
        claim(hr.store)  # the leader is now in a batch ...
        hr.cancel("lead")  # ... of a cancelled job: those waiting on it go their own way
        assert hr.store.answers.settle(time.time()).released == 2
        with hr.store.read() as conn:
            rows = conn.execute(
                sa.select(requests.c.key, requests.c.lane, requests.c.answered_by).where(
                    requests.c.key.in_(["late", "gone", "ask"])
                )
            ).all()
        assert sorted(rows) == [
            ("ask", "batch", None),
            ("gone", "batch", None),
            ("late", "batch", None),
        ]

        # Waiting on an identical request in flight: a call for the key calls it itself.
        hr.submit([RequestSpec("twin", CHAT, body)], job="later-twin")
        waiting = hr.submit([RequestSpec("twin2", CHAT, body)], job="call-twin")
        assert waiting.shared == 1
        answer = hr.call(body, key="twin2", job="call-twin")
        assert (answer.lane, answer.cached) == ("realtime", False)
        with hr.store.read() as conn:
            cost = conn.execute(
                sa.select(attempts.c.lane, attempts.c.cost_nano)
                .join(requests, requests.c.id == attempts.c.request_id)
                .where(requests.c.key == "twin2")
            ).one()
        assert cost[0] == "realtime"
        assert cost[1] > 0


def test_a_flex_request_that_may_fall_back_to_a_batch_is_not_waited_for_by_a_deadline(
    database_url: str,
) -> None:
    policy = parse_policy(
        '[[rule]]\nwhen = { feature = "reports" }\nlane = "flex"\nfallback = "batch"\n\n'
        '[[rule]]\nlane = "batch"\n',
        "test policy",
    )
    body = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "Quarterly notes"}]}
    with SandboxServer(latency=0.0) as server, lanes(database_url, server, policy=policy) as hr:
        hr.submit([RequestSpec("flex", CHAT, body)], job="reports", feature="reports")
        due = hr.submit([RequestSpec("due", CHAT, body)], job="due", deadline="2d")
        whenever = hr.submit([RequestSpec("any", CHAT, body)], job="whenever")
        assert (due.shared, whenever.shared) == (0, 1)


def test_two_submissions_into_one_job_in_one_tick_stay_apart(
    database_url: str, monkeypatch: Any
) -> None:
    """Each call's rows are told apart by their time (the identical-request lookups, the
    digests recorded): two calls into one job within one tick of the clock (two `call()`s into
    the job "calls") get times of their own, the second's identical request takes the first's
    answer, and every request's digest is recorded once."""
    import halfrate
    from halfrate.store.request_hashes import request_hashes

    monkeypatch.setattr(time, "time", lambda: 1_800_000_000.0)  # the clock stands still

    def spec(key: str, text: str) -> RequestSpec:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
        return RequestSpec(key=key, endpoint=CHAT, body={**body, "max_tokens": 20})

    with halfrate.connect(database_url) as hr:
        first = hr.submit([spec("a", "Summarise ticket 1")], job="same")
        second = hr.submit([spec("b", "Summarise ticket 1"), spec("c", "Other")], job="same")
        assert (first.created, second.created, second.shared) == (1, 2, 1)
        with hr.store.read() as conn:
            times = dict(conn.execute(sa.select(requests.c.key, requests.c.created_at)).all())
            digests = conn.execute(sa.select(sa.func.count()).select_from(request_hashes))
            assert digests.scalar_one() == 3
        assert times["a"] == 1_800_000_000.0
        assert times["b"] == times["c"] > times["a"]
