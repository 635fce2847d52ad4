"""The realtime and flex lanes with both official SDKs against a loopback sandbox: streamed
calls timed (TTFT, TIBT), the same answer as an unstreamed call, retries on 429 honouring
Retry-After, the flex fallback, and Halfrate.call() answering now."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import orjson
import pytest
import sqlalchemy as sa

from halfrate import RequestSpec, RunMode
from halfrate.api import Halfrate
from halfrate.errors import CallFailed
from halfrate.routing.policy_file import parse_policy
from halfrate.sandbox import SandboxServer
from halfrate.store.tables import attempts, requests, results
from tests.helpers import CHAT, MESSAGES_ENDPOINT, claude_params, lanes

QUESTION: Any = [{"role": "user", "content": "Why do lighthouses rotate their lights?"}]


def tries(hr: Halfrate) -> list[dict[str, Any]]:
    """Every attempt with its request's key and lane, in the order they were made."""
    with hr.store.read() as conn:
        rows = conn.execute(
            sa.select(
                requests.c.key,
                requests.c.lane.label("request_lane"),
                requests.c.moved_by,
                attempts.c.lane,
                attempts.c.outcome,
                attempts.c.status_code,
                attempts.c.error_code,
                attempts.c.ttft,
                attempts.c.tibt,
                attempts.c.duration,
                attempts.c.input_tokens,
                attempts.c.output_tokens,
            )
            .join(requests, requests.c.id == attempts.c.request_id)
            .order_by(attempts.c.id)
        )
        return [dict(row._mapping) for row in rows]


def stored_answers(hr: Halfrate) -> dict[str, dict[str, Any]]:
    with hr.store.read() as conn:
        rows = conn.execute(
            sa.select(requests.c.key, results.c.response).join(
                results, results.c.request_id == requests.c.id
            )
        )
        return {key: orjson.loads(response) for key, response in rows}


def charged(server: SandboxServer) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = server.app.state.sandbox.ledger.entries()
    return [e for e in entries if e["charged"]]


def test_realtime_calls_on_both_providers_are_streamed_timed_and_equal_to_unstreamed(
    database_url: str,
) -> None:
    specs = [
        RequestSpec("chat", CHAT, {"model": "gpt-4o-mini", "messages": QUESTION}),
        RequestSpec("resp", "/v1/responses", {"model": "gpt-4o-mini", "input": "Lighthouses?"}),
        RequestSpec("emb", "/v1/embeddings", {"model": "text-embedding-3-small", "input": "x"}),
        RequestSpec(
            "claude", MESSAGES_ENDPOINT, claude_params("Why rotate?"), provider="anthropic"
        ),
    ]
    with (
        SandboxServer(token_interval=0.004) as server,
        lanes(database_url, server) as hr,
    ):
        hr.submit(specs, job="now", waiting=True)
        summary = hr.run_worker()
        assert (summary.calls.succeeded, summary.batches_submitted) == (4, 0)
        made = {t["key"]: t for t in tries(hr)}
        assert {t["lane"] for t in made.values()} == {"realtime"}
        for key in ("chat", "resp", "claude"):  # streamed: pieces arrive 4 ms apart
            assert made[key]["ttft"] > 0
            assert made[key]["tibt"] >= 0.003
            assert made[key]["duration"] >= made[key]["ttft"]
        assert made["emb"]["tibt"] is None  # embeddings answer whole
        answers = stored_answers(hr)
        # What halfrate stores is what an unstreamed call through the SDK returns.
        direct_openai = openai.OpenAI(api_key="x", base_url=server.base_url, max_retries=0)
        whole = direct_openai.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
        chat = answers["chat"]
        assert chat["choices"][0]["message"]["content"] == whole.choices[0].message.content
        assert whole.usage is not None
        assert chat["usage"]["prompt_tokens"] == whole.usage.prompt_tokens
        assert chat["id"] == whole.id
        whole_resp = direct_openai.responses.create(model="gpt-4o-mini", input="Lighthouses?")
        same = whole_resp.to_dict()
        assert {**answers["resp"], "created_at": None} == {**same, "created_at": None}
        direct_openai.close()
        direct_claude = anthropic.Anthropic(api_key="x", base_url=server.root_url)
        message = direct_claude.messages.create(**claude_params("Why rotate?"))
        assert answers["claude"] == message.to_dict()
        direct_claude.close()
        assert made["claude"]["input_tokens"] == message.usage.input_tokens
        assert len(charged(server)) == 4 + 3  # each of ours once, plus the three direct calls


def test_call_answers_now_once_per_key_and_records_it(database_url: str) -> None:
    with SandboxServer(realtime_latency=0.01) as server, lanes(database_url, server) as hr:
        answer = hr.call({"model": "gpt-4o-mini", "messages": QUESTION}, key="q1")
        assert answer.lane == "realtime"
        assert answer.text.startswith("[halfrate sandbox]")
        assert answer.ttft is not None
        assert answer.ttft >= 0.01
        assert 'rule 1 "A person is waiting for the answer"' in answer.route
        again = hr.call({"model": "gpt-4o-mini", "messages": QUESTION}, key="q1")
        assert again.cached
        assert again.response == answer.response
        claude = hr.call(claude_params("Hello Claude"), feature="support")
        assert claude.response["type"] == "message"
        assert claude.usage is not None
        assert len(charged(server)) == 2  # the repeated key was not called again
        assert hr.status("calls").counts == {"succeeded": 2}
        with pytest.raises(CallFailed) as refused:
            hr.call({"model": "gpt-4o-mini", "messages": QUESTION, "n": 500}, key="bad")
        assert refused.value.status_code == 400
        assert "'n'" in str(refused.value)
        assert hr.status("calls").counts == {"succeeded": 2, "failed": 1}
        with pytest.raises(CallFailed, match="'n'"):  # the same key keeps its outcome
            hr.call({"model": "gpt-4o-mini", "messages": QUESTION, "n": 500}, key="bad")
        assert len(charged(server)) == 2


