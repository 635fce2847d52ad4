"""A report for programs (JSON) and for spreadsheets (CSV): the one shape `halfrate report
--format json|csv` prints and the web page's spend page shows, so the two always agree.

Money is an exact decimal string; shares are fractions; seconds are floats. Every CSV cell that
came from a user (a feature, team or model name) is formula-safe.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any, TextIO

from halfrate.ledger.missed import Missed
from halfrate.ledger.percentiles import Percentiles
from halfrate.ledger.report import Breakdown, Comparison, Line, Report
from halfrate.ledger.speed import SpeedLine
from halfrate.money import exact
from halfrate.tabular.cells import inert

COLUMNS = (
    "requests",
    "attempts",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "spend_usd",
    "realtime_usd",
    "saved_usd",
    "saved_pct",
    "unpriced",
    "prompt_cache_saved",
    "prompt_cache_hit_rate",
)
# The price/performance table as CSV: its key cells, then these (money exact, seconds).
SPEED_KEYS = ("model", "feature", "lane")
SPEED_COLUMNS = (
    "requests",
    "attempts",
    "spend_usd",
    "per_1000_requests_usd",
    "unpriced",
    "ttft_p50_seconds",
    "ttft_p95_seconds",
    "tibt_p50_seconds",
    "tibt_p95_seconds",
    "queue_wait_p50_seconds",
    "queue_wait_p95_seconds",
)


def breakdown_json(made: Breakdown) -> dict[str, Any]:
    """A breakdown's part of :func:`report_json` (the same keys, the same values)."""
    return {
        "by": made.by,
        "since": made.scope.since,
        "until": made.scope.until,
        "feature": made.scope.feature,
        "team": made.scope.team,
        "rows": [line_json(line) for line in made.lines],
        "by_lane": [
            {"key": part.key, "lane": part.lane, **line_values(part.line)} for part in made.lanes
        ],
        "total": line_json(made.total),
    }


def report_json(report: Report) -> dict[str, Any]:
    k = report.kpis
    return {
        **breakdown_json(report),
        "generated_at": report.generated_at,
        "missed_savings": missed_json(report.missed),
        "kpis": {
            "batch_share": k.batch_share,
            "cache_hit_rate": k.cache_hit_rate,
            "saved_by_dedup_usd": exact(k.saved_by_dedup),
            "dedup_answers": k.dedup_answers,
            "saved_by_response_cache_usd": exact(k.saved_by_response_cache),
            "response_cache_answers": k.response_cache_answers,
            "batch_turnaround_seconds": percentiles_json(k.batch_turnaround),
            "ttft_seconds": percentiles_json(k.ttft),
            "tibt_seconds": percentiles_json(k.tibt),
            "queue_wait_seconds": percentiles_json(k.queue_wait),
        },
        "price_performance": [speed_json(line) for line in report.price_performance],
    }


def missed_json(missed: Missed) -> dict[str, Any]:
    """The missed savings, with the features they came from (largest amount first)."""
    return {
        "attempts": missed.attempts,
        "spend_usd": exact(missed.spend),
        "batch_usd": exact(missed.batch),
        "amount_usd": exact(missed.amount),
        "unpriced": missed.unpriced,
        "estimated": missed.estimated,
        "features": [
            {
                "feature": f.feature,
                "attempts": f.attempts,
                "spend_usd": exact(f.spend),
                "batch_usd": exact(f.batch),
                "amount_usd": exact(f.amount),
                "unpriced": f.unpriced,
            }
            for f in missed.features
        ],
    }


def speed_json(line: SpeedLine) -> dict[str, Any]:
    """One row of the price/performance table (realtime and flex calls)."""
    per = line.per_1000_requests
    return {
        "model": line.model,
        "feature": line.feature,
        "lane": line.lane,
        "requests": line.requests,
        "attempts": line.attempts,
        "spend_usd": exact(line.spend),
        "per_1000_requests_usd": None if per is None else exact(per),
        "unpriced": line.unpriced,
        "ttft_seconds": percentiles_json(line.ttft),
        "tibt_seconds": percentiles_json(line.tibt),
        "queue_wait_seconds": percentiles_json(line.queue_wait),
    }


def comparison_json(c: Comparison, feature: str | None) -> dict[str, Any]:
    def side(line: Line, days: float, share: float | None) -> dict[str, Any]:
        per = line.spend_per_request
        return {
            **line_values(line),
            "days": days,
            "batch_share": share,
            "spend_per_request_usd": None if per is None else exact(per),
        }

    return {
        "feature": feature,
        "at": c.at,
        "before": side(c.before, c.before_days, c.before_batch_share),
        "after": side(c.after, c.after_days, c.after_batch_share),
        "change_per_request": c.change_per_request,
    }


def line_json(line: Line) -> dict[str, Any]:
    return {"key": line.key, **line_values(line)}


def line_values(line: Line) -> dict[str, Any]:
    return {
        "requests": line.requests,
        "attempts": line.attempts,
        "input_tokens": line.input_tokens,
        "cached_tokens": line.cached_tokens,
        "output_tokens": line.output_tokens,
        "spend_usd": exact(line.spend),
        "realtime_usd": exact(line.realtime),
        "saved_usd": exact(line.saved),
        "saved_pct": None if line.saved_share is None else round(line.saved_share * 100, 2),
        "unpriced": line.unpriced,
        # The providers' prompt caches, apart from halfrate's own dedup and response cache.
        "prompt_cache_saved": exact(line.prompt_cache_saved),
        "prompt_cache_hit_rate": line.prompt_cache_hit_rate,
    }


def percentiles_json(p: Percentiles) -> dict[str, Any]:
    return {"count": p.count, "p50": p.p50, "p95": p.p95}


def write_report_csv(report: Breakdown, out: TextIO) -> None:
    """One row per group and a last ``total`` row; the KPIs are in the JSON form."""
    rows = [((line.key,), line) for line in [*report.lines, report.total]]
    write_lines_csv((report.by,), rows, out)


def write_lanes_csv(report: Breakdown, out: TextIO) -> None:
    """One row per group and lane (what a chart stacked by lane shows)."""
    rows = [((part.key, part.lane), part.line) for part in report.lanes]
    write_lines_csv((report.by, "lane"), rows, out)


def write_lines_csv(
    keys: Sequence[str], rows: Sequence[tuple[Sequence[str], Line]], out: TextIO
) -> None:
    """``rows`` (their key cells, their sums) as CSV under a header of ``keys`` and COLUMNS."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*keys, *COLUMNS])
    for cells, line in rows:
        values = line_values(line)
        writer.writerow([*(inert(cell) for cell in cells), *(values[c] for c in COLUMNS)])


def write_speed_csv(lines: Sequence[SpeedLine], out: TextIO) -> None:
    """The price/performance table: one row per model, feature and lane (most spend first);
    an empty cell where there is no figure."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*SPEED_KEYS, *SPEED_COLUMNS])
    for line in lines:
        row = speed_json(line)
        cells = [row[name] for name in SPEED_COLUMNS[:5]]
        for name in ("ttft", "tibt", "queue_wait"):
            cells += [row[f"{name}_seconds"]["p50"], row[f"{name}_seconds"]["p95"]]
        writer.writerow(
            [*(inert(row[key]) for key in SPEED_KEYS), *("" if v is None else v for v in cells)]
        )
