"""Routing by urgency: a TOML policy that people can read picks each request's lane.

Rules are tried in order; the first that matches decides the lane (and may send a model to a
cheaper one). ``HALFRATE_POLICY`` names the file; without it the built-in default applies:
a person is waiting → realtime; a deadline at least the batch window plus a margin away (or no
deadline) → batch; otherwise realtime. An invalid file is refused with its line and the problem.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from halfrate.catalog import provider_of_model, supports_flex
from halfrate.errors import ConfigError, InputError
from halfrate.models import Lane, Provider
from halfrate.urgency import describe_delta, parse_duration

ROUTABLE_LANES = (Lane.REALTIME, Lane.FLEX, Lane.BATCH)
FALLBACK_LANES = (Lane.REALTIME, Lane.BATCH)
RULE_KEYS = frozenset({"name", "when", "lane", "model", "fallback", "cache"})
WHEN_KEYS = frozenset({"feature", "team", "tags", "waiting", "deadline"})
SETTINGS_KEYS = frozenset({"batch_window", "safety_margin", "dedup", "response_cache"})
DEFAULT_RESPONSE_CACHE = "7d"
_DEADLINE = re.compile(r"(at least|under)\s+(window|\S+)|none", re.IGNORECASE)
DEFAULT_SOURCE = "the built-in policy"


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


# -- loading ----------------------------------------------------------------------------------


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at ``path``, else ``$HALFRATE_POLICY``, else the built-in default."""
    chosen = path if path is not None else os.environ.get("HALFRATE_POLICY") or None
    if chosen is None:
        text = resources.files("halfrate").joinpath("data", "default_policy.toml").read_text()
        return parse_policy(text, DEFAULT_SOURCE)
    file = Path(chosen).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"policy {file}: cannot read it: {exc}") from exc
    return parse_policy(text, str(file))


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"policy {source}: not valid TOML: {exc}") from exc
    locate = _Locator(text)
    unknown = sorted(set(data) - {"settings", "rule"})
    if unknown:
        raise _error(source, locate.top(unknown[0]), f"unknown section {unknown[0]!r}")
    settings = data.get("settings", {})
    if not isinstance(settings, dict):
        raise _error(source, locate.top("settings"), "[settings] must be a table")
    for key in sorted(set(settings) - SETTINGS_KEYS):
        raise _error(source, locate.top(key), f"unknown setting {key!r}")
    window = _duration(settings.get("batch_window", "24h"), source, locate.top("batch_window"))
    margin = _duration(settings.get("safety_margin", "1h"), source, locate.top("safety_margin"))
    dedup = settings.get("dedup", True)
    if not isinstance(dedup, bool):
        raise _error(source, locate.top("dedup"), f"dedup must be true or false, got {dedup!r}")
    cache_for = _response_cache(settings.get("response_cache", DEFAULT_RESPONSE_CACHE))
    if isinstance(cache_for, str):
        raise _error(source, locate.top("response_cache"), cache_for)
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list) or not raw_rules:
        raise _error(source, None, "the policy has no [[rule]]: add at least one")
    rules = tuple(_rule(i, raw, source, locate) for i, raw in enumerate(raw_rules, start=1))
    return Policy(rules, window, margin, source, dedup, cache_for)


