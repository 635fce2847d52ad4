"""The store: the only place with SQL. One :class:`Store` per database, with narrow parts for
submitting, dispatching, ingesting and reading."""

from __future__ import annotations

from halfrate.store.base import Store

__all__ = ["Store"]
