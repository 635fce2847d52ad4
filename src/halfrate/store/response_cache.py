"""The response cache's entries and clears: a request that succeeded (with a digest of what it
asked, not itself answered from the cache) answers identical requests for as long as the policy
says (``response_cache``, 7 days by default), unless `halfrate cache clear` cleared the answers
of its feature (or every feature) from before some moment. A clear keeps the answers: they are
results; only their reuse stops. Each clear writes its audit row in its transaction.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from halfrate.models import CacheKind, Lane, RequestState
from halfrate.store.admin_tables import response_cache_clears
from halfrate.store.audit import record_audit
from halfrate.store.base import Database
from halfrate.store.tables import ledger_days, requests


def not_cleared(request: Any) -> sa.ColumnElement[bool]:
    """True for a request (``request``: the requests table or an alias) whose answer no clear
    has taken out of the response cache."""
    c = response_cache_clears.c
    return ~sa.exists().where(
        sa.or_(c.feature.is_(None), c.feature == request.c.feature),
        request.c.updated_at < c.before,
    )


def _answers(since: float | None, until: float | None) -> list[sa.ColumnElement[bool]]:
    terms = [
        requests.c.state == RequestState.SUCCEEDED.value,
        requests.c.content_hash.is_not(None),
        requests.c.lane != Lane.CACHE.value,
        not_cleared(requests),
    ]
    if since is not None:
        terms.append(requests.c.updated_at >= since)
    if until is not None:
        terms.append(requests.c.updated_at < until)
    return terms


class ResponseCacheQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def entries(self, since: float, feature: str | None = None) -> dict[str | None, int]:
        """Answers that may answer identical requests now (stored since ``since``), per
        feature (None: requests without one)."""
        terms = _answers(since, None)
        if feature is not None:
            terms.append(requests.c.feature == feature)
        query = (
            sa.select(requests.c.feature, sa.func.count())
            .where(*terms)
            .group_by(requests.c.feature)
        )
        with self._store.read() as conn:
            return {name: int(n) for name, n in conn.execute(query)}

    def hits(self, feature: str | None = None) -> dict[str | None, tuple[int, int]]:
        """Requests answered from the response cache, per feature: (how many, what they would
        have cost in realtime, nano-dollars), from the daily rollups."""
        d = ledger_days.c
        query = (
            sa.select(d.feature, sa.func.sum(d.attempts), sa.func.sum(d.realtime_cost_nano))
            .where(d.cache_kind == CacheKind.RESPONSE.value)
            .group_by(d.feature)
        )
        if feature is not None:
            query = query.where(d.feature == feature)
        with self._store.read() as conn:
            rows = conn.execute(query).all()
        return {(name or None): (int(n), int(nano)) for name, n, nano in rows}

    def clear(
        self, feature: str | None, before: float, by: str | None, since: float | None = None
    ) -> int:
        """Stop the answers stored before ``before`` (of ``feature``, or every feature) from
        answering identical requests; returns how many live answers (stored since ``since``,
        the start of the policy's response-cache time) that took out."""
        terms = _answers(since, before)
        if feature is not None:
            terms.append(requests.c.feature == feature)
        now = time.time()
        with self._store.write() as conn:
            count = int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(requests).where(*terms)
                ).scalar_one()
            )
            conn.execute(
                sa.insert(response_cache_clears).values(
                    feature=feature, before=before, at=now, by=by
                )
            )
            target = "every feature" if feature is None else f"feature {feature!r}"
            record_audit(
                conn, by, "cache.clear", target, f"{count:,} answers stored before the clear's time"
            )
        return count