def _response_cache(value: Any) -> timedelta | str | None:
    """How long answers serve identical requests; None for "off"; a text: the problem."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None
    problem = f'response_cache must be a duration like "7d", or "off"; got {value!r}'
    if not isinstance(value, str):
        return problem
    try:
        return parse_duration(value)
    except InputError as exc:
        return f"response_cache: {exc}"


def _rule(number: int, raw: Any, source: str, locate: _Locator) -> Rule:
    line = locate.rule(number)
    if not isinstance(raw, dict):
        raise _error(source, line, f"rule {number} must be a table")

    def fail(key: str, problem: str) -> ConfigError:
        return _error(source, locate.rule_key(number, key), f"rule {number}: {problem}")

    for key in sorted(set(raw) - RULE_KEYS):
        raise fail(
            key, f"unknown key {key!r} (a rule has name, when, lane, model, fallback, cache)"
        )
    name = raw.get("name", f"rule {number}")
    if not isinstance(name, str) or not name.strip():
        raise fail("name", "'name' must be a non-empty text")
    lane_text = raw.get("lane")
    lanes = ", ".join(lane.value for lane in ROUTABLE_LANES)
    if lane_text not in {lane.value for lane in ROUTABLE_LANES}:
        shown = "missing" if lane_text is None else repr(lane_text)
        raise fail("lane", f"lane {shown} is not one of: {lanes}")
    when = raw.get("when", {})
    if not isinstance(when, dict):
        raise fail("when", "'when' must be a table, e.g. when = { feature = \"triage\" }")
    for key in sorted(set(when) - WHEN_KEYS):
        raise fail("when", f"unknown condition {key!r} (known: {', '.join(sorted(WHEN_KEYS))})")
    model_always, model_map = _models(raw.get("model"), fail)
    fallback = _fallback(raw.get("fallback"), Lane(lane_text), fail)
    cache = raw.get("cache", True)
    if not isinstance(cache, bool):
        raise fail("cache", f"'cache' must be true or false, got {cache!r}")
    return Rule(
        number=number,
        name=name.strip(),
        line=line or 0,
        lane=Lane(lane_text),
        features=_names(when.get("feature"), "feature", fail),
        teams=_names(when.get("team"), "team", fail),
        tags=_tags(when.get("tags"), fail),
        waiting=_bool(when.get("waiting"), fail),
        deadline=_deadline(when.get("deadline"), fail),
        model_map=model_map,
        model_always=model_always,
        fallback=fallback,
        cache=cache,
    )


def _fallback(value: Any, lane: Lane, fail: Any) -> Lane:
    if value is None:
        return Lane.REALTIME
    if lane is not Lane.FLEX:
        raise fail("fallback", "'fallback' only applies to lane \"flex\"")
    allowed = ", ".join(f.value for f in FALLBACK_LANES)
    if value not in {f.value for f in FALLBACK_LANES}:
        raise fail("fallback", f"fallback {value!r} is not one of: {allowed}")
    return Lane(value)


def _names(value: Any, key: str, fail: Any) -> frozenset[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise fail("when", f"'{key}' must be a text or a list of texts")
    return frozenset(items)


def _tags(value: Any, fail: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise fail("when", "'tags' must be a table of texts, e.g. tags = { env = \"prod\" }")
    return dict(value)


def _bool(value: Any, fail: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise fail("when", "'waiting' must be true or false")


def _deadline(value: Any, fail: Any) -> DeadlineCondition | None:
    if value is None:
        return None
    match = _DEADLINE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise fail(
            "when",
            f'deadline {value!r} must read "at least 26h", "at least window", "under 6h" or "none"',
        )
    if match.group(0).lower() == "none":
        return DeadlineCondition("none", None)
    kind, span = match.group(1).lower(), match.group(2)
    if span.lower() == "window":
        return DeadlineCondition(kind, None)
    try:
        return DeadlineCondition(kind, parse_duration(span))
    except InputError as exc:
        raise fail("when", f"deadline: {exc}") from None


def _models(value: Any, fail: Any) -> tuple[str | None, dict[str, str]]:
    if value is None:
        return None, {}
    if isinstance(value, str) and value.strip():
        _known_model(value.strip(), fail)
        return value.strip(), {}
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(v, str) and v.strip() for v in value.values())
    ):
        pairs = {k: v.strip() for k, v in value.items()}
        for old, new in pairs.items():
            if _known_model(new, fail) != provider_of_model(old):
                raise fail("model", f"cannot send {old} to {new}: not the same provider's model")
        return None, pairs
    raise fail(
        "model", '\'model\' must be a model name or a table like { "gpt-4o" = "gpt-4o-mini" }'
    )


def _known_model(name: str, fail: Any) -> Provider:
    provider = provider_of_model(name)
    if provider is None:
        raise fail("model", f"{name!r} is not a model halfrate knows (gpt-…, o3…, claude-…)")
    return provider


def _duration(value: Any, source: str, line: int | None) -> timedelta:
    if not isinstance(value, str):
        raise _error(source, line, f'expected a duration like "24h", got {value!r}')
    try:
        return parse_duration(value)
    except InputError as exc:
        raise _error(source, line, str(exc)) from None


def _error(source: str, line: int | None, problem: str) -> ConfigError:
    where = f"policy {source}, line {line}" if line else f"policy {source}"
    return ConfigError(f"{where}: {problem}")


class _Locator:
    """Line numbers for keys tomllib has already parsed (it reports only syntax errors)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.rule_starts = [
            n for n, line in enumerate(self.lines, start=1) if line.strip().startswith("[[rule]]")
        ]

    def top(self, key: str) -> int | None:
        return self._find(key, 1, len(self.lines))

    def rule(self, number: int) -> int | None:
        return self.rule_starts[number - 1] if number <= len(self.rule_starts) else None

    def rule_key(self, number: int, key: str) -> int | None:
        start = self.rule(number)
        if start is None:
            return None
        end = self.rule_starts[number] - 1 if number < len(self.rule_starts) else len(self.lines)
        return self._find(key, start, end) or start

    def _find(self, key: str, first: int, last: int) -> int | None:
        pattern = re.compile(rf"\s*\[?\s*\"?{re.escape(key)}\"?\s*[\]=.]")
        for n in range(first, last + 1):
            if pattern.match(self.lines[n - 1]):
                return n
        return None
