"""The routing policy in words, for people: each rule's condition and what it decides, and
the settings every rule shares (what the web page's Policy page shows, beside a form that
explains the lane of a request like yours)."""

from __future__ import annotations

from dataclasses import dataclass

from halfrate.models import Lane
from halfrate.routing.rules import Policy, Rule
from halfrate.urgency import describe_delta


@dataclass(frozen=True)
class RuleInWords:
    number: int
    name: str
    line: int
    when: str  # the condition: "a person is waiting"; "" when the rule has none
    then: str  # what it decides: the lane, the model, the fallback, sharing


def rules_in_words(policy: Policy) -> list[RuleInWords]:
    return [
        RuleInWords(rule.number, rule.name, rule.line, _when(rule, policy), _then(rule, policy))
        for rule in policy.rules
    ]


def settings_in_words(policy: Policy) -> list[str]:
    lines = [
        f"A batch may take up to {describe_delta(policy.batch_window)}, plus "
        f"{describe_delta(policy.safety_margin)} kept in hand: a request due sooner than "
        f"{describe_delta(policy.batch_reach)} cannot wait for one.",
        "Identical requests in flight together are sent once (dedup)."
        if policy.dedup
        else "Identical requests in flight are each sent (dedup is off).",
    ]
    if policy.response_cache is None:
        lines.append("Earlier answers are never reused (the response cache is off).")
    else:
        lines.append(
            "An identical request answered in the last "
            f"{describe_delta(policy.response_cache)} is answered again at $0 (the response "
            "cache)."
        )
    lines.append("A request no rule matches runs in realtime, the safe choice.")
    return lines


def _when(rule: Rule, policy: Policy) -> str:
    parts = []
    if rule.waiting is not None:
        parts.append("a person is waiting" if rule.waiting else "nobody is waiting")
    if rule.features is not None:
        parts.append(f"the feature is {_either(rule.features)}")
    if rule.teams is not None:
        parts.append(f"the team is {_either(rule.teams)}")
    parts.extend(f"tag {key} is {value}" for key, value in rule.tags.items())
    if rule.deadline is not None:
        parts.append(rule.deadline.describe(policy))
    return " and ".join(parts)


def _then(rule: Rule, policy: Policy) -> str:
    text = f"run in {rule.lane.value}"
    if rule.lane is Lane.FLEX:
        text += f" (where flex cannot serve it, in {rule.fallback.value})"
    if rule.model_always is not None:
        text += f", always with {rule.model_always} (same provider only)"
    elif rule.model_map:
        swaps = ", ".join(f"{old} as {new}" for old, new in rule.model_map.items())
        text += f", asking {swaps} (same provider only)"
    if not rule.cache and policy.shares_answers:
        text += "; never share answers with identical requests"
    if not rule.prompt_cache:
        text += "; send bodies unchanged (no prompt-cache marker or key)"
    elif rule.prompt_cache_ttl is not None and rule.lane is not Lane.BATCH:
        text += f"; prompt-cache markers live {rule.prompt_cache_ttl}"
    return text


def _either(names: frozenset[str]) -> str:
    ordered = sorted(names)
    return ordered[0] if len(ordered) == 1 else ", ".join(ordered[:-1]) + " or " + ordered[-1]
