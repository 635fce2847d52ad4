"""Provider prompt caching stacked with batch (docs/prompt-caching.md), through the sandbox
and the real SDKs: requests sharing a long prefix go into one batch, the first of each group
first; Anthropic bodies carry one added cache_control marker (1h in batches), OpenAI lines one
prompt_cache_key per group; every later request of a group reads the cache; dedup still sends
each unique request once; and the report's prompt-cache saving equals a hand computation from
the published prices."""

from __future__ import annotations

import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest
import sqlalchemy as sa

from halfrate.api import Halfrate, connect
from halfrate.cli.views.receipt import receipt
from halfrate.dispatch import RunMode, steps
from halfrate.ledger.report import ReportMaker
from halfrate.models import Lane
from halfrate.money import money
from halfrate.providers.anthropic import AnthropicBatchProvider
from halfrate.providers.base import Limits, LineError, RemoteBatch
from halfrate.records import Group
from halfrate.routing.explain import explain_route
from halfrate.routing.policy_file import parse_policy
from halfrate.sandbox import SandboxServer
from halfrate.store.ledger_reads import Scope
from halfrate.store.tables import attempts, requests
from halfrate.tokens import count_text
from tests.helpers import claim, write_jsonl

SENTENCE = (
    "The lighthouse keeper logs the weather, the tides and every passing ship, hour by hour. "
)
# Two shared system prompts of about 3,000 tokens each (tiktoken for gpt-5-mini; four characters
# a token for Claude): two prefix groups.
SYSTEMS = (SENTENCE * 167, SENTENCE.replace("lighthouse", "harbour") * 167)
UNIQUE, DUPLICATES = 1_400, 600  # 2,000 requests, 30% of them copies of earlier ones
GPT, CLAUDE = "gpt-5-mini", "claude-haiku-4-5"

# Published batch prices in dollars per million tokens (docs/pricing.md): gpt-5-mini batch
# input 0.125, cached input 0.0125; claude-haiku-4-5 batch input 0.50, cache read 0.1x = 0.05,
# one-hour cache write 2x = 1.00.
GPT_BATCH_INPUT, GPT_BATCH_CACHED = Decimal("0.125"), Decimal("0.0125")
CLAUDE_BATCH_INPUT, CLAUDE_BATCH_READ, CLAUDE_BATCH_WRITE_1H = (
    Decimal("0.50"),
    Decimal("0.05"),
    Decimal("1.00"),
)


class Bodies:
    """What halfrate sent to the providers, read off the wire (an httpx event hook)."""

    def __init__(self) -> None:
        self.openai_lines: list[dict[str, Any]] = []
        self.anthropic_requests: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []

    def hook(self, request: httpx2.Request) -> None:
        if request.method != "POST":
            return
        data = request.read()
        path = request.url.path
        if path.endswith("/files"):
            for raw in data.split(b"\n"):
                if raw.startswith(b'{"custom_id"'):
                    self.openai_lines.append(json.loads(raw))
        elif path.endswith("/messages/batches"):
            self.anthropic_requests.extend(json.loads(data)["requests"])
        elif path.endswith(("/messages", "/chat/completions", "/responses")):
            self.calls.append(json.loads(data))


@contextlib.contextmanager
def wired(url: str, server: SandboxServer, policy: Any = None) -> Iterator[tuple[Halfrate, Bodies]]:
    bodies = Bodies()
    hooks = {"request": [bodies.hook]}
    openai_sdk = openai.OpenAI(
        api_key="sandbox-test",
        base_url=server.base_url,
        max_retries=0,
        http_client=httpx2.Client(event_hooks=hooks),
    )
    anthropic_sdk = anthropic.Anthropic(
        api_key="sandbox-test",
        base_url=server.root_url,
        max_retries=0,
        http_client=httpx2.Client(event_hooks=hooks),
    )
    hr = connect(
        database_url=url,
        poll_initial_seconds=0.02,
        poll_max_seconds=0.2,
        worker_idle_seconds=0.05,
        retry_backoff_seconds=0.0,
        openai_client=openai_sdk,
        anthropic_client=anthropic_sdk,
        policy=policy,
    )
    try:
        yield hr, bodies
    finally:
        hr.close()
        openai_sdk.close()
        anthropic_sdk.close()


