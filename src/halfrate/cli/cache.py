"""`halfrate cache stats|clear`: the response cache's entries, hits and savings per feature
beside the providers' prompt caches' hit rate and saving; and clearing the response cache (the
answers stay in their jobs' results; they only stop answering identical requests)."""

from __future__ import annotations

from typing import Annotated

import typer

from halfrate import api
from halfrate.cli.console import stdout_console
from halfrate.cli.help_format import PlainHelpCommand
from halfrate.money import money, share
from halfrate.urgency import describe_delta

cache_app = typer.Typer(help="The response cache and the providers' prompt caches.")

Feature = Annotated[
    str | None, typer.Option("--feature", metavar="F", help="only this feature's requests")
]


@cache_app.command(cls=PlainHelpCommand)
def stats(feature: Feature = None) -> None:
    """Per feature: answers the response cache holds now, the requests it answered and what
    they saved; the share of input tokens read from the providers' prompt caches, and what
    that saved."""
    with api.connect() as hr:
        found = hr.cache_stats(feature)
        window = hr.policy.response_cache
    out = stdout_console()
    kept = "off (the policy's response_cache)"
    if window is not None:
        kept = f"answers serve identical requests for {describe_delta(window)}"
    out.print(f"response cache: {kept}", markup=False)
    if not found:
        out.print("nothing cached yet", markup=False)
        return
    out.print(
        f"{'feature':<20} {'entries':>8} {'hits':>8} {'saved':>10} {'prompt hits':>11} "
        f"{'prompt saved':>12}",
        markup=False,
    )
    for s in found:
        out.print(
            f"{s.feature[:20]:<20} {s.entries:>8,} {s.hits:>8,} {money(s.saved):>10} "
            f"{share(s.prompt_cache_hit_rate):>11} {money(s.prompt_cache_saved):>12}",
            markup=False,
        )


@cache_app.command(cls=PlainHelpCommand)
def clear(
    feature: Feature = None,
    older_than: Annotated[
        str | None,
        typer.Option("--older-than", metavar="D", help="only answers older than this, e.g. 3d"),
    ] = None,
) -> None:
    """Stop cached answers from answering identical requests (they stay in their results)."""
    with api.connect() as hr:
        cleared = hr.clear_response_cache(feature, older_than)
    whose = "every feature" if feature is None else f"feature {feature!r}"
    when = "" if older_than is None else f" older than {older_than}"
    stdout_console().print(
        f"cleared {cleared:,} cached answers of {whose}{when}: identical requests are asked "
        "again; the answers stay in their jobs' results",
        markup=False,
    )
