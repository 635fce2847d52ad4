"""`halfrate policy ...`: what the routing policy decides, in words."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from halfrate import api
from halfrate.cli.console import stdout_console
from halfrate.cli.help_format import PlainHelpCommand
from halfrate.errors import InputError

policy_app = typer.Typer(help="The routing policy: which lane each request runs in.")


def parse_tags(pairs: list[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--tag {pair!r} must read KEY=VALUE")
        tags[key.strip()] = value.strip()
    return tags


@policy_app.command(cls=PlainHelpCommand)
def explain(
    feature: Annotated[
        str | None, typer.Option(metavar="NAME", help="the request's feature tag")
    ] = None,
    team: Annotated[str | None, typer.Option(metavar="NAME", help="the request's team tag")] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY=VALUE", help="another tag, KEY=VALUE (repeatable)"),
    ] = None,
    deadline: Annotated[
        str | None,
        typer.Option(metavar="WHEN", help="6h, 2d, 06:00 or ISO 8601 (default: no deadline)"),
    ] = None,
    waiting: Annotated[bool, typer.Option("--waiting", help="a person is waiting")] = False,
    model: Annotated[
        str | None, typer.Option(metavar="MODEL", help="the model the request asks for")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="a policy file (default: $HALFRATE_POLICY or built-in)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Print the lane, the model and the rule that decided, for a request like this."""
    found = api.explain(
        feature=feature,
        team=team,
        tags=parse_tags(tag or []),
        deadline=deadline,
        waiting=waiting,
        model=model,
        policy=policy,
    )
    decision, due = found.decision, found.deadline
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
                    "shares_answers": found.shares_answers,
                    "prompt_cache": found.prompt_cache,
                }
            ).decode()
        )
        return
    out = stdout_console()
    out.print(f"lane   {decision.lane.value}")
    if model is not None or decision.model is not None:
        changed = f" (instead of {model})" if decision.model != model else ""
        out.print(f"model  {decision.model}{changed}")
    if decision.fallback is not None:
        out.print(f"else   {decision.fallback.value} (when flex has no capacity)")
    if due is not None:
        out.print(f"due    {due:%Y-%m-%d %H:%M %Z}")
    out.print(f"why    {decision.explain()}")
    out.print(f"shared {found.shares_answers}")
    out.print(f"cache  {found.prompt_cache}")
