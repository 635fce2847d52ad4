"""`halfrate policy ...`: what the routing policy decides, in words."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from halfrate.errors import InputError
from halfrate.policy import Decision, Policy
from halfrate.urgency import describe_delta

policy_app = typer.Typer(help="The routing policy: which lane each request runs in.")


def parse_tags(pairs: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--tag {pair!r} must read KEY=VALUE")
        tags[key.strip()] = value.strip()
    return tags


@policy_app.command()
def explain(
    feature: Annotated[str | None, typer.Option(help="the request's feature tag")] = None,
    team: Annotated[str | None, typer.Option(help="the request's team tag")] = None,
    tag: Annotated[
        list[str] | None, typer.Option(help="another tag, KEY=VALUE (repeatable)")
    ] = None,
    deadline: Annotated[
        str | None, typer.Option(help="6h, 2d, 06:00 or ISO 8601 (default: no deadline)")
    ] = None,
    waiting: Annotated[bool, typer.Option("--waiting", help="a person is waiting")] = False,
    model: Annotated[str | None, typer.Option(help="the model the request asks for")] = None,
    policy: Annotated[
        Path | None, typer.Option(help="a policy file (default: $HALFRATE_POLICY or built-in)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Print the lane, the model and the rule that decided, for a request like this."""
    from halfrate.policy import Route, decide, load_policy
    from halfrate.urgency import parse_deadline

    now = datetime.now().astimezone()
    chosen = load_policy(policy)
    due = parse_deadline(deadline, now) if deadline is not None else None
    route = Route(now, feature, team, parse_tags(tag or []), waiting, due, model)
    decision = decide(chosen, route)
    if as_json:
        rule = decision.rule
        print(
            orjson.dumps(
                {
                    "lane": decision.lane.value,
                    "model": decision.model,
                    "rule": None if rule is None else {"number": rule.number, "name": rule.name},
                    "source": decision.source,
                    "line": None if rule is None else rule.line,
                    "fallback": decision.fallback.value if decision.fallback else None,
                    "deadline": due.isoformat() if due else None,
                    "explanation": decision.explain(),
                    "shares_answers": sharing(chosen, decision),
                }
            ).decode()
        )
        return
    out = Console(highlight=False, soft_wrap=True)
    out.print(f"lane   {decision.lane.value}")
    if model is not None or decision.model is not None:
        changed = f" (instead of {model})" if decision.model != model else ""
        out.print(f"model  {decision.model}{changed}")
    if decision.fallback is not None:
        out.print(f"else   {decision.fallback.value} (when flex has no capacity)")
    if due is not None:
        out.print(f"due    {due:%Y-%m-%d %H:%M %Z}")
    out.print(f"why    {decision.explain()}")
    out.print(f"shared {sharing(chosen, decision)}")


def sharing(policy: Policy, decision: Decision) -> str:
    """Whether, and how, the request shares answers with identical requests, in words."""
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
