"""Reading a report's sums per group, lane, provider and model: the report adds them up per
group and lane for its lines, and prices the tokens that went through the providers' prompt
caches per provider and model (:mod:`halfrate.ledger.prompt_cache`), from this one read.

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


@dataclass(frozen=True)
class ModelSums:
    """One group's sums in one lane, provider and model."""

    key: Any  # the group's value, as :meth:`LedgerQueries.grouped` gives it
    provider: str
    model: str
    lane: str
    sums: Sums


class ModelSumQueries:
    def __init__(self, store: Database) -> None:
        self._store = store

    def model_sums(self, by: str, scope: Scope, edges: Rollup | None = None) -> list[ModelSums]:
        """The sums per value of ``by`` (one of ``GROUPS``), lane, provider and model."""
        column, of_key = GROUPS[by]
        keys = (column, _H.lane, _H.provider, _H.model)
        query = (
            sa.select(*keys, *_SUMS)
            .where(*scope.day_terms(_H.day), *scope.tag_terms(ledger_days))
            .group_by(*keys)
        )
        found: dict[tuple[Any, str, str, str], Sums] = {}
        with self._store.read() as conn:
            for row in conn.execute(query):
                group = (_none(row[0]), row[1], row[2], row[3])
                found.setdefault(group, Sums(group[0], row[1])).add(row[4:])
        if edges is None:
            edges = LedgerQueries(self._store).edges(scope)
        for key, values in edges.days.items():
            lane = key[_AT["lane"]]
            group = (_none(of_key(key)), lane, key[_AT["provider"]], key[_AT["model"]])
            found.setdefault(group, Sums(group[0], lane)).add(values)
        return [
            ModelSums(key, provider, model, lane, sums)
            for (key, lane, provider, model), sums in found.items()
        ]


def _none(value: Any) -> Any:
    """The rollups keep "no feature" (or team, model, provider) as empty text."""
    return None if value == "" else value
