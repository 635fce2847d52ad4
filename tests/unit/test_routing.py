"""Routing decisions that depend on the model and the provider: flex where it is offered, the
fallback lane, model rewrites that never cross providers, and what routing stores per request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from halfrate.catalog import provider_of_model, supports_flex
from halfrate.errors import ConfigError, InputError
from halfrate.models import Lane, Provider
from halfrate.records import ParsedLine
from halfrate.routing.policy_file import parse_policy
from halfrate.routing.router import Router, Urgency
from halfrate.routing.rules import Route, decide
from halfrate.urgency import check_tags, deadline_of

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

FLEX_POLICY = """
[settings]
batch_window = "24h"
safety_margin = "2h"

[[rule]]
name = "Reports go flex, else batch"
when = { feature = "reports" }
lane = "flex"
fallback = "batch"

[[rule]]
name = "Evals go flex"
when = { feature = "evals" }
lane = "flex"

[[rule]]
name = "Triage uses the small model"
when = { feature = "triage" }
lane = "batch"
model = { "gpt-4o" = "gpt-4o-mini", "claude-sonnet-4-5" = "claude-haiku-4-5" }

[[rule]]
name = "Everything else"
lane = "realtime"
"""


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o-mini", Provider.OPENAI),
        ("o3", Provider.OPENAI),
        ("o4-mini-2025-04-16", Provider.OPENAI),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc", Provider.OPENAI),
        ("text-embedding-3-small", Provider.OPENAI),
        ("claude-haiku-4-5", Provider.ANTHROPIC),
        ("CLAUDE-3-5-sonnet-latest", Provider.ANTHROPIC),
        ("llama-3.1-70b", None),
        ("gtp-4o", None),
        ("omni", None),
    ],
)
def test_models_belong_to_their_provider(model: str, provider: Provider | None) -> None:
    assert provider_of_model(model) == provider


def test_flex_is_offered_only_where_the_price_data_has_a_flex_tier() -> None:
    for model in ("gpt-5-mini", "gpt-5-mini-2025-08-07", "o3", "o4-mini"):
        assert supports_flex(model), model
    for model in ("gpt-4o", "gpt-4o-mini", "o3-mini", "claude-haiku-4-5", "nonsense"):
        assert not supports_flex(model), model


def test_flex_where_offered_and_the_rule_fallback_where_not() -> None:
    policy = parse_policy(FLEX_POLICY, "p.toml")
    offered = decide(policy, Route(NOW, feature="reports", model="gpt-5-mini"))
    assert (offered.lane, offered.fallback) == (Lane.FLEX, Lane.BATCH)
    not_offered = decide(policy, Route(NOW, feature="reports", model="gpt-4o"))
    assert (not_offered.lane, not_offered.fallback) == (Lane.BATCH, None)
    assert "OpenAI offers no flex tier for gpt-4o, so it runs in batch" in not_offered.explain()
    claude = decide(policy, Route(NOW, feature="evals", model="claude-haiku-4-5"))
    assert claude.lane is Lane.REALTIME  # the default fallback
    assert "Anthropic offers no flex tier" in claude.explain()
    unknown_model = decide(policy, Route(NOW, feature="evals"))
    assert (unknown_model.lane, unknown_model.fallback) == (Lane.FLEX, Lane.REALTIME)


def test_model_rewrites_stay_within_a_provider() -> None:
    policy = parse_policy(FLEX_POLICY, "p.toml")
    for asked, given in (("gpt-4o", "gpt-4o-mini"), ("claude-sonnet-4-5", "claude-haiku-4-5")):
        decision = decide(policy, Route(NOW, feature="triage", model=asked))
        assert decision.model == given
    fixed = parse_policy('[[rule]]\nlane = "batch"\nmodel = "gpt-4o-mini"\n', "p.toml")
    claude = decide(fixed, Route(NOW, model="claude-haiku-4-5"))
    assert claude.model == "claude-haiku-4-5"
    assert "keeps claude-haiku-4-5: gpt-4o-mini belongs to another provider" in claude.explain()


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('lane = "batch"\nfallback = "realtime"', "line 3: rule 1: 'fallback' only applies"),
        ('lane = "flex"\nfallback = "flex"', "fallback 'flex' is not one of: realtime, batch"),
        ('lane = "batch"\nmodel = { "gpt-4o" = "claude-haiku-4-5" }', "cannot send gpt-4o to"),
        ('lane = "batch"\nmodel = "mistral-large"', "'mistral-large' is not a model halfrate"),
    ],
)
def test_bad_fallbacks_and_rewrites_are_refused_at_load(rule: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_policy(f"[[rule]]\n{rule}\n", "p.toml")


def _line(model: str, provider: Provider = Provider.OPENAI) -> ParsedLine:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    endpoint = "/v1/messages" if provider is Provider.ANTHROPIC else "/v1/chat/completions"
    return ParsedLine(1, "k1", provider, endpoint, model, orjson.dumps(body).decode())


def test_router_rewrites_the_body_and_records_the_route_and_guard_time() -> None:
    router = Router(parse_policy(FLEX_POLICY, "p.toml"), NOW)
    due = NOW + timedelta(days=2)
    urgency = Urgency(feature="triage", tags={"env": "prod"}, deadline=due)
    routed = router.apply(_line("gpt-4o"), urgency)
    assert routed.route is not None
    assert (routed.route.lane, routed.model, routed.requested_model) == (
        Lane.BATCH,
        "gpt-4o-mini",
        "gpt-4o",
    )
    body = orjson.loads(routed.body_json)
    assert body == {**orjson.loads(_line("gpt-4o").body_json), "model": "gpt-4o-mini"}
    assert routed.deadline == due.timestamp()
    assert routed.guard_at == (due - timedelta(hours=2)).timestamp()  # minus the safety margin
    assert orjson.loads(routed.tags_json or "") == {"env": "prod"}
    assert routed.route.rule_name == "Triage uses the small model"
    again = router.apply(_line("gpt-4o"), urgency)
    assert again.route is routed.route  # one decision per kind of request, shared
    untouched = router.apply(_line("gpt-4.1"), urgency)
    assert (untouched.body_json, untouched.requested_model) == (_line("gpt-4.1").body_json, None)


def test_urgency_of_a_request_wins_over_the_submission() -> None:
    base = Urgency(feature="f", team="t", tags={"a": "1"}, waiting=False)
    merged = base.merged(feature=None, team="u", tags={"b": "2"}, waiting=True, deadline=None)
    assert merged == Urgency(feature="f", team="u", tags={"a": "1", "b": "2"}, waiting=True)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "deadline: cannot read"),
        ("2020-01-01T00:00Z", "deadline: the deadline '2020-01-01T00:00Z' is in the past"),
        (NOW - timedelta(seconds=1), "is in the past"),
        (5, "must be a text like 6h"),
    ],
)
def test_bad_deadlines(value: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        deadline_of(value, NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"": "x"}, "must be a name and a text"),
        ({"k": 5}, "must be a name and a text"),
        ({f"k{i}": "v" for i in range(21)}, "at most 20 tags"),
        ({"k": "v" * 201}, "longer than 200 characters"),
    ],
)
def test_bad_tags(tags: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        check_tags(tags)  # type: ignore[arg-type]
