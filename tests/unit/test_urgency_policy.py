"""Deadlines as people type them, and the routing policy: matching, model rewrites, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from halfrate.errors import ConfigError, InputError
from halfrate.models import Lane
from halfrate.routing.policy_file import load_policy, parse_policy
from halfrate.routing.rules import Route, decide
from halfrate.urgency import describe_delta, parse_deadline, parse_duration

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6h", NOW + timedelta(hours=6)),
        ("2d", NOW + timedelta(days=2)),
        ("1d12h", NOW + timedelta(hours=36)),
        ("90s", NOW + timedelta(seconds=90)),
        ("1w", NOW + timedelta(days=7)),
        ("06:00", datetime(2026, 11, 23, 6, 0, tzinfo=UTC)),  # already past today: tomorrow's
        ("09:30", datetime(2026, 11, 22, 9, 30, tzinfo=UTC)),
        ("2026-11-23T06:00Z", datetime(2026, 11, 23, 6, 0, tzinfo=UTC)),
        ("2026-11-23T06:00:00+01:00", datetime(2026, 11, 23, 5, 0, tzinfo=UTC)),
        ("2026-11-23 06:00", datetime(2026, 11, 23, 6, 0, tzinfo=UTC)),  # no zone: now's zone
        ("2026-11-25", datetime(2026, 11, 25, 0, 0, tzinfo=UTC)),
    ],
)
def test_deadlines_people_write(text: str, expected: datetime) -> None:
    assert parse_deadline(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("yesterday", "cannot read the deadline"),
        ("25:00", "cannot read the deadline"),
        ("-6h", "cannot read the deadline"),
        ("6 hours", "cannot read the duration"),
        ("2026-11-22T07:00Z", "in the past"),
        ("2020-01-01", "in the past"),
        ("99999999d", "longer than ten years"),
        ("9" * 500 + "h", "longer than ten years"),
    ],
)
def test_bad_deadlines_get_one_clear_message(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_deadline(text, NOW)


def test_durations_and_their_descriptions() -> None:
    assert parse_duration(" 1d 2h ") == timedelta(hours=26)
    for bad in ("", "h", "1x", "1.5h"):
        with pytest.raises(InputError):
            parse_duration(bad)
    assert describe_delta(timedelta(hours=45)) == "1d 21h"
    assert describe_delta(timedelta(minutes=90)) == "1h 30m"
    assert describe_delta(timedelta(seconds=20)) == "under a minute"
    assert describe_delta(timedelta(seconds=-5)) == "already past"


def test_the_built_in_policy() -> None:
    policy = load_policy()
    assert decide(policy, Route(NOW, waiting=True)).lane is Lane.REALTIME
    assert decide(policy, Route(NOW, deadline=NOW + timedelta(hours=25))).lane is Lane.BATCH
    short = decide(policy, Route(NOW, deadline=NOW + timedelta(hours=24, minutes=59)))
    assert short.lane is Lane.REALTIME  # window (24h) + margin (1h) not left
    no_deadline = decide(policy, Route(NOW, feature="nightly"))
    assert no_deadline.lane is Lane.BATCH
    assert "no deadline to miss" in no_deadline.explain()
    waiting_far = decide(policy, Route(NOW, waiting=True, deadline=NOW + timedelta(days=3)))
    assert waiting_far.lane is Lane.REALTIME  # first match wins
    # Identical requests share answers: in flight, and for a week after.
    assert (policy.dedup, policy.response_cache) == (True, timedelta(days=7))
    assert no_deadline.cache


def test_sharing_answers_is_set_in_the_policy() -> None:
    text = '[settings]\ndedup = false\nresponse_cache = "off"\n[[rule]]\nlane = "batch"\n'
    off = parse_policy(text, "p.toml")
    assert (off.dedup, off.response_cache, off.shares_answers) == (False, None, False)
    assert not decide(off, Route(NOW)).cache
    rule_off = parse_policy('[[rule]]\nlane = "batch"\ncache = false\n', "p.toml")
    assert rule_off.shares_answers
    assert not decide(rule_off, Route(NOW)).cache
    short = parse_policy('[settings]\nresponse_cache = "12h"\n[[rule]]\nlane = "batch"\n', "p")
    assert short.response_cache == timedelta(hours=12)


POLICY = """
# routing for the support team
[settings]
batch_window = "24h"
safety_margin = "2h"

[[rule]]
name = "Agents on the phone"
when = { waiting = true }
lane = "realtime"

[[rule]]
name = "Ticket triage uses the small model"
when = { feature = ["ticket-triage", "ticket-tags"], deadline = "at least window" }
lane = "batch"
model = { "gpt-4o" = "gpt-4o-mini" }

[[rule]]
name = "Finance reports, flex"
when = { team = "finance", tags = { env = "prod" }, deadline = "under 12h" }
lane = "flex"

[[rule]]
name = "Evals always on the cheap model"
when = { feature = "evals", deadline = "none" }
lane = "batch"
model = "gpt-4.1-mini"

