"""Each sandbox fault kind alone, through halfrate's own worker, with its expected outcome.

Every case runs a small job on one provider against a loopback sandbox that injects one kind of
fault, then checks the promises (every request final, one result each, each succeeded line
charged once, every charged line stored, no batch created twice) and what that kind must do:
retried lines succeed later, invalid lines fail with the provider's own message, duplicated lines
change nothing, finished lines of an expired batch are kept, and HTTP faults never lose a request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from halfrate.providers.base import custom_id_for
from halfrate.sandbox import SandboxServer
from tests.helpers import (
    chat_line,
    claude_line,
    fast_halfrate,
    recorded_batch_ids,
    request_states,
    sandbox_batch_ids,
    write_jsonl,
)

REQUESTS = 40
MARK = "(halfrate sandbox fault injection)"


@dataclass
class Figures:
    """What one run left behind, in the store and in the sandbox's billing ledger."""

    states: Counter[str]
    attempts: Counter[str]  # per request key: how many attempts it took
    codes: Counter[str]  # error codes of the attempts that did not succeed
    errors: dict[str, str]  # per failed request key: the stored error message
    local_batches: int  # batches that reached the provider, by our records
    created: int  # batches the sandbox created
    charged: Counter[str]  # per provider custom_id: lines charged


def read_figures(url: str, server: SandboxServer) -> Figures:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            states = request_states(conn)
            tries = conn.execute(
                sa.text(
                    "SELECT r.key, count(a.id) FROM requests r"
                    " LEFT JOIN attempts a ON a.request_id = r.id GROUP BY r.key"
                )
            )
            codes = conn.execute(
                sa.text("SELECT error_code FROM attempts WHERE outcome <> 'succeeded'")
            ).scalars()
            errors = conn.execute(
                sa.text(
                    "SELECT r.key, s.error FROM results s JOIN requests r ON r.id = s.request_id"
                    " WHERE s.status = 'failed'"
                )
            )
            results = conn.execute(sa.text("SELECT count(DISTINCT request_id) FROM results"))
            assert results.scalar_one() == sum(states.values()), "one result per request"
            succeeded = set(
                conn.execute(sa.text("SELECT id FROM requests WHERE state = 'succeeded'")).scalars()
            )
            recorded = recorded_batch_ids(conn)
            figures = Figures(
                states=states,
                attempts=Counter(dict(tries.all())),
                codes=Counter(str(code) for code in codes),
                errors={str(key): str(error) for key, error in errors.all()},
                local_batches=len(recorded),
                created=len(sandbox_batch_ids(server)),
                charged=Counter(),
            )
    finally:
        engine.dispose()
    ledger = server.app.state.sandbox.ledger.entries()
    figures.charged = Counter(
        e["custom_id"] for e in ledger if e["kind"] == "batch" and e["charged"]
    )
    # The promises, whatever the fault.
    assert set(states) <= {"succeeded", "failed"}, states
    assert sum(states.values()) == REQUESTS
    assert all(n == 1 for n in figures.charged.values()), figures.charged.most_common(3)
    assert set(figures.charged) == {custom_id_for(i) for i in succeeded}
    assert sandbox_batch_ids(server) == recorded, "every batch created once, and recorded"
    return figures


def all_succeeded_once(f: Figures) -> None:
    assert f.states == Counter(succeeded=REQUESTS)
    assert set(f.attempts.values()) == {1}, f.attempts.most_common(3)


def retried_then_succeeded(code: str | None) -> Callable[[Figures], None]:
    def check(f: Figures) -> None:
        assert f.states == Counter(succeeded=REQUESTS)
        assert max(f.attempts.values()) > 1, "some lines must have needed another batch"
        if code is not None:
            assert f.codes[code] > 0, f.codes

    return check


def invalid_lines_fail(message: str) -> Callable[[Figures], None]:
    def check(f: Figures) -> None:
        assert f.states["failed"] > 0, f.states
        assert f.states["succeeded"] > 0, f.states
        assert f.errors
        assert all(message in error for error in f.errors.values()), f.errors
        # A final answer is never sent again.
        assert all(f.attempts[key] == 1 for key in f.errors), f.attempts

    return check


def batch_invalid(f: Figures) -> None:
    invalid_lines_fail("This line was rejected")(f)
    # The lines the failure did not name went back to the queue without spending an attempt.
    assert all(f.attempts[key] == 1 for key in f.attempts if key not in f.errors)


