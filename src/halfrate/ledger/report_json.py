"""A report for programs (JSON) and for spreadsheets (CSV): the one shape `halfrate report
--format json|csv` prints and the web page's spend page shows, so the two always agree.

Money is an exact decimal string; shares are fractions; seconds are floats. Every CSV cell that
came from a user (a feature, team or model name) is formula-safe.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any, TextIO

from halfrate.ledger.report import Breakdown, Comparison, Line, Percentiles, Report
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
        "missed_savings": {
            "attempts": report.missed.attempts,
            "spend_usd": exact(report.missed.spend),
            "batch_usd": exact(report.missed.batch),
            "amount_usd": exact(report.missed.amount),
            "unpriced": report.missed.unpriced,
            "estimated": report.missed.estimated,
        },
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