[[rule]]
name = "Everything else"
lane = "realtime"
"""


def test_rules_match_on_every_field_and_rewrite_models() -> None:
    policy = parse_policy(POLICY, "support.toml")
    triage = decide(
        policy, Route(NOW, feature="ticket-tags", deadline=NOW + timedelta(days=2), model="gpt-4o")
    )
    assert (triage.lane, triage.model) == (Lane.BATCH, "gpt-4o-mini")
    assert triage.rule is not None
    assert triage.rule.line == 12
    assert 'rule 2 "Ticket triage uses the small model" (support.toml, line 12)' in triage.explain()
    other_model = decide(policy, Route(NOW, feature="ticket-triage", model="gpt-4.1"))
    assert other_model.model == "gpt-4.1"  # only mapped models change
    soon = decide(policy, Route(NOW, feature="ticket-triage", deadline=NOW + timedelta(hours=25)))
    assert soon.lane is Lane.REALTIME  # 25h < window 24h + margin 2h
    finance = Route(NOW, team="finance", tags={"env": "prod"}, deadline=NOW + timedelta(hours=3))
    assert decide(policy, finance).lane is Lane.FLEX
    finance_dev = Route(NOW, team="finance", tags={"env": "dev"}, deadline=NOW + timedelta(hours=3))
    assert decide(policy, finance_dev).lane is Lane.REALTIME
    evals = decide(policy, Route(NOW, feature="evals", model="gpt-4o"))
    assert (evals.lane, evals.model) == (Lane.BATCH, "gpt-4.1-mini")
    far_evals = decide(policy, Route(NOW, feature="evals", deadline=NOW + timedelta(days=9)))
    assert far_evals.rule is not None
    assert far_evals.rule.number == 5  # "deadline = none" does not match a request with one


def test_no_matching_rule_is_realtime_and_says_so() -> None:
    policy = parse_policy('[[rule]]\nwhen = { feature = "x" }\nlane = "batch"\n', "p.toml")
    decision = decide(policy, Route(NOW, feature="y"))
    assert decision.lane is Lane.REALTIME
    assert decision.rule is None
    assert "no rule matched" in decision.explain()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[rule]]\nname = "a"\nlane = "bach"\n', "line 3: rule 1: lane 'bach' is not one of"),
        ('[[rule]]\nname = "a"\n', "line 1: rule 1: lane missing is not one of"),
        ('[[rule]]\nlane = "cache"\n', "lane 'cache' is not one of: realtime, flex, batch"),
        (
            '[[rule]]\nlane = "batch"\n\n[[rule]]\nlanes = "x"\n',
            "line 5: rule 2: unknown key 'lanes'",
        ),
        (
            '[[rule]]\nlane = "batch"\nwhen = { urgent = true }\n',
            "line 3: rule 1: unknown condition 'urgent'",
        ),
        ('[[rule]]\nlane = "batch"\nwhen = { deadline = "soon" }\n', 'must read "at least 26h"'),
        (
            '[[rule]]\nlane = "batch"\nwhen = { deadline = "at least 3x" }\n',
            "deadline: cannot read",
        ),
        (
            '[[rule]]\nlane = "batch"\nwhen = { waiting = "yes" }\n',
            "'waiting' must be true or false",
        ),
        (
            '[[rule]]\nlane = "batch"\nwhen = { feature = [] }\n',
            "'feature' must be a text or a list",
        ),
        ('[[rule]]\nlane = "batch"\nmodel = 4\n', "'model' must be a model name"),
        ('[[rule]]\nlane = "batch"\nmodel = { "gpt-4o" = "" }\n', "'model' must be a model name"),
        (
            '[settings]\nbatch_window = "forever"\n[[rule]]\nlane = "batch"\n',
            "line 2: cannot read the duration",
        ),
        (
            '[settings]\nwindow = "24h"\n[[rule]]\nlane = "batch"\n',
            "line 2: unknown setting 'window'",
        ),
        ('[rules]\nlane = "batch"\n', "line 1: unknown section 'rules'"),
        (
            '[settings]\ndedup = "yes"\n[[rule]]\nlane = "batch"\n',
            "line 2: dedup must be true or false, got 'yes'",
        ),
        (
            '[settings]\nresponse_cache = 7\n[[rule]]\nlane = "batch"\n',
            'line 2: response_cache must be a duration like "7d", or "off"; got 7',
        ),
        (
            '[settings]\nresponse_cache = "a week"\n[[rule]]\nlane = "batch"\n',
            "line 2: response_cache: cannot read the duration",
        ),
        (
            '[[rule]]\nlane = "batch"\ncache = "no"\n',
            "line 3: rule 1: 'cache' must be true or false, got 'no'",
        ),
        ("# nothing here\n", "has no [[rule]]"),
        ('[[rule]]\nlane = "batch"\nname = \n', "not valid TOML"),
    ],
)
def test_an_invalid_policy_names_the_line_and_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_policy(text, "p.toml")
    assert str(info.value).startswith("policy p.toml")
    assert message in str(info.value)


def test_policy_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "policy.toml"
    path.write_text('[[rule]]\nname = "all flex"\nlane = "flex"\n', encoding="utf-8")
    monkeypatch.setenv("HALFRATE_POLICY", str(path))
    assert decide(load_policy(), Route(NOW)).lane is Lane.FLEX
    monkeypatch.setenv("HALFRATE_POLICY", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="cannot read it"):
        load_policy()
    path.write_bytes(b"\xff\xfe")
    monkeypatch.setenv("HALFRATE_POLICY", str(path))
    with pytest.raises(ConfigError, match="cannot read it"):
        load_policy()