def test_429s_are_retried_after_the_wait_the_provider_asks(database_url: str) -> None:
    n = 30
    specs = [
        RequestSpec(f"k{i}", CHAT, {"model": "gpt-4o-mini", "messages": QUESTION, "seed": i})
        for i in range(n)
    ]
    with (
        SandboxServer(faults="sync_429=0.5,retry_after=0.05,seed=3") as server,
        lanes(database_url, server, realtime_max_retries=10) as hr,
    ):
        hr.submit(specs, job="busy", waiting=True)
        summary = hr.run_worker()
        assert summary.calls.succeeded == n
        made = tries(hr)
        limited = [t for t in made if t["status_code"] == 429]
        assert limited, "the fault rate should have refused some tries"
        assert all(t["outcome"] == "retry" for t in limited)
        succeeded = [t["key"] for t in made if t["outcome"] == "succeeded"]
        assert sorted(succeeded) == sorted(s.key for s in specs)  # each exactly once
        assert len(charged(server)) == n  # and paid once; refused tries cost nothing
        # The sandbox saw exactly the tries halfrate recorded: none hidden, none lost.
        assert len(server.app.state.sandbox.ledger.entries()) == len(made)


def test_a_wait_longer_than_the_cap_goes_back_to_the_queue(database_url: str) -> None:
    spec = RequestSpec("slow", CHAT, {"model": "gpt-4o-mini", "messages": QUESTION})
    with (
        SandboxServer(faults="sync_429=1,retry_after=30") as server,
        lanes(database_url, server, realtime_max_wait_seconds=0.5) as hr,
    ):
        hr.submit([spec], job="capped", waiting=True)
        summary = hr.run_worker(RunMode.ONCE)
        assert summary.calls.retried == 1
        with hr.store.read() as conn:
            state, not_before, updated = conn.execute(
                sa.select(requests.c.state, requests.c.not_before, requests.c.updated_at)
            ).one()
        assert state == "queued"
        assert not_before >= updated + 29  # the provider's 30 s, not a thread's sleep
        assert len(tries(hr)) == 1


def test_persistent_failures_end_failed_with_the_providers_reason(database_url: str) -> None:
    spec = RequestSpec("down", CHAT, {"model": "gpt-4o-mini", "messages": QUESTION})
    with (
        SandboxServer(faults="sync_500=1") as server,
        lanes(database_url, server, realtime_max_retries=1, max_attempts=2) as hr,
    ):
        hr.submit([spec], job="down", waiting=True)
        summary = hr.run_worker()
        assert summary.calls.failed == 1
        assert len(tries(hr)) == 4  # two calls of two tries each
        (result,) = list(hr.results("down"))
        assert result.status == "failed"
        assert result.error is not None
        assert "gave up after 2 attempts" in str(result.error["message"])
        assert charged(server) == []


FLEX_POLICY = """
[[rule]]
name = "Reports on flex, back to realtime"
when = { feature = "reports" }
lane = "flex"

[[rule]]
name = "Digests on flex, back to batch"
when = { feature = "digests" }
lane = "flex"
fallback = "batch"

[[rule]]
lane = "realtime"
"""


def flex_specs(n: int, prefix: str) -> list[RequestSpec]:
    body = {"model": "gpt-5-mini", "messages": QUESTION}
    return [RequestSpec(f"{prefix}{i}", CHAT, {**body, "seed": i}) for i in range(n)]


def test_flex_calls_carry_the_flex_tier(database_url: str) -> None:
    policy = parse_policy(FLEX_POLICY, "flex.toml")
    with SandboxServer() as server, lanes(database_url, server, policy=policy) as hr:
        hr.submit(flex_specs(3, "f"), job="flex", feature="reports")
        hr.run_worker()
        assert {t["lane"] for t in tries(hr)} == {"flex"}
        assert {a["service_tier"] for a in stored_answers(hr).values()} == {"flex"}
        assert {e["service_tier"] for e in charged(server)} == {"flex"}


@pytest.mark.parametrize(("feature", "final_lane"), [("reports", "realtime"), ("digests", "batch")])
def test_no_flex_capacity_falls_back_as_the_policy_says(
    database_url: str, feature: str, final_lane: str
) -> None:
    policy = parse_policy(FLEX_POLICY, "flex.toml")
    with (
        SandboxServer(faults="flex_unavailable=1") as server,
        lanes(database_url, server, policy=policy) as hr,
    ):
        hr.submit(flex_specs(4, "d"), job="fallback", feature=feature)
        hr.run_worker()
        made = tries(hr)
        flex = [t for t in made if t["lane"] == "flex"]
        assert len(flex) == 4
        assert {(t["status_code"], t["error_code"]) for t in flex} == {
            (429, "resource_unavailable")
        }
        done = [t for t in made if t["outcome"] == "succeeded"]
        assert sorted(t["key"] for t in done) == [f"d{i}" for i in range(4)]
        assert {t["lane"] for t in done} == {final_lane}
        assert {t["moved_by"] for t in done} == {"flex_unavailable"}
        assert {t["request_lane"] for t in done} == {final_lane}
        assert len(charged(server)) == 4  # the refused flex tries cost nothing
