"""`halfrate policy explain` as a use of the rules: what the policy decides for a request like
this one, in words, without storing anything."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from halfrate.models import Lane
from halfrate.routing.rules import Decision, Policy, Route, decide
from halfrate.urgency import describe_delta, parse_deadline


@dataclass(frozen=True)
class Explained:
    """A decision, the deadline it was made for, and how the request would share answers."""

    decision: Decision
    deadline: datetime | None
    shares_answers: str  # in words
    prompt_cache: str  # in words: what the policy lets halfrate add to the body for caching


def explain_route(
    policy: Policy,
    now: datetime,
    *,
    feature: str | None,
    team: str | None,
    tags: Mapping[str, str],
    deadline: str | None,
    waiting: bool,
    model: str | None,
) -> Explained:
    due = parse_deadline(deadline, now) if deadline is not None else None
    route = Route(now, feature, team, dict(tags), waiting, due, model)
    decision = decide(policy, route)
    return Explained(
        decision, due, sharing_in_words(policy, decision), prompt_cache_in_words(decision)
    )


def sharing_in_words(policy: Policy, decision: Decision) -> str:
    """Whether, and how, the request shares answers with identical requests."""
    if not decision.cache:
        if not policy.shares_answers:
            return "never: the policy turns dedup and the response cache off"
        return "never: the rule keeps its requests out (cache = false)"
    ways = []
    if policy.dedup:
        ways.append("an identical request in flight answers it too (dedup)")
    if policy.response_cache is not None:
        ways.append(
            "an identical request answered in the last "
            f"{describe_delta(policy.response_cache)} answers it at $0"
        )
    return "; ".join(ways)


def prompt_cache_in_words(decision: Decision) -> str:
    """What halfrate adds to the request body so the provider's prompt cache serves a prefix
    it shares with other requests (docs/prompt-caching.md): said openly, as it changes the
    body."""
    if not decision.prompt_cache:
        return "never: the rule sends bodies unchanged (prompt_cache = false)"
    ttl = "1h" if decision.lane is Lane.BATCH else decision.prompt_cache_ttl
    return (
        "where it shares a prefix of at least 1,024 tokens with other requests, Anthropic "
        f'bodies get one cache_control marker (ttl "{ttl}") on the last shared block, OpenAI '
        "bodies a prompt_cache_key for the group; a body with its own markers or key is sent "
        "unchanged"
    )
