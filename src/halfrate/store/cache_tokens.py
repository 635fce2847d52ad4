"""Reading the tokens that went through the providers' prompt caches: per group of a report,
provider, model and lane, the billed tokens of the ledger rows that read or wrote a cache, so
the report can price them with and without the cache (:mod:`halfrate.ledger.prompt_cache`).

Whole days come from ``ledger_days``; the partial days at a period's edges from the attempts,
summed by the same code that keeps the rollups (:meth:`LedgerQueries.edges`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from halfrate.store.base import Database
from halfrate.store.ledger_reads import GROUPS, LedgerQueries, Scope, Sums
from halfrate.store.rollup import Rollup
from halfrate.store.tables import LEDGER_DAY_KEYS, LEDGER_DAY_SUMS, ledger_days

_H = ledger_days.c
_SUMS = tuple(sa.func.coalesce(sa.func.sum(_H[name]), 0) for name in LEDGER_DAY_SUMS)
_AT = {name: i for i, name in enumerate(LEDGER_DAY_KEYS)}
_READ, _WRITTEN = (LEDGER_DAY_SUMS.index(n) for n in ("cached_tokens", "cache_write_tokens"))


@dataclass(frozen=True)
class CachedTokens:
    """One group's billed tokens in one provider, model and lane that touched a prompt cache."""

    key: Any  # the group's value, as :meth:`LedgerQueries.grouped` gives it
    provider: str
    model: str
    lane: str
    sums: Sums


class CacheTokenQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def cached_tokens(
        self, by: str, scope: Scope, edges: Rollup | None = None
    ) -> list[CachedTokens]:
        """Per value of ``by``, provider, model and lane: the sums of the ledger rows with
        tokens read from or written to a prompt cache."""
        column, of_key = GROUPS[by]
        keys = (column, _H.provider, _H.model, _H.lane)
        touched = sa.or_(_H.cached_tokens > 0, _H.cache_write_tokens > 0)
        query = (
            sa.select(*keys, *_SUMS)
            .where(*scope.day_terms(_H.day), *scope.tag_terms(ledger_days), touched)
            .group_by(*keys)
        )
        found: dict[tuple[Any, str, str, str], Sums] = {}
        with self._store.read() as conn:
            for row in conn.execute(query):
                group = (_none(row[0]), row[1], row[2], row[3])
                found.setdefault(group, Sums(group[0], row[3])).add(row[4:])
            if edges is None:
                edges = LedgerQueries(self._store).edges(scope)
        for key, values in edges.days.items():
            if not (values[_READ] or values[_WRITTEN]):
                continue
            lane = key[_AT["lane"]]
            group = (_none(of_key(key)), key[_AT["provider"]], key[_AT["model"]], lane)
            found.setdefault(group, Sums(group[0], lane)).add(values)
        return [
            CachedTokens(key, provider, model, lane, sums)
            for (key, provider, model, lane), sums in found.items()
            if sums.billed
        ]


def _none(value: Any) -> Any:
    """The rollups keep "no feature" (or team, model, provider) as empty text."""
    return None if value == "" else value