def question(i: int) -> str:
    return f"Ticket {i}: the lamp at pier {i % 97} flickers after {i % 13} hours. Which team?"


def workload(provider: str, tmp_path: Path) -> Path:
    """UNIQUE requests over the two system prompts, then DUPLICATES copies of earlier ones."""
    lines = []
    for i in range(UNIQUE + DUPLICATES):
        n = i if i < UNIQUE else (i - UNIQUE) * 2  # a copy of an earlier request
        system = SYSTEMS[n % 2]
        if provider == "openai":
            body = {
                "model": GPT,
                "max_completion_tokens": 20,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": question(n)},
                ],
            }
            lines.append(
                {
                    "custom_id": f"r{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": body,
                }
            )
        else:
            params = {
                "model": CLAUDE,
                "max_tokens": 20,
                "system": system,
                "messages": [{"role": "user", "content": question(n)}],
            }
            lines.append({"custom_id": f"r{i}", "params": params})
    return write_jsonl(tmp_path / f"{provider}.jsonl", lines)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_two_thousand_requests_sharing_two_long_system_prompts(
    provider: str, sqlite_url: str, tmp_path: Path
) -> None:
    with SandboxServer(latency=0.0) as server, wired(sqlite_url, server) as (hr, bodies):
        outcome = hr.submit_file(workload(provider, tmp_path), job="prefixes")
        assert (outcome.created, outcome.shared) == (UNIQUE + DUPLICATES, DUPLICATES)
        summary = hr.run_worker(RunMode.UNTIL_IDLE)
        assert summary.exit_reason.value == "idle"
        assert hr.status("prefixes").counts == {"succeeded": UNIQUE + DUPLICATES}

        # Paid once: the provider billed each unique request once, and nothing else.
        entries = [e for e in server.app.state.sandbox.ledger.entries() if e["kind"] == "batch"]
        charged = Counter(e["custom_id"] for e in entries if e["charged"])
        assert len(charged) == UNIQUE
        assert set(charged.values()) == {1}
        with hr.store.read() as conn:
            paid = conn.execute(
                sa.select(sa.func.count()).select_from(attempts).where(attempts.c.lane == "batch")
            ).scalar_one()
            prefix_of = dict(conn.execute(sa.select(requests.c.id, requests.c.prefix_key)).all())
        assert paid == UNIQUE

        # Two groups; each line in the batch's order sits with its group.
        sent = bodies.openai_lines if provider == "openai" else bodies.anthropic_requests
        assert len(sent) == UNIQUE
        groups = [prefix_of[int(line["custom_id"].removeprefix("hr-"))] for line in sent]
        assert None not in groups
        assert len(set(groups)) == 2
        assert groups == sorted(groups)  # contiguous: prefix order

        if provider == "anthropic":
            for line in sent:
                params = line["params"]
                # Exactly one marker, added by halfrate on the shared system prompt, one hour.
                assert json.dumps(params).count("cache_control") == 1
                assert params["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
                assert isinstance(params["messages"][0]["content"], str)  # the rest as sent
        else:
            keys_by_group: dict[str, set[str]] = defaultdict(set)
            for line, group in zip(sent, groups, strict=True):
                keys_by_group[group].add(line["body"]["prompt_cache_key"])
            assert all(len(keys) == 1 for keys in keys_by_group.values())
            assert len(set().union(*keys_by_group.values())) == 2

        # In the order the provider ran them (its own, not the file's), the first request of
        # each group writes the cache and every later one reads it.
        by_id = {e["custom_id"]: e for e in entries if e["charged"]}
        group_of = dict(zip((line["custom_id"] for line in sent), groups, strict=True))
        seen: set[str] = set()
        for entry in entries:
            group = group_of[entry["custom_id"]]
            if group not in seen:
                seen.add(group)
                assert entry["cache_read_tokens"] == 0
                if provider == "anthropic":
                    assert entry["cache_write_tokens"] > 2_900
            else:
                assert entry["cache_read_tokens"] > 2_900, entry
                assert entry["cache_write_tokens"] == 0
        assert len(seen) == 2

        # The report's prompt-cache saving, to the cent, against the published prices.
        reads = sum(e["cache_read_tokens"] for e in by_id.values())
        writes = sum(e["cache_write_tokens"] for e in by_id.values())
        million = Decimal(1_000_000)
        if provider == "openai":
            expected = reads * (GPT_BATCH_INPUT - GPT_BATCH_CACHED) / million
            prompt = sum(e["input_tokens"] for e in by_id.values())
        else:
            expected = (
                reads * (CLAUDE_BATCH_INPUT - CLAUDE_BATCH_READ)
                + writes * (CLAUDE_BATCH_INPUT - CLAUDE_BATCH_WRITE_1H)
            ) / million
            prompt = sum(
                e["input_tokens"] + e["cache_read_tokens"] + e["cache_write_tokens"]
                for e in by_id.values()
            )
        report = ReportMaker(hr.store).report("feature", Scope(), 0.0)
        assert round(report.total.prompt_cache_saved, 2) == round(expected, 2)
        assert expected > Decimal("0.10")  # a real saving, not a rounding
        assert report.total.prompt_cache_hit_rate == pytest.approx(reads / prompt)
        # The receipt printed after a run says it too.
        printed = receipt(hr.report("lane", since=0.0))
        assert f"provider prompt caching saved {money(report.total.prompt_cache_saved)}" in printed
        # Reads cover every later request of both groups.
        assert reads > (UNIQUE - 2) * 2_900


def test_bodies_with_their_own_markers_short_prefixes_and_the_switch_go_unchanged(
    sqlite_url: str, tmp_path: Path
) -> None:
    marked = {"type": "text", "text": SYSTEMS[0], "cache_control": {"type": "ephemeral"}}
    short = "You sort tickets. " * 20  # far below 1,024 tokens
    lines = []
    for i in range(4):
        own = {
            "model": CLAUDE,
            "max_tokens": 20,
            "system": [marked],
            "messages": [{"role": "user", "content": question(i)}],
        }
        lines.append({"custom_id": f"own{i}", "params": own})
        small = {
            "model": CLAUDE,
            "max_tokens": 20,
            "system": short,
            "messages": [{"role": "user", "content": question(i)}],
        }
        lines.append({"custom_id": f"short{i}", "params": small})
    with SandboxServer(latency=0.0) as server, wired(sqlite_url, server) as (hr, bodies):
        hr.submit_file(write_jsonl(tmp_path / "a.jsonl", lines), job="a")
        hr.run_worker(RunMode.UNTIL_IDLE)
        sent = {line["custom_id"]: line["params"] for line in bodies.anthropic_requests}
        with hr.store.read() as conn:
            keys = dict(conn.execute(sa.select(requests.c.id, requests.c.key)).all())
        by_key = {keys[int(cid.removeprefix("hr-"))]: params for cid, params in sent.items()}
        for line in lines:
            assert by_key[line["custom_id"]] == line["params"]  # exactly as the caller wrote it

    # The policy's per-rule switch: bodies unchanged, even with a long shared prefix.
    policy = parse_policy(
        '[[rule]]\nname = "all"\nlane = "batch"\nprompt_cache = false\n', "test policy"
    )
    plain = [
        {
            "custom_id": f"p{i}",
            "params": {
                "model": CLAUDE,
                "max_tokens": 20,
                "system": SYSTEMS[0],
                "messages": [{"role": "user", "content": question(i)}],
            },
        }
        for i in range(4)
    ]
    with (
        SandboxServer(latency=0.0) as server,
        wired(sqlite_url.replace(".db", "2.db"), server, policy) as (hr, bodies),
    ):
        hr.submit_file(write_jsonl(tmp_path / "b.jsonl", plain), job="b")
        hr.run_worker(RunMode.UNTIL_IDLE)
        assert sorted(
            json.dumps(r["params"], sort_keys=True) for r in bodies.anthropic_requests
        ) == sorted(json.dumps(line["params"], sort_keys=True) for line in plain)
    explained = explain_route(
        policy,
        datetime.now().astimezone(),
        feature=None,
        team=None,
        tags={},
        deadline=None,
        waiting=False,
        model=CLAUDE,
    )
    assert "unchanged (prompt_cache = false)" in explained.prompt_cache


def claude_request(key: str, system: str, i: int) -> dict[str, Any]:
    params = {
        "model": CLAUDE,
        "max_tokens": 20,
        "system": system,
        "messages": [{"role": "user", "content": question(i)}],
    }
    return {"custom_id": key, "params": params}


def test_realtime_calls_mark_for_five_minutes_unless_the_rule_says_an_hour(
    sqlite_url: str, tmp_path: Path
) -> None:
    lines = [claude_request(f"now{i}", SYSTEMS[0], i) for i in range(3)]
    path = write_jsonl(tmp_path / "now.jsonl", lines)
    for ttl, policy in (
        ("5m", None),
        (
            "1h",
            parse_policy(
                '[[rule]]\nname = "now"\nlane = "realtime"\nprompt_cache_ttl = "1h"\n', "p"
            ),
        ),
    ):
        url = sqlite_url.replace(".db", f"-{ttl}.db")
        with SandboxServer(latency=0.0) as server, wired(url, server, policy) as (hr, bodies):
            hr.submit_file(path, job="now", waiting=True)
            hr.run_worker(RunMode.UNTIL_IDLE)
            assert hr.status("now").counts == {"succeeded": 3}
            assert len(bodies.calls) == 3
            for body in bodies.calls:
                assert body["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": ttl}
                assert json.dumps(body).count("cache_control") == 1
            calls = [e for e in server.app.state.sandbox.ledger.entries() if e["kind"] == "sync"]
            # Calls run side by side: at least one writes; whatever ran after a write reads.
            assert sum(1 for e in calls if e["cache_write_tokens"]) >= 1
            assert sum(e["cache_read_tokens"] + e["cache_write_tokens"] > 2_900 for e in calls) == 3


def test_a_later_submission_joins_the_group_still_queued(sqlite_url: str, tmp_path: Path) -> None:
    first = [claude_request(f"a{i}", SYSTEMS[0], i) for i in range(3)]
    later = [claude_request(f"b{i}", SYSTEMS[0], 100 + i) for i in range(2)]
    with SandboxServer(latency=0.0) as server, wired(sqlite_url, server) as (hr, bodies):
        hr.submit_file(write_jsonl(tmp_path / "a.jsonl", first), job="a")
        hr.submit_file(write_jsonl(tmp_path / "b.jsonl", later), job="b")
        with hr.store.read() as conn:
            keys = dict(conn.execute(sa.select(requests.c.key, requests.c.prefix_key)).all())
        assert len(set(keys.values())) == 1
        assert None not in keys.values()
        hr.run_worker(RunMode.UNTIL_IDLE)
        assert len(bodies.anthropic_requests) == 5  # one batch, one group
        entries = [e for e in server.app.state.sandbox.ledger.entries() if e["kind"] == "batch"]
        assert sorted(e["cache_read_tokens"] > 0 for e in entries) == [
            False,
            True,
            True,
            True,
            True,
        ]


def test_the_estimate_expects_each_group_to_write_once_and_read_after(
    sqlite_url: str, tmp_path: Path
) -> None:
    hr = connect(database_url=sqlite_url)
    try:
        made = hr.estimate_file(workload("anthropic", tmp_path))
    finally:
        hr.close()
    (m,) = made.models
    # Claude's labelled approximation: four characters a token, and 3 framing tokens a part.
    prefixes = [count_text(CLAUDE, system).tokens + 3 for system in SYSTEMS]
    # The copies are all of even-numbered requests: the first group has them all.
    members = (UNIQUE // 2 + DUPLICATES, UNIQUE // 2)
    assert m.cache_write_tokens == sum(prefixes)
    assert m.cache_read_tokens == sum(t * (n - 1) for t, n in zip(prefixes, members, strict=True))
    # Batch with the cache, by hand: uncached input at 0.50, reads at 0.05, one-hour writes at
    # 1.00 and the output ceiling at 2.50 dollars per million tokens.
    uncached = m.input_tokens - m.cache_write_tokens - m.cache_read_tokens
    by_hand = (
        uncached * CLAUDE_BATCH_INPUT
        + m.cache_read_tokens * CLAUDE_BATCH_READ
        + m.cache_write_tokens * CLAUDE_BATCH_WRITE_1H
        + m.output_tokens * Decimal("2.50")
    ) / Decimal(1_000_000)
    assert made.total_cached(Lane.BATCH) == by_hand.quantize(Decimal("0.000000001"))
    assert made.total_cached(Lane.BATCH) < made.total(Lane.BATCH) / 4


def test_validation_errors_name_lines_in_the_prefix_order_they_were_written(
    sqlite_url: str, tmp_path: Path
) -> None:
    # Requests 1 and 3 share the long system prompt, 2 and 4 do not: the file holds 2, 4, 1, 3.
    lines = [
        claude_request("k1", SYSTEMS[0], 1),
        claude_request("k2", "Be brief.", 2),
        claude_request("k3", SYSTEMS[0], 3),
        claude_request("k4", "Be brief.", 4),
    ]
    hr = connect(database_url=sqlite_url, poll_initial_seconds=0.02)
    try:
        hr.submit_file(write_jsonl(tmp_path / "v.jsonl", lines), job="v")
        batch = claim(hr.store, 10, Group("anthropic", "/v1/messages", CLAUDE))
        with hr.store.read() as conn:
            key_of = dict(conn.execute(sa.select(requests.c.id, requests.c.key)).all())
        written = [key_of[line.request_id] for line in hr.store.batch_input.iter_lines(batch.id)]
        assert written == ["k2", "k4", "k1", "k3"]
        assert [key_of[i] for i in hr.store.ingest.unreported(batch.id)] == written
        hr.store.queue.mark_submitted(
            batch.id, provider_batch_id="msgbatch_v", provider_status="in_progress", next_poll_at=0
        )
        remote = RemoteBatch(
            id="msgbatch_v",
            status="failed",
            terminal=True,
            errors=[LineError("invalid_request_error", "messages: bad block", 3)],
            failed_validation=True,
        )
        ctx = steps.StepContext(hr.store, hr.settings, tmp_path / "spool")
        provider = AnthropicBatchProvider(
            anthropic.Anthropic(api_key="unused", base_url="http://127.0.0.1:9"), Limits(10, 10**9)
        )
        steps.ingest(ctx, provider, hr.store.queue.get(batch.id), remote)
        with hr.store.read() as conn:
            states = dict(conn.execute(sa.select(requests.c.key, requests.c.state)).all())
        assert states == {"k1": "failed", "k2": "queued", "k3": "queued", "k4": "queued"}
    finally:
        hr.close()


def test_an_openai_model_that_bills_cache_writes_is_priced_with_them(
    sqlite_url: str, tmp_path: Path
) -> None:
    lines = [
        {
            "custom_id": f"w{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-6-cyber",
                "max_completion_tokens": 20,
                "messages": [
                    {"role": "system", "content": SYSTEMS[0]},
                    {"role": "user", "content": question(i)},
                ],
            },
        }
        for i in range(3)
    ]
    with SandboxServer(latency=0.0) as server, wired(sqlite_url, server) as (hr, bodies):
        hr.submit_file(write_jsonl(tmp_path / "w.jsonl", lines), job="w")
        hr.run_worker(RunMode.UNTIL_IDLE)
        assert len({line["body"]["prompt_cache_key"] for line in bodies.openai_lines}) == 1
        entries = [e for e in server.app.state.sandbox.ledger.entries() if e["kind"] == "batch"]
        writes = sum(e["cache_write_tokens"] for e in entries)
        reads = sum(e["cache_read_tokens"] for e in entries)
        assert sorted(e["cache_write_tokens"] > 0 for e in entries) == [False, False, True]
        assert reads == 2 * writes
        with hr.store.read() as conn:
            stored = conn.execute(
                sa.select(sa.func.sum(attempts.c.cache_write_tokens))
            ).scalar_one()
        assert stored == writes
        # gpt-6-cyber has no published batch price: half of its standard rates (input 20,
        # cache write 25, cache read 2 dollars per million tokens): 10, 12.5 and 1.
        by_hand = (
            reads * (Decimal(10) - Decimal(1)) + writes * (Decimal(10) - Decimal("12.5"))
        ) / Decimal(1_000_000)
        report = ReportMaker(hr.store).report("feature", Scope(), 0.0)
        assert report.total.prompt_cache_saved == by_hand.quantize(Decimal("0.000000001"))


def test_an_anthropic_pair_is_not_marked_in_a_batch_where_the_write_would_cost_more(
    sqlite_url: str, tmp_path: Path
) -> None:
    # Two requests: a one-hour write (2x) and one read (0.1x) cost more than two plain prompts.
    pair = [claude_request(f"p{i}", SYSTEMS[0], i) for i in range(2)]
    with SandboxServer(latency=0.0) as server, wired(sqlite_url, server) as (hr, bodies):
        hr.submit_file(write_jsonl(tmp_path / "pair.jsonl", pair), job="pair")
        hr.run_worker(RunMode.UNTIL_IDLE)
        sent = sorted(json.dumps(r["params"], sort_keys=True) for r in bodies.anthropic_requests)
        assert sent == sorted(json.dumps(line["params"], sort_keys=True) for line in pair)
    hr = connect(database_url=sqlite_url.replace(".db", "-estimate.db"))
    try:
        made = hr.estimate_file(write_jsonl(tmp_path / "pair.jsonl", pair))
    finally:
        hr.close()
    # The estimate agrees: nothing cached in a batch; in realtime (5 minutes) the pair pays.
    assert made.total_cached(Lane.BATCH) == made.total(Lane.BATCH)
    assert made.total_cached(Lane.REALTIME) < made.total(Lane.REALTIME)


def test_submitting_to_a_job_again_never_retags_a_request_already_in_a_batch(
    sqlite_url: str, tmp_path: Path
) -> None:
    first = [claude_request("k1", SYSTEMS[0], 1), claude_request("y", "Be brief.", 2)]
    hr = connect(database_url=sqlite_url)
    try:
        hr.submit_file(write_jsonl(tmp_path / "a.jsonl", first), job="j")
        batch = claim(hr.store, 10, Group("anthropic", "/v1/messages", CLAUDE))
        before = list(hr.store.ingest.unreported(batch.id))
        # The same k1 again, and a new k2 sharing its system prompt: k2 finds k1 in this
        # submission, but k1 is the earlier one, already in a batch: it keeps its line.
        again = [first[0], claude_request("k2", SYSTEMS[0], 3)]
        outcome = hr.submit_file(write_jsonl(tmp_path / "b.jsonl", again), job="j")
        assert (outcome.created, outcome.existing) == (1, 1)
        with hr.store.read() as conn:
            tags = dict(conn.execute(sa.select(requests.c.key, requests.c.prefix_key)).all())
        assert tags["k1"] is None
        assert hr.store.ingest.unreported(batch.id) == before
    finally:
        hr.close()
