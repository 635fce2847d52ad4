"""`halfrate submit` with urgency: deadlines, waiting, tags, Anthropic files, and every bad
value refused with one line and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers import chat_line, write_jsonl
from tests.integration.test_cli import assert_one_line_error, request_count, run


def stored(home: Path, sql: str) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(f"sqlite:///{home / 'halfrate.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def claude_line(key: str, content: str, model: str = "claude-haiku-4-5") -> dict[str, Any]:
    params = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": content}]}
    return {"custom_id": key, "params": params}


def test_submit_routes_by_deadline_waiting_and_tags(tmp_path: Path, isolated_env: Path) -> None:
    def job_file(name: str) -> str:
        # Prompts of their own: identical requests would share the first job's answers.
        lines = [chat_line(f"k{i}", f"{name} q {i}") for i in range(4)]
        return str(write_jsonl(tmp_path / f"{name}.jsonl", lines))

    later = run(
        "submit", job_file("later"), "--job", "later", "--deadline", "2d", "--tag", "env=prod"
    )
    assert later.returncode == 0, later.stderr
    assert "4 requests stored (4 batch)" in later.stdout
    now = run("submit", job_file("now"), "--job", "now", "--waiting")
    assert "4 requests stored (4 realtime)" in now.stdout
    soon = run("submit", job_file("soon"), "--job", "soon", "--deadline", "3h")
    assert "(4 realtime)" in soon.stdout  # 3h is under the 24h window plus margin
    rows = stored(
        isolated_env,
        "SELECT j.name, r.lane, r.deadline IS NOT NULL, r.guard_at < r.deadline, r.tags, "
        "ro.rule_name FROM requests r JOIN jobs j ON j.id = r.job_id "
        "JOIN routes ro ON ro.id = r.route_id WHERE r.key = 'k0' ORDER BY j.name",
    )
    assert rows == [
        ("later", "batch", 1, 1, '{"env":"prod"}', "The deadline leaves time for a batch"),
        ("now", "realtime", 0, None, None, "A person is waiting for the answer"),
        ("soon", "realtime", 1, 1, None, "Everything else runs now"),
    ]


def test_an_anthropic_file_is_submitted_with_its_models(tmp_path: Path, isolated_env: Path) -> None:
    lines = [claude_line("a", "one"), claude_line("b", "two", model="claude-sonnet-4-5")]
    proc = run("submit", str(write_jsonl(tmp_path / "claude.jsonl", lines)), "--job", "claude")
    assert proc.returncode == 0, proc.stderr
    assert stored(isolated_env, "SELECT provider, endpoint, model FROM requests ORDER BY key") == [
        ("anthropic", "/v1/messages", "claude-haiku-4-5"),
        ("anthropic", "/v1/messages", "claude-sonnet-4-5"),
    ]


def test_a_policy_may_send_a_model_to_a_cheaper_one(tmp_path: Path, isolated_env: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        '[[rule]]\nname = "Triage on the small model"\nwhen = { feature = "ticket-triage" }\n'
        'lane = "batch"\nmodel = { "gpt-4o" = "gpt-4o-mini" }\n\n[[rule]]\nlane = "realtime"\n',
        encoding="utf-8",
    )
    path = write_jsonl(tmp_path / "r.jsonl", [chat_line("t1", "refund?", model="gpt-4o")])
    env = {"HALFRATE_POLICY": str(policy)}
    proc = run("submit", str(path), "--feature", "ticket-triage", env=env)
    assert proc.returncode == 0, proc.stderr
    ((model, requested, body),) = stored(
        isolated_env,
        "SELECT model, requested_model, body FROM requests JOIN request_bodies ON request_id = id",
    )
    assert (model, requested) == ("gpt-4o-mini", "gpt-4o")
    assert json.loads(body)["model"] == "gpt-4o-mini"
    explained = run(
        "policy", "explain", "--feature", "ticket-triage", "--model", "gpt-4o", "--json", env=env
    )
    assert json.loads(explained.stdout)["model"] == model


@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (("--deadline", "yesterday"), ("--deadline: cannot read the deadline 'yesterday'",)),
        (("--deadline", "2001-01-01T00:00Z"), ("--deadline", "is in the past")),
        (("--deadline", ""), ("--deadline", "empty")),
        (("--tag", "novalue"), ("--tag 'novalue' must read KEY=VALUE",)),
        (("--tag", "=x"), ("KEY=VALUE",)),
        (("--tag", "k=" + "v" * 300), ("longer than 200 characters",)),
    ],
)
def test_bad_urgency_flags_store_nothing(
    tmp_path: Path, isolated_env: Path, flags: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    path = write_jsonl(tmp_path / "r.jsonl", [chat_line("k", "q")])
    assert_one_line_error(run("submit", str(path), *flags), *needles)
    assert not (isolated_env / "halfrate.db").exists() or request_count(isolated_env) == 0


@pytest.mark.parametrize(
    ("lines", "needles"),
    [
        (
            [chat_line("a", "x"), claude_line("b", "y")],
            ("line 2", "an Anthropic request line in a file of OpenAI lines"),
        ),
        ([claude_line("a", "x"), chat_line("b", "y")], ("line 2", "in a file of Anthropic")),
        ([chat_line("a", "x", model="claude-haiku-4-5")], ("line 1", "is an Anthropic model")),
        ([claude_line("a", "x", model="gpt-4o")], ("line 1", "is an OpenAI model")),
        ([chat_line("a", "x", model="gemini-2.5-flash")], ("not a model halfrate knows",)),
    ],
)
def test_wrong_provider_lines_store_nothing(
    tmp_path: Path, isolated_env: Path, lines: list[dict[str, Any]], needles: tuple[str, ...]
) -> None:
    path = write_jsonl(tmp_path / "mixed.jsonl", lines)
    assert_one_line_error(run("submit", str(path)), *needles)
    assert not (isolated_env / "halfrate.db").exists() or request_count(isolated_env) == 0


def test_a_policy_naming_an_unknown_lane_is_refused_before_anything_is_stored(
    tmp_path: Path, isolated_env: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[[rule]]\nname = "x"\nlane = "overnight"\n', encoding="utf-8")
    path = write_jsonl(tmp_path / "r.jsonl", [chat_line("k", "q")])
    proc = run("submit", str(path), env={"HALFRATE_POLICY": str(policy)})
    assert_one_line_error(proc, f"policy {policy}, line 3", "'overnight'")
    assert not (isolated_env / "halfrate.db").exists()
