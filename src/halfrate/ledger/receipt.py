"""The receipt printed when a piece of work ends (`halfrate worker --until-idle`, `halfrate
run`, `halfrate demo`): what the attempts stored since it began cost, against realtime prices,
per lane."""

from __future__ import annotations

from halfrate.ledger.report import ReportMaker
from halfrate.money import money, share
from halfrate.store import Store
from halfrate.store.ledger_reads import Scope


def receipt(store: Store, since: float, now: float) -> str:
    """One line: paid, at realtime prices, saved (and %), the spend per lane, unpriced work."""
    made = ReportMaker(store).report("lane", Scope(since=since), now)
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
    if total.unpriced:
        text += f"; {total.unpriced:,} billed attempts unpriced (model without a known price)"
    return text
