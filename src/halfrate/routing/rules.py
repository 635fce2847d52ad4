"""The routing policy's rules and how a request meets them.

Rules are tried in order; the first that matches decides the lane (and may send a model to a
cheaper one). Without a policy file the built-in default applies: a person is waiting →
realtime; a deadline at least the batch window plus a margin away (or no deadline) → batch;
otherwise realtime. Reading the TOML file is :mod:`halfrate.routing.policy_file`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from halfrate.catalog import provider_of_model, supports_flex
from halfrate.models import Lane, Provider
from halfrate.urgency import describe_delta

ROUTABLE_LANES = (Lane.REALTIME, Lane.FLEX, Lane.BATCH)
FALLBACK_LANES = (Lane.REALTIME, Lane.BATCH)
PROMPT_CACHE_TTLS = ("5m", "1h")
DEFAULT_REALTIME_TTL = "5m"  # a batch's markers live 1h: batches take longer than 5 minutes


@dataclass(frozen=True)
class DeadlineCondition:
    kind: str  # "at least" | "under" | "none"
    span: timedelta | None  # None with "window": the batch window plus the safety margin

    def describe(self, policy: Policy) -> str:
        if self.kind == "none":
            return "there is no deadline"
        span = self.span if self.span is not None else policy.batch_reach
        what = "the batch window plus margin, " if self.span is None else ""
        return f"the deadline is {self.kind} {what}{describe_delta(span)} away"


@dataclass(frozen=True)
class Rule:
    number: int
    name: str
    line: int
    lane: Lane
    features: frozenset[str] | None = None
    teams: frozenset[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    waiting: bool | None = None
    deadline: DeadlineCondition | None = None
    model_map: Mapping[str, str] = field(default_factory=dict)
    model_always: str | None = None
    fallback: Lane = Lane.REALTIME  # flex only: where a request goes when flex cannot serve it
    cache: bool = True  # its requests may share answers with identical ones (dedup, cache)
    # Its requests' shared prefixes may be marked for the provider's prompt cache (an Anthropic
    # cache_control marker, an OpenAI prompt_cache_key): docs/prompt-caching.md.
    prompt_cache: bool = True
    prompt_cache_ttl: str | None = None  # realtime and flex: "5m" or "1h" (None: 5m)


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]
    batch_window: timedelta
    safety_margin: timedelta
    source: str
    # Identical requests in flight together are sent once, and each gets the answer.
    dedup: bool = True
    # An identical request answered within this long answers a new one at $0; None: never.
    response_cache: timedelta | None = timedelta(days=7)

    @property
    def shares_answers(self) -> bool:
        return self.dedup or self.response_cache is not None

    @property
    def batch_reach(self) -> timedelta:
        return self.batch_window + self.safety_margin


@dataclass(frozen=True)
class Route:
    """What is known about a request when its lane is chosen."""

    now: datetime
    feature: str | None = None
    team: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    waiting: bool = False
    deadline: datetime | None = None
    model: str | None = None


@dataclass(frozen=True)
class Decision:
    lane: Lane  # where the request runs
    model: str | None
    rule: Rule | None  # None: no rule matched
    reasons: tuple[str, ...]
    source: str
    fallback: Lane | None = None  # flex only: where it goes if flex answers "unavailable"
    notes: tuple[str, ...] = ()  # what changed the rule's choice (flex not offered, ...)
    cache: bool = True  # may share answers with identical requests (the policy permitting)
    prompt_cache: bool = True  # may mark its shared prefix for the provider's prompt cache
    prompt_cache_ttl: str = "5m"  # the marker's lifetime outside batches (batches: 1h)

    def explain(self) -> str:
        if self.rule is None:
            text = "no rule matched, so it runs in realtime (the safe choice)"
        else:
            where = f"{self.source}, line {self.rule.line}"
            because = "; ".join(self.reasons) if self.reasons else "it matches every request"
            text = f'rule {self.rule.number} "{self.rule.name}" ({where}) decided: {because}'
        return ". ".join((text, *self.notes))


def decide(policy: Policy, route: Route) -> Decision:
    """The first matching rule's lane and model, adjusted to what the provider offers."""
    for rule in policy.rules:
        reasons = _match(rule, policy, route)
        if reasons is None:
            continue
        notes: list[str] = []
        model = _model_for(rule, route.model, notes)
        lane, fallback = rule.lane, None
        if lane is Lane.FLEX:
            lane, fallback = _flex_or_fallback(rule, model, notes)
        return Decision(
            lane,
            model,
            rule,
            tuple(reasons),
            policy.source,
            fallback,
            tuple(notes),
            rule.cache and policy.shares_answers,
            rule.prompt_cache,
            rule.prompt_cache_ttl or DEFAULT_REALTIME_TTL,
        )
    return Decision(
        Lane.REALTIME, route.model, None, (), policy.source, cache=policy.shares_answers
    )


def _model_for(rule: Rule, model: str | None, notes: list[str]) -> str | None:
    chosen = rule.model_always
    if chosen is None and model is not None:
        chosen = rule.model_map.get(model)
    if chosen is None or model is None or chosen == model:
        return model if chosen is None else chosen
    # A body written for one provider's API does not fit another's: never cross providers.
    if provider_of_model(chosen) != provider_of_model(model):
        notes.append(f"it keeps {model}: {chosen} belongs to another provider")
        return model
    return chosen


def _flex_or_fallback(rule: Rule, model: str | None, notes: list[str]) -> tuple[Lane, Lane | None]:
    if model is None:
        notes.append(f"flex if the model offers it, otherwise {rule.fallback.value}")
        return Lane.FLEX, rule.fallback
    if supports_flex(model):
        return Lane.FLEX, rule.fallback
    who = "Anthropic" if provider_of_model(model) is Provider.ANTHROPIC else "OpenAI"
    notes.append(f"{who} offers no flex tier for {model}, so it runs in {rule.fallback.value}")
    return rule.fallback, None


def _match(rule: Rule, policy: Policy, route: Route) -> list[str] | None:
    """The reasons the rule matches, in words; None when it does not."""
    reasons: list[str] = []
    if rule.waiting is not None:
        if route.waiting != rule.waiting:
            return None
        reasons.append("a person is waiting" if rule.waiting else "nobody is waiting")
    if rule.features is not None:
        if route.feature not in rule.features:
            return None
        reasons.append(f"the feature is {route.feature}")
    if rule.teams is not None:
        if route.team not in rule.teams:
            return None
        reasons.append(f"the team is {route.team}")
    for key, value in rule.tags.items():
        if route.tags.get(key) != value:
            return None
        reasons.append(f"tag {key} is {value}")
    if rule.deadline is not None:
        if not _deadline_matches(rule.deadline, policy, route):
            return None
        reasons.append(_deadline_reason(rule.deadline, policy, route))
    return reasons


def _deadline_matches(cond: DeadlineCondition, policy: Policy, route: Route) -> bool:
    if cond.kind == "none":
        return route.deadline is None
    if route.deadline is None:
        return cond.kind == "at least"  # no deadline: it can wait as long as it takes
    left = route.deadline - route.now
    span = cond.span if cond.span is not None else policy.batch_reach
    return left >= span if cond.kind == "at least" else left < span


def _deadline_reason(cond: DeadlineCondition, policy: Policy, route: Route) -> str:
    if route.deadline is None:
        return "there is no deadline" if cond.kind == "none" else "there is no deadline to miss"
    left = describe_delta(route.deadline - route.now)
    return f"{cond.describe(policy)} (it is {left} away)"
