"""Rendering job status as rich tables and as JSON."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.table import Table

from halfrate.models import (
    FINAL_REQUEST_STATES,
    OPEN_REQUEST_STATES,
    JobStatus,
    RequestState,
)

STATE_ORDER = [s.value for s in RequestState]


def age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def job_json(job: JobStatus) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.name,
        "created_at": job.created_at,
        "feature": job.feature,
        "team": job.team,
        "total": job.total,
        "done": job.done,
        "counts": {state: job.counts.get(state, 0) for state in STATE_ORDER},
        "lanes": job.lanes,
        "moved": [
            {
                "why": m.why,
                "rule": m.rule,
                "requests": m.requests,
                "extra_usd": None if m.extra_nano is None else m.extra_nano / 1e9,
            }
            for m in job.moved
        ],
        "cancelled_at": job.cancelled_at,
        "undelivered": job.undelivered,
        "sinks": [
            {
                "id": sink.id,
                "spec": sink.spec,
                "delivered": sink.delivered,
                "pending": sink.pending,
                "failing": sink.failing,
                "last_error": sink.last_error,
            }
            for sink in job.sinks
        ],
        "batches": [
            {
                "id": b.id,
                "provider": b.provider,
                "provider_batch_id": b.provider_batch_id,
                "endpoint": b.endpoint,
                "model": b.model,
                "state": b.state,
                "provider_status": b.provider_status,
                "requests": b.request_count,
                "created_at": b.created_at,
                "last_error": b.last_error,
            }
            for b in job.batches
        ],
    }


def jobs_table(jobs: list[JobStatus], now: float) -> Table:
    """One line a job: how far it got, what failed, what is still open. Fits 80 columns (no
    inner rules; a long name folds); the cancelled and write-back columns only when a job has
    any."""
    sinks = any(job.sinks for job in jobs)
    cancelled = any(job.counts.get(RequestState.CANCELLED) for job in jobs)
    table = Table(title="recent jobs", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    columns = ["job", "name", "age", "done", "open", "failed"]
    columns += ["cancelled"] if cancelled else []
    for column in [*columns, "undelivered"] if sinks else columns:
        is_text = column in ("job", "name")
        table.add_column(
            column,
            justify="left" if is_text else "right",
            overflow="fold",
            min_width=max(len(job.id) for job in jobs) if column == "job" else None,
        )
    for job in jobs:
        final = sum(job.counts.get(state, 0) for state in FINAL_REQUEST_STATES)
        still = sum(job.counts.get(state, 0) for state in OPEN_REQUEST_STATES)
        name = f"{job.name} (cancelled)" if job.cancelled_at is not None else job.name
        cells = [
            job.id,
            name,
            age(now - job.created_at),
            f"{final:,}/{job.total:,}",
            f"{still:,}",
            f"{job.counts.get(RequestState.FAILED, 0):,}",
        ]
        if cancelled:
            cells.append(f"{job.counts.get(RequestState.CANCELLED, 0):,}")
        if sinks:
            cells.append(str(job.undelivered) if job.sinks else "-")
        table.add_row(*cells)
    return table


def job_tables(job: JobStatus, now: float) -> list[Table]:
    tags = ", ".join(f"{k} {v}" for k, v in (("feature", job.feature), ("team", job.team)) if v)
    title = f"job {job.name} ({job.id}), {age(now - job.created_at)} old"
    if job.cancelled_at is not None:
        title += f", cancelled {age(now - job.cancelled_at)} ago"
    counts = Table(title=title + (f"; {tags}" if tags else ""))
    counts.add_column("state")
    counts.add_column("requests", justify="right")
    for state in STATE_ORDER:
        counts.add_row(state, str(job.counts.get(state, 0)))
    counts.add_row("total", str(job.total), end_section=True)
    for lane, n in sorted(job.lanes.items()):
        counts.add_row(f"lane {lane}", str(n))
    for moved in job.moved:
        extra = "unpriced" if moved.extra_nano is None else f"${moved.extra_nano / 1e9:,.6f} extra"
        rule = f'rule "{moved.rule}"' if moved.rule else "no rule"
        counts.add_row(
            f"moved by {moved.why.replace('_', ' ')} ({rule} chose their lane; {extra})",
            str(moved.requests),
        )
    batches = Table(
        title=f"{len(job.batches)} {'batch' if len(job.batches) == 1 else 'batches'}",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    # Ids are never folded: a user copies them (a column is as wide as its longest id).
    for column in ("batch", "provider batch", "model", "requests", "state"):
        batches.add_column(
            column,
            overflow="fold",
            min_width=max(len(b.id) for b in job.batches) if column == "batch" else None,
        )
    for b in job.batches:
        batches.add_row(
            b.id,
            b.provider_batch_id or "-",
            b.model,
            str(b.request_count),
            b.state if b.provider_status in (None, b.state) else f"{b.state} ({b.provider_status})",
        )
    tables = [counts, batches] if job.batches else [counts]
    if job.sinks:
        tables.append(sinks_table(job))
    return tables


def sinks_table(job: JobStatus) -> Table:
    table = Table(title=f"write-back: {job.undelivered} results not yet delivered")
    for column in ("sink", "delivered", "pending", "failing", "last error"):
        table.add_column(
            column, overflow="fold", justify="left" if column in ("sink", "last error") else "right"
        )
    for sink in job.sinks:
        table.add_row(
            sink.spec,
            str(sink.delivered),
            str(sink.pending),
            str(sink.failing),
            sink.last_error or "-",
        )
    return table