@dataclass(frozen=True)
class Case:
    provider: str
    faults: str
    expect: Callable[[Figures], None]


CASES = {
    "openai-line_429": Case("openai", "line_429=0.3", retried_then_succeeded(None)),
    "openai-line_500": Case("openai", "line_500=0.3", retried_then_succeeded(None)),
    "openai-line_invalid": Case("openai", "line_invalid=0.2", invalid_lines_fail(MARK)),
    "openai-duplicate_lines": Case("openai", "duplicate_lines=0.5", all_succeeded_once),
    "openai-missing_lines": Case(
        "openai", "missing_lines=0.2", retried_then_succeeded("missing_output")
    ),
    "openai-batch_invalid": Case("openai", "batch_invalid=0.5", batch_invalid),
    "openai-expire_partway": Case(
        "openai", "expire_partway=0.6", retried_then_succeeded("batch_expired")
    ),
    "openai-slow_finalizing": Case(
        "openai", "slow_finalizing=1,finalizing_seconds=0.3", all_succeeded_once
    ),
    "openai-batch_404": Case("openai", "batch_404=1,not_found_tries=2", all_succeeded_once),
    "openai-http_429": Case("openai", "http_429=0.3,retry_after=0.05", all_succeeded_once),
    "openai-http_500": Case("openai", "http_500=0.3", all_succeeded_once),
    "openai-http_timeout": Case("openai", "http_timeout=0.2,timeout_seconds=2", all_succeeded_once),
    "openai-file_not_found": Case(
        "openai", "file_not_found=1,not_found_tries=2", all_succeeded_once
    ),
    "anthropic-line_429": Case("anthropic", "line_429=0.3", retried_then_succeeded(None)),
    "anthropic-line_500": Case("anthropic", "line_500=0.3", retried_then_succeeded(None)),
    "anthropic-line_invalid": Case("anthropic", "line_invalid=0.2", invalid_lines_fail(MARK)),
    "anthropic-duplicate_lines": Case("anthropic", "duplicate_lines=0.5", all_succeeded_once),
    "anthropic-missing_lines": Case(
        "anthropic", "missing_lines=0.2", retried_then_succeeded("missing_output")
    ),
    "anthropic-expire_partway": Case(
        "anthropic", "expire_partway=0.6", retried_then_succeeded("expired")
    ),
    "anthropic-slow_finalizing": Case(
        "anthropic", "slow_finalizing=1,finalizing_seconds=0.3", all_succeeded_once
    ),
    "anthropic-batch_404": Case("anthropic", "batch_404=1,not_found_tries=2", all_succeeded_once),
    "anthropic-http_429": Case("anthropic", "http_429=0.3,retry_after=0.05", all_succeeded_once),
    "anthropic-http_500": Case("anthropic", "http_500=0.3", all_succeeded_once),
    "anthropic-http_timeout": Case(
        "anthropic", "http_timeout=0.2,timeout_seconds=2", all_succeeded_once
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", list(CASES))
def test_each_fault_kind_alone_has_its_expected_outcome(
    name: str, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    with SandboxServer(latency=0.15, faults=f"{case.faults},seed=11") as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sandbox-faults")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.root_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sandbox-faults")
        if case.provider == "openai":
            lines = [chat_line(f"k{i:03d}", f"fault question {i}") for i in range(REQUESTS)]
        else:
            lines = [claude_line(f"k{i:03d}", f"fault question {i}") for i in range(REQUESTS)]
        hr = fast_halfrate(
            sqlite_url,
            openai_max_batch_lines=10,
            anthropic_max_batch_lines=10,
            max_attempts=20,
            provider_timeout_seconds=0.5,
            # A create the sandbox was still handling shows in its list within milliseconds:
            # 3 s rather than 10 to wait for it keeps these tests quick.
            create_settle_seconds=3.0,
            lease_seconds=5,
        )
        try:
            hr.submit_file(write_jsonl(tmp_path / "in.jsonl", lines), job=name)
            summary = hr.run_worker()
        finally:
            hr.close()
        figures = read_figures(sqlite_url, server)
    print(f"\n{name}: {summary}; {dict(figures.states)}; codes {dict(figures.codes)}")
    case.expect(figures)
