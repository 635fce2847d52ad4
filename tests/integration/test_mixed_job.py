"""One job of 500 requests split across lanes by a policy: each request ends in the lane, with
the model and under the rule, that the policy chose, and `halfrate policy explain` agrees."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from halfrate import RequestSpec
from halfrate.routing.policy_file import load_policy
from halfrate.sandbox import SandboxServer
from halfrate.store.tables import attempts, requests, routes
from tests.helpers import CHAT, MESSAGES_ENDPOINT, claude_params, lanes
from tests.integration.test_cli import run

POLICY = """
[settings]
batch_window = "24h"
safety_margin = "1h"

[[rule]]
name = "A person is waiting"
when = { waiting = true }
lane = "realtime"

[[rule]]
name = "Reports on flex, else batch"
when = { feature = "reports" }
lane = "flex"
fallback = "batch"

[[rule]]
name = "Ticket triage on the small model"
when = { feature = "ticket-triage", deadline = "at least window" }
lane = "batch"
model = { "gpt-4o" = "gpt-4o-mini" }

[[rule]]
name = "Summaries in batch"
when = { feature = "summaries" }
lane = "batch"

[[rule]]
name = "Due within six hours"
when = { deadline = "under 6h" }
lane = "realtime"

[[rule]]
name = "Can wait for a batch"
when = { deadline = "at least window" }
lane = "batch"

[[rule]]
name = "Everything else"
lane = "realtime"
"""


@dataclass(frozen=True)
class Kind:
    count: int
    model: str
    feature: str | None = None
    deadline: str | None = None
    waiting: bool = False
    tags: tuple[tuple[str, str], ...] = ()


KINDS = (
    Kind(100, "gpt-4o-mini", feature="search", waiting=True),
    Kind(80, "gpt-5-mini", feature="reports"),
    Kind(20, "gpt-4o", feature="reports"),  # no flex for gpt-4o: its fallback, batch
    Kind(100, "gpt-4o", feature="ticket-triage", deadline="2d"),
    Kind(100, "claude-haiku-4-5", feature="summaries", deadline="2d"),
    Kind(50, "gpt-4o-mini", feature="alerts", deadline="3h"),
    Kind(50, "gpt-4o-mini", feature="nightly", tags=(("env", "nightly"),)),
)


def spec(kind: Kind, i: int) -> RequestSpec:
    key = f"{kind.feature}-{kind.model}-{i}"
    common: dict[str, Any] = {
        "feature": kind.feature,
        "deadline": kind.deadline,
        "waiting": kind.waiting,
        "tags": dict(kind.tags),
    }
    if kind.model.startswith("claude"):
        return RequestSpec(
            key, MESSAGES_ENDPOINT, claude_params(f"{key}?", kind.model), "anthropic", **common
        )
    body = {"model": kind.model, "messages": [{"role": "user", "content": f"{key}?"}]}
    return RequestSpec(key, CHAT, body, **common)


def explain(kind: Kind, policy: Path) -> dict[str, Any]:
    args = ["policy", "explain", "--model", kind.model, "--json"]
    if kind.feature:
        args += ["--feature", kind.feature]
    if kind.deadline:
        args += ["--deadline", kind.deadline]
    if kind.waiting:
        args.append("--waiting")
    for key, value in kind.tags:
        args += ["--tag", f"{key}={value}"]
    proc = run(*args, env={"HALFRATE_POLICY": str(policy)})
    assert proc.returncode == 0, proc.stderr
    decided: dict[str, Any] = json.loads(proc.stdout)
    return decided


def test_five_hundred_requests_end_in_the_lanes_the_policy_chose(
    database_url: str, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY, encoding="utf-8")
    specs = [spec(kind, i) for kind in KINDS for i in range(kind.count)]
    assert len(specs) == 500
    with (
        SandboxServer(latency=0.3, realtime_latency=0.005) as server,
        lanes(database_url, server, policy=load_policy(policy_file)) as hr,
    ):
        hr.submit(specs, job="mixed")
        summary = hr.run_worker()
        assert hr.status("mixed").counts == {"succeeded": 500}
        assert summary.calls.succeeded == 100 + 80 + 50
        with hr.store.read() as conn:
            rows = conn.execute(
                sa.select(
                    requests.c.key,
                    requests.c.model,
                    routes.c.lane,
                    routes.c.rule_number,
                    routes.c.fallback_lane,
                    attempts.c.lane.label("ran_in"),
                    attempts.c.outcome,
                )
                .join(routes, routes.c.id == requests.c.route_id)
                .join(attempts, attempts.c.request_id == requests.c.id)
            ).all()
    by_key = {row.key: row for row in rows if row.outcome == "succeeded"}
    assert len(by_key) == 500
    assert len(rows) == 500  # one attempt each: nothing retried, nothing run twice
    for kind in KINDS:
        decided = explain(kind, policy_file)
        for i in range(kind.count):
            row = by_key[spec(kind, i).key]
            assert row.ran_in == row.lane == decided["lane"], (kind, row)
            assert row.model == decided["model"], (kind, row)
            assert row.rule_number == decided["rule"]["number"], (kind, row)
            assert row.fallback_lane == decided["fallback"], (kind, row)
    lanes_used = {(kind.feature, by_key[spec(kind, 0).key].ran_in) for kind in KINDS}
    assert lanes_used == {
        ("search", "realtime"),
        ("reports", "flex"),
        ("reports", "batch"),
        ("ticket-triage", "batch"),
        ("summaries", "batch"),
        ("alerts", "realtime"),
        ("nightly", "batch"),
    }
    triage = by_key[spec(KINDS[3], 0).key]
    assert triage.model == "gpt-4o-mini"
