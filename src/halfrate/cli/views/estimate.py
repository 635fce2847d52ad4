"""An estimate as a table, notes and JSON (`halfrate estimate`, `halfrate run`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from halfrate import api
from halfrate.models import Lane
from halfrate.money import exact, money, share

LANES = (Lane.REALTIME, Lane.BATCH, Lane.FLEX)
SHORT_BASIS = {"approximate": "approx."}  # the note under the table says how approximate
MODEL_WIDTH = 16  # a longer model name folds
NOT_OFFERED = "-"  # a lane the model is not offered in; a note under the table says so


def _price(m: api.ModelEstimate, lane: Lane) -> str:
    usd = m.usd(lane)
    if lane not in m.prices:
        return NOT_OFFERED
    if usd is None:
        return "unpriced"
    return money(usd) + (" *" if m.derived(lane) else "")


def table(made: api.Estimate) -> Table:
    grid = Table(
        title=f"estimate: {made.requests:,} requests", title_justify="left", pad_edge=False
    )
    # Names and counts fold onto a second line on a narrow screen; prices never break. A usual
    # model name (gpt-4o-mini, claude-haiku-4-5) keeps its line: the token counts fold first.
    longest = max((len(m.model) for m in made.models), default=5)
    grid.add_column("model", overflow="fold", min_width=min(longest, MODEL_WIDTH))
    grid.add_column("requests", justify="right")
    for name in ("input tokens", "output tokens"):
        grid.add_column(name, justify="right", overflow="fold")
    for lane in LANES:
        grid.add_column(str(lane), justify="right", no_wrap=True)
    for m in made.models:
        grid.add_row(
            m.model,
            f"{m.requests:,}",
            f"{m.input_tokens:,}\n({SHORT_BASIS.get(m.input_basis, m.input_basis)})",
            f"{m.output_tokens:,}\n({m.output_basis})",
            *(_price(m, lane) for lane in LANES),
        )
    return grid


def notes(made: api.Estimate) -> list[str]:
    realtime, batch, flex = (made.total(lane) for lane in LANES)
    saved = realtime - batch
    lines = [
        f"total       realtime {money(realtime)}, batch {money(batch)} (saves {money(saved)}, "
        f"{share(float(saved / realtime) if realtime else None)}), flex {money(flex)} "
        "(flex where offered, batch price elsewhere)"
    ]
    if made.cache_read_tokens:
        lines.append(
            f"prompt cache about {made.cache_write_tokens:,} tokens written and "
            f"{made.cache_read_tokens:,} read (requests sharing a long prefix): realtime "
            f"{money(made.total_cached(Lane.REALTIME))}, batch "
            f"{money(made.total_cached(Lane.BATCH))} with it"
        )
    if any(lane not in m.prices for m in made.models for lane in LANES):
        lines.append(f"not offered {NOT_OFFERED} marks a lane the model is not offered in")
    unknown = sum(m.output_unknown for m in made.models)
    if unknown:
        lines.append(
            f"floor       {unknown:,} requests set no max_tokens: their output is not in the "
            "price; --output-tokens N assumes N for each"
        )
    if any(m.output_limited for m in made.models):
        lines.append("ceiling     output tokens are each request's own limit: it may use fewer")
    if any(not m.input_exact for m in made.models):
        lines.append(
            "approximate Claude input tokens are about four characters a token (no public "
            "tokenizer); OpenAI's are counted with tiktoken"
        )
    if any(m.derived(lane) for m in made.models for lane in LANES):
        lines.append(
            "* derived   no published price for this lane: half of realtime, as documented"
        )
    for m in made.unpriced:
        lines.append(f"unpriced    {m.model}: no known price (add it to [prices] in the config)")
    return lines


def as_json(made: api.Estimate) -> dict[str, Any]:
    def price(m: api.ModelEstimate, lane: Lane) -> dict[str, Any] | None:
        usd = m.usd(lane)
        if usd is None:
            return None
        return {"usd": exact(usd), "derived": m.derived(lane)}

    totals: dict[str, str] = {lane.value: exact(made.total(lane)) for lane in LANES}
    return {
        "requests": made.requests,
        "floor": made.is_floor,
        "totals_usd": totals,
        "saved_by_batch_usd": exact(made.total(Lane.REALTIME) - made.total(Lane.BATCH)),
        "prompt_cache": {
            "write_tokens": made.cache_write_tokens,
            "read_tokens": made.cache_read_tokens,
            "totals_usd": {lane.value: exact(made.total_cached(lane)) for lane in LANES},
        },
        "models": [
            {
                "provider": m.provider,
                "model": m.model,
                "requests": m.requests,
                "input_tokens": m.input_tokens,
                "input_basis": m.input_basis,
                "output_tokens": m.output_tokens,
                "output_basis": m.output_basis,
                "prices": {lane.value: price(m, lane) for lane in LANES if lane in m.prices},
                "prompt_cache": {
                    "write_tokens": m.cache_write_tokens,
                    "read_tokens": m.cache_read_tokens,
                    "prices_usd": {
                        lane.value: None if usd is None else exact(usd)
                        for lane in LANES
                        if lane in m.prices
                        for usd in [m.usd_cached(lane)]
                    },
                },
            }
            for m in made.models
        ],
    }
