"""The receipt printed when a piece of work ends (`halfrate worker --until-idle`, `halfrate
run`, `halfrate demo`): what the attempts stored since it began cost, against realtime prices,
per lane."""

from __future__ import annotations

from halfrate import api
from halfrate.money import money, share


def receipt(made: api.Report) -> str:
    """One line of a by-lane report of the work just run: paid, at realtime prices, saved (and
    %), the spend per lane, what identical requests answered, what the providers' prompt
    caches saved, unpriced work."""
    total = made.total
    if not total.attempts:
        return "receipt    nothing was run"
    lanes = ", ".join(f"{line.key} {money(line.spend)}" for line in made.lines)
    text = (
        f"receipt    paid {money(total.spend)}, at realtime prices {money(total.realtime)}, "
        f"saved {money(total.saved)} ({share(total.saved_share)}); by lane: {lanes}"
    )
    k = made.kpis
    shared = k.dedup_answers + k.response_cache_answers
    if shared:
        text += (
            f"; {shared:,} answered by identical requests "
            f"({money(k.saved_by_dedup + k.saved_by_response_cache)} of the saving)"
        )
    if total.prompt_cache_saved:
        rate = total.prompt_cache_hit_rate
        text += f"; provider prompt caching saved {money(total.prompt_cache_saved)}"
        if rate is not None:
            text += f" ({share(rate)} of input tokens read from the cache)"
    if total.unpriced:
        text += f"; {total.unpriced:,} billed attempts unpriced (model without a known price)"
    return text
