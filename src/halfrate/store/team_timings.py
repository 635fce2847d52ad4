"""The timing histograms per team: a team's spend page reads its TTFT, TIBT and queue-wait
percentiles from here instead of from its every attempt (2.7 s for one team of a million-row
ledger before, bench/spend.py). Kept by :mod:`halfrate.store.rollup` like the other rollups."""

from __future__ import annotations

import sqlalchemy as sa

from halfrate.store.tables import metadata

# Timing histograms per day and lane: ``metric`` is ttft, tibt or queue (seconds from
# submission to first send); ``bucket_ms`` the value in ms to two significant digits.
ledger_timings = sa.Table(
    "ledger_timings",
    metadata,
    sa.Column("day", sa.BigInteger, primary_key=True),
    sa.Column("lane", sa.String(16), primary_key=True),
    sa.Column("metric", sa.String(8), primary_key=True),
    sa.Column("bucket_ms", sa.BigInteger, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

ledger_team_timings = sa.Table(
    "ledger_team_timings",
    metadata,
    sa.Column("day", sa.BigInteger, primary_key=True),
    sa.Column("team", sa.String(200), primary_key=True),
    sa.Column("lane", sa.String(16), primary_key=True),
    sa.Column("metric", sa.String(8), primary_key=True),
    sa.Column("bucket_ms", sa.BigInteger, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

# The realtime and flex calls' timing histograms per team, model and feature: the spend page's
# price/performance table weighs each model and feature's cost per request against its TTFT,
# TIBT and queue wait. Batch work is left out (its latency is the batch's turnaround).
ledger_call_timings = sa.Table(
    "ledger_call_timings",
    metadata,
    sa.Column("day", sa.BigInteger, primary_key=True),
    sa.Column("team", sa.String(200), primary_key=True),
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("feature", sa.String(200), primary_key=True),
    sa.Column("lane", sa.String(16), primary_key=True),
    sa.Column("metric", sa.String(8), primary_key=True),
    sa.Column("bucket_ms", sa.BigInteger, primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
)

# The spend page reads the calls' histograms summed per model, feature, lane, metric and bucket
# over a period: in this order SQLite streams the sums from the index alone instead of sorting
# every row of the period (115 ms instead of 680 ms for a million-row ledger, bench/spend.py).
CALL_TIMINGS_BY_CALL = sa.Index(
    "ix_ledger_call_timings_by_call",
    *(ledger_call_timings.c[name] for name in ("model", "feature", "lane", "metric")),
    *(ledger_call_timings.c[name] for name in ("bucket_ms", "day", "team", "count")),
)
