"""The timing histograms per team: a team's spend page reads its TTFT, TIBT and queue-wait
percentiles from here instead of from its every attempt (2.7 s for one team of a million-row
ledger before, bench/spend.py). Kept by :mod:`halfrate.store.rollup` like the other rollups."""

from __future__ import annotations

import sqlalchemy as sa

from halfrate.store.tables import metadata

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
