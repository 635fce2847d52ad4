"""`halfrate estimate` and `Halfrate.estimate_file`: tokens counted the way OpenAI counts chat
messages, Claude approximated and said so, output a ceiling, an assumption or a floor, prices
to the nano-dollar in every lane, and nothing stored or sent. Bad files and flags get one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

import halfrate
from halfrate.errors import InputError
from halfrate.ledger.estimate import prompt_tokens
from halfrate.models import Lane
from halfrate.tokens import count_text
from tests.helpers import chat_line, claude_line, write_jsonl
from tests.integration.test_cli import assert_one_line_error, run


def test_chat_prompts_are_counted_as_openai_counts_them() -> None:
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You sort tickets."},
            {"role": "user", "content": "My invoice is wrong."},
        ],
    }
    words = ["system", "You sort tickets.", "user", "My invoice is wrong."]
    by_hand = 3 + 2 * 3 + sum(count_text("gpt-4o-mini", w).tokens for w in words)
    assert prompt_tokens("gpt-4o-mini", "/v1/chat/completions", body) == (by_hand, True)
    embed = {"model": "text-embedding-3-small", "input": "refund please"}
    assert prompt_tokens("text-embedding-3-small", "/v1/embeddings", embed) == (
        count_text("text-embedding-3-small", "refund please").tokens,
        True,
    )
    claude = {"model": "claude-haiku-4-5", "system": "x" * 40, "messages": []}
    tokens, exact = prompt_tokens("claude-haiku-4-5", "/v1/messages", claude)
    assert not exact
    assert tokens == 3 + 10  # reply priming, and forty characters at four a token


def test_a_file_priced_in_every_lane_with_nothing_stored(sqlite_url: str, tmp_path: Path) -> None:
    lines = [chat_line(f"k{i}", "Classify: my invoice is wrong", max_tokens=100) for i in range(10)]
    lines += [chat_line(f"n{i}", "Say hi", model="gpt-5-mini") for i in range(4)]
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    with halfrate.connect(sqlite_url) as hr:
        made = hr.estimate_file(path)
        assumed = hr.estimate_file(path, output_tokens=50)
    mini = next(m for m in made.models if m.model == "gpt-4o-mini")
    one, _ = prompt_tokens("gpt-4o-mini", "/v1/chat/completions", lines[0]["body"])
    assert (mini.requests, mini.input_tokens, mini.output_tokens) == (10, 10 * one, 1000)
    assert (mini.input_basis, mini.output_basis) == ("counted", "ceiling")
    # gpt-4o-mini: $0.15 in, $0.60 out per million; batch half.
    realtime = 10 * one * 150 + 1000 * 600
    assert mini.prices[Lane.REALTIME] == (realtime, False)
    assert mini.prices[Lane.BATCH] == (realtime // 2, False)
    five = next(m for m in made.models if m.model == "gpt-5-mini")
    assert five.output_basis == "floor"  # no max_tokens, no assumption: input only
    assert Lane.FLEX in five.prices  # gpt-5-mini offers flex
    assert made.is_floor
    five_assumed = next(m for m in assumed.models if m.model == "gpt-5-mini")
    assert (five_assumed.output_tokens, five_assumed.output_basis) == (200, "assumed")
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM requests")).scalar_one() == 0
    engine.dispose()


def test_the_command_line_says_what_each_figure_is(tmp_path: Path) -> None:
    lines = [claude_line(f"c{i}", "Summarise this contract") for i in range(3)]
    path = write_jsonl(tmp_path / "claude.jsonl", lines)
    env = {"HALFRATE_HOME": str(tmp_path / "home")}
    shown = run("estimate", str(path), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "(approx.)" in shown.stdout
    assert "approximate Claude input tokens" in shown.stdout
    assert "(ceiling)" in shown.stdout
    assert "saves $" in shown.stdout
    data = json.loads(run("estimate", str(path), "--format", "json", env=env).stdout)
    assert data["requests"] == 3
    assert data["models"][0]["input_basis"] == "approximate"
    assert data["models"][0]["prices"]["batch"]["derived"] is False


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["missing.jsonl"], "missing.jsonl"),
        (["{bad}", "--output-tokens", "0"], "--output-tokens must be a whole number"),
        (["{bad}", "--output-tokens", "5000000"], "--output-tokens must be a whole number"),
        (["{bad}", "--output-tokens", "lots"], "Invalid value for '--output-tokens'"),
        (["{good}", "--format", "xml"], "--format 'xml'"),
        (["{bad}"], "line 2"),
    ],
)
def test_bad_files_and_flags_get_one_line(args: list[str], needle: str, tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [chat_line("a", "hi")])
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(chat_line("a", "hi")) + "\n{not json\n", encoding="utf-8")
    filled = [a.format(good=good, bad=bad) for a in args]
    if filled[0] == "missing.jsonl":
        filled[0] = str(tmp_path / "missing.jsonl")
    env = {"HALFRATE_HOME": str(tmp_path / "home")}
    assert_one_line_error(run("estimate", *filled, env=env), needle)


def test_python_refuses_a_bad_assumption(sqlite_url: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [chat_line("a", "hi")])
    with halfrate.connect(sqlite_url) as hr, pytest.raises(InputError):
        hr.estimate_file(path, output_tokens=True)
