"""A report for people (a table and a few lines of KPIs), for programs (JSON), and for
spreadsheets (CSV). Money: dollars with four decimals in tables (sandbox jobs cost fractions of
a cent), exact decimal strings in JSON and CSV."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table

from halfrate import api
from halfrate.money import money, share


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def when(moment: float | None) -> str:
    if moment is None:
        return "the first request"
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")


# Below this many columns the token columns step aside, so the money stays whole and readable.
WIDTH_FOR_TOKENS = 110
TOKENS_HIDDEN = "tokens      not shown at this width: a wider window, or --format json / csv"


def table(report: api.Report, width: int | None = None) -> Table:
    """The spend per group; on a narrow screen (``width``) without the token columns."""
    tokens = width is None or width >= WIDTH_FOR_TOKENS
    grid = Table(title=f"spend by {report.by}", title_justify="left")
    grid.add_column(report.by, overflow="fold")
    grid.add_column("requests", justify="right")
    if tokens:
        for name in ("input tok", "cached tok", "output tok"):
            grid.add_column(name, justify="right")
    for name in ("spend", "at realtime", "saved", "saved %"):
        grid.add_column(name, justify="right", no_wrap=True)
    for line in [*report.lines, report.total]:
        counts = [f"{line.requests:,}"]
        if tokens:
            counts += [
                f"{line.input_tokens:,}",
                f"{line.cached_tokens:,}",
                f"{line.output_tokens:,}",
            ]
        grid.add_row(
            line.key,
            *counts,
            money(line.spend),
            money(line.realtime),
            money(line.saved),
            share(line.saved_share),
            end_section=line is report.lines[-1] if report.lines else False,
        )
    return grid


def summary_lines(report: api.Report) -> list[str]:
    """The lines under the table: period, unpriced work, missed savings and the KPIs."""
    k, total = report.kpis, report.total
    scope = report.scope
    until = when(scope.until or report.generated_at)
    lines = [f"period      from {when(scope.since)} to {until}"]
    if scope.feature or scope.team:
        only = ", ".join(
            f"{name} {value}"
            for name, value in (("feature", scope.feature), ("team", scope.team))
            if value
        )
        lines.append(f"only        {only}")
    if total.unpriced:
        lines.append(
            f"unpriced    {total.unpriced:,} billed attempts of models without a known price "
            "(in no sum above)"
        )
    lines.append(f"missed      {_missed(report.missed)}")
    lines.append(f"batch share {share(k.batch_share)} of spend")
    lines.append(
        f"prompts     {share(k.cache_hit_rate)} of input tokens read from a prompt cache, saved "
        f"{money(report.total.prompt_cache_saved)}"
    )
    lines.append(
        f"dedup       {k.dedup_answers:,} requests answered by an identical one in flight "
        f"saved {money(k.saved_by_dedup)}"
    )
    lines.append(
        f"responses   {k.response_cache_answers:,} answers from halfrate's response cache saved "
        f"{money(k.saved_by_response_cache)}"
    )
    lines.append(f"batches     turnaround {_percentiles(k.batch_turnaround, 'batches')}")
    lines.append(f"calls       TTFT {_percentiles(k.ttft, 'calls')}; TIBT {_percentiles(k.tibt)}")
    lines.append(f"queue wait  {_percentiles(k.queue_wait, 'requests')}, from submit to first send")
    return lines


def _missed(missed: api.Missed) -> str:
    if not missed.attempts:
        return "none: nothing ran realtime that could have waited for a batch"
    text = (
        f"{money(missed.amount)} more than batch: {missed.attempts:,} realtime attempts "
        f"nobody was waiting for, with time for a batch, cost {money(missed.spend)} "
        f"(batch: {money(missed.batch)})"
    )
    if missed.estimated:
        text += "; estimated (tiered prices)"
    if missed.unpriced:
        text += f"; {missed.unpriced:,} unpriced left out"
    return text


def _percentiles(p: api.Percentiles, noun: str = "") -> str:
    if not p.count:
        return f"n/a (no {noun or 'data'})" if noun else "n/a"
    counted = f" over {p.count:,} {noun}" if noun else ""
    return f"p50 {seconds(p.p50)}, p95 {seconds(p.p95)}{counted}"


def comparison_lines(c: api.Comparison, feature: str | None) -> list[str]:
    who = f"feature {feature}" if feature else "everything"
    lines = [f"{who}, before and after {when(c.at)}"]
    for line, days, batch in (
        (c.before, c.before_days, c.before_batch_share),
        (c.after, c.after_days, c.after_batch_share),
    ):
        per_request = line.spend_per_request
        lines.append(
            f"  {line.key:<6} {days:6.1f} days  {line.requests:,} requests  spend "
            f"{money(line.spend)} (at realtime {money(line.realtime)}, saved "
            f"{share(line.saved_share)})  per request "
            f"{money(per_request) if per_request is not None else 'n/a'}  batch share "
            f"{share(batch)}"
        )
    if c.before.requests and c.after.requests:
        change = c.change_per_request
        lines.append(
            "  change per request: "
            + (f"{change:+.1%}" if change is not None else "n/a (nothing spent before)")
        )
    return lines
